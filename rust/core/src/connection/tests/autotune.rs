//! Buffer autotuning (`connection::autotune`): the receive buffer grows once per RTT
//! with what the application read (Linux `tcp_rcv_space_adjust`), the send buffer with
//! the congestion window (Linux `tcp_sndbuf_expand`); neither shrinks, and neither grows
//! when its `Config` field is `None` (`SO_RCVBUF`/`SO_SNDBUF` set, `tcp_moderate_rcvbuf`
//! off).

use super::*;
use crate::buffer::{RecvBuffer, SendBuffer, WriteAt};
use crate::connection::autotune::{rcv_target, snd_target};
use crate::connection::{RcvBufAuto, SndBufAuto};

/// A buffer whose capacity can grow (as the kernel glue's queues): for the receive
/// side, `data` holds the readable bytes and then the out-of-order room; for the send
/// side only the count matters (the tests do not read what is sent).
struct Elastic {
    data: Vec<u8>,
    len: usize,
    /// Every capacity it was asked to grow to.
    asked: Vec<usize>,
}

impl Elastic {
    fn new(cap: usize) -> Self {
        Elastic {
            data: vec![0; cap],
            len: 0,
            asked: Vec::new(),
        }
    }
}

impl RecvBuffer for Elastic {
    fn capacity(&self) -> usize {
        self.data.len()
    }
    fn len(&self) -> usize {
        self.len
    }
    fn commit(&mut self, n: usize) {
        self.len += n;
    }
    fn consume(&mut self, n: usize) {
        self.data.drain(..n);
        self.data.resize(self.data.len() + n, 0);
        self.len -= n;
    }
    fn grow(&mut self, want: usize) {
        self.asked.push(want);
        self.data.resize(want.max(self.data.len()), 0);
    }
}

impl WriteAt<[u8]> for Elastic {
    fn write_at(&mut self, offset: usize, payload: &[u8], poff: usize, len: usize) -> bool {
        let at = self.len + offset;
        self.data[at..at + len].copy_from_slice(&payload[poff..poff + len]);
        true
    }
}

impl SendBuffer for Elastic {
    fn capacity(&self) -> usize {
        self.data.len()
    }
    fn len(&self) -> usize {
        self.len
    }
    fn consume_acked(&mut self, n: usize) {
        self.len -= n;
    }
    fn grow(&mut self, want: usize) {
        self.asked.push(want);
        self.data.resize(want.max(self.data.len()), 0);
    }
}

type AutoConn = Connection<Elastic, Elastic, Boxed>;

/// The receive buffer's capacity.
fn rcap(c: &AutoConn) -> usize {
    RecvBuffer::capacity(c.recv_buffer())
}

/// The send buffer's capacity.
fn scap(c: &AutoConn) -> usize {
    SendBuffer::capacity(c.send_buffer())
}

const RCV_AUTO: RcvBufAuto = RcvBufAuto {
    max: 1 << 20,
    low_rtt: Duration::from_millis(1),
};
const SND_AUTO: SndBufAuto = SndBufAuto {
    max: 1 << 20,
    seg_head: 640,
    seg_skb: 256,
};
/// Linux's per-segment memory for an MSS of 1460 with those overheads:
/// roundup_pow_of_two(1460 + 640) + 256.
const PER_SEG: usize = 4096 + 256;
/// Initial capacities (Linux's default `tcp_wmem[1]` and half of `tcp_rmem[1]`).
const SND0: usize = 16384;
const RCV0: usize = 65536;

/// Plain options but window scaling, both buffers tuned as `rcv`/`snd` say.
fn auto_cfg(rcv: Option<RcvBufAuto>, snd: Option<SndBufAuto>) -> Config {
    Config {
        window_scale: true,
        window_space: Some(1 << 20),
        rcvbuf_auto: rcv,
        sndbuf_auto: snd,
        ..plain_cfg()
    }
}

/// For the receive side: timestamps too (the receiver's RTT estimate comes from the
/// echoed TSval, Linux `tcp_rcv_rtt_measure_ts`), the receive buffer tuned as `rcv`
/// says.
fn rcv_cfg(rcv: Option<RcvBufAuto>) -> Config {
    Config {
        timestamps: true,
        ..auto_cfg(rcv, None)
    }
}

/// ESTABLISHED at ms(10) after a SYN at T0 (a 10 ms handshake RTT), peer shift 7.
fn established_auto(cfg: Config) -> AutoConn {
    let mut c = Connection::connect_with_iss(
        cfg,
        LOCAL,
        REMOTE,
        LOCAL_ISS,
        0,
        Elastic::new(SND0),
        Elastic::new(RCV0),
        T0,
    );
    assert!(c.poll_transmit(T0).is_some(), "SYN");
    let mut sa = synack();
    sa.options.window_scale = Some(7);
    if cfg.timestamps {
        sa.options.timestamps = Some(Timestamps {
            tsval: 5000,
            tsecr: c.ts_now(T0),
        });
    }
    let _ = c.on_segment(ms(10), &sa, &[][..]);
    assert_eq!(c.state(), State::Established);
    while c.poll_transmit(ms(10)).is_some() {}
    c
}

