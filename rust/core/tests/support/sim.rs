//! A deterministic two-endpoint TCP simulation in virtual time, over the lossy
//! [`super::link::Link`].
//!
//! Endpoint A actively opens a connection to endpoint B, which listens with a
//! [`Listener`]. Every segment goes through the real wire code: `TcpRepr::emit`, the
//! payload copied out of the send buffer, `fill_checksum`, the link (which may drop,
//! delay, reorder, duplicate or corrupt it), `TcpRepr::parse` with checksum verification
//! (corrupted segments are counted and dropped, as the kernel would), then
//! `on_segment`. Both applications write a pseudo-random byte stream, read with random
//! chunk sizes, shut down their write side when done, and close after reading EOF.
//! A share of the connections' transmits may fail to be built (`Scenario::tx_fail`):
//! they are given back with `transmit_failed`, as the kernel glue does when it has no
//! memory for the skb. The connections keep their side structures in boxes, as the
//! kernel does, and a share of those allocations may fail too (`Scenario::side_fail`);
//! every box must be freed by the end of the run.

#![allow(dead_code)]

use super::link::{Dir, Link, PathConfig, Prob, Rng};
use partcp_core::buffer::{Ring, SendBuffer};
use partcp_core::connection::{Config, Connection, Endpoint, SegmentAction, State, Transmit};
use partcp_core::isn::IsnSecret;
use partcp_core::listener::{
    Listener, ListenerAction, ListenerConfig, ListenerTransmit, SynCookies,
};
use partcp_core::side::{NoMemory, SideAlloc, Slot};
use partcp_core::stats::Stats;
use partcp_core::syncookie::CookieSecret;
use partcp_core::time::{Duration, Instant};
use partcp_core::wire::ipv4::Ipv4Addr;
use partcp_core::wire::tcp::fill_checksum;
use partcp_core::wire::{TcpFlags, TcpPacket, TcpRepr};
use std::cell::{Cell, RefCell};

/// The connection type of the simulation.
pub type SimConn = Connection<Ring<Vec<u8>>, Ring<Vec<u8>>, Flaky>;

/// The simulation's side storage: boxes, as the kernel's `KBox`es, a share of whose
/// allocations fail (`Scenario::side_fail`, drawn from a generator of its own, seeded
/// by the scenario: the runs stay deterministic).
pub struct Flaky;

impl SideAlloc for Flaky {
    type Slot<T> = FlakySlot<T>;
}

std::thread_local! {
    /// The failure generator and chance of the simulation running on this thread.
    static SIDE_FAIL: RefCell<(Rng, Prob)> = RefCell::new((Rng::new(0), Prob::NEVER));
    /// Boxes alive on this thread.
    static SIDE_LIVE: Cell<usize> = const { Cell::new(0) };
}

/// Side boxes alive on this thread.
pub fn side_boxes() -> usize {
    SIDE_LIVE.get()
}

/// [`Flaky`]'s slot.
#[derive(Debug)]
pub struct FlakySlot<T>(Option<Box<T>>);

impl<T> Drop for FlakySlot<T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T> Slot<T> for FlakySlot<T> {
    fn empty() -> Self {
        FlakySlot(None)
    }

    fn get(&self) -> Option<&T> {
        self.0.as_deref()
    }

    fn get_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    fn put(&mut self, value: T) -> Result<&mut T, NoMemory> {
        let b = match self.0.take() {
            Some(mut b) => {
                *b = value;
                b
            }
            None => {
                if SIDE_FAIL.with_borrow_mut(|(rng, p)| rng.chance(*p)) {
                    return Err(NoMemory);
                }
                SIDE_LIVE.set(SIDE_LIVE.get() + 1);
                Box::new(value)
            }
        };
        Ok(&mut **self.0.insert(b))
    }

    fn take(&mut self) -> Option<T> {
        let b = self.0.take()?;
        SIDE_LIVE.set(SIDE_LIVE.get() - 1);
        Some(*b)
    }

