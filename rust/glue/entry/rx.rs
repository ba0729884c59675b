// SPDX-License-Identifier: GPL-2.0

//! Layer: entry points.
//!
//! Receive: the `rx_handler` partcp installs on every network device runs inside the
//! driver's NAPI poll (softirq). It claims IPv4 TCP segments that belong to partcp
//! connections or listeners and passes everything else on untouched, so Linux's own stack
//! keeps working on the same interface.
//!
//! What a segment costs before partcp knows it is its own: a few header loads and one
//! bit of the port bitmap (`partcp_rx_wanted` in the shim: no lock, no atomic
//! read-modify-write, no write to the skb). Only then is the header parsed and the
//! connection or listener looked up, under RCU with no lock (MsgP: under the table lock,
//! its defining global lock; see `stack.rs`).
//!
//! GRO-merged and non-linear skbs are kept whole: the payload stays in the skb, which
//! the connection's receive queue references (`kernel/rxq.rs`) until `recvmsg` copies
//! it to the user; checksums are validated per `ip_summed` (the shim follows
//! `tcp_v4_rcv`).
//!
//! A claimed segment becomes an [`RxSeg`], which owns the skb and its descriptor: the
//! strategy may process it right here or queue it to a protocol thread (ConnP-T), and
//! the skb is freed when the `RxSeg` is dropped, after processing.

use kernel::bindings;
use kernel::ffi::c_uint;

use crate::glue::kernel::shim::{self, PartcpRx, RX_HANDLER_CONSUMED, RX_HANDLER_PASS};
use crate::glue::kernel::skb::RxSeg;
use crate::glue::obj::stack::{stack, ConnKey, Found, Stack};
use crate::glue::kernel::stats::{self, Counter};
use crate::glue::kernel::trace;
use crate::glue::entry::tx::from_be32;
use crate::connection::IcmpError;
use crate::seq::SeqNum;
use crate::wire::{ipv4, TcpFlags, TcpPacket, TcpRepr, WireError};

/// The rx_handler.
///
/// # Safety
///
/// Called by `__netif_receive_skb_core` under RCU in softirq context with a valid skb.
pub(crate) unsafe extern "C" fn rx_handler(pskb: *mut *mut bindings::sk_buff) -> c_uint {
    let Some(stack) = stack() else {
        return RX_HANDLER_PASS;
    };
    let mut rx = PartcpRx::new();
    // SAFETY: `pskb` is valid (function precondition); `rx` is valid for writes.
    match unsafe { shim::partcp_rx_peek(pskb, &mut rx) } {
        0 => {}
        1 => return RX_HANDLER_PASS,
        // SAFETY: `partcp_rx_peek` returned 2: `*pskb` is a valid, unshared skb with
        // `tcp_hlen` (at least 4) bytes of TCP header at `rx.tcp` in the linear area.
        2 => return unsafe { drop_if_ours(stack, pskb, &rx, false, Counter::RxMalformed) },
        3 => {
            // An ICMP error quoting a TCP segment: tell its connection, if partcp's, and
            // pass the skb on to Linux's ICMP layer either way.
            icmp_error(stack, &rx);
            return RX_HANDLER_PASS;
        }
        _ => return RX_HANDLER_CONSUMED,
    }
    // SAFETY: `partcp_rx_peek` returned 0, so `*pskb` is a valid, unshared skb whose
    // TCP header (`tcp_hlen` bytes at `tcp`) is in the linear area.
    let skb = unsafe { *pskb };
    // IP options, checked as the IP layer would (partcp receives ahead of it).
    if rx.ip_opts_len != 0 {
        // SAFETY: `partcp_rx_peek` returned 0: `ip_opts_len` bytes at `ip_opts` are in the
        // linear area.
        let opts = unsafe { core::slice::from_raw_parts(rx.ip_opts, rx.ip_opts_len as usize) };
        if let Err(e) = ipv4::check_options(opts) {
            let counter = if e == WireError::Unsupported { Counter::RxSourceRouted } else { Counter::RxMalformed };
            // SAFETY: As above, with a whole TCP header at `rx.tcp`.
            return unsafe { drop_if_ours(stack, pskb, &rx, true, counter) };
        }
    }
    // SAFETY: As above.
    let hdr = unsafe { core::slice::from_raw_parts(rx.tcp, rx.tcp_hlen as usize) };
    let src = from_be32(rx.saddr);
    let dst = from_be32(rx.daddr);
    let repr = TcpPacket::new_checked(hdr).and_then(|p| TcpRepr::parse(&p, src, dst, false));
    let mut repr = match repr {
        Ok(r) => r,
        // Malformed options: partcp's if the 4-tuple is (see `drop_if_ours`).
        // SAFETY: `partcp_rx_peek` returned 0: as above, with a whole TCP header.
        Err(_) => return unsafe { drop_if_ours(stack, pskb, &rx, true, Counter::RxMalformed) },
    };
    // Options ignored or clamped (RFC 7323 2.3: "SHOULD log the error"): counted only.
    if repr.options.malformed() {
        stats::count(Counter::RxOptionsIgnored);
    }
    repr.payload_len = rx.payload_len as usize;
    let key = ConnKey {
        net: rx.net as usize,
        laddr: u32::from_be_bytes(dst.0),
        lport: repr.dst_port,
        raddr: u32::from_be_bytes(src.0),
        rport: repr.src_port,
    };

    let (conn, listener) = match stack.find(&key, true) {
        Found::Conn(c) => (Some(c), None),
        Found::Listener(l) => (None, Some(l)),
        Found::Nothing => return RX_HANDLER_PASS,
    };
    // Ours from here on: validate the checksum before the protocol sees the segment.
    // SAFETY: `skb` and `rx` are valid; `partcp_rx_peek` accepted the skb.
    if unsafe { shim::partcp_rx_claim(skb, &rx) } != 0 {
        stats::count(Counter::RxChecksumErrors);
        // SAFETY: The skb is ours to free.
        unsafe { shim::partcp_kfree_skb(skb) };
        drop((conn, listener));
        return RX_HANDLER_CONSUMED;
    }
    stats::count(Counter::RxSegments);
    if rx.reassembled != 0 {
        stats::count(Counter::RxReassembled);
    }
    if rx.gso_segs > 1 {
        stats::count(Counter::RxGroMerged);
    }
    trace::segment_recv(src, dst, &repr, rx.gso_segs.max(1));
    let net = rx.net;
    // SAFETY: `partcp_rx_claim` succeeded: the skb is unshared and claimed, described
    // by `rx`, and ownership passes to the segment.
    let seg = unsafe { RxSeg::new(skb, rx, repr, src, dst, net) };
    if let Some(conn) = conn {
        crate::glue::dispatch::conn_input(stack, conn, seg);
    } else if let Some(l) = listener {
        if let Some(seg) = crate::glue::dispatch::listen_input(stack, l, seg) {
            // A non-SYN segment for a listener port that the listener does not know: it
            // may belong to a Linux TCP connection on the same port. Hand it back.
            stats::count(Counter::RxPassed);
            let skb = seg.into_unclaimed();
            // SAFETY: `pskb` is valid; the skb is intact (the claim only moved `data`).
            unsafe { *pskb = skb };
            return RX_HANDLER_PASS;
        }
    }
    RX_HANDLER_CONSUMED
}