/// The path's round-trip time: the peer's segments echo the TSval we sent this long
/// before they arrive.
const PATH_RTT: Duration = Duration::from_millis(10);

/// The peer sends `len` bytes from stream offset `off` at `now`, in MSS-sized
/// segments echoing our TSval of [`PATH_RTT`] before; returns the window field of the
/// last segment we send in answer.
fn peer_sends(c: &mut AutoConn, now: Instant, off: usize, len: usize) -> u16 {
    let mut at = 0;
    let ts = Timestamps {
        tsval: 5000 + (now - T0).millis() as u32,
        tsecr: c.ts_now(Instant(now.micros() - PATH_RTT.micros())),
    };
    while at < len {
        let n = (len - at).min(1460);
        let p = pattern(off + at, n);
        let mut d = data(r1() + off + at, l1(), n);
        d.options.timestamps = c.ts_ok.then_some(ts);
        let _ = c.on_segment(now, &d, &p[..]);
        at += n;
    }
    let mut win = None;
    while let Some(t) = c.poll_transmit(now) {
        win = Some(t.repr.window);
    }
    win.expect("an ACK")
}

/// The application reads everything readable at `now`; the window update this may
/// cause is sent.
fn app_reads(c: &mut AutoConn, now: Instant) {
    let n = RecvBuffer::len(c.recv_buffer());
    if n > 0 {
        assert_eq!(c.recv_with(|_| n), Ok(n));
    }
    while c.poll_transmit(now).is_some() {}
}

// ----- The sizing rules -----

#[test]
fn rcv_target_doubles_the_rate_in_slow_start() {
    // Linux tcp_rcvbuf_grow: rcvwin = 2 * copied, plus 2 * rcvwin * (copied - old) / old.
    let t = rcv_target(20_000, 10_000, Duration::from_millis(2), 0, &RCV_AUTO);
    assert_eq!(t, 40_000 + 80_000);
    // No growth of the rate: twice what was read.
    let t = rcv_target(20_000, 20_000, Duration::from_millis(2), 0, &RCV_AUTO);
    assert_eq!(t, 40_000);
}

#[test]
fn rcv_target_on_a_short_path_grows_by_the_rtt_share() {
    // Below tcp_rcvbuf_low_rtt: rcvwin * rtt / low_rtt on top.
    let t = rcv_target(100_000, 10_000, Duration::from_micros(250), 0, &RCV_AUTO);
    assert_eq!(t, 200_000 + 50_000);
}

#[test]
fn rcv_target_adds_out_of_order_bytes_and_stops_at_the_maximum() {
    let t = rcv_target(20_000, 20_000, Duration::from_millis(2), 5000, &RCV_AUTO);
    assert_eq!(t, 45_000);
    let small = RcvBufAuto {
        max: 30_000,
        ..RCV_AUTO
    };
    assert_eq!(
        rcv_target(20_000, 10_000, Duration::from_millis(2), 0, &small),
        30_000
    );
    // An absurd measurement saturates instead of overflowing.
    assert_eq!(
        rcv_target(
            usize::MAX,
            1,
            Duration::from_millis(2),
            usize::MAX,
            &RCV_AUTO
        ),
        1 << 20
    );
}

#[test]
fn snd_target_is_linux_sndbuf_expand() {
    // tcp_sndbuf_expand: sndmem = 2 * max(cwnd, 10, reordering + 1) * per_mss.
    assert_eq!(snd_target(1460, 0, 3, &SND_AUTO), 2 * 10 * PER_SEG);
    assert_eq!(snd_target(1460, 40, 3, &SND_AUTO), 2 * 40 * PER_SEG);
    assert_eq!(snd_target(1460, 4, 20, &SND_AUTO), 2 * 21 * PER_SEG);
    // A larger MSS crosses a power of two.
    assert_eq!(snd_target(9000, 10, 3, &SND_AUTO), 2 * 10 * (16384 + 256));
    assert_eq!(snd_target(1460, 10_000, 3, &SND_AUTO), 1 << 20);
}

// ----- Receive side, state ESTABLISHED -----

#[test]
fn receive_buffer_grows_once_per_rtt_with_what_was_read() {
    let mut c = established_auto(rcv_cfg(Some(RCV_AUTO)));
    // tcp_init_buffer_space: the first measurement expects at most 10 segments.
    assert_eq!(c.rcv_space(), 14_600);
    let w0 = peer_sends(&mut c, ms(15), 0, 30_000);
    app_reads(&mut c, ms(15));
    // Less than an RTT (10 ms) since the measurement started: nothing changes.
    assert_eq!(rcap(&c), RCV0);
    assert!(c.recv_buffer().asked.is_empty());
    let _ = peer_sends(&mut c, ms(21), 30_000, 20_000);
    app_reads(&mut c, ms(21));
    // 50 000 bytes read in the RTT, more than 14 600.
    assert_eq!(c.rcv_space(), 50_000);
    let want = rcv_target(50_000, 14_600, Duration::from_millis(10), 0, &RCV_AUTO);
    assert_eq!(rcap(&c), want);
    assert!(want > RCV0);
    // The window follows the buffer (shift 5 for a 1 MB window space).
    let w1 = peer_sends(&mut c, ms(22), 50_000, 1460);
    assert_eq!(usize::from(w1), (want - 1460) >> 5);
    assert!(w1 > w0);
}

