//! Arbitrary segment sequences against a connection in every state, with invariant and
//! data-integrity checks. Shared by the `segments` fuzz target
//! (`fuzz/fuzz_targets/segments.rs`) and the bounded randomized test
//! (`tests/fuzz_segments.rs`).
//!
//! The input bytes choose a configuration, a starting state (reached through a scripted
//! handshake), and then a sequence of operations: peer segments whose header fields are
//! chosen relative to the connection's current sequence numbers (so they hit the
//! interesting edges), time steps, timer calls, application writes, reads, shutdown,
//! close and abort. The checker is an oracle for the byte streams too: the peer's
//! payload byte at sequence number `s` is always `peer_byte(s)`, so any reordering,
//! duplication or overlap must still deliver exactly `peer_byte(IRS + 1 + k)` as the
//! `k`-th byte read; our transmitted payload must equal what the application wrote.
//!
//! The connection keeps its side structures in boxes ([`Fuzzed`]); for every other
//! input a share of those allocations fails (the choice, and which ones, follow from the
//! input without consuming it), and every box must be freed with the connection.

#![allow(dead_code)]

use partcp_core::buffer::{RecvBuffer, Ring, SendBuffer};
use partcp_core::congestion::CongestionAlgorithm;
use partcp_core::connection::{
    Config, Connection, Endpoint, Handshake, Keepalive, State, Transmit,
};
use partcp_core::isn::IsnSecret;
use partcp_core::listener::{Listener, ListenerAction, ListenerConfig, SynCookies};
use partcp_core::seq::SeqNum;
use partcp_core::side::{NoMemory, SideAlloc, Slot};
use partcp_core::syncookie::CookieSecret;
use partcp_core::time::{Duration, Instant};
use partcp_core::wire::ipv4::Ipv4Addr;
use partcp_core::wire::{SackBlock, TcpFlags, TcpOptions, TcpRepr, Timestamps};
use std::cell::Cell;

type Conn = Connection<Ring<Vec<u8>>, Ring<Vec<u8>>, Fuzzed>;

/// Side storage in boxes, a share of whose allocations fail.
pub struct Fuzzed;

impl SideAlloc for Fuzzed {
    type Slot<T> = FuzzedSlot<T>;
}

std::thread_local! {
    /// The failure generator (xorshift32; 0: nothing fails).
    static SIDE_FAIL: Cell<u32> = const { Cell::new(0) };
    /// Boxes alive on this thread.
    static SIDE_LIVE: Cell<usize> = const { Cell::new(0) };
}

/// [`Fuzzed`]'s slot.
#[derive(Debug)]
pub struct FuzzedSlot<T>(Option<Box<T>>);

impl<T> Drop for FuzzedSlot<T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T> Slot<T> for FuzzedSlot<T> {
    fn empty() -> Self {
        FuzzedSlot(None)
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
                let mut x = SIDE_FAIL.get();
                if x != 0 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    SIDE_FAIL.set(x);
                    // One in four.
                    if x.is_multiple_of(4) {
                        return Err(NoMemory);
                    }
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

const LOCAL: Endpoint = Endpoint::new(Ipv4Addr([10, 1, 0, 1]), 5000);
const REMOTE: Endpoint = Endpoint::new(Ipv4Addr([10, 1, 0, 2]), 6000);

/// The peer's stream: its payload byte at sequence number `s`.
pub fn peer_byte(s: SeqNum) -> u8 {
    let x = s.0.wrapping_mul(0x9e37_79b1);
    (x >> 24) as u8 ^ (x >> 11) as u8
}

/// Our application's stream: byte `k` written.
pub fn app_byte(k: u64) -> u8 {
    let x = (k as u32).wrapping_mul(0x85eb_ca6b) ^ (k >> 32) as u32;
    (x >> 16) as u8 ^ x as u8
}

/// Reads the fuzz input; zeros once exhausted.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    /// A sequence offset: mostly small (signed), sometimes anything.
    fn offset(&mut self) -> i64 {
        match self.u8() % 8 {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => i64::from(self.u8()),
            4 => -i64::from(self.u8()),
            5 => i64::from(self.u16()),
            6 => -i64::from(self.u16()),
            _ => i64::from(self.u32() as i32),
        }
    }
}

fn shift(s: SeqNum, off: i64) -> SeqNum {
    SeqNum(s.0.wrapping_add(off as u32))
}

/// The harness state around one connection.
struct Harness {
    c: Conn,
    now: Instant,
    iss: SeqNum,
    irs: SeqNum,
    /// Bytes the application wrote / read.
    written: u64,
    read: u64,
    /// Highest TSval the peer used (so some segments pass PAWS).
    peer_ts: u32,
    /// Our highest TSval seen.
    our_ts: u32,
    /// Whether `our_ts` holds a value we sent.
    our_ts_seen: bool,
}

impl Harness {
    fn check(&self) {
        let c = &self.c;
        assert!(
            c.snd_una() <= c.snd_nxt(),
            "una {:?} nxt {:?}",
            c.snd_una(),
            c.snd_nxt()
        );
        assert!(
            c.snd_nxt() <= c.snd_max(),
            "nxt {:?} max {:?}",
            c.snd_nxt(),
            c.snd_max()
        );
        let sb = c.send_buffer();
        assert!(SendBuffer::len(sb) <= SendBuffer::capacity(sb));
        let rb = c.recv_buffer();
        assert!(RecvBuffer::len(rb) <= RecvBuffer::capacity(rb));
        // Everything written is either acknowledged or still in the send buffer.
        let acked = u64::from(c.snd_una().0.wrapping_sub(self.iss.0).wrapping_sub(1));
        if c.state() != State::SynSent
            && c.state() != State::SynReceived
            && c.state() != State::Closed
            && self.written < (1 << 31)
        {
            let fin = u64::from(c.snd_una() > shift(self.iss, 1 + self.written as i64));
            assert_eq!(
                acked - fin + SendBuffer::len(sb) as u64,
                self.written,
                "send buffer accounting in {:?}",
                c.state()
            );
        }
        if c.state() == State::Closed {
            assert_eq!(c.next_deadline(), None, "timers left in CLOSED");
        }
    }

