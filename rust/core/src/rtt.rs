//! Retransmission timeout computation (RFC 6298), with the RFC 7323 timestamp notes.
//!
//! The estimator keeps SRTT and RTTVAR in fixed point (SRTT scaled by 8, RTTVAR by 4, in
//! microseconds) so that the 1/8 and 1/4 gains of RFC 6298 section 2.3 lose no precision
//! to integer division; [`RttEstimator::srtt`] and [`RttEstimator::rttvar`] unscale them.
//!
//! # What the caller must do
//!
//! * Karn's algorithm (RFC 6298 section 3): "RTT samples MUST NOT be made using segments
//!   that were retransmitted (and thus for which it is ambiguous whether the reply was for
//!   the first instance of the packet or a later instance)". The estimator cannot tell
//!   which segment an ACK covers, so the caller only passes samples taken from segments
//!   sent exactly once — or, with timestamps, from the echoed TSecr.
//! * RFC 7323 section 4 (RTTM): with the timestamps option the sender can take a sample,
//!   `now - TSecr`, from every ACK, which also solves Karn's ambiguity for retransmitted
//!   segments. Only ACKs that advance SND.UNA may be used; a TSecr echoed by a duplicate
//!   ACK or a window probe can be arbitrarily old: again the caller's job. RFC 7323
//!   appendix G suggests dividing the gains by the number of samples expected per window;
//!   like Linux, partcp does not: one sample per ACK with the standard gains.
//! * RFC 6298 section 5: the caller starts, restarts and stops the timer; this type only
//!   says how long it runs ([`RttEstimator::rto`]) and backs off
//!   ([`RttEstimator::on_timeout`]).

use crate::time::Duration;

/// Bounds and clock granularity for the RTO computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttConfig {
    /// RTO before any sample (RFC 6298 section 2.1: "the sender SHOULD set RTO <- 1
    /// second").
    pub initial_rto: Duration,
    /// Lower bound on the RTO. RFC 6298 section 2.4 says 1 s; partcp uses Linux's 200 ms
    /// (`TCP_RTO_MIN`), which the RFC's own rationale for a high floor (delayed ACKs of up
    /// to 200 ms, coarse clocks) is compatible with on a microsecond clock.
    pub min_rto: Duration,
    /// Upper bound on the RTO (RFC 6298 section 2.5: "a maximum value MAY be placed on RTO
    /// provided it is at least 60 seconds"). Linux uses 120 s (`TCP_RTO_MAX`).
    pub max_rto: Duration,
    /// Clock granularity G of RFC 6298 section 2: the variance term is never less than G.
    pub granularity: Duration,
}

impl Default for RttConfig {
    fn default() -> Self {
        RttConfig {
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            granularity: Duration::from_millis(1),
        }
    }
}

/// RFC 6298 section 2: K, the weight of RTTVAR in the RTO.
const K: u64 = 4;
/// RFC 6298 section 5.7: the RTO to fall back to once data transfer starts after a lost SYN.
const SYN_LOSS_RTO: Duration = Duration::from_secs(3);

/// Smoothed RTT, RTT variance and RTO backoff of one connection (RFC 6298).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    cfg: RttConfig,
    /// SRTT * 8 in microseconds; meaningful only when `have_sample`.
    srtt8: u64,
    /// RTTVAR * 4 in microseconds.
    rttvar4: u64,
    have_sample: bool,
    /// RTO used while there is no sample: `cfg.initial_rto`, or 3 s after a lost SYN.
    no_sample_rto: Duration,
    /// Smallest sample seen, if any (for congestion control and diagnostics).
    min_rtt: Option<Duration>,
    /// Number of consecutive timeouts since the last valid sample (RFC 6298 5.5).
    backoff: u32,
}

impl RttEstimator {
    /// A fresh estimator: no sample yet, RTO = `cfg.initial_rto` (RFC 6298 section 2.1).
    pub fn new(cfg: RttConfig) -> Self {
        RttEstimator {
            cfg,
            srtt8: 0,
            rttvar4: 0,
            have_sample: false,
            no_sample_rto: cfg.initial_rto,
            min_rtt: None,
            backoff: 0,
        }
    }

