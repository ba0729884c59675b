// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! Tracepoints: `/sys/kernel/tracing/events/partcp/` (`Documentation/tracing.md`).
//!
//! The events are defined in C the kernel's way (`TRACE_EVENT` in
//! `rust/shim/partcp_trace.h`, instantiated once in `partcp_trace.c`). The 7.3 `kernel`
//! crate's `declare_trace!` cannot be used from an out-of-tree module: it reaches the
//! tracepoint and its helper through `kernel::bindings`, which knows only in-tree trace
//! headers. This module does what that macro expands to: it tests the tracepoint's
//! static key with the crate's `static_branch_unlikely!` (an `asm goto` that the kernel
//! patches from a no-op into a jump when the event is enabled), and only then calls the
//! `rust_do_trace_<event>` helper that `CREATE_RUST_TRACE_POINTS` generated. The
//! arguments are gathered in a cold, out-of-line function, so a firing site costs one
//! patched no-op while its event is disabled.
//!
//! Every function here is safe: the helpers take plain values and may be called from
//! any context partcp runs in (process, softirq, with or without spinlocks held).

use kernel::bindings;
use kernel::ffi::c_char;

use crate::buffer::{RecvBuffer, SendBuffer};
use crate::side::SideAlloc;
use crate::connection::{Connection, Endpoint, Retransmit, State, Transmit};
use crate::wire::{Ipv4Addr, TcpRepr};

// The tracepoints and helpers `partcp_trace.c` defines, one pair per event of
// `partcp_trace.h` (names and argument lists must match it). `struct tracepoint` is
// only ever used through its address; with lockdep off it contains a zero-sized member,
// which the lint flags although that is fine (as in `shim.rs`).
#[allow(improper_ctypes)]
unsafe extern "C" {
    static __tracepoint_partcp_segment_recv: bindings::tracepoint;
    static __tracepoint_partcp_segment_send: bindings::tracepoint;
    static __tracepoint_partcp_set_state: bindings::tracepoint;
    static __tracepoint_partcp_retransmit: bindings::tracepoint;
    static __tracepoint_partcp_rto_expire: bindings::tracepoint;
    static __tracepoint_partcp_handoff: bindings::tracepoint;
    static __tracepoint_partcp_lock_contended: bindings::tracepoint;
    static __tracepoint_partcp_strategy_switch: bindings::tracepoint;

    fn rust_do_trace_partcp_segment_recv(
        saddr: u32,
        daddr: u32,
        sport: u16,
        dport: u16,
        seq: u32,
        ack_seq: u32,
        flags: u8,
        window: u16,
        data_len: u32,
        segs: u16,
    );
    fn rust_do_trace_partcp_segment_send(
        saddr: u32,
        daddr: u32,
        sport: u16,
        dport: u16,
        seq: u32,
        ack_seq: u32,
        flags: u8,
        window: u16,
        data_len: u32,
        segs: u16,
    );
    fn rust_do_trace_partcp_set_state(saddr: u32, daddr: u32, sport: u16, dport: u16, oldstate: i32, newstate: i32);
    fn rust_do_trace_partcp_retransmit(
        saddr: u32,
        daddr: u32,
        sport: u16,
        dport: u16,
        state: i32,
        kind: i32,
        seq: u32,
        data_len: u32,
        flags: u8,
    );
    fn rust_do_trace_partcp_rto_expire(
        saddr: u32,
        daddr: u32,
        sport: u16,
        dport: u16,
        state: i32,
        snd_una: u32,
        snd_nxt: u32,
        rto_us: u32,
    );
    fn rust_do_trace_partcp_handoff(thread: u32, kind: i32, depth: u32);
    fn rust_do_trace_partcp_lock_contended(class: *const c_char, class_len: u32, wait_ns: u64);
    fn rust_do_trace_partcp_strategy_switch(old: i32, old_n: u32, new: i32, new_n: u32);
}

/// Whether tracepoint `$tp` (one of the statics above) is enabled: one patched no-op
/// while it is not.
macro_rules! enabled {
    ($tp:ident) => {
        // SAFETY: `$tp` is a `struct tracepoint` defined by `TRACE_EVENT` in
        // `partcp_trace.c` (linked into this module); testing its static key is always
        // allowed.
        unsafe { kernel::jump_label::static_branch_unlikely!($tp, bindings::tracepoint, key) }
    };
}