    fn check_transmit(&mut self, t: &Transmit) {
        let c = &self.c;
        assert_eq!(t.repr.payload_len, t.payload_len);
        assert!(t.repr.header_len() <= 60);
        assert_eq!(t.repr.src_port, LOCAL.port);
        assert_eq!(t.repr.dst_port, REMOTE.port);
        let mut buf = vec![0u8; 60];
        t.repr.emit(&mut buf).expect("emit");
        if t.payload_len > 0 {
            assert!(
                t.payload_offset + t.payload_len <= SendBuffer::len(c.send_buffer()),
                "payload beyond the send buffer"
            );
            assert!(t.gso_size > 0);
            let mut p = vec![0u8; t.payload_len];
            c.send_buffer().read_at(t.payload_offset, &mut p);
            // The payload at SEG.SEQ is our stream at index SEG.SEQ - ISS - 1.
            let index = u64::from(t.repr.seq.0.wrapping_sub(self.iss.0).wrapping_sub(1));
            for (i, &b) in p.iter().enumerate() {
                assert_eq!(
                    b,
                    app_byte(index + i as u64),
                    "sent byte {}",
                    index + i as u64
                );
            }
            assert_eq!(t.repr.seq, c.snd_una() + t.payload_offset);
            assert!(t.repr.seq + t.payload_len <= c.snd_max());
        }
        if !t.repr.flags.contains(TcpFlags::RST) {
            if let Some(ts) = t.repr.options.timestamps {
                if self.our_ts_seen {
                    assert!(
                        ts.tsval.wrapping_sub(self.our_ts) as i32 >= 0,
                        "TSval went back"
                    );
                }
                self.our_ts = ts.tsval;
                self.our_ts_seen = true;
            }
        }
        if t.repr.flags.contains(TcpFlags::SYN) {
            assert_eq!(t.repr.seq, self.iss);
        }
    }

    fn poll(&mut self) {
        let mut n = 0;
        while let Some(t) = self.c.poll_transmit(self.now) {
            self.check_transmit(&t);
            n += 1;
            assert!(n < 5000, "runaway poll_transmit");
        }
        self.check();
    }

    fn timer(&mut self) {
        self.c.on_timer(self.now);
        self.poll();
        if let Some(d) = self.c.next_deadline() {
            assert!(
                d > self.now,
                "deadline {d:?} not after now {:?} in {:?}",
                self.now,
                self.c.state()
            );
        }
    }

    fn recv(&mut self, max: usize) {
        let mut buf = vec![0u8; max];
        if let Ok(n) = self.c.recv_with(|b| b.read_at(0, &mut buf)) {
            for (i, &b) in buf[..n].iter().enumerate() {
                let s = shift(self.c.irs(), 1 + (self.read + i as u64) as i64);
                assert_eq!(b, peer_byte(s), "received byte {}", self.read + i as u64);
            }
            self.read += n as u64;
        }
    }

