//! Buffer autotuning, as Linux's TCP does it: the receive buffer grows with what the
//! application reads per round trip (dynamic right-sizing, Linux `tcp_rcv_space_adjust`
//! and `tcp_rcvbuf_grow`), the send buffer with the congestion window (Linux
//! `tcp_sndbuf_expand`).
//!
//! The core decides how large each buffer should be; the buffer decides how much of
//! that it can have ([`crate::buffer::RecvBuffer::grow`],
//! [`crate::buffer::SendBuffer::grow`]: the kernel glue refuses while the module's
//! memory is under pressure). Capacities are payload bytes. The socket's `SO_RCVBUF`
//! reports twice the receive capacity, as Linux's default receive `scaling_ratio` (half
//! of a buffer's memory is payload) says. `SO_SNDBUF` reports the send capacity itself:
//! Linux charges a queued skb's truesize against `sk_sndbuf` (`sk_wmem_queued`), and
//! `tcp_sendmsg_locked` fills skbs of up to 64 KB of payload in page fragments, so all
//! of `sk_sndbuf` but one skb head (about 1 KB) per 64 KB is payload. A buffer never
//! shrinks, so the window offered never shrinks either (RFC 7323 2.4, RFC 9293 3.8.6:
//! the right edge must not move left).

use super::Connection;
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::CongestionControl;
use crate::side::SideAlloc;
use crate::time::{Duration, Instant};

/// Receive buffer autotuning (`Config::rcvbuf_auto`): set when Linux would tune the
/// buffer (`tcp_moderate_rcvbuf` on and `SO_RCVBUF` not set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RcvBufAuto {
    /// The largest capacity, in payload bytes (half of `tcp_rmem[2]`).
    pub max: usize,
    /// `tcp_rcvbuf_low_rtt`: below this round-trip time the buffer grows in proportion
    /// to the RTT rather than doubling the sender's allowance (Linux 6.18's damping of
    /// buffer inflation on short paths).
    pub low_rtt: Duration,
}

/// Send buffer autotuning (`Config::sndbuf_auto`): set when Linux would tune the buffer
/// (`SO_SNDBUF` not set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SndBufAuto {
    /// The largest capacity, in payload bytes (`tcp_wmem[2]`).
    pub max: usize,
    /// Memory a segment's head takes beyond its payload: the headers' room and the
    /// shared info (Linux `MAX_TCP_HEADER + SKB_DATA_ALIGN(sizeof(struct
    /// skb_shared_info))`).
    pub seg_head: usize,
    /// Memory of the `struct sk_buff` itself (`SKB_DATA_ALIGN(sizeof(struct sk_buff))`).
    pub seg_skb: usize,
}

/// Linux's initial congestion window, `TCP_INIT_CWND`, in segments: the send buffer
/// covers at least this many, and the first receive measurement expects at most this
/// many segments per RTT.
const INIT_CWND: usize = 10;

/// The receive measurement (Linux `tp->rcvq_space`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RcvSpace {
    /// The most the application read in one RTT so far (`rcvq_space.space`).
    pub(crate) space: usize,
    /// Bytes the application had read (stream offset of the next byte to read) when
    /// the current measurement started (`rcvq_space.seq`).
    pub(crate) mark: u64,
    /// When the current measurement started (`rcvq_space.time`).
    pub(crate) time: Instant,
}

/// The receive capacity for an application that read `copied` bytes in the last RTT
/// after `old` the RTT before, on a path with round-trip time `rtt`, with `ooo` bytes
/// held beyond RCV.NXT out of order (Linux `tcp_rcvbuf_grow`, in window units: the
/// measurement is one RTT late, so twice what was read; plus room for the sender to
/// double its rate again in slow start, or on a path shorter than `low_rtt` only the
/// RTT's share of it; plus what is held out of order). At most `auto.max`.
pub(crate) fn rcv_target(
    copied: usize,
    old: usize,
    rtt: Duration,
    ooo: usize,
    auto: &RcvBufAuto,
) -> usize {
    let win = copied.saturating_mul(2);
    // CAST: the products stay far below u64::MAX (buffer sizes are below 2^32).
    let grow = if rtt < auto.low_rtt {
        (win as u64).saturating_mul(rtt.micros()) / auto.low_rtt.micros().max(1)
    } else {
        (win as u64)
            .saturating_mul(2)
            .saturating_mul(copied.saturating_sub(old) as u64)
            / (old.max(1) as u64)
    };
    let grow = usize::try_from(grow).unwrap_or(usize::MAX);
    win.saturating_add(grow).saturating_add(ooo).min(auto.max)
}

