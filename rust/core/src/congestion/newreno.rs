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

    /// An ACK of `acked` new bytes arrived outside recovery: the timeout episode, if
    /// any, is over, and slow start takes its share. Returns the bytes left for the
    /// algorithm's congestion avoidance (all of them outside slow start).
    pub(crate) fn new_ack(&mut self, acked: usize, smss: usize) -> usize {
        self.in_timeout = false;
        if self.in_slow_start() {
            self.slow_start(acked, smss)
        } else {
            acked
        }
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
        let rest = self.w.new_ack(acked, smss);
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

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1460;
    const T: Instant = Instant(0);

    fn reno() -> NewReno {
        NewReno::new(MSS)
    }

    /// One round trip of per-segment ACKs covering the whole window.
    fn ack_window(c: &mut NewReno, per_ack: usize) {
        let mut left = c.cwnd();
        let flight = c.cwnd();
        while left > 0 {
            let n = per_ack.min(left);
            c.on_ack(T, n, flight, MSS, None);
            left -= n;
        }
    }

    // RFC 5681 3.1 / RFC 6928: initial state.

    #[test]
    fn starts_at_initial_window_with_high_ssthresh() {
        let c = reno();
        assert_eq!(c.cwnd(), 14600);
        assert_eq!(c.ssthresh(), INITIAL_SSTHRESH);
    }

    // RFC 5681 3.1 slow start, RFC 3465 2.2 byte counting.

    #[test]
    fn slow_start_doubles_per_rtt_with_per_segment_acks() {
        let mut c = reno();
        for round in 0..5 {
            let before = c.cwnd();
            ack_window(&mut c, MSS);
            assert_eq!(c.cwnd(), 2 * before, "round {round}");
        }
        assert_eq!(c.cwnd(), 14600 * 32);
    }

    #[test]
    fn slow_start_doubles_per_rtt_with_delayed_acks() {
        // RFC 3465's point: with one ACK per two segments, L = 2*SMSS keeps doubling.
        let mut c = reno();
        let before = c.cwnd();
        ack_window(&mut c, 2 * MSS);
        assert_eq!(c.cwnd(), 2 * before);
    }

    #[test]
    fn slow_start_increase_limited_to_two_smss_per_ack() {
        let mut c = reno();
        c.on_ack(T, 10 * MSS, 10 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 14600 + 2 * MSS);
    }

    #[test]
    fn slow_start_counts_partial_segments_in_bytes() {
        let mut c = reno();
        c.on_ack(T, 100, 14600, MSS, None);
        assert_eq!(c.cwnd(), 14700);
    }

    #[test]
    fn slow_start_stops_at_ssthresh_and_hands_the_rest_to_avoidance() {
        let mut c = reno();
        c.w.ssthresh = 15000;
        c.on_ack(T, 2 * MSS, 14600, MSS, None);
        assert_eq!(c.cwnd(), 15000);
        assert!(!c.w.in_slow_start());
        // The excess (2920 - 400 bytes) went to bytes_acked, below cwnd: no increase yet.
        assert_eq!(c.w.bytes_acked, 2 * MSS - 400);
    }

    // RFC 5681 3.1 congestion avoidance, RFC 3465 2.1 byte counting.

    #[test]
    fn congestion_avoidance_adds_one_smss_per_window_acked() {
        let mut c = reno();
        c.w.ssthresh = 20 * MSS;
        c.w.cwnd = 20 * MSS;
        for round in 1..=5 {
            ack_window(&mut c, MSS);
            assert_eq!(c.cwnd(), (20 + round) * MSS, "round {round}");
        }
    }

    #[test]
    fn congestion_avoidance_needs_a_full_window_of_bytes() {
        let mut c = reno();
        c.w.ssthresh = 10 * MSS;
        c.w.cwnd = 10 * MSS;
        for _ in 0..9 {
            c.on_ack(T, MSS, 10 * MSS, MSS, None);
        }
        assert_eq!(c.cwnd(), 10 * MSS);
        c.on_ack(T, MSS - 1, 10 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 10 * MSS);
        c.on_ack(T, 1, 10 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 11 * MSS);
    }

    #[test]
    fn congestion_avoidance_stretch_ack_grows_at_most_one_smss() {
        let mut c = reno();
        c.w.ssthresh = 10 * MSS;
        c.w.cwnd = 10 * MSS;
        c.on_ack(T, 50 * MSS, 50 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 11 * MSS);
    }

    // RFC 5681 3.2 / RFC 6582 3.2: fast retransmit and fast recovery.

    #[test]
    fn enter_recovery_halves_flight_size() {
        let mut c = reno();
        c.w.cwnd = 40 * MSS;
        c.on_enter_recovery(T, 30 * MSS, MSS);
        assert_eq!(c.ssthresh(), 15 * MSS);
        assert_eq!(c.cwnd(), 15 * MSS);
    }

    #[test]
    fn enter_recovery_floor_is_two_smss() {
        let mut c = reno();
        c.on_enter_recovery(T, 3 * MSS, MSS);
        assert_eq!(c.ssthresh(), 2 * MSS);
        assert_eq!(c.cwnd(), 2 * MSS);
    }

    #[test]
    fn three_dupacks_inflation_via_recovery_dupack() {
        // RFC 6582 3.2 step 3: cwnd = ssthresh + 3*SMSS.
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        for _ in 0..3 {
            c.on_recovery_dupack(MSS);
        }
        assert_eq!(c.cwnd(), 13 * MSS);
        // Step 4: each further duplicate adds one more SMSS.
        c.on_recovery_dupack(MSS);
        assert_eq!(c.cwnd(), 14 * MSS);
    }

    #[test]
    fn partial_ack_deflates_and_adds_back_one_smss() {
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        for _ in 0..6 {
            c.on_recovery_dupack(MSS);
        }
        assert_eq!(c.cwnd(), 16 * MSS);
        c.on_partial_ack(4 * MSS, MSS);
        assert_eq!(c.cwnd(), 13 * MSS);
    }

    #[test]
    fn partial_ack_below_one_smss_adds_nothing_back() {
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        c.on_partial_ack(500, MSS);
        assert_eq!(c.cwnd(), 10 * MSS - 500);
    }

    #[test]
    fn partial_ack_never_drops_below_one_smss() {
        let mut c = reno();
        c.on_enter_recovery(T, 4 * MSS, MSS);
        c.on_partial_ack(100 * MSS, MSS);
        assert_eq!(c.cwnd(), MSS);
    }

    #[test]
    fn full_ack_exit_sets_cwnd_to_ssthresh() {
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        c.on_recovery_dupack(MSS);
        c.on_exit_recovery(T, 12 * MSS, MSS);
        assert_eq!(c.cwnd(), 10 * MSS);
    }

    #[test]
    fn full_ack_exit_with_little_in_flight_avoids_a_burst() {
        // RFC 6582 step 6 option 1: min(ssthresh, max(FlightSize, SMSS) + SMSS).
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        c.on_exit_recovery(T, 3 * MSS, MSS);
        assert_eq!(c.cwnd(), 4 * MSS);
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        c.on_exit_recovery(T, 0, MSS);
        assert_eq!(c.cwnd(), 2 * MSS);
    }

    #[test]
    fn after_recovery_growth_is_congestion_avoidance() {
        let mut c = reno();
        c.on_enter_recovery(T, 20 * MSS, MSS);
        c.on_exit_recovery(T, 20 * MSS, MSS);
        ack_window(&mut c, MSS);
        assert_eq!(c.cwnd(), 11 * MSS);
    }

    // RFC 5681 3.1: retransmission timeout.

    #[test]
    fn rto_sets_loss_window_and_halves() {
        let mut c = reno();
        c.w.cwnd = 40 * MSS;
        c.on_rto(T, 40 * MSS, MSS);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 20 * MSS);
    }

    #[test]
    fn repeated_rto_holds_ssthresh() {
        let mut c = reno();
        c.on_rto(T, 40 * MSS, MSS);
        // Second expiry for the same segment: FlightSize is now tiny, ssthresh must stay.
        c.on_rto(T, MSS, MSS);
        assert_eq!(c.ssthresh(), 20 * MSS);
        assert_eq!(c.cwnd(), MSS);
    }

    #[test]
    fn rto_after_progress_recomputes_ssthresh() {
        let mut c = reno();
        c.on_rto(T, 40 * MSS, MSS);
        c.on_ack(T, MSS, MSS, MSS, None);
        c.on_rto(T, 8 * MSS, MSS);
        assert_eq!(c.ssthresh(), 4 * MSS);
    }

    #[test]
    fn slow_start_after_rto_limits_byte_counting_to_one_smss() {
        // RFC 3465 2.3: L = 1*SMSS in the slow start following a timeout.
        let mut c = reno();
        c.on_rto(T, 40 * MSS, MSS);
        c.on_ack(T, 4 * MSS, 4 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 2 * MSS);
        // Back to L = 2*SMSS once slow start ends and a new one begins.
        c.on_enter_recovery(T, 2 * MSS, MSS);
        c.w.ssthresh = INITIAL_SSTHRESH;
        c.on_ack(T, 4 * MSS, 4 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 4 * MSS);
    }

    // RFC 5681 4.1: restart after idle.

    #[test]
    fn idle_longer_than_rto_restarts_from_initial_window() {
        let mut c = reno();
        c.w.cwnd = 100 * MSS;
        c.on_idle_restart(Duration::from_secs(2), Duration::from_secs(1), MSS);
        assert_eq!(c.cwnd(), 14600);
    }

    #[test]
    fn idle_shorter_than_rto_keeps_cwnd() {
        let mut c = reno();
        c.w.cwnd = 100 * MSS;
        c.on_idle_restart(Duration::from_millis(500), Duration::from_secs(1), MSS);
        assert_eq!(c.cwnd(), 100 * MSS);
    }

    #[test]
    fn idle_restart_never_increases_a_small_cwnd() {
        let mut c = reno();
        c.w.cwnd = 2 * MSS;
        c.on_idle_restart(Duration::from_secs(10), Duration::from_secs(1), MSS);
        assert_eq!(c.cwnd(), 2 * MSS);
    }

    // RFC 6928 section 2: lost SYN.

    #[test]
    fn syn_loss_gives_one_segment() {
        let mut c = reno();
        c.on_syn_loss(MSS);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), INITIAL_SSTHRESH);
    }

    // Robustness.

    #[test]
    fn huge_values_saturate() {
        let mut c = reno();
        for _ in 0..200 {
            c.on_ack(T, usize::MAX, usize::MAX, usize::MAX / 3, None);
        }
        assert!(c.cwnd() <= MAX_CWND);
        c.on_enter_recovery(T, usize::MAX, usize::MAX);
        c.on_recovery_dupack(usize::MAX);
        c.on_partial_ack(usize::MAX, usize::MAX);
        c.on_exit_recovery(T, usize::MAX, usize::MAX);
        c.on_rto(T, usize::MAX, usize::MAX);
        c.on_idle_restart(Duration::MAX, Duration::ZERO, usize::MAX);
        assert!(c.cwnd() <= MAX_CWND && c.ssthresh() <= MAX_CWND);
    }

    #[test]
    fn zero_smss_does_not_panic() {
        let mut c = NewReno::new(0);
        c.on_ack(T, 100, 100, 0, None);
        c.on_enter_recovery(T, 0, 0);
        c.on_partial_ack(10, 0);
        c.on_exit_recovery(T, 0, 0);
        c.on_rto(T, 0, 0);
        c.on_ack(T, 100, 100, 0, None);
        assert_eq!(c.cwnd(), 0);
    }
}