    fn send(&mut self, n: usize) {
        let data: Vec<u8> = (0..n as u64).map(|k| app_byte(self.written + k)).collect();
        if let Ok(k) = self.c.send_with(|b| b.enqueue_slice(&data)) {
            assert!(k <= n);
            self.written += k as u64;
        }
    }

    /// Feed a peer segment whose fields come from the input.
    fn segment(&mut self, inp: &mut Input) {
        let c = &self.c;
        let mut flags = TcpFlags(inp.u8());
        // Mostly well-formed flag sets with ACK.
        if !inp.u8().is_multiple_of(4) {
            flags = TcpFlags(
                flags.0 & (TcpFlags::FIN.0 | TcpFlags::PSH.0 | TcpFlags::RST.0 | TcpFlags::SYN.0),
            );
            flags |= TcpFlags::ACK;
            if !inp.u8().is_multiple_of(4) {
                flags = TcpFlags(flags.0 & !(TcpFlags::SYN.0 | TcpFlags::RST.0));
            }
        }
        let seq = shift(c.rcv_nxt(), inp.offset());
        let ack = match inp.u8() % 4 {
            0 => shift(c.snd_una(), inp.offset()),
            1 => shift(c.snd_max(), inp.offset()),
            2 => c.snd_max(),
            _ => shift(c.snd_una(), i64::from(inp.u16() % 4096)),
        };
        let mut options = TcpOptions::default();
        let o = inp.u8();
        if o & 1 != 0 {
            options.mss = Some(inp.u16());
        }
        if o & 2 != 0 {
            options.window_scale = Some(inp.u8() % 16);
        }
        options.sack_permitted = o & 4 != 0;
        if o & 8 != 0 {
            let tsval = match inp.u8() % 4 {
                0 => self.peer_ts.wrapping_add(u32::from(inp.u8())),
                1 => self.peer_ts,
                2 => self.peer_ts.wrapping_sub(u32::from(inp.u8())),
                _ => inp.u32(),
            };
            self.peer_ts = tsval.max(self.peer_ts);
            let tsecr = if inp.bool() { self.our_ts } else { inp.u32() };
            options.timestamps = Some(Timestamps { tsval, tsecr });
        }
        if o & 16 != 0 {
            let n = usize::from(inp.u8() % 5);
            for i in 0..n {
                let left = shift(c.snd_una(), inp.offset());
                let right = shift(left, i64::from(inp.u16()));
                options.sack_blocks[i] = SackBlock { left, right };
            }
            options.sack_count = n as u8;
        }
        let payload_len = match inp.u8() % 4 {
            0 => 0,
            1 => usize::from(inp.u8()),
            2 => usize::from(inp.u16() % 4000),
            _ => 1460,
        };
        let repr = TcpRepr {
            src_port: REMOTE.port,
            dst_port: LOCAL.port,
            seq,
            ack,
            flags,
            window: inp.u16(),
            urgent: 0,
            options,
            payload_len,
        };
        self.deliver(&repr);
    }

    fn deliver(&mut self, repr: &TcpRepr) {
        // The peer's payload is always its stream at those sequence numbers.
        let payload: Vec<u8> = (0..repr.payload_len)
            .map(|i| peer_byte(repr.seq + i + usize::from(repr.flags.contains(TcpFlags::SYN))))
            .collect();
        let _ = self.c.on_segment(self.now, repr, &payload[..]);
        self.check();
    }

