//! NewReno: RFC 5681 slow start and congestion avoidance with RFC 3465 byte counting, and
//! the RFC 6582 fast recovery window arithmetic.
//!
//! The window bookkeeping shared with CUBIC (slow start, recovery inflation and deflation,
//! timeouts, idle restart) lives in [`RenoWindow`]; CUBIC replaces only the congestion
//! avoidance increase and the multiplicative decrease.

use super::{half_flight, initial_window, CongestionControl, INITIAL_SSTHRESH, MAX_CWND};
use crate::time::{Duration, Instant};

/// cwnd/ssthresh state and the Reno rules common to every algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RenoWindow {
    pub(crate) cwnd: usize,
    pub(crate) ssthresh: usize,
    /// RFC 3465 section 2.1 `bytes_acked`, for congestion avoidance.
    bytes_acked: usize,
    /// Set by a timeout, cleared by the next ACK of new data: a second timeout in a row
    /// is a retransmission of an already timed-out segment (RFC 5681 3.1 note).
    in_timeout: bool,
    /// Slow start following a timeout: byte counting limit L = 1*SMSS (RFC 3465 2.3).
    slow_start_after_rto: bool,
}

impl RenoWindow {
    /// cwnd = IW (RFC 6928), ssthresh arbitrarily high (RFC 5681 3.1).
    pub(crate) fn new(smss: usize) -> Self {
        RenoWindow {
            cwnd: initial_window(smss),
            ssthresh: INITIAL_SSTHRESH,
            bytes_acked: 0,
            in_timeout: false,
            slow_start_after_rto: false,
        }
    }

    /// True while cwnd < ssthresh. RFC 5681 3.1: "The slow start algorithm is used when
    /// cwnd < ssthresh, while the congestion avoidance algorithm is used when cwnd >
    /// ssthresh. When cwnd and ssthresh are equal, the sender may use either"; partcp
    /// uses congestion avoidance.
    pub(crate) fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// An ACK of new data arrived: the timeout episode, if any, is over.
    pub(crate) fn ack_received(&mut self) {
        self.in_timeout = false;
    }

    /// Slow start with Appropriate Byte Counting. Returns the part of `acked` left over
    /// once cwnd reached ssthresh, which the caller feeds to congestion avoidance.
    ///
    /// RFC 3465 section 2.2: during slow start cwnd grows by the number of bytes
    /// acknowledged, at most L per ACK; L = 2*SMSS (the largest the RFC allows), or
    /// 1*SMSS in the slow start that follows a retransmission timeout (section 2.3),
    /// where one ACK may cover many segments the network had already delivered.
    pub(crate) fn slow_start(&mut self, acked: usize, smss: usize) -> usize {
        let limit = if self.slow_start_after_rto {
            smss
        } else {
            smss.saturating_mul(2)
        };
        let inc = acked.min(limit);
        let room = self.ssthresh.saturating_sub(self.cwnd);
        if inc < room {
            self.cwnd = self.cwnd.saturating_add(inc).min(MAX_CWND);
            0
        } else {
            // Reaching ssthresh ends slow start; RFC 5681 3.1 allows either algorithm at
            // equality, and the excess goes to congestion avoidance (as Linux does).
            self.cwnd = self.ssthresh.min(MAX_CWND);
            self.slow_start_after_rto = false;
            acked.saturating_sub(room)
        }
    }

    /// Reno congestion avoidance with byte counting, RFC 3465 section 2.1 (and RFC 5681
    /// 3.1): "bytes_acked is incremented by the number of bytes acknowledged by each
    /// arriving ACK ... When bytes_acked becomes greater than or equal to the value of the
    /// congestion window, bytes_acked is reduced by the value of cwnd. Next, cwnd is
    /// incremented by a full-sized segment (SMSS)."
    pub(crate) fn congestion_avoidance(&mut self, acked: usize, smss: usize) {
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        // One increment per ACK at most: RFC 5681 3.1 bounds the increase to 1 SMSS per
        // RTT, and a stretch ACK covering several windows must not jump further.
        if self.cwnd > 0 && self.bytes_acked >= self.cwnd {
            self.bytes_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(smss).min(MAX_CWND);
            self.bytes_acked = self.bytes_acked.min(self.cwnd);
        }
    }

    /// Enter fast recovery with the algorithm's new ssthresh (RFC 5681 3.2 steps 2–3,
    /// RFC 6675 section 5 step 4: cwnd = ssthresh, no inflation here).
    pub(crate) fn enter_recovery(&mut self, ssthresh: usize) {
        self.ssthresh = ssthresh.min(MAX_CWND);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.in_timeout = false;
        self.slow_start_after_rto = false;
    }

    /// RFC 6582 3.2 step 4: "For each additional duplicate ACK received (after the third),
    /// increment cwnd by SMSS. This artificially inflates the congestion window in order
    /// to reflect the additional segment that has left the network."
    pub(crate) fn recovery_dupack(&mut self, smss: usize) {
        self.cwnd = self.cwnd.saturating_add(smss).min(MAX_CWND);
    }

