//! Congestion control: NewReno (RFC 5681, RFC 6582, RFC 3465) and CUBIC (RFC 9438).
//!
//! Algorithms implement [`CongestionControl`]; a connection holds a [`Congestion`], an enum
//! over all of them, so dispatch is static and nothing is allocated.
//!
//! All windows are in bytes. The connection owns loss detection and the recovery state
//! machine; it tells the algorithm what happened through the trait's event methods:
//!
//! * [`CongestionControl::on_ack`] for every ACK of new data outside loss recovery;
//! * [`CongestionControl::on_enter_recovery`] on the third duplicate ACK (or the RFC 6675
//!   loss trigger), then [`CongestionControl::on_recovery_dupack`] for each further
//!   duplicate (NewReno without SACK), [`CongestionControl::on_partial_ack`] for each
//!   partial ACK, and [`CongestionControl::on_exit_recovery`] on the full ACK;
//! * [`CongestionControl::on_rto`] when the retransmission timer fires;
//! * [`CongestionControl::on_idle_restart`] before sending after an idle period.
//!
//! `flight_size` is always FlightSize as RFC 5681 section 2 defines it: "the amount of
//! data that has been sent but not yet cumulatively acknowledged", taken before the event
//! being reported changes it (for an ACK: including the bytes it acknowledges).

mod cubic;
mod newreno;

pub use cubic::{cube_root, Cubic};
pub use newreno::NewReno;

use crate::time::{Duration, Instant};

/// Initial ssthresh: RFC 5681 section 3.1, "the initial value of ssthresh SHOULD be set
/// arbitrarily high (e.g., to the size of the largest possible advertised window)".
pub const INITIAL_SSTHRESH: usize = usize::MAX / 2;

/// Upper bound on any congestion window, so that window arithmetic never overflows.
/// Far above anything the 30-bit scaled receive window (RFC 7323 2.3) can use.
pub const MAX_CWND: usize = usize::MAX / 4;

/// Initial window, RFC 6928 section 2: "IW = min (10*MSS, max (2*MSS, 14600))".
pub fn initial_window(smss: usize) -> usize {
    smss.saturating_mul(10)
        .min(smss.saturating_mul(2).max(14600))
        .min(MAX_CWND)
}

/// The RFC 5681 equation (4) reduction: `max(FlightSize / 2, 2*SMSS)`.
pub(crate) fn half_flight(flight_size: usize, smss: usize) -> usize {
    (flight_size / 2).max(smss.saturating_mul(2)).min(MAX_CWND)
}