    /// A well-formed in-order ACK with data from the peer (keeps runs moving forward).
    fn good_segment(&mut self, inp: &mut Input) {
        let len = usize::from(inp.u8()) * 8;
        let mut options = TcpOptions::default();
        let (_, _, ts) = self.c.negotiated();
        if ts {
            self.peer_ts = self.peer_ts.wrapping_add(1);
            options.timestamps = Some(Timestamps {
                tsval: self.peer_ts,
                tsecr: self.our_ts,
            });
        }
        let ack = shift(self.c.snd_una(), i64::from(inp.u16() % 3000)).min(self.c.snd_max());
        let repr = TcpRepr {
            src_port: REMOTE.port,
            dst_port: LOCAL.port,
            seq: self.c.rcv_nxt(),
            ack,
            flags: TcpFlags::ACK,
            window: inp.u16() | 0x100,
            urgent: 0,
            options,
            payload_len: len,
        };
        self.deliver(&repr);
    }
}

fn config(inp: &mut Input) -> (Config, usize, usize) {
    let b = inp.u8();
    let cfg = Config {
        mss: 200 + inp.u16() % 1400,
        tso_max: if b & 1 != 0 { 16_384 } else { 0 },
        nodelay: b & 2 != 0,
        delayed_ack: if b & 4 != 0 {
            Some(Duration::from_millis(40))
        } else {
            None
        },
        window_scale: b & 8 != 0,
        sack: b & 16 != 0,
        timestamps: b & 32 != 0,
        dsack: b & 64 != 0,
        congestion: if b & 128 != 0 {
            CongestionAlgorithm::Cubic
        } else {
            CongestionAlgorithm::NewReno
        },
        keepalive: if inp.bool() {
            Some(Keepalive {
                idle: Duration::from_secs(5),
                interval: Duration::from_secs(1),
                count: 2,
            })
        } else {
            None
        },
        user_timeout: if inp.bool() {
            Some(Duration::from_secs(3))
        } else {
            None
        },
        max_retries: u32::from(inp.u8() % 8),
        syn_retries: u32::from(inp.u8() % 4),
        challenge_ack_limit: u32::from(inp.u8() % 4),
        time_wait: Duration::from_secs(2),
        ..Config::default()
    };
    let sbuf = 1 + usize::from(inp.u16() % 20_000);
    let rbuf = 1 + usize::from(inp.u16() % 20_000);
    (cfg, sbuf, rbuf)
}

/// The peer's SYN or SYN-ACK with options from the input.
fn peer_syn(inp: &mut Input, irs: SeqNum, ack: Option<SeqNum>, our_ts: u32) -> TcpRepr {
    let o = inp.u8();
    let mut options = TcpOptions {
        mss: (o & 1 != 0).then_some(inp.u16()),
        window_scale: (o & 2 != 0).then_some(inp.u8() % 16),
        sack_permitted: o & 4 != 0,
        ..TcpOptions::default()
    };
    if o & 8 != 0 {
        options.timestamps = Some(Timestamps {
            tsval: 1000,
            tsecr: our_ts,
        });
    }
    let mut flags = TcpFlags::SYN;
    if ack.is_some() {
        flags |= TcpFlags::ACK;
    }
    TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        seq: irs,
        ack: ack.unwrap_or_default(),
        flags,
        window: inp.u16(),
        urgent: 0,
        options,
        payload_len: 0,
    }
}

