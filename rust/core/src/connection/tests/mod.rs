//! Connection tests, grouped by state and by RFC rule (after smoltcp's layout): fixture
//! constructors chain through the states (`syn_sent()` → `established()` →
//! `fin_wait_1()` ...), and helpers feed peer segments in and check what comes out.

use super::*;
use crate::buffer::Ring;
use crate::wire::{TcpOptions, Timestamps};
use std::vec;
use std::vec::Vec;

mod app;
mod autotune;
mod close_states;
mod closed;
mod delack;
mod established;
mod frto;
mod icmp;
mod keepalive;
mod linux_knobs;
mod newreno;
mod options;
mod orphan;
mod paws;
mod refused;
mod rfc5961;
mod rto;
mod sack_gen;
mod sack_recovery;
mod side;
mod syn_received;
mod syn_sent;
mod tcp_info;
mod tx_failed;
mod window;

/// The connection type used throughout: side structures in boxes, as the kernel's.
pub(super) type TestConn = Connection<Ring<Vec<u8>>, Ring<Vec<u8>>, Boxed>;

/// The tests' side storage ([`crate::side`]): each structure in a `Box` of its own, as
/// the kernel keeps them in `KBox`es, with allocation failures on demand
/// ([`fail_side_allocs`]) and a count of the boxes alive ([`side_boxes`]), both per
/// thread (each test runs on a thread of its own).
#[derive(Clone, Copy, Debug)]
pub(super) struct Boxed;

impl crate::side::SideAlloc for Boxed {
    type Slot<T> = BoxSlot<T>;
}

std::thread_local! {
    static SIDE_FAIL: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    static SIDE_LIVE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// From now on on this thread, side allocations fail (`true`) or succeed.
pub(super) fn fail_side_allocs(fail: bool) {
    SIDE_FAIL.set(fail);
}

/// Side boxes alive on this thread.
pub(super) fn side_boxes() -> usize {
    SIDE_LIVE.get()
}

/// [`Boxed`]'s slot.
#[derive(Debug)]
pub(super) struct BoxSlot<T>(Option<std::boxed::Box<T>>);

impl<T> BoxSlot<T> {
    fn freed(&mut self) {
        if self.0.take().is_some() {
            SIDE_LIVE.set(SIDE_LIVE.get() - 1);
        }
    }
}

impl<T: Clone> Clone for BoxSlot<T> {
    fn clone(&self) -> Self {
        if self.0.is_some() {
            SIDE_LIVE.set(SIDE_LIVE.get() + 1);
        }
        BoxSlot(self.0.clone())
    }
}

impl<T> Drop for BoxSlot<T> {
    fn drop(&mut self) {
        self.freed();
    }
}

impl<T> crate::side::Slot<T> for BoxSlot<T> {
    fn empty() -> Self {
        BoxSlot(None)
    }

    fn get(&self) -> Option<&T> {
        self.0.as_deref()
    }

    fn get_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    fn put(&mut self, value: T) -> Result<&mut T, crate::side::NoMemory> {
        if self.0.is_none() {
            if SIDE_FAIL.get() {
                return Err(crate::side::NoMemory);
            }
            SIDE_LIVE.set(SIDE_LIVE.get() + 1);
        }
        let b = match self.0.take() {
            Some(mut b) => {
                *b = value;
                b
            }
            None => std::boxed::Box::new(value),
        };
        Ok(&mut **self.0.insert(b))
    }

    fn take(&mut self) -> Option<T> {
        let v = self.0.take()?;
        SIDE_LIVE.set(SIDE_LIVE.get() - 1);
        Some(*v)
    }

    fn release(&mut self) {
        self.freed();
    }
}

pub(super) const LOCAL: Endpoint = Endpoint::new(Ipv4Addr([192, 168, 1, 1]), 49500);
pub(super) const REMOTE: Endpoint = Endpoint::new(Ipv4Addr([192, 168, 1, 2]), 80);
/// Our ISS, close to the wrap so sequence arithmetic is exercised.
pub(super) const LOCAL_ISS: SeqNum = SeqNum(0xffff_fff0);
/// The peer's ISS.
pub(super) const REMOTE_ISS: SeqNum = SeqNum(0x1000_0000);
/// Start of time in tests.
pub(super) const T0: Instant = Instant(10_000_000);
/// Peer's advertised window (unscaled).
pub(super) const PEER_WIN: u16 = 32768;
/// Default buffer sizes.
pub(super) const BUF: usize = 16384;

/// Milliseconds after T0.
pub(super) fn ms(n: u64) -> Instant {
    T0 + Duration::from_millis(n)
}

/// A plain configuration: no options, no delayed ACK (each test turns on what it tests).
pub(super) fn plain_cfg() -> Config {
    Config {
        window_scale: false,
        sack: false,
        timestamps: false,
        delayed_ack: None,
        congestion: CongestionAlgorithm::NewReno,
        ..Config::default()
    }
}

/// A configuration with every option on (Linux-like).
pub(super) fn full_cfg() -> Config {
    Config {
        congestion: CongestionAlgorithm::NewReno,
        ..Config::default()
    }
}

/// A ring buffer of `n` bytes.
pub(super) fn ring(n: usize) -> Ring<Vec<u8>> {
    Ring::new(vec![0u8; n])
}

/// A peer segment with `flags`, `seq`, `ack` and the default window.
pub(super) fn seg(flags: TcpFlags, seq: SeqNum, ack: SeqNum) -> TcpRepr {
    TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        seq,
        ack,
        flags,
        window: PEER_WIN,
        ..TcpRepr::default()
    }
}