    fn release(&mut self) {
        let _ = self.take();
    }
}

/// Client address.
pub const A: Endpoint = Endpoint::new(Ipv4Addr([10, 0, 0, 1]), 40001);
/// Server address.
pub const B: Endpoint = Endpoint::new(Ipv4Addr([10, 0, 0, 2]), 8080);

/// Byte `i` of the stream seeded by `seed`: SplitMix64 of the 8-byte block.
pub fn stream_byte(seed: u64, i: usize) -> u8 {
    let mut z = seed
        .wrapping_add((i as u64 / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z.to_le_bytes()[i % 8]
}

/// What one simulation runs.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Link randomness.
    pub seed: u64,
    /// Both directions' impairments.
    pub path: PathConfig,
    /// Bytes A sends to B.
    pub a_to_b: usize,
    /// Bytes B sends to A.
    pub b_to_a: usize,
    /// Connection settings of both ends.
    pub cfg: Config,
    /// Send and receive buffer size of both ends.
    pub buf: usize,
    /// Largest application write / read.
    pub app_chunk: usize,
    /// Give up (test failure) after this much virtual time.
    pub time_limit: Duration,
    /// The server's SYN cookie policy.
    pub cookies: SynCookies,
    /// Chance that a connection's transmit cannot be built (and is given back).
    pub tx_fail: Prob,
    /// Chance that memory for a side structure cannot be had.
    pub side_fail: Prob,
}

impl Scenario {
    /// A scenario with defaults: 64 KiB buffers, Linux-like options, 64 KiB app chunks.
    pub fn new(seed: u64, path: PathConfig, a_to_b: usize, b_to_a: usize) -> Self {
        Scenario {
            seed,
            path,
            a_to_b,
            b_to_a,
            // An orphan gives up after Linux's time budget for `tcp_orphan_retries`
            // (102.2 s by default), which a 20% loss path with a backed-off RTO can
            // use up: the sweeps test delivery, so orphans get 15 retries' worth.
            cfg: Config {
                orphan_retries: 15,
                ..Config::default()
            },
            buf: 65536,
            app_chunk: 65536,
            time_limit: Duration::from_secs(3 * 3600),
            cookies: SynCookies::WhenFull,
            tx_fail: Prob::NEVER,
            side_fail: Prob::NEVER,
        }
    }
}

/// One application endpoint.
struct Side {
    conn: Option<SimConn>,
    /// Seed of the stream this side sends.
    tx_seed: u64,
    /// Seed of the stream this side expects.
    rx_seed: u64,
    to_send: usize,
    written: usize,
    to_recv: usize,
    received: usize,
    eof: bool,
    shut: bool,
    closed: bool,
    errors: Vec<String>,
    /// Counters of connections that ended (kept when a side's connection is replaced).
    stats: Stats,
    bad_segments: u64,
}

impl Side {
    fn new(tx_seed: u64, rx_seed: u64, to_send: usize, to_recv: usize) -> Side {
        Side {
            conn: None,
            tx_seed,
            rx_seed,
            to_send,
            written: 0,
            to_recv,
            received: 0,
            eof: false,
            shut: false,
            closed: false,
            errors: Vec::new(),
            stats: Stats::default(),
            bad_segments: 0,
        }
    }

    fn done(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.is_closed())
    }

    /// The application: write, read, shut down, close.
    fn app(&mut self, now: Instant, rng: &mut Rng, chunk: usize) {
        let Some(c) = self.conn.as_mut() else {
            return;
        };
        // Write.
        while self.written < self.to_send && c.writable() {
            let n = (self.to_send - self.written).min(1 + rng.below(chunk as u64) as usize);
            let start = self.written;
            let data: Vec<u8> = (start..start + n)
                .map(|i| stream_byte(self.tx_seed, i))
                .collect();
            match c.send_with(|b| b.enqueue_slice(&data)) {
                Ok(k) => self.written += k,
                Err(e) => {
                    self.errors.push(format!("send: {e:?}"));
                    break;
                }
            }
        }
        if self.written == self.to_send
            && !self.shut
            && matches!(c.state(), State::Established | State::CloseWait)
        {
            self.shut = true;
            if let Err(e) = c.shutdown_write() {
                self.errors.push(format!("shutdown: {e:?}"));
            }
        }
        // Read.
        loop {
            let want = 1 + rng.below(chunk as u64) as usize;
            let mut buf = vec![0u8; want];
            match c.recv_with(|b| b.read_at(0, &mut buf)) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    for (k, &b) in buf[..n].iter().enumerate() {
                        let want = stream_byte(self.rx_seed, self.received + k);
                        if b != want {
                            self.errors.push(format!(
                                "byte {} differs: got {b:#x}, want {want:#x}",
                                self.received + k
                            ));
                            return;
                        }
                    }
                    self.received += n;
                }
                Err(partcp_core::connection::Error::WouldBlock) => break,
                Err(e) => {
                    self.errors.push(format!("recv: {e:?} in {:?}", c.state()));
                    break;
                }
            }
        }
        if self.eof && self.shut && !self.closed {
            self.closed = true;
            c.close(now);
        }
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Bytes A received from B / B from A.
    pub a_received: usize,
    pub b_received: usize,
    /// Final states.
    pub a_state: State,
    pub b_state: State,
    /// Per-side counters.
    pub a_stats: Stats,
    pub b_stats: Stats,
    /// Virtual time when both sides finished.
    pub elapsed: Duration,
    /// Errors seen by the applications.
    pub errors: Vec<String>,
    /// Segments dropped by the receiving parser (checksum, malformed).
    pub bad_segments: u64,
    /// Link counters.
    pub link: super::link::LinkStats,
    /// Transmits that could not be built (`Scenario::tx_fail`).
    pub tx_failed: u64,
}