/// Build a harness in a state chosen by the input.
fn setup(inp: &mut Input) -> Harness {
    let (cfg, sbuf, rbuf) = config(inp);
    let iss = SeqNum(inp.u32());
    let irs = SeqNum(inp.u32());
    let now = Instant(1_000_000);
    let target = inp.u8() % 11;
    if target == 10 {
        // Passive open through a listener.
        let lcfg = ListenerConfig {
            conn: cfg,
            recv_buffer: rbuf,
            syncookies: if inp.bool() {
                SynCookies::Always
            } else {
                SynCookies::Never
            },
            ..ListenerConfig::default()
        };
        let mut l: Listener<4> =
            Listener::new(lcfg, LOCAL, IsnSecret([1; 16]), CookieSecret([2; 16]));
        let syn = peer_syn(inp, irs, None, 0);
        if let ListenerAction::Reply(sa) = l.on_segment(now, REMOTE, &syn) {
            let our_ts = sa.options.timestamps.map_or(0, |t| t.tsval);
            let mut fin_ack = TcpRepr {
                src_port: REMOTE.port,
                dst_port: LOCAL.port,
                seq: irs + 1,
                ack: sa.seq + 1,
                flags: TcpFlags::ACK,
                window: inp.u16(),
                ..TcpRepr::default()
            };
            if syn.options.timestamps.is_some() {
                fin_ack.options.timestamps = Some(Timestamps {
                    tsval: 1001,
                    tsecr: our_ts,
                });
            }
            if let ListenerAction::Established(hs) = l.on_segment(now, REMOTE, &fin_ack) {
                let hs: Handshake = hs;
                let c = Connection::accept(
                    cfg,
                    &hs,
                    Ring::new(vec![0u8; sbuf]),
                    Ring::new(vec![0u8; rbuf]),
                    now,
                );
                let mut h = Harness {
                    c,
                    now,
                    iss: hs.iss,
                    irs,
                    written: 0,
                    read: 0,
                    peer_ts: 1001,
                    our_ts,
                    our_ts_seen: our_ts != 0,
                };
                h.deliver(&fin_ack);
                h.poll();
                return h;
            }
        }
    }
    let c = Connection::connect_with_iss(
        cfg,
        LOCAL,
        REMOTE,
        iss,
        inp.u32(),
        Ring::new(vec![0u8; sbuf]),
        Ring::new(vec![0u8; rbuf]),
        now,
    );
    let mut h = Harness {
        c,
        now,
        iss,
        irs,
        written: 0,
        read: 0,
        peer_ts: 1000,
        our_ts: 0,
        our_ts_seen: false,
    };
    h.poll();
    let our_ts = h.our_ts;
    match target {
        0 => {}
        1 => {
            let syn = peer_syn(inp, irs, None, our_ts);
            h.deliver(&syn);
            h.poll();
        }
        _ => {
            let sa = peer_syn(inp, irs, Some(iss + 1), our_ts);
            h.deliver(&sa);
            h.poll();
            let mut g = Input { data: &[], pos: 0 };
            match target {
                3..=6 => {
                    h.c.shutdown_write().ok();
                    h.poll();
                    if target == 4 || target == 6 {
                        let ack = TcpRepr {
                            src_port: REMOTE.port,
                            dst_port: LOCAL.port,
                            seq: h.c.rcv_nxt(),
                            ack: h.c.snd_max(),
                            flags: TcpFlags::ACK,
                            window: 1000,
                            ..TcpRepr::default()
                        };
                        h.deliver(&ack);
                    }
                    if target == 5 || target == 6 {
                        let fin = TcpRepr {
                            src_port: REMOTE.port,
                            dst_port: LOCAL.port,
                            seq: h.c.rcv_nxt(),
                            ack: if target == 6 {
                                h.c.snd_max()
                            } else {
                                h.c.snd_una()
                            },
                            flags: TcpFlags::ACK | TcpFlags::FIN,
                            window: 1000,
                            ..TcpRepr::default()
                        };
                        h.deliver(&fin);
                    }
                    h.poll();
                }
                7 | 8 => {
                    let fin = TcpRepr {
                        src_port: REMOTE.port,
                        dst_port: LOCAL.port,
                        seq: h.c.rcv_nxt(),
                        ack: h.c.snd_una(),
                        flags: TcpFlags::ACK | TcpFlags::FIN,
                        window: 1000,
                        ..TcpRepr::default()
                    };
                    h.deliver(&fin);
                    h.poll();
                    if target == 8 {
                        h.c.shutdown_write().ok();
                        h.poll();
                    }
                }
                9 => {
                    h.send(3000);
                    h.poll();
                    h.good_segment(&mut g);
                    h.poll();
                }
                _ => {}
            }
        }
    }
    h
}

/// Run one fuzz input. Panics on any violated invariant.
pub fn run(data: &[u8]) {
    // Side allocations fail for inputs of odd length, from a generator seeded by it.
    let seed = data
        .iter()
        .fold(data.len() as u32, |h, &b| h.wrapping_mul(31) ^ u32::from(b));
    SIDE_FAIL.set(if !data.len().is_multiple_of(2) {
        seed | 1
    } else {
        0
    });
    let live = SIDE_LIVE.get();
    run_input(data);
    assert_eq!(SIDE_LIVE.get(), live, "side storage not freed");
}

fn run_input(data: &[u8]) {
    let mut inp = Input { data, pos: 0 };
    let mut h = setup(&mut inp);
    let mut steps = 0;
    while !inp.done() && steps < 400 {
        steps += 1;
        match inp.u8() % 12 {
            0..=3 => h.segment(&mut inp),
            4 => h.good_segment(&mut inp),
            5 => {
                let dt = match inp.u8() % 4 {
                    0 => u64::from(inp.u8()) * 1000,
                    1 => u64::from(inp.u16()) * 1000,
                    2 => u64::from(inp.u32() % 200_000_000),
                    _ => 0,
                };
                h.now += Duration::from_micros(dt);
                h.timer();
            }
            6 => {
                if let Some(d) = h.c.next_deadline() {
                    h.now = d.max(h.now);
                }
                h.timer();
            }
            7 => {
                let n = usize::from(inp.u16() % 5000);
                h.send(n);
            }
            8 => {
                let n = 1 + usize::from(inp.u16() % 5000);
                h.recv(n);
            }
            9 => match inp.u8() % 8 {
                0 => {
                    h.c.shutdown_write().ok();
                }
                1 => h.c.close(h.now),
                2 => h.c.abort(h.now),
                3 => h.c.set_nodelay(inp.bool()),
                4 => h.c.set_max_segment_size(inp.u16()),
                _ => {}
            },
            _ => h.poll(),
        }
    }
    h.poll();
}