/// A peer ACK.
pub(super) fn ack(seq: SeqNum, ack: SeqNum) -> TcpRepr {
    seg(TcpFlags::ACK, seq, ack)
}

/// Peer data at `seq`, acknowledging `ack`.
pub(super) fn data(seq: SeqNum, ack: SeqNum, len: usize) -> TcpRepr {
    TcpRepr {
        payload_len: len,
        ..seg(TcpFlags::ACK | TcpFlags::PSH, seq, ack)
    }
}

/// A deterministic byte pattern: byte `i` of a stream.
pub(super) fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect()
}

/// Feed `repr` with `payload` (which must be `repr.payload_len` long).
pub(super) fn input(
    c: &mut TestConn,
    now: Instant,
    repr: TcpRepr,
    payload: &[u8],
) -> SegmentAction {
    assert_eq!(repr.payload_len, payload.len(), "test bug: payload length");
    c.on_segment(now, &repr, payload)
}

/// Feed a segment without payload.
pub(super) fn input0(c: &mut TestConn, now: Instant, repr: TcpRepr) {
    let _ = input(c, now, repr, &[]);
}

/// Feed peer data with the pattern bytes for stream offset `off`.
pub(super) fn input_data(
    c: &mut TestConn,
    now: Instant,
    seq: SeqNum,
    ackn: SeqNum,
    off: usize,
    len: usize,
) {
    let p = pattern(off, len);
    let _ = input(c, now, data(seq, ackn, len), &p);
}

/// One segment out: the header and its payload bytes copied from the send buffer.
#[derive(Clone, Debug)]
pub(super) struct Out {
    pub repr: TcpRepr,
    pub payload: Vec<u8>,
    pub gso_size: usize,
    pub retransmit: Option<Retransmit>,
}