#[test]
fn receive_buffer_does_not_grow_for_a_slower_reader() {
    let mut c = established_auto(rcv_cfg(Some(RCV_AUTO)));
    let _ = peer_sends(&mut c, ms(21), 0, 10_000);
    app_reads(&mut c, ms(21));
    // 10 000 bytes in an RTT is no more than the 14 600 expected.
    assert_eq!(c.rcv_space(), 14_600);
    assert_eq!(rcap(&c), RCV0);
    // Bytes still queued are not counted as read (Linux subtracts them).
    let _ = peer_sends(&mut c, ms(32), 10_000, 40_000);
    c.recv_with(|_| 20_000).unwrap();
    assert_eq!(c.rcv_space(), 14_600);
    assert_eq!(rcap(&c), RCV0);
}

#[test]
fn receive_buffer_is_fixed_without_autotuning_but_still_measured() {
    // SO_RCVBUF or tcp_moderate_rcvbuf=0: Linux keeps measuring rcvq_space.
    let mut c = established_auto(rcv_cfg(None));
    let _ = peer_sends(&mut c, ms(21), 0, 50_000);
    app_reads(&mut c, ms(21));
    assert_eq!(c.rcv_space(), 50_000);
    assert_eq!(rcap(&c), RCV0);
    assert!(c.recv_buffer().asked.is_empty());
}

#[test]
fn receive_buffer_stops_at_tcp_rmem_max() {
    let auto = RcvBufAuto {
        max: 100_000,
        ..RCV_AUTO
    };
    let mut c = established_auto(rcv_cfg(Some(auto)));
    let _ = peer_sends(&mut c, ms(21), 0, 60_000);
    app_reads(&mut c, ms(21));
    assert_eq!(rcap(&c), 100_000);
    // At the maximum the buffer is not asked again.
    let _ = peer_sends(&mut c, ms(40), 60_000, 90_000);
    app_reads(&mut c, ms(40));
    assert_eq!(c.rcv_space(), 90_000);
    assert_eq!(c.recv_buffer().asked, vec![100_000]);
}

#[test]
fn receive_window_never_shrinks_while_the_buffer_grows() {
    // RFC 7323 2.4 / RFC 9293 3.8.6: the right edge never moves left.
    let mut c = established_auto(rcv_cfg(Some(RCV_AUTO)));
    let mut edge = r1();
    let mut off = 0;
    for k in 1..8u64 {
        let n = (20_000 * k as usize).min(c.recv_free());
        let w = peer_sends(&mut c, ms(10 + 11 * k), off, n);
        off += n;
        let right = c.rcv_nxt + (usize::from(w) << 5);
        assert!(right >= edge, "right edge moved left at round {k}");
        edge = right;
        app_reads(&mut c, ms(10 + 11 * k));
    }
    assert!(rcap(&c) > RCV0);
}

// ----- Send side, state ESTABLISHED -----

/// Queues `n` bytes (the count only).
fn app_writes(c: &mut AutoConn, n: usize) -> usize {
    c.send_with(|b| {
        let k = n.min(SendBuffer::capacity(b) - SendBuffer::len(b));
        b.len += k;
        k
    })
    .unwrap_or(0)
}

#[test]
fn send_buffer_is_expanded_at_establishment() {
    let c = established_auto(auto_cfg(None, Some(SND_AUTO)));
    // tcp_init_buffer_space -> tcp_sndbuf_expand with the initial window.
    assert_eq!(scap(&c), 2 * 10 * PER_SEG);
    let c = established_auto(auto_cfg(None, None));
    assert_eq!(scap(&c), SND0);
}

#[test]
fn send_buffer_grows_with_the_congestion_window() {
    let mut c = established_auto(auto_cfg(None, Some(SND_AUTO)));
    let mut now = ms(20);
    let mut acked = 0usize;
    for _ in 0..4 {
        app_writes(&mut c, usize::MAX);
        let mut sent = 0;
        while let Some(t) = c.poll_transmit(now) {
            sent += t.payload_len;
        }
        now += Duration::from_millis(10);
        // The peer acknowledges each segment.
        let mut k = 0;
        while k < sent {
            let n = (sent - k).min(1460);
            acked += n;
            let mut a = ack(r1(), l1() + acked);
            a.window = u16::MAX;
            let _ = c.on_segment(now, &a, &[][..]);
            k += n;
        }
    }
    let segs = c.cwnd() / 1460;
    assert!(segs > 10, "slow start grew cwnd to {segs} segments");
    assert_eq!(scap(&c), 2 * segs * PER_SEG);
    // Never asked for less than it had.
    let asked = &c.send_buffer().asked;
    assert!(asked.windows(2).all(|w| w[0] < w[1]));
}