/// Network-order `__be32` of an address, as the events store it.
fn be32(a: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.0)
}

/// A length as a `u32` field (saturating).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Linux's number for a TCP state, as the tracepoints record it.
fn tcp_state_number(s: State) -> i32 {
    i32::from(s.linux_number())
}

/// `partcp:partcp_segment_recv`: a segment claimed by the rx_handler (`segs`: wire
/// segments of a GRO-merged skb).
#[inline(always)]
pub(crate) fn segment_recv(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr, segs: u32) {
    if enabled!(__tracepoint_partcp_segment_recv) {
        segment(true, src, dst, repr, repr.payload_len, segs);
    }
}

/// `partcp:partcp_segment_send`: a segment (or GSO super-segment of `gso_size`-byte
/// pieces) about to be handed to the IP layer.
#[inline(always)]
pub(crate) fn segment_send(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr, payload_len: usize, gso_size: usize) {
    if enabled!(__tracepoint_partcp_segment_send) {
        let segs = if gso_size > 0 && payload_len > gso_size { payload_len.div_ceil(gso_size) } else { 1 };
        segment(false, src, dst, repr, payload_len, len32(segs));
    }
}

#[cold]
#[inline(never)]
fn segment(recv: bool, src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr, payload_len: usize, segs: u32) {
    let (s, d, sp, dp) = (be32(src), be32(dst), repr.src_port, repr.dst_port);
    let (seq, ack, flags, wnd) = (repr.seq.0, repr.ack.0, repr.flags.0, repr.window);
    let (len, segs) = (len32(payload_len), u16::try_from(segs).unwrap_or(u16::MAX));
    if recv {
        // SAFETY: Plain values; the helper may be called from any context.
        unsafe { rust_do_trace_partcp_segment_recv(s, d, sp, dp, seq, ack, flags, wnd, len, segs) }
    } else {
        // SAFETY: As above.
        unsafe { rust_do_trace_partcp_segment_send(s, d, sp, dp, seq, ack, flags, wnd, len, segs) }
    }
}

/// `partcp:partcp_set_state`, if `c`'s state is no longer `old`.
#[inline(always)]
pub(crate) fn set_state<S: SendBuffer, R: RecvBuffer, A: SideAlloc>(c: &Connection<S, R, A>, old: State) {
    if enabled!(__tracepoint_partcp_set_state) {
        set_state_slow(c.local(), c.remote(), old, c.state());
    }
}

#[cold]
#[inline(never)]
fn set_state_slow(l: Endpoint, r: Endpoint, old: State, new: State) {
    if old != new {
        let (o, n) = (tcp_state_number(old), tcp_state_number(new));
        // SAFETY: Plain values; the helper may be called from any context.
        unsafe { rust_do_trace_partcp_set_state(be32(l.addr), be32(r.addr), l.port, r.port, o, n) }
    }
}

/// `partcp:partcp_retransmit`, if `t` (about to be sent by `c`) is a retransmission.
#[inline(always)]
pub(crate) fn retransmit<S: SendBuffer, R: RecvBuffer, A: SideAlloc>(c: &Connection<S, R, A>, t: &Transmit) {
    if enabled!(__tracepoint_partcp_retransmit) {
        if let Some(kind) = t.retransmit {
            retransmit_slow(c.local(), c.remote(), c.state(), kind, &t.repr, t.payload_len);
        }
    }
}

/// `partcp:partcp_retransmit` for a listener's SYN-ACK retransmission (always a timeout
/// one) from `local` (address 0 for a wildcard listener) to `remote`.
#[inline(always)]
pub(crate) fn retransmit_synack(local: Ipv4Addr, remote: Endpoint, repr: &TcpRepr) {
    if enabled!(__tracepoint_partcp_retransmit) {
        let local = Endpoint { addr: local, port: repr.src_port };
        retransmit_slow(local, remote, State::SynReceived, Retransmit::Timeout, repr, 0);
    }
}