/// Everything the connection has to send now.
pub(super) fn output(c: &mut TestConn, now: Instant) -> Vec<Out> {
    let mut v = Vec::new();
    loop {
        let (fast, rto) = (c.stats().fast_retransmits, c.stats().rto_retransmits);
        let Some(t) = c.poll_transmit(now) else { break };
        // The kind agrees with the counters: a fast retransmission is counted as it
        // goes out, a timeout one (SYN: at the expiry) never counts as fast.
        let fast_counted = c.stats().fast_retransmits - fast;
        let rto_counted = c.stats().rto_retransmits - rto;
        assert_eq!(
            fast_counted,
            u64::from(t.retransmit == Some(Retransmit::Fast))
        );
        if t.retransmit != Some(Retransmit::Timeout) {
            assert_eq!(rto_counted, 0, "an RTO resend not marked as one: {:?}", t);
        }
        assert_eq!(t.repr.payload_len, t.payload_len);
        let mut payload = vec![0u8; t.payload_len];
        let n = c.send_buffer().read_at(t.payload_offset, &mut payload);
        assert_eq!(
            n, t.payload_len,
            "transmit names bytes beyond the send buffer"
        );
        v.push(Out {
            repr: t.repr,
            payload,
            gso_size: t.gso_size,
            retransmit: t.retransmit,
        });
        assert!(v.len() < 10_000, "runaway output");
    }
    v
}

/// Exactly one segment out.
#[track_caller]
pub(super) fn output_one(c: &mut TestConn, now: Instant) -> Out {
    let v = output(c, now);
    assert_eq!(v.len(), 1, "expected one segment, got {:#?}", v);
    v.into_iter().next().unwrap()
}

/// Nothing out.
#[track_caller]
pub(super) fn output_none(c: &mut TestConn, now: Instant) {
    let v = output(c, now);
    assert!(v.is_empty(), "expected no segment, got {:#?}", v);
}

/// Check a segment's flags, seq and ack.
#[track_caller]
pub(super) fn check(o: &Out, flags: TcpFlags, seq: SeqNum, ackn: SeqNum) {
    assert_eq!(o.repr.flags, flags, "flags of {:?}", o.repr);
    assert_eq!(o.repr.seq, seq, "seq of {:?}", o.repr);
    if flags.contains(TcpFlags::ACK) {
        assert_eq!(o.repr.ack, ackn, "ack of {:?}", o.repr);
    }
    assert_eq!(o.repr.src_port, LOCAL.port);
    assert_eq!(o.repr.dst_port, REMOTE.port);
}

/// Check that a segment is a pure ACK of `ackn`.
#[track_caller]
pub(super) fn check_ack(o: &Out, seq: SeqNum, ackn: SeqNum) {
    check(o, TcpFlags::ACK, seq, ackn);
    assert_eq!(o.repr.payload_len, 0);
}

/// Sequence number of our full-sized (1460-byte) segment `i`.
pub(super) fn s(i: usize) -> SeqNum {
    l1() + i * 1460
}

/// An ACK of our segment `ack_seg` with SACK blocks given as segment ranges (see
/// [`s`]).
pub(super) fn sack_ack(ack_seg: usize, blocks: &[(usize, usize)]) -> TcpRepr {
    let mut a = ack(r1(), s(ack_seg));
    for (i, &(l, r)) in blocks.iter().enumerate() {
        a.options.sack_blocks[i] = crate::wire::SackBlock {
            left: s(l),
            right: s(r),
        };
    }
    a.options.sack_count = blocks.len() as u8;
    a
}

/// Append `data` to the connection's send buffer.
pub(super) fn send(c: &mut TestConn, data: &[u8]) -> Result<usize, Error> {
    c.send_with(|b| b.enqueue_slice(data))
}

/// Read everything readable.
pub(super) fn recv_all(c: &mut TestConn) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; c.recv_buffer().len()];
    let n = c.recv_with(|b| b.read_at(0, &mut out))?;
    out.truncate(n);
    Ok(out)
}

// ----- Fixtures, chained by state -----

/// Our data starts here.
pub(super) fn l1() -> SeqNum {
    LOCAL_ISS + 1
}

/// The peer's data starts here.
pub(super) fn r1() -> SeqNum {
    REMOTE_ISS + 1
}

/// A fresh active open with `cfg` and buffers, SYN not yet taken.
pub(super) fn connecting(cfg: Config, sbuf: usize, rbuf: usize) -> TestConn {
    Connection::connect_with_iss(cfg, LOCAL, REMOTE, LOCAL_ISS, 0, ring(sbuf), ring(rbuf), T0)
}