    /// The configuration this estimator was built with.
    pub fn config(&self) -> RttConfig {
        self.cfg
    }

    /// Feed one RTT measurement `rtt` (already filtered by Karn's algorithm, see the
    /// module documentation).
    ///
    /// Also clears the exponential backoff: RFC 6298 section 5, after rule 5.7, "once a new
    /// RTT measurement is obtained ... the computations outlined in Section 2 are
    /// performed, including the computation of RTO, which may result in 'collapsing' RTO
    /// back down after it has been subject to exponential back off (rule 5.5)".
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = rtt.micros();
        if self.have_sample {
            // RFC 6298 2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
            //               SRTT <- (1 - alpha) * SRTT + alpha * R'
            // with alpha = 1/8 and beta = 1/4, RTTVAR updated first with the old SRTT.
            // In the scaled representation: RTTVAR*4 += |SRTT - R'| - RTTVAR*4/4 and
            // SRTT*8 += R' - SRTT*8/8.
            let srtt = self.srtt8 / 8;
            let err = srtt.abs_diff(r);
            self.rttvar4 = (self.rttvar4 - self.rttvar4 / 4).saturating_add(err);
            self.srtt8 = (self.srtt8 - self.srtt8 / 8).saturating_add(r);
        } else {
            // RFC 6298 2.2: SRTT <- R, RTTVAR <- R/2.
            self.srtt8 = r.saturating_mul(8);
            self.rttvar4 = r.saturating_mul(2);
            self.have_sample = true;
        }
        self.min_rtt = Some(match self.min_rtt {
            Some(m) if m <= rtt => m,
            _ => rtt,
        });
        self.backoff = 0;
    }

    /// The un-backed-off RTO: `SRTT + max(G, K*RTTVAR)` clamped to `[min_rto, max_rto]`
    /// (RFC 6298 2.2–2.5), or the initial RTO before any sample (2.1).
    pub fn base_rto(&self) -> Duration {
        if !self.have_sample {
            return self.no_sample_rto;
        }
        let var = (K.saturating_mul(self.rttvar4) / 4).max(self.cfg.granularity.micros());
        let rto = Duration((self.srtt8 / 8).saturating_add(var));
        // RFC 6298 2.4 (floor, here min_rto) and 2.5 (ceiling).
        rto.max(self.cfg.min_rto).min(self.cfg.max_rto)
    }

    /// The retransmission timeout to arm now: [`RttEstimator::base_rto`] times
    /// `2^backoff_count` (RFC 6298 5.5), never more than `max_rto`.
    pub fn rto(&self) -> Duration {
        let base = self.base_rto().micros();
        let max = self.cfg.max_rto.micros();
        let backed = match 1u64.checked_shl(self.backoff) {
            Some(factor) => base.saturating_mul(factor),
            None => u64::MAX,
        };
        Duration(backed.min(max))
    }

    /// The retransmission timer expired: RFC 6298 5.5, "the host MUST set RTO <- RTO * 2
    /// ('back off the timer')"; the result saturates at `max_rto` (rule 2.5).
    ///
    /// The count keeps increasing past the point where the RTO is capped, so the caller
    /// can use [`RttEstimator::backoff_count`] to decide when to give up (RFC 9293 3.8.3,
    /// R2).
    pub fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Number of consecutive timeouts since the last valid RTT sample (or the last
    /// [`RttEstimator::clear_backoff`]).
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// Forget the backoff without a sample, e.g. when an ACK for new data arrives but
    /// Karn's algorithm forbids sampling it (Linux does this too: a retransmission that
    /// got through shows the path works again).
    pub fn clear_backoff(&mut self) {
        self.backoff = 0;
    }

    /// RFC 6298 5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
    /// implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized
    /// to 3 seconds when data transmission begins (i.e., after the three-way handshake
    /// completes)."
    ///
    /// Call when the handshake completes after the SYN (or SYN-ACK) was retransmitted.
    /// It only matters if the handshake produced no valid sample (the usual case, by
    /// Karn's algorithm); a later sample replaces it. The backoff is cleared.
    pub fn on_handshake_after_syn_loss(&mut self) {
        if self.no_sample_rto < SYN_LOSS_RTO {
            self.no_sample_rto = SYN_LOSS_RTO.min(self.cfg.max_rto);
        }
        self.backoff = 0;
    }

    /// The smoothed round-trip time, or `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        if self.have_sample {
            Some(Duration(self.srtt8 / 8))
        } else {
            None
        }
    }

    /// The smoothed round-trip time in microseconds scaled by 8 (Linux `srtt_us`), 0
    /// before the first sample.
    pub fn srtt_us8(&self) -> u64 {
        if self.have_sample {
            self.srtt8
        } else {
            0
        }
    }

    /// The round-trip time variation (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        Duration(self.rttvar4 / 4)
    }

    /// The smallest RTT sample seen so far, or `None` before the first sample.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator::new(RttConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn est() -> RttEstimator {
        RttEstimator::new(RttConfig::default())
    }

    // RFC 6298 2.1: before any measurement.

    #[test]
    fn initial_rto_is_one_second() {
        let e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.min_rtt(), None);
        assert_eq!(e.backoff_count(), 0);
    }

    #[test]
    fn default_config_matches_linux_bounds() {
        let c = RttConfig::default();
        assert_eq!(c.initial_rto, Duration::from_secs(1));
        assert_eq!(c.min_rto, ms(200));
        assert_eq!(c.max_rto, Duration::from_secs(120));
        assert_eq!(c.granularity, ms(1));
    }

    // RFC 6298 2.2: the first measurement.

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut e = est();
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        // RTO = SRTT + max(G, 4 * RTTVAR) = 100 + 200 ms.
        assert_eq!(e.rto(), ms(300));
    }

    // RFC 6298 2.3: subsequent measurements, alpha = 1/8, beta = 1/4.

    #[test]
    fn second_sample_uses_old_srtt_for_rttvar() {
        let mut e = est();
        e.on_sample(ms(100));
        e.on_sample(ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms
        // SRTT   = 7/8 * 100 + 1/8 * 200        = 112.5 ms
        // RTO    = 112.5 + 4 * 62.5             = 362.5 ms
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn smaller_sample_pulls_srtt_down() {
        let mut e = est();
        e.on_sample(ms(400));
        e.on_sample(ms(80));
        // RTTVAR = 3/4 * 200 + 1/4 * 320 = 230 ms; SRTT = 7/8 * 400 + 1/8 * 80 = 360 ms.
        assert_eq!(e.rttvar(), ms(230));
        assert_eq!(e.srtt(), Some(ms(360)));
        assert_eq!(e.rto(), ms(360 + 920));
    }

    #[test]
    fn srtt_converges_to_a_steady_rtt() {
        let mut e = est();
        e.on_sample(ms(500));
        for _ in 0..200 {
            e.on_sample(ms(40));
        }
        let srtt = e.srtt().unwrap_or(Duration::MAX);
        assert!(
            srtt >= ms(40) && srtt <= Duration::from_micros(40_010),
            "{srtt:?}"
        );
        assert!(e.rttvar() < ms(1));
    }

    #[test]
    fn scaled_state_loses_no_precision_on_small_samples() {
        // 7 us samples: integer SRTT without scaling would get stuck; scaled it is exact.
        let mut e = est();
        e.on_sample(Duration::from_micros(7));
        e.on_sample(Duration::from_micros(7));
        assert_eq!(e.srtt(), Some(Duration::from_micros(7)));
    }

    // RFC 6298 section 2: the granularity term G.

    #[test]
    fn variance_term_never_below_granularity() {
        let mut e = est();
        for _ in 0..100 {
            e.on_sample(ms(300));
        }
        // RTTVAR has decayed below G/4, so RTO = SRTT + G.
        assert_eq!(e.rto(), ms(301));
    }

    // RFC 6298 2.4 (floor) and 2.5 (ceiling).

    #[test]
    fn rto_floored_at_min_rto() {
        let mut e = est();
        e.on_sample(ms(1));
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn rto_capped_at_max_rto() {
        let mut e = est();
        e.on_sample(Duration::from_secs(200));
        assert_eq!(e.rto(), Duration::from_secs(120));
    }

    #[test]
    fn custom_bounds_are_honoured() {
        let cfg = RttConfig {
            initial_rto: ms(500),
            min_rto: Duration::from_secs(1),
            max_rto: Duration::from_secs(60),
            granularity: ms(10),
        };
        let mut e = RttEstimator::new(cfg);
        assert_eq!(e.rto(), ms(500));
        assert_eq!(e.config(), cfg);
        e.on_sample(ms(10));
        assert_eq!(e.rto(), Duration::from_secs(1));
    }

    // RFC 6298 5.5: exponential backoff.

    #[test]
    fn timeout_doubles_rto() {
        let mut e = est();
        e.on_sample(ms(100));
        e.on_timeout();
        assert_eq!(e.rto(), ms(600));
        e.on_timeout();
        assert_eq!(e.rto(), ms(1200));
        assert_eq!(e.backoff_count(), 2);
        assert_eq!(e.base_rto(), ms(300));
    }

    #[test]
    fn backoff_before_any_sample_doubles_initial_rto() {
        let mut e = est();
        e.on_timeout();
        e.on_timeout();
        assert_eq!(e.rto(), Duration::from_secs(4));
    }

    #[test]
    fn backoff_saturates_at_max_rto_but_keeps_counting() {
        let mut e = est();
        for _ in 0..10 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        for _ in 0..100 {
            e.on_timeout();
        }
        assert_eq!(e.backoff_count(), 110);
        assert_eq!(e.rto(), Duration::from_secs(120));
    }

    #[test]
    fn backoff_count_saturates_without_overflow() {
        let mut e = est();
        e.backoff = u32::MAX - 1;
        e.on_timeout();
        e.on_timeout();
        assert_eq!(e.backoff_count(), u32::MAX);
        assert_eq!(e.rto(), Duration::from_secs(120));
    }

    // RFC 6298 section 5, after 5.7: a new measurement collapses the backoff.

    #[test]
    fn sample_clears_backoff() {
        let mut e = est();
        e.on_sample(ms(100));
        e.on_timeout();
        e.on_timeout();
        e.on_sample(ms(100));
        assert_eq!(e.backoff_count(), 0);
        assert!(e.rto() < ms(400));
    }

    #[test]
    fn backoff_kept_until_valid_sample() {
        // Karn: ACKs of retransmitted data give no sample, so nothing resets the backoff
        // until the caller feeds one (or explicitly clears it).
        let mut e = est();
        e.on_sample(ms(100));
        e.on_timeout();
        assert_eq!(e.rto(), ms(600));
        assert_eq!(e.rto(), ms(600));
        e.clear_backoff();
        assert_eq!(e.rto(), ms(300));
    }

    // RFC 6298 5.7: lost SYN.

    #[test]
    fn syn_loss_reinitialises_rto_to_three_seconds() {
        let mut e = est();
        e.on_timeout();
        e.on_handshake_after_syn_loss();
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto(), Duration::from_secs(3));
        // A later valid sample replaces it.
        e.on_sample(ms(100));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn syn_loss_keeps_a_larger_initial_rto() {
        let cfg = RttConfig {
            initial_rto: Duration::from_secs(5),
            ..RttConfig::default()
        };
        let mut e = RttEstimator::new(cfg);
        e.on_handshake_after_syn_loss();
        assert_eq!(e.rto(), Duration::from_secs(5));
    }

    // Robustness: no overflow, no panic.

    #[test]
    fn extreme_samples_do_not_overflow() {
        let mut e = est();
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.on_sample(Duration::ZERO);
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.on_sample(Duration::ZERO);
        assert!(e.srtt().is_some());
    }

    #[test]
    fn min_rtt_tracks_the_smallest_sample() {
        let mut e = est();
        e.on_sample(ms(30));
        e.on_sample(ms(10));
        e.on_sample(ms(20));
        assert_eq!(e.min_rtt(), Some(ms(10)));
    }
}