#[cold]
#[inline(never)]
fn retransmit_slow(l: Endpoint, r: Endpoint, state: State, kind: Retransmit, repr: &TcpRepr, len: usize) {
    // PARTCP_RTX_FAST / PARTCP_RTX_TIMEOUT.
    let kind = match kind {
        Retransmit::Fast => 0,
        Retransmit::Timeout => 1,
    };
    let (s, d, st) = (be32(l.addr), be32(r.addr), tcp_state_number(state));
    // SAFETY: Plain values; the helper may be called from any context.
    unsafe {
        rust_do_trace_partcp_retransmit(s, d, l.port, r.port, st, kind, repr.seq.0, len32(len), repr.flags.0)
    }
}

/// `partcp:partcp_rto_expire`, if `c`'s retransmission timer expired since its
/// `rto_expirations` counter read `before`.
#[inline(always)]
pub(crate) fn rto_expire<S: SendBuffer, R: RecvBuffer, A: SideAlloc>(c: &Connection<S, R, A>, before: u64) {
    if enabled!(__tracepoint_partcp_rto_expire) && c.stats().rto_expirations != before {
        rto_expire_slow(c);
    }
}

#[cold]
#[inline(never)]
fn rto_expire_slow<S: SendBuffer, R: RecvBuffer, A: SideAlloc>(c: &Connection<S, R, A>) {
    let (l, r) = (c.local(), c.remote());
    let (s, d, st) = (be32(l.addr), be32(r.addr), tcp_state_number(c.state()));
    let rto = u32::try_from(c.rto().0).unwrap_or(u32::MAX);
    // SAFETY: Plain values; the helper may be called from any context.
    unsafe { rust_do_trace_partcp_rto_expire(s, d, l.port, r.port, st, c.snd_una().0, c.snd_nxt().0, rto) }
}

/// What a ConnP-T hand-off carries (`PARTCP_HANDOFF_*` in `partcp_trace.h`).
#[derive(Clone, Copy)]
pub(crate) enum HandoffKind {
    /// A received segment.
    Segment = 0,
    /// A socket call.
    Syscall = 1,
    /// A timer expiry.
    Timer = 2,
    /// Anything else (ICMP error, abort).
    Other = 3,
}

/// `partcp:partcp_handoff`: work queued to protocol thread `thread`, whose queue now
/// holds `depth` items.
#[inline(always)]
pub(crate) fn handoff(thread: u32, kind: HandoffKind, depth: usize) {
    if enabled!(__tracepoint_partcp_handoff) {
        handoff_slow(thread, kind, depth);
    }
}

#[cold]
#[inline(never)]
fn handoff_slow(thread: u32, kind: HandoffKind, depth: usize) {
    // SAFETY: Plain values; the helper may be called from any context.
    unsafe { rust_do_trace_partcp_handoff(thread, kind as i32, len32(depth)) }
}

/// Whether `partcp:partcp_lock_contended` is enabled (the lock then times a contended
/// acquisition even with `lock_timing` off).
#[inline(always)]
pub(crate) fn lock_contended_enabled() -> bool {
    enabled!(__tracepoint_partcp_lock_contended)
}

/// `partcp:partcp_lock_contended`: a lock of class `class` waited `wait_ns`.
#[inline(always)]
pub(crate) fn lock_contended(class: &'static str, wait_ns: u64) {
    if enabled!(__tracepoint_partcp_lock_contended) {
        lock_contended_slow(class, wait_ns);
    }
}

#[cold]
#[inline(never)]
fn lock_contended_slow(class: &'static str, wait_ns: u64) {
    // SAFETY: `class` is valid for `class.len()` bytes (the event copies them; no NUL
    // is needed: `__string_len`).
    unsafe { rust_do_trace_partcp_lock_contended(class.as_ptr().cast(), len32(class.len()), wait_ns) }
}

/// `partcp:partcp_strategy_switch`: from strategy code `old` (0 msgp, 1 connp-t,
/// 2 connp-l) with knob `old_n` to `new` with `new_n`.
#[inline(always)]
pub(crate) fn strategy_switch(old: u32, old_n: u32, new: u32, new_n: u32) {
    if enabled!(__tracepoint_partcp_strategy_switch) {
        // CAST: strategy codes are 0..=2.
        // SAFETY: Plain values; the helper may be called from any context.
        unsafe { rust_do_trace_partcp_strategy_switch(old as i32, old_n, new as i32, new_n) }
    }
}