/// SYN-SENT with the SYN taken.
pub(super) fn syn_sent_with(cfg: Config) -> TestConn {
    let mut c = connecting(cfg, BUF, BUF);
    let syn = output_one(&mut c, T0);
    check(&syn, TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
    assert_eq!(c.state(), State::SynSent);
    c
}

/// SYN-SENT, plain options.
pub(super) fn syn_sent() -> TestConn {
    syn_sent_with(plain_cfg())
}

/// The peer's SYN-ACK to a plain SYN.
pub(super) fn synack() -> TcpRepr {
    TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1())
    }
}

/// ESTABLISHED after an active open with `cfg` and the peer's SYN-ACK `sa`, the final
/// ACK taken.
pub(super) fn established_with(cfg: Config, sa: TcpRepr) -> TestConn {
    let mut c = syn_sent_with(cfg);
    input0(&mut c, ms(10), sa);
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(10));
    check_ack(&a, l1(), r1());
    c
}

/// ESTABLISHED, plain options, at ms(10).
pub(super) fn established() -> TestConn {
    established_with(plain_cfg(), synack())
}

/// ESTABLISHED with timestamps, SACK and window scaling negotiated (peer shift 7).
pub(super) fn established_full() -> TestConn {
    let sa = TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: 5000,
                tsecr: 10_000,
            }),
            ..TcpOptions::default()
        },
        window: 512,
        ..seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1())
    };
    let mut c = syn_sent_with(full_cfg());
    input0(&mut c, ms(10), sa);
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(10));
    check_ack(&a, l1(), r1());
    c
}

/// A plain configuration with SACK offered.
pub(super) fn sack_cfg() -> Config {
    Config {
        sack: true,
        ..plain_cfg()
    }
}

/// The peer's SYN-ACK permitting SACK.
pub(super) fn sack_synack() -> TcpRepr {
    TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            ..TcpOptions::default()
        },
        ..synack()
    }
}

/// ESTABLISHED with SACK only (no timestamps, no scaling).
pub(super) fn established_sack() -> TestConn {
    established_with(sack_cfg(), sack_synack())
}

/// FIN-WAIT-1: established, shut down, FIN sent (not yet acknowledged).
pub(super) fn fin_wait_1() -> TestConn {
    let mut c = established();
    c.shutdown_write().unwrap();
    assert_eq!(c.state(), State::FinWait1);
    let fin = output_one(&mut c, ms(20));
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1());
    c
}

/// FIN-WAIT-2: our FIN acknowledged.
pub(super) fn fin_wait_2() -> TestConn {
    let mut c = fin_wait_1();
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    assert_eq!(c.state(), State::FinWait2);
    output_none(&mut c, ms(30));
    c
}

/// CLOSING: FINs crossed, ours not acknowledged.
pub(super) fn closing() -> TestConn {
    let mut c = fin_wait_1();
    input0(
        &mut c,
        ms(30),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1()),
    );
    assert_eq!(c.state(), State::Closing);
    let a = output_one(&mut c, ms(30));
    check_ack(&a, l1() + 1, r1() + 1);
    c
}

/// TIME-WAIT via FIN-WAIT-2.
pub(super) fn time_wait() -> TestConn {
    let mut c = fin_wait_2();
    input0(
        &mut c,
        ms(40),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1() + 1),
    );
    assert_eq!(c.state(), State::TimeWait);
    let a = output_one(&mut c, ms(40));
    check_ack(&a, l1() + 1, r1() + 1);
    c
}

/// CLOSE-WAIT: the peer's FIN arrived.
pub(super) fn close_wait() -> TestConn {
    let mut c = established();
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1()),
    );
    assert_eq!(c.state(), State::CloseWait);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1() + 1);
    c
}