/// The running simulation.
pub struct Sim {
    pub link: Link,
    pub now: Instant,
    sc: Scenario,
    rng: Rng,
    a: Side,
    b: Side,
    listener: Listener<16>,
    tx_failed: u64,
}

/// Serialize `t` from `from` to `to`, splitting TSO super-segments, with the payload
/// copied from `sbuf`.
fn emit(t: &Transmit, sbuf: &Ring<Vec<u8>>, from: Endpoint, to: Endpoint) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let gso = if t.gso_size == 0 {
        t.payload_len.max(1)
    } else {
        t.gso_size
    };
    let mut off = 0;
    loop {
        let n = (t.payload_len - off).min(gso);
        let last = off + n >= t.payload_len;
        let mut repr = t.repr;
        repr.seq = t.repr.seq + off;
        repr.payload_len = n;
        if !last {
            repr.flags = TcpFlags(repr.flags.0 & !(TcpFlags::FIN.0 | TcpFlags::PSH.0));
        }
        let hl = repr.header_len();
        let mut bytes = vec![0u8; hl + n];
        repr.emit(&mut bytes).expect("emit");
        let got = sbuf.read_at(t.payload_offset + off, &mut bytes[hl..]);
        assert_eq!(got, n, "transmit names bytes outside the send buffer");
        fill_checksum(&mut bytes, from.addr, to.addr).expect("checksum");
        out.push(bytes);
        off += n;
        if last {
            break;
        }
    }
    out
}

/// Parse a received segment; `None` if corrupted or malformed.
fn parse(bytes: &[u8], from: Endpoint, to: Endpoint) -> Option<(TcpRepr, Vec<u8>)> {
    let packet = TcpPacket::new_checked(bytes).ok()?;
    let repr = TcpRepr::parse(&packet, from.addr, to.addr, true).ok()?;
    if repr.src_port != from.port || repr.dst_port != to.port {
        return None;
    }
    Some((repr, packet.payload().to_vec()))
}

