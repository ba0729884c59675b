//! The receiver's RTT estimate (Linux `tp->rcv_rtt_est`, `net/ipv4/tcp_input.c`
//! `tcp_rcv_rtt_update`, `tcp_rcv_rtt_measure`, `tcp_rcv_rtt_measure_ts`): what a side
//! that only receives knows of the round trip, for receive buffer autotuning
//! (`tcp_rcv_space_adjust` runs once per this RTT) and `TCP_INFO` `tcpi_rcv_rtt`.
//!
//! Two sources, as Linux:
//! - the time one advertised window of data takes to arrive (Dynamic Right-Sizing): an
//!   upper bound, so only a smaller sample replaces the estimate;
//! - with timestamps, the age of the TSval a full-sized data segment echoes (a sample
//!   of 0 ms, below the clock's resolution, is not used).

use super::Connection;
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::seq::SeqNum;
use crate::side::SideAlloc;
use crate::time::Instant;

/// Linux `tp->rcv_rtt_est` and `tp->rcv_rtt_last_tsecr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RcvRtt {
    /// The estimate in microseconds, scaled by 8 (`rcv_rtt_est.rtt_us`); 0 before any
    /// sample.
    pub(crate) rtt_us8: u32,
    /// The window measurement ends when RCV.NXT reaches this (`rcv_rtt_est.seq`).
    seq: SeqNum,
    /// When the window measurement started (`rcv_rtt_est.time`), `None` before the
    /// first in-order data.
    time: Option<Instant>,
    /// The last TSecr a measurement looked at (`rcv_rtt_last_tsecr`): one sample per
    /// echoed value.
    last_tsecr: u32,
}

impl RcvRtt {
    /// `tcp_rcv_rtt_update`: folds `sample_us` into the estimate. Linux 6.16 on:
    ///
    /// ```c
    /// u32 new_sample, old_sample = tp->rcv_rtt_est.rtt_us;
    /// long m = sample << 3;
    /// if (old_sample == 0 || m < old_sample) {
    ///         new_sample = m;
    /// } else {
    ///         if (win_dep)
    ///                 return;
    ///         new_sample = old_sample - (old_sample >> 3) + sample;
    /// }
    /// ```
    ///
    /// A smaller sample is taken at once; a larger one is smoothed in (1/8) only when
    /// it came from a timestamp (`win_dep` false: the window measurement is an upper
    /// bound).
    pub(crate) fn update(&mut self, sample_us: u32, win_dep: bool) {
        let old = self.rtt_us8;
        let m = sample_us.saturating_mul(8);
        self.rtt_us8 = if old == 0 || m < old {
            m
        } else if win_dep {
            return;
        } else {
            (old - (old >> 3)).saturating_add(sample_us)
        };
    }

    /// The estimate in microseconds (`rcv_rtt_est.rtt_us >> 3`, `tcpi_rcv_rtt`), 0
    /// before any sample.
    pub(crate) fn us(&self) -> u32 {
        self.rtt_us8 >> 3
    }
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// In-order data moved RCV.NXT at `now` (`tcp_rcv_rtt_measure`, from
    /// `tcp_event_data_recv`): once RCV.NXT passes the end of the window offered when
    /// the measurement started, the time it took is a sample; a new measurement starts
    /// with the window offered now (`rcv_nxt + rcv_wnd`, Linux's `tp->rcv_wnd` being
    /// the size of the window last advertised).
    pub(crate) fn rcv_rtt_measure(&mut self, now: Instant) {
        if let Some(start) = self.rcv_rtt.time {
            if self.rcv_nxt < self.rcv_rtt.seq {
                return;
            }
            // `if (!delta_us) delta_us = 1;`
            let delta = u32::try_from(now.saturating_since(start).micros()).unwrap_or(u32::MAX);
            self.rcv_rtt.update(delta.max(1), true);
        }
        let advertised = if self.rcv_adv > self.last_ack_sent {
            self.rcv_adv.since(self.last_ack_sent)
        } else {
            0
        };
        self.rcv_rtt.seq = self.rcv_nxt + advertised;
        self.rcv_rtt.time = Some(now);
    }

    /// A data segment of `len` bytes echoing `tsecr` arrived in ESTABLISHED
    /// (`tcp_rcv_rtt_measure_ts`): once per echoed value, a full-sized segment (at least
    /// the receive MSS estimate) gives the age of the echoed TSval as a sample, if it
    /// is more than 0 ms (`tcp_rtt_tsopt_us(tp, 0)`, `if (delta > 0)`) and plausible
    /// (below `INT_MAX` microseconds).
    pub(crate) fn rcv_rtt_measure_ts(&mut self, now: Instant, tsecr: u32, len: usize) {
        if tsecr == self.rcv_rtt.last_tsecr {
            return;
        }
        self.rcv_rtt.last_tsecr = tsecr;
        if len < self.rcv_mss.max(1) {
            return;
        }
        let delta_ms = self.ts_now(now).wrapping_sub(tsecr);
        // `delta < INT_MAX / (USEC_PER_SEC / TCP_TS_HZ)`
        if delta_ms > 0 && delta_ms < i32::MAX as u32 / 1000 {
            self.rcv_rtt.update(delta_ms * 1000, false);
        }
    }

    /// The receiver's RTT estimate in microseconds (`TCP_INFO` `tcpi_rcv_rtt`), 0
    /// before any sample.
    pub fn rcv_rtt(&self) -> u32 {
        self.rcv_rtt.us()
    }
}

#[cfg(test)]
mod tests {
    use super::RcvRtt;

    #[test]
    fn first_sample_is_taken_then_only_smaller_window_samples() {
        let mut r = RcvRtt::default();
        r.update(10_000, true);
        assert_eq!((r.rtt_us8, r.us()), (80_000, 10_000));
        // Larger window-dependent sample: ignored.
        r.update(20_000, true);
        assert_eq!(r.us(), 10_000);
        // Smaller: latched at once.
        r.update(4_000, true);
        assert_eq!(r.us(), 4_000);
    }

    #[test]
    fn larger_timestamp_samples_are_smoothed_by_an_eighth() {
        let mut r = RcvRtt::default();
        r.update(8_000, false);
        // 64 000 - 8 000 + 16 000 = 72 000 (9 000 us).
        r.update(16_000, false);
        assert_eq!((r.rtt_us8, r.us()), (72_000, 9_000));
        // Smaller: latched.
        r.update(1_000, false);
        assert_eq!(r.rtt_us8, 8_000);
    }
}