/// The common behaviour of congestion control algorithms.
pub trait CongestionControl {
    /// The congestion window, in bytes.
    fn cwnd(&self) -> usize;
    /// The slow start threshold, in bytes.
    fn ssthresh(&self) -> usize;
    /// New data acknowledged while not in loss recovery (RFC 5681 3.1: slow start /
    /// congestion avoidance, byte counting with L=2*SMSS per RFC 3465).
    ///
    /// `acked` is the number of newly acknowledged bytes, `flight_size` the FlightSize
    /// before this ACK, `rtt` the RTT sample this ACK gave (None if Karn's algorithm
    /// forbids one).
    fn on_ack(
        &mut self,
        now: Instant,
        acked: usize,
        flight_size: usize,
        smss: usize,
        rtt: Option<Duration>,
    );
    /// Entering fast recovery (RFC 5681 3.2 step 2 / RFC 6675 section 5 step 4):
    /// ssthresh = max(FlightSize/2, 2*SMSS) (CUBIC: beta 0.7, RFC 9438 4.6);
    /// cwnd = ssthresh.
    ///
    /// RFC 6582 section 3.2 step 3 (NewReno without SACK) inflates cwnd by the three
    /// duplicate ACKs that triggered recovery; a caller doing that calls
    /// [`CongestionControl::on_recovery_dupack`] three times after this.
    fn on_enter_recovery(&mut self, now: Instant, flight_size: usize, smss: usize);
    /// NewReno (no-SACK) recovery, RFC 6582 3.2 step 4: an additional duplicate ACK
    /// inflates cwnd by SMSS.
    fn on_recovery_dupack(&mut self, smss: usize);
    /// RFC 6582 3.2 step 5 partial ACK: deflate cwnd by the amount acked, add back SMSS if
    /// acked >= SMSS.
    fn on_partial_ack(&mut self, acked: usize, smss: usize);
    /// Leaving recovery on a full ACK (RFC 6582 3.2 step 6 option 1:
    /// cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)).
    ///
    /// Here `flight_size` is the FlightSize left after the full ACK. Note the inner max:
    /// with nothing left in flight, cwnd becomes 2*SMSS (if ssthresh allows), not 1.
    fn on_exit_recovery(&mut self, now: Instant, flight_size: usize, smss: usize);
    /// Retransmission timeout (RFC 5681 3.1 eq. 4 and "LW"): ssthresh =
    /// max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS.
    ///
    /// RFC 5681 section 3.1 implementation note: when the segment being retransmitted had
    /// already been retransmitted by the timer, "the value of ssthresh is held constant".
    /// The algorithms track that themselves: a second `on_rto` without an intervening
    /// [`CongestionControl::on_ack`] leaves ssthresh alone.
    fn on_rto(&mut self, now: Instant, flight_size: usize, smss: usize);
    /// Restart after idle (RFC 5681 section 4.1): if idle > rto, cwnd = min(cwnd, RW)
    /// with RW = min(IW, cwnd).
    fn on_idle_restart(&mut self, idle: Duration, rto: Duration, smss: usize);
}

/// Which congestion control algorithm a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionAlgorithm {
    /// RFC 5681 + RFC 6582 (+ RFC 3465 byte counting).
    NewReno,
    /// RFC 9438.
    Cubic,
}

/// A congestion controller of any supported algorithm (static dispatch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// NewReno state.
    NewReno(NewReno),
    /// CUBIC state.
    Cubic(Cubic),
}

impl Congestion {
    /// A controller for a new connection with sender MSS `smss`: cwnd = IW (RFC 6928),
    /// ssthresh arbitrarily high (RFC 5681 3.1).
    pub fn new(alg: CongestionAlgorithm, smss: usize) -> Self {
        match alg {
            CongestionAlgorithm::NewReno => Congestion::NewReno(NewReno::new(smss)),
            CongestionAlgorithm::Cubic => Congestion::Cubic(Cubic::new(smss)),
        }
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> CongestionAlgorithm {
        match self {
            Congestion::NewReno(_) => CongestionAlgorithm::NewReno,
            Congestion::Cubic(_) => CongestionAlgorithm::Cubic,
        }
    }

    /// RFC 6928 section 2: "if the SYN or SYN/ACK is lost, the initial window used by a
    /// sender after a correctly transmitted SYN MUST be one segment consisting of at most
    /// SMSS bytes" (also RFC 5681 section 3.1). Call once, when the handshake completes
    /// after a SYN or SYN-ACK retransmission.
    pub fn on_syn_loss(&mut self, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_syn_loss(smss),
            Congestion::Cubic(c) => c.on_syn_loss(smss),
        }
    }
}

impl CongestionControl for Congestion {
    fn cwnd(&self) -> usize {
        match self {
            Congestion::NewReno(c) => c.cwnd(),
            Congestion::Cubic(c) => c.cwnd(),
        }
    }

    fn ssthresh(&self) -> usize {
        match self {
            Congestion::NewReno(c) => c.ssthresh(),
            Congestion::Cubic(c) => c.ssthresh(),
        }
    }

    fn on_ack(
        &mut self,
        now: Instant,
        acked: usize,
        flight_size: usize,
        smss: usize,
        rtt: Option<Duration>,
    ) {
        match self {
            Congestion::NewReno(c) => c.on_ack(now, acked, flight_size, smss, rtt),
            Congestion::Cubic(c) => c.on_ack(now, acked, flight_size, smss, rtt),
        }
    }