impl Sim {
    /// Set up: A connects at time zero.
    pub fn new(sc: Scenario) -> Sim {
        let now = Instant(1_000_000);
        let secret = IsnSecret([sc.seed as u8; 16]);
        SIDE_FAIL.set((Rng::new(sc.seed ^ 0x51de_5106), sc.side_fail));
        let a_conn = Connection::connect(
            sc.cfg,
            A,
            B,
            &secret,
            Ring::new(vec![0u8; sc.buf]),
            Ring::new(vec![0u8; sc.buf]),
            now,
        );
        let mut a = Side::new(sc.seed ^ 0xaaaa, sc.seed ^ 0xbbbb, sc.a_to_b, sc.b_to_a);
        a.conn = Some(a_conn);
        let b = Side::new(sc.seed ^ 0xbbbb, sc.seed ^ 0xaaaa, sc.b_to_a, sc.a_to_b);
        let lcfg = ListenerConfig {
            conn: sc.cfg,
            recv_buffer: sc.buf,
            syncookies: sc.cookies,
            ..ListenerConfig::default()
        };
        let listener = Listener::new(lcfg, B, IsnSecret([7; 16]), CookieSecret([9; 16]));
        Sim {
            link: Link::new(sc.path, sc.seed),
            now,
            rng: Rng::new(sc.seed.wrapping_mul(31).wrapping_add(7)),
            sc,
            a,
            b,
            listener,
            tx_failed: 0,
        }
    }

    /// Send whatever both ends have to send now.
    fn flush(&mut self) {
        let now = self.now;
        for (side, from, to, dir) in [
            (&mut self.a, A, B, Dir::AtoB),
            (&mut self.b, B, A, Dir::BtoA),
        ] {
            if let Some(c) = side.conn.as_mut() {
                let mut n = 0;
                while let Some((t, undo)) = c.poll_transmit_undoable(now) {
                    if self.rng.chance(self.sc.tx_fail) {
                        // Not built: given back; the connection's retry timer (or the
                        // next event) sends it.
                        c.transmit_failed(undo, now);
                        self.tx_failed += 1;
                        break;
                    }
                    for bytes in emit(&t, c.send_buffer(), from, to) {
                        self.link.send(now, dir, bytes);
                    }
                    n += 1;
                    assert!(n < 100_000, "runaway poll_transmit");
                }
            }
        }
        while let Some(ListenerTransmit { remote, repr }) = self.listener.poll_transmit(now) {
            let t = Transmit {
                repr,
                payload_offset: 0,
                payload_len: 0,
                gso_size: 0,
                retransmit: None,
            };
            let empty = Ring::new(Vec::new());
            for bytes in emit(&t, &empty, B, remote) {
                self.link.send(now, Dir::BtoA, bytes);
            }
        }
    }

    fn deliver(&mut self, dir: Dir, bytes: Vec<u8>) {
        let now = self.now;
        let (from, to) = match dir {
            Dir::AtoB => (A, B),
            Dir::BtoA => (B, A),
        };
        let Some((repr, payload)) = parse(&bytes, from, to) else {
            match dir {
                Dir::AtoB => self.b.bad_segments += 1,
                Dir::BtoA => self.a.bad_segments += 1,
            }
            return;
        };
        match dir {
            Dir::BtoA => {
                if let Some(c) = self.a.conn.as_mut() {
                    let _ = c.on_segment(now, &repr, &payload[..]);
                }
            }
            Dir::AtoB => {
                let live = self.b.conn.as_ref().is_some_and(|c| !c.is_closed());
                if live {
                    let c = self.b.conn.as_mut().expect("live");
                    if c.on_segment(now, &repr, &payload[..]) == SegmentAction::Done {
                        return;
                    }
                    // TIME-WAIT reopen: this simulation has one connection only.
                    return;
                }
                match self.listener.on_segment(now, A, &repr) {
                    ListenerAction::None | ListenerAction::Consumed => {}
                    ListenerAction::Reply(r) => {
                        let t = Transmit {
                            repr: r,
                            payload_offset: 0,
                            payload_len: 0,
                            gso_size: 0,
                            retransmit: None,
                        };
                        let empty = Ring::new(Vec::new());
                        for bytes in emit(&t, &empty, B, A) {
                            self.link.send(now, Dir::BtoA, bytes);
                        }
                    }
                    ListenerAction::Established(hs) => {
                        if self.b.conn.is_some() {
                            // A second connection (a stale ACK) is not part of the test:
                            // refuse it like an application that accepts only once.
                            self.listener.accepted();
                            return;
                        }
                        let mut c = Connection::accept(
                            self.sc.cfg,
                            &hs,
                            Ring::new(vec![0u8; self.sc.buf]),
                            Ring::new(vec![0u8; self.sc.buf]),
                            now,
                        );
                        self.listener.accepted();
                        let _ = c.on_segment(now, &repr, &payload[..]);
                        self.b.conn = Some(c);
                    }
                }
            }
        }
    }