    /// RFC 6582 3.2 step 5, partial acknowledgment: "deflate the congestion window by the
    /// amount of new data acknowledged by the Cumulative Acknowledgment field. If the
    /// partial ACK acknowledges at least one SMSS of new data, then add back SMSS bytes to
    /// the congestion window." cwnd never drops below one SMSS, so sending cannot stall.
    pub(crate) fn partial_ack(&mut self, acked: usize, smss: usize) {
        let mut cwnd = self.cwnd.saturating_sub(acked);
        if acked >= smss {
            cwnd = cwnd.saturating_add(smss);
        }
        self.cwnd = cwnd.max(smss).min(MAX_CWND);
    }

    /// RFC 6582 3.2 step 6, full acknowledgment, option (1): "Set cwnd to min (ssthresh,
    /// max(FlightSize, SMSS) + SMSS)". `flight_size` is what remains outstanding.
    pub(crate) fn exit_recovery(&mut self, flight_size: usize, smss: usize) {
        let bound = flight_size.max(smss).saturating_add(smss);
        self.cwnd = self.ssthresh.min(bound).min(MAX_CWND);
        self.bytes_acked = 0;
    }

    /// Retransmission timeout with the algorithm's ssthresh candidate.
    ///
    /// RFC 5681 3.1: on a timeout for a segment not yet retransmitted by the timer,
    /// ssthresh is set from equation (4) (or the algorithm's own reduction); when "the
    /// given segment has already been retransmitted by way of the retransmission timer at
    /// least once, the value of ssthresh is held constant". In both cases "cwnd MUST be set
    /// to no more than the loss window, LW, which equals 1 full-sized segment".
    ///
    /// Returns true if this was the first timeout of the episode (ssthresh changed).
    pub(crate) fn timeout(&mut self, ssthresh: usize, smss: usize) -> bool {
        let first = !self.in_timeout;
        if first {
            self.ssthresh = ssthresh.min(MAX_CWND);
        }
        self.in_timeout = true;
        self.cwnd = smss.min(MAX_CWND);
        self.bytes_acked = 0;
        self.slow_start_after_rto = true;
        first
    }

    /// RFC 5681 section 4.1: "if the TCP has not sent data in an interval exceeding the
    /// retransmission timeout", it "SHOULD set cwnd to no more than RW before beginning
    /// transmission", with "RW = min(IW,cwnd)". Returns true if the rule applied.
    pub(crate) fn idle_restart(&mut self, idle: Duration, rto: Duration, smss: usize) -> bool {
        if idle > rto {
            let rw = initial_window(smss).min(self.cwnd);
            self.cwnd = self.cwnd.min(rw);
            self.bytes_acked = 0;
            true
        } else {
            false
        }
    }

    /// RFC 6928 section 2 / RFC 5681 3.1: one segment after a lost SYN or SYN-ACK.
    pub(crate) fn syn_loss(&mut self, smss: usize) {
        self.cwnd = self.cwnd.min(smss);
        self.bytes_acked = 0;
    }
}

/// NewReno congestion control (RFC 5681 + RFC 6582, byte counting per RFC 3465).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReno {
    w: RenoWindow,
}

impl NewReno {
    /// cwnd = IW (RFC 6928), ssthresh arbitrarily high (RFC 5681 3.1).
    pub fn new(smss: usize) -> Self {
        NewReno {
            w: RenoWindow::new(smss),
        }
    }

    /// See [`super::Congestion::on_syn_loss`].
    pub fn on_syn_loss(&mut self, smss: usize) {
        self.w.syn_loss(smss);
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> usize {
        self.w.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.w.ssthresh
    }

    fn on_ack(
        &mut self,
        _now: Instant,
        acked: usize,
        _flight_size: usize,
        smss: usize,
        _rtt: Option<Duration>,
    ) {
        self.w.ack_received();
        let mut rest = acked;
        if self.w.in_slow_start() {
            rest = self.w.slow_start(acked, smss);
        }
        if rest > 0 {
            self.w.congestion_avoidance(rest, smss);
        }
    }

    fn on_enter_recovery(&mut self, _now: Instant, flight_size: usize, smss: usize) {
        // RFC 5681 3.2 step 2 / RFC 6582 3.2 step 2: ssthresh = max(FlightSize/2, 2*SMSS).
        self.w.enter_recovery(half_flight(flight_size, smss));
    }

    fn on_recovery_dupack(&mut self, smss: usize) {
        self.w.recovery_dupack(smss);
    }

    fn on_partial_ack(&mut self, acked: usize, smss: usize) {
        self.w.partial_ack(acked, smss);
    }

    fn on_exit_recovery(&mut self, _now: Instant, flight_size: usize, smss: usize) {
        self.w.exit_recovery(flight_size, smss);
    }

    fn on_rto(&mut self, _now: Instant, flight_size: usize, smss: usize) {
        // RFC 5681 3.1 equation (4): ssthresh = max (FlightSize / 2, 2*SMSS).
        self.w.timeout(half_flight(flight_size, smss), smss);
    }

    fn on_idle_restart(&mut self, idle: Duration, rto: Duration, smss: usize) {
        self.w.idle_restart(idle, rto, smss);
    }
}