    fn on_enter_recovery(&mut self, now: Instant, flight_size: usize, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_enter_recovery(now, flight_size, smss),
            Congestion::Cubic(c) => c.on_enter_recovery(now, flight_size, smss),
        }
    }

    fn on_recovery_dupack(&mut self, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_recovery_dupack(smss),
            Congestion::Cubic(c) => c.on_recovery_dupack(smss),
        }
    }

    fn on_partial_ack(&mut self, acked: usize, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_partial_ack(acked, smss),
            Congestion::Cubic(c) => c.on_partial_ack(acked, smss),
        }
    }

    fn on_exit_recovery(&mut self, now: Instant, flight_size: usize, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_exit_recovery(now, flight_size, smss),
            Congestion::Cubic(c) => c.on_exit_recovery(now, flight_size, smss),
        }
    }

    fn on_rto(&mut self, now: Instant, flight_size: usize, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_rto(now, flight_size, smss),
            Congestion::Cubic(c) => c.on_rto(now, flight_size, smss),
        }
    }

    fn on_idle_restart(&mut self, idle: Duration, rto: Duration, smss: usize) {
        match self {
            Congestion::NewReno(c) => c.on_idle_restart(idle, rto, smss),
            Congestion::Cubic(c) => c.on_idle_restart(idle, rto, smss),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1460;
    const T: Instant = Instant(0);

    // RFC 6928 section 2: IW = min(10*MSS, max(2*MSS, 14600)).

    #[test]
    fn initial_window_for_ethernet_mss() {
        assert_eq!(initial_window(1460), 14600);
    }

    #[test]
    fn initial_window_for_small_mss_is_ten_segments() {
        assert_eq!(initial_window(536), 5360);
        assert_eq!(initial_window(1000), 10000);
    }

    #[test]
    fn initial_window_for_jumbo_mss_is_two_segments() {
        assert_eq!(initial_window(9000), 18000);
        assert_eq!(initial_window(4000), 14600);
    }

    #[test]
    fn initial_window_saturates() {
        assert_eq!(initial_window(0), 0);
        assert_eq!(initial_window(usize::MAX), MAX_CWND);
    }

    // RFC 5681 equation (4).

    #[test]
    fn half_flight_has_a_two_segment_floor() {
        assert_eq!(half_flight(20 * MSS, MSS), 10 * MSS);
        assert_eq!(half_flight(MSS, MSS), 2 * MSS);
        assert_eq!(half_flight(usize::MAX, MSS), MAX_CWND);
    }

    // Static dispatch.

    #[test]
    fn enum_reports_its_algorithm_and_starts_at_iw() {
        for alg in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            let c = Congestion::new(alg, MSS);
            assert_eq!(c.algorithm(), alg);
            assert_eq!(c.cwnd(), 14600);
            assert_eq!(c.ssthresh(), INITIAL_SSTHRESH);
        }
    }

    #[test]
    fn enum_dispatches_every_event() {
        let mut reno = Congestion::new(CongestionAlgorithm::NewReno, MSS);
        let mut cubic = Congestion::new(CongestionAlgorithm::Cubic, MSS);
        for c in [&mut reno, &mut cubic] {
            c.on_ack(T, MSS, 10 * MSS, MSS, Some(Duration::from_millis(10)));
            assert_eq!(c.cwnd(), 11 * MSS);
            c.on_enter_recovery(T, 20 * MSS, MSS);
            c.on_recovery_dupack(MSS);
            c.on_partial_ack(MSS, MSS);
            c.on_exit_recovery(T, 20 * MSS, MSS);
            c.on_rto(T, 20 * MSS, MSS);
            assert_eq!(c.cwnd(), MSS);
            c.on_idle_restart(Duration::from_secs(9), Duration::from_secs(1), MSS);
            c.on_syn_loss(MSS);
            assert_eq!(c.cwnd(), MSS);
        }
        // The algorithms differ in their decrease: 1/2 versus 0.7.
        assert_eq!(reno.ssthresh(), 10 * MSS);
        assert_eq!(cubic.ssthresh(), 14 * MSS);
    }
}