/// A segment to drop: a malformed TCP header (truncated, bad data offset, malformed
/// option list) or IP options the IP layer would refuse. If its 4-tuple is a partcp
/// connection, or it is a SYN for a partcp listener, it is counted (`counter`) and
/// dropped: Linux's TCP would answer a malformed header with a RST for a 4-tuple it does
/// not know. Otherwise it is passed on (it may be Linux's, whose layers judge it).
/// `full` says the header has its 20 fixed bytes (flags readable), else only the ports.
///
/// # Safety
///
/// `*pskb` is a valid skb owned by the caller and `rx.tcp` points to `rx.tcp_hlen >= 4`
/// readable bytes of its TCP header.
unsafe fn drop_if_ours(
    stack: &Stack,
    pskb: *mut *mut bindings::sk_buff,
    rx: &PartcpRx,
    full: bool,
    counter: Counter,
) -> c_uint {
    // SAFETY: `rx.tcp` has `rx.tcp_hlen` readable bytes (function precondition).
    let hdr = unsafe { core::slice::from_raw_parts(rx.tcp, rx.tcp_hlen as usize) };
    let (Some(&[s0, s1, d0, d1]), flags) = (hdr.first_chunk::<4>(), hdr.get(13).filter(|_| full)) else {
        return RX_HANDLER_PASS;
    };
    let key = ConnKey {
        net: rx.net as usize,
        laddr: u32::from_be(rx.daddr),
        lport: u16::from_be_bytes([d0, d1]),
        raddr: u32::from_be(rx.saddr),
        rport: u16::from_be_bytes([s0, s1]),
    };
    let syn = flags.is_some_and(|f| f & 0x12 == 0x02);
    match stack.find(&key, syn) {
        Found::Conn(c) => drop(c),
        Found::Listener(l) => drop(l),
        Found::Nothing => return RX_HANDLER_PASS,
    }
    stats::count(counter);
    // SAFETY: `*pskb` is a valid skb the caller owns (precondition); it is not used again.
    unsafe { shim::partcp_kfree_skb(*pskb) };
    RX_HANDLER_CONSUMED
}

/// An ICMP error (validated by `partcp_rx_peek`) quoting a TCP segment: if the segment
/// is a partcp connection's (local = its source, remote = its destination, in the
/// receiving device's namespace), the connection gets the error through the dispatch
/// layer, as Linux's `tcp_v4_err`. The core checks the quoted sequence number (RFC 5927
/// section 4.1) and decides what the error means.
fn icmp_error(stack: &Stack, rx: &PartcpRx) {
    let icmp = match rx.icmp_type {
        // Fragmentation needed: path MTU discovery (RFC 1191).
        ICMP_DEST_UNREACH if rx.icmp_code == ICMP_FRAG_NEEDED => IcmpError::FragmentationNeeded(rx.icmp_mtu),
        ICMP_DEST_UNREACH => IcmpError::DestUnreachable(rx.icmp_code),
        ICMP_TIME_EXCEEDED => IcmpError::TimeExceeded,
        ICMP_PARAMETERPROB => IcmpError::ParameterProblem,
        _ => return,
    };
    let key = ConnKey {
        net: rx.net as usize,
        laddr: u32::from_be(rx.icmp_saddr),
        lport: rx.icmp_sport,
        raddr: u32::from_be(rx.icmp_daddr),
        rport: rx.icmp_dport,
    };
    let Some(conn) = stack.find_conn(&key) else {
        return;
    };
    stats::count(Counter::RxIcmpErrors);
    crate::glue::dispatch::conn_icmp(stack, conn, SeqNum(rx.icmp_seq), icmp);
}

/// ICMP types (RFC 792) that `partcp_rx_peek` reports.
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_PARAMETERPROB: u8 = 12;
/// Destination unreachable code: fragmentation needed and DF set.
const ICMP_FRAG_NEEDED: u8 = 4;


/// Whether a segment is a plain SYN (a connection request).
pub(crate) fn is_syn(repr: &TcpRepr) -> bool {
    repr.flags.contains(TcpFlags::SYN) && !repr.flags.contains(TcpFlags::ACK)
}