    /// Run to completion (both connections closed) or the time limit.
    pub fn run(mut self) -> Outcome {
        let start = self.now;
        let limit = start + self.sc.time_limit;
        let chunk = self.sc.app_chunk;
        loop {
            let now = self.now;
            self.a.app(now, &mut self.rng, chunk);
            self.b.app(now, &mut self.rng, chunk);
            self.flush();
            if self.a.done() && self.b.done() && self.b.conn.is_some() {
                break;
            }
            let next = [
                self.link.next_delivery_time(),
                self.a.conn.as_ref().and_then(|c| c.next_deadline()),
                self.b.conn.as_ref().and_then(|c| c.next_deadline()),
                self.listener.next_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else {
                break;
            };
            if next > limit {
                break;
            }
            self.now = next.max(self.now);
            let now = self.now;
            while let Some((dir, bytes)) = self.link.poll_deliver(now) {
                self.deliver(dir, bytes);
            }
            for side in [&mut self.a, &mut self.b] {
                if let Some(c) = side.conn.as_mut() {
                    c.on_timer(now);
                }
            }
            self.listener.on_timer(now);
        }
        let mut errors = Vec::new();
        errors.extend(self.a.errors.iter().map(|e| format!("A: {e}")));
        errors.extend(self.b.errors.iter().map(|e| format!("B: {e}")));
        let state = |s: &Side| s.conn.as_ref().map_or(State::Closed, |c| c.state());
        let stats = |s: &Side| {
            let mut st = s.stats;
            if let Some(c) = s.conn.as_ref() {
                st.add(&c.stats());
            }
            st
        };
        Outcome {
            a_received: self.a.received,
            b_received: self.b.received,
            a_state: state(&self.a),
            b_state: state(&self.b),
            a_stats: stats(&self.a),
            b_stats: stats(&self.b),
            elapsed: self.now - start,
            errors,
            bad_segments: self.a.bad_segments + self.b.bad_segments,
            link: self.link.stats(),
            tx_failed: self.tx_failed,
        }
    }

    /// Scenario accessor.
    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }
}

/// Run `sc` and check the transfer was exact and both ends closed cleanly.
#[track_caller]
pub fn run_and_check(sc: Scenario) -> Outcome {
    let live = side_boxes();
    let o = Sim::new(sc).run();
    let ctx = format!("{sc:?}\n{o:#?}");
    assert_eq!(side_boxes(), live, "side storage not freed: {ctx}");
    assert!(o.errors.is_empty(), "application errors: {ctx}");
    assert_eq!(o.b_received, sc.a_to_b, "A->B stream incomplete: {ctx}");
    assert_eq!(o.a_received, sc.b_to_a, "B->A stream incomplete: {ctx}");
    assert_eq!(o.a_state, State::Closed, "A did not close: {ctx}");
    assert_eq!(o.b_state, State::Closed, "B did not close: {ctx}");
    o
}

/// Sum of both sides' counters.
pub fn total(o: &Outcome) -> Stats {
    let mut s = o.a_stats;
    s.add(&o.b_stats);
    s
}

/// Unused-import guard for the send buffer trait (used through `Ring`).
pub fn send_len(c: &SimConn) -> usize {
    SendBuffer::len(c.send_buffer())
}
