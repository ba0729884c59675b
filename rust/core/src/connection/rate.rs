//! Delivery-rate sampling, as Linux's `net/ipv4/tcp_rate.c`
//! (draft-cheng-iccrg-delivery-rate-estimation): each range of new data sent records
//! how much had been delivered and when ([`RateSnap`]); an ACK delivering data takes
//! the most recently sent range among what it delivers and divides what was delivered
//! since that range was sent by the longer of the send phase and the ACK phase. The
//! last sample not limited by the application, or the highest, is kept for `TCP_INFO`
//! (`tcpi_delivery_rate`, `tcpi_delivery_rate_app_limited`).
//!
//! partcp counts bytes where Linux counts packets (`tp->delivered`): delivered is
//! what was cumulatively acknowledged plus what is SACKed beyond it, and the rate is
//! `rate_delivered * USEC_PER_SEC / rate_interval_us` bytes per second (Linux:
//! `rate_delivered * mss_cache * USEC_PER_SEC / rate_interval_us`). A range's snapshot
//! is kept with its send time (`send_times`), so only timed ranges sample: SACKed
//! ranges give no sample (Linux's do), and neither does an ACK that may be for
//! retransmitted data (Karn's rule): a retransmission is not timed, so its range's
//! snapshot is the original transmission's.

use super::send_times::RateSnap;
use super::Connection;
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::CongestionControl;
use crate::side::SideAlloc;
use crate::time::Instant;

/// The connection's delivery-rate state (Linux `tp->delivered_mstamp`,
/// `first_tx_mstamp`, `app_limited`, `rate_delivered`, `rate_interval_us`,
/// `rate_app_limited`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// When the last ACK delivering data arrived (or the pipe restarted empty).
    pub(crate) delivered_mstamp: Instant,
    /// When the most recently delivered range was sent: the start of the current send
    /// phase.
    pub(crate) first_tx_mstamp: Instant,
    /// Delivered-bytes mark (modulo 2^32) until which samples are application-limited,
    /// 0 for none (Linux: `tp->delivered + tcp_packets_in_flight(tp) ? : 1`).
    app_limited: u32,
    /// The kept sample: bytes delivered over `interval_us` microseconds.
    rate_delivered: u32,
    rate_interval_us: u32,
    rate_app_limited: bool,
}

impl Rate {
    /// A new connection (Linux `tcp_init_sock`): "There's a bubble in the pipe until
    /// at least the first ACK" (`tp->app_limited = ~0U; tp->rate_app_limited = 1`).
    pub(crate) fn new(now: Instant) -> Self {
        Rate {
            delivered_mstamp: now,
            first_tx_mstamp: now,
            app_limited: u32::MAX,
            rate_delivered: 0,
            rate_interval_us: 0,
            rate_app_limited: true,
        }
    }

    /// `tcpi_delivery_rate` in bytes per second (Linux `tcp_compute_delivery_rate`),
    /// 0 before a sample.
    pub(crate) fn delivery_rate(&self) -> u64 {
        if self.rate_delivered == 0 || self.rate_interval_us == 0 {
            return 0;
        }
        u64::from(self.rate_delivered) * 1_000_000 / u64::from(self.rate_interval_us)
    }

    /// `tcpi_delivery_rate_app_limited`.
    pub(crate) fn app_limited(&self) -> bool {
        self.rate_app_limited
    }
}

/// `after(a, b)` for 32-bit counters that wrap.
fn after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