/// LAST-ACK: close-wait, then our FIN sent.
pub(super) fn last_ack() -> TestConn {
    let mut c = close_wait();
    c.shutdown_write().unwrap();
    assert_eq!(c.state(), State::LastAck);
    let fin = output_one(&mut c, ms(30));
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1() + 1);
    c
}

/// The peer's SYN of a simultaneous open (MSS option only).
pub(super) fn peer_syn() -> TcpRepr {
    TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..seg(TcpFlags::SYN, REMOTE_ISS, SeqNum(0))
    }
}

/// SYN-RECEIVED via simultaneous open, SYN-ACK taken.
pub(super) fn syn_received() -> TestConn {
    let mut c = syn_sent();
    input0(&mut c, ms(5), peer_syn());
    assert_eq!(c.state(), State::SynReceived);
    let sa = output_one(&mut c, ms(5));
    check(&sa, TcpFlags::SYN | TcpFlags::ACK, LOCAL_ISS, r1());
    c
}

/// ESTABLISHED (plain handshake) with `cfg`, send buffer `sbuf` and receive buffer `rbuf`.
pub(super) fn established_bufs(cfg: Config, sa: TcpRepr, sbuf: usize, rbuf: usize) -> TestConn {
    let mut c = connecting(cfg, sbuf, rbuf);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), sa);
    assert_eq!(c.state(), State::Established);
    let _ = output_one(&mut c, ms(10));
    c
}

/// ESTABLISHED (plain) giving up after 3 retransmissions, with one byte sent at ms(20)
/// and not acknowledged.
pub(super) fn one_byte_in_flight_3_retries() -> TestConn {
    let cfg = Config {
        max_retries: 3,
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    c
}

/// Sends everything queued from `t` on, the peer acknowledging each flight 10 ms after
/// it went out; returns the time of the last acknowledgement.
pub(super) fn send_all_acked(c: &mut TestConn, mut t: Instant) -> Instant {
    while !c.send_buffer().is_empty() {
        let out = output(c, t);
        t += Duration::from_millis(10);
        for o in out {
            input0(c, t, ack(r1(), o.repr.seq + o.payload.len()));
        }
    }
    t
}

/// Runs every deadline while the connection stays ESTABLISHED; returns how many segments
/// went out meanwhile.
pub(super) fn run_timers_while_established(c: &mut TestConn) -> usize {
    let mut sent = 0;
    while c.state() == State::Established {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        sent += output(c, t).len();
    }
    sent
}

/// A connection's size, most of what an idle connection costs in the kernel
/// (Documentation/design.md, "Per-connection memory"): the glue allocates it, with its
/// lock and a few words, from a slab cache of exactly that size. It was 2304 bytes,
/// Linux's `struct tcp_sock` (the test kernel's "TCP" cache, which also holds the
/// `struct sock` partcp allocates apart), until the structures an idle connection does
/// not use went to side storage (`crate::side`, as the kernel keeps them: one pointer
/// each); a regression shows here first.
#[test]
fn connection_size_bound() {
    use core::mem::size_of;
    // The buffers are the glue's (its queues are 56 and 80 bytes); count them out.
    let core = size_of::<TestConn>() - 2 * size_of::<Ring<Vec<u8>>>();
    assert!(core <= 1432, "Connection without its buffers: {core} bytes");
    // The parts compacted for it.
    assert!(size_of::<crate::stats::ConnStats>() <= 216);
    // Side storage: a pointer and a count for each set of ranges and the send times, a
    // pointer for the F-RTO state.
    assert!(size_of::<crate::assembler::Assembler<Boxed>>() <= 16);
    assert!(size_of::<sack::Scoreboard<Boxed>>() <= 16);
    assert!(size_of::<send_times::SendTimes<Boxed>>() <= 16);
    assert!(
        size_of::<<Boxed as crate::side::SideAlloc>::Slot<crate::connection::frto::Frto>>() <= 8
    );
    assert!(size_of::<Option<PendingRst>>() <= 24);
}