/// The send capacity for a congestion window of `cwnd_segs` segments of `mss` bytes
/// (Linux `tcp_sndbuf_expand`: twice the memory of the larger of that window, the
/// initial window and DupThresh + 1 segments, counting each segment as a non-GSO skb
/// would take it: its payload and head rounded up to a power of two, plus the `sk_buff`).
/// All of it is payload capacity, as it is for Linux's `tcp_sendmsg_locked`, whose
/// 64 KB skbs of page fragments are charged little more than their payload (see the
/// module documentation). At most `auto.max`.
pub(crate) fn snd_target(
    mss: usize,
    cwnd_segs: usize,
    dupthresh: usize,
    auto: &SndBufAuto,
) -> usize {
    let per_seg = mss
        .saturating_add(auto.seg_head)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .saturating_add(auto.seg_skb);
    let segs = cwnd_segs.max(INIT_CWND).max(dupthresh.saturating_add(1));
    // Linux's sndmem is 2 * segs * per_seg (CUBIC and Reno: `sndbuf_expand` factor 2).
    segs.saturating_mul(per_seg).saturating_mul(2).min(auto.max)
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// Stream offset (bytes since the handshake) of the next byte the application
    /// reads (Linux `copied_seq`).
    fn copied_offset(&self) -> u64 {
        let fin = usize::from(self.fin_received);
        let read = self.rcv_nxt - self.recv_buf.len() - fin;
        // CAST: u32 sequence space distance, widened.
        u64::from(read.0.wrapping_sub(self.irs.0.wrapping_add(1)))
    }

    /// The handshake completed (Linux `tcp_init_buffer_space`): the send buffer is
    /// sized for the initial window and the first receive measurement starts, expecting
    /// at most an initial window's worth per RTT.
    pub(crate) fn buffers_established(&mut self, now: Instant) {
        self.sndbuf_expand();
        let init = INIT_CWND.saturating_mul(usize::from(self.cfg.mss));
        self.rcv_space = RcvSpace {
            space: self.recv_buf.capacity().min(init),
            mark: self.copied_offset(),
            time: now,
        };
    }

    /// After the application read (Linux `tcp_rcv_space_adjust`, called with the time
    /// of the last segment, as Linux uses its cached `tcp_mstamp`): once per RTT, if it
    /// read more than ever before in one RTT, grow the receive buffer to
    /// [`rcv_target`]. The RTT is the receiver's estimate (`rcv_rtt`), as Linux's:
    ///
    /// ```c
    /// if (unlikely(!tp->rcv_rtt_est.rtt_us))
    ///         return;
    /// time = tcp_stamp_us_delta(tp->tcp_mstamp, tp->rcvq_space.time);
    /// if (time < (tp->rcv_rtt_est.rtt_us >> 3))
    ///         return;
    /// ```
    ///
    /// Without an estimate nothing is measured.
    pub(crate) fn rcv_space_adjust(&mut self, now: Instant) {
        if self.rcv_rtt.rtt_us8 == 0 {
            return;
        }
        // `tcp_rcvbuf_grow` also uses `rcv_rtt_est.rtt_us >> 3`.
        let rtt = Duration::from_micros(u64::from(self.rcv_rtt.us()));
        if now.saturating_since(self.rcv_space.time) < rtt {
            return;
        }
        let at = self.copied_offset();
        // Bytes read in the last RTT, less what is still queued (as Linux).
        let read = usize::try_from(at.saturating_sub(self.rcv_space.mark)).unwrap_or(usize::MAX);
        let copied = read.saturating_sub(self.recv_buf.len());
        if copied > self.rcv_space.space {
            let old = core::mem::replace(&mut self.rcv_space.space, copied);
            if let Some(auto) = self.cfg.rcvbuf_auto {
                let ooo = self
                    .assembler
                    .highest()
                    .map_or(0, |h| usize::try_from(h - self.rcv_nxt).unwrap_or(0));
                let want = rcv_target(copied, old, rtt, ooo, &auto);
                if want > self.recv_buf.capacity() {
                    self.recv_buf.grow(want);
                }
            }
        }
        self.rcv_space.mark = at;
        self.rcv_space.time = now;
    }

    /// Grows the send buffer to [`snd_target`] for the current congestion window (Linux
    /// `tcp_sndbuf_expand`), if it is tuned.
    pub(crate) fn sndbuf_expand(&mut self) {
        let Some(auto) = self.cfg.sndbuf_auto else {
            return;
        };
        let mss = self.snd_mss.max(usize::from(self.cfg.mss));
        let cwnd_segs = self.cc.cwnd() / self.smss();
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        let want = snd_target(mss, cwnd_segs, self.cfg.dupthresh as usize, &auto);
        if want > self.send_buf.capacity() {
            self.send_buf.grow(want);
        }
    }

    /// After an ACK freed send buffer space (Linux `tcp_new_space` /
    /// `tcp_should_expand_sndbuf`): grow the send buffer while the congestion window is
    /// not filled. The buffer itself refuses under memory pressure.
    pub(crate) fn sndbuf_after_ack(&mut self) {
        if self.cwnd_flight() < self.cc.cwnd() {
            self.sndbuf_expand();
        }
    }

    /// The most the application read in one RTT so far (`TCP_INFO` `tcpi_rcv_space`).
    pub fn rcv_space(&self) -> usize {
        self.rcv_space.space
    }
}