fn us32(d: crate::time::Duration) -> u32 {
    u32::try_from(d.micros()).unwrap_or(u32::MAX)
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// Bytes delivered so far (Linux `tp->delivered`, in bytes): cumulatively
    /// acknowledged, plus SACKed beyond SND.UNA. A FIN in flight is not data.
    pub(crate) fn delivered_bytes(&self) -> u64 {
        let fin_in_flight = self
            .fin_seq
            .is_some_and(|f| self.snd_una <= f && f < self.snd_max);
        let data_in_flight = self.flight_size() - usize::from(fin_in_flight);
        let acked = self.stats.bytes_out.saturating_sub(data_in_flight as u64);
        let sacked = if self.sack_ok {
            self.scoreboard.sacked_within(self.snd_una, self.snd_max)
        } else {
            0
        };
        acked.saturating_add(sacked as u64)
    }

    /// New data goes out at `now` (Linux `tcp_rate_skb_sent`): with nothing in flight
    /// (`!tp->packets_out`) the send phase and the ACK phase restart now; the snapshot
    /// the range keeps.
    pub(crate) fn rate_on_send(&mut self, now: Instant) -> RateSnap {
        if self.snd_max == self.snd_una {
            self.rate.first_tx_mstamp = now;
            self.rate.delivered_mstamp = now;
        }
        RateSnap {
            // CAST: modulo 2^32 on purpose; differences stay exact below 4 GB.
            delivered: self.delivered_bytes() as u32,
            since_delivered_us: us32(now.saturating_since(self.rate.delivered_mstamp)),
            since_first_tx_us: us32(now.saturating_since(self.rate.first_tx_mstamp)),
            app_limited: self.rate.app_limited != 0,
        }
    }

    /// The application is about to queue data (Linux `tcp_rate_check_app_limited`,
    /// from `tcp_sendmsg_locked`): if less than a segment waits unsent, the congestion
    /// window is not full and nothing lost waits for retransmission, the pipe has a
    /// bubble the application left: samples until what is in flight now is delivered
    /// are application-limited. (Linux also requires the qdisc and NIC queues to be
    /// empty; partcp does not see them.)
    pub(crate) fn rate_check_app_limited(&mut self) {
        let unsent_below_mss = self.notsent_bytes() < self.smss();
        let cwnd_open = self.cwnd_flight() < self.cc.cwnd();
        let nothing_lost_waiting = self.recovery.is_none() && self.snd_nxt >= self.snd_max;
        if unsent_below_mss && cwnd_open && nothing_lost_waiting {
            // CAST: modulo 2^32 on purpose.
            let mark = self
                .delivered_bytes()
                .wrapping_add(self.cwnd_flight() as u64) as u32;
            self.rate.app_limited = if mark == 0 { 1 } else { mark };
        }
    }

    /// The end of an ACK's processing at `now` (Linux `tcp_rate_gen`): `before` is what
    /// was delivered before it, `newest` the most recently sent range it delivered,
    /// `None` if none was timed or the ACK may be for a retransmission. Keeps the
    /// sample if it is not application-limited or is the highest yet:
    ///
    /// ```c
    /// if (!rs->is_app_limited ||
    ///     ((u64)rs->delivered * tp->rate_interval_us >=
    ///      (u64)tp->rate_delivered * rs->interval_us)) {
    /// ```
    pub(crate) fn rate_gen(
        &mut self,
        now: Instant,
        before: u64,
        newest: Option<(Instant, RateSnap)>,
    ) {
        let delivered = self.delivered_bytes();
        // CAST: modulo 2^32 on purpose.
        let d32 = delivered as u32;
        // "Clear app limited if bubble is acked and gone."
        if self.rate.app_limited != 0 && after(d32, self.rate.app_limited) {
            self.rate.app_limited = 0;
        }
        if delivered > before {
            self.rate.delivered_mstamp = now;
        }
        // SACK reneging (less delivered than before) gives no sample, as Linux's
        // `is_sack_reneg`.
        let Some((sent_at, snap)) = newest.filter(|_| delivered >= before) else {
            return;
        };
        // tcp_rate_skb_delivered: "Record send time of most recently ACKed packet",
        // the send phase since the range's `first_tx_mstamp`.
        self.rate.first_tx_mstamp = sent_at;
        let snd_us = snap.since_first_tx_us;
        let prior_mstamp = crate::time::Instant(
            sent_at
                .micros()
                .saturating_sub(u64::from(snap.since_delivered_us)),
        );
        let ack_us = us32(now.saturating_since(prior_mstamp));
        let interval_us = snd_us.max(ack_us);
        let rs_delivered = d32.wrapping_sub(snap.delivered);
        // "Normally we expect interval_us >= min-rtt": a shorter interval (ACK
        // compression, a spurious retransmission) is no sample; neither is any before
        // an RTT sample (Linux's `tcp_min_rtt` is then ~0).
        let min_rtt = self.rtt.min_rtt().map_or(u32::MAX, us32);
        // Nothing delivered since (a FIN-only range), or less (wrapped): no sample.
        if interval_us < min_rtt || (rs_delivered as i32) <= 0 {
            return;
        }
        let keep = !snap.app_limited
            || u64::from(rs_delivered) * u64::from(self.rate.rate_interval_us)
                >= u64::from(self.rate.rate_delivered) * u64::from(interval_us);
        if keep {
            self.rate.rate_delivered = rs_delivered;
            self.rate.rate_interval_us = interval_us;
            self.rate.rate_app_limited = snap.app_limited;
        }
    }
}
