//! CUBIC congestion control (RFC 9438), in integer arithmetic.
//!
//! # Representation
//!
//! The kernel forbids floating point, so every real number of RFC 9438 is an exact
//! rational or a binary fixed-point value:
//!
//! * windows are in bytes (`usize`, computed in `u64`); RFC 9438 counts segments, so a
//!   window of `w` segments is `w * SMSS` bytes here;
//! * time since the epoch is in ticks of 2^-10 s (about 0.98 ms), so `(t - K)^3` is in
//!   units of 2^-30 s^3 and fits 64 bits for `|t - K|` up to 2^21 ticks (about 34
//!   minutes); larger values saturate, which the clamps below make harmless;
//! * C = 0.4 = 2/5, beta_cubic = 0.7 = 7/10, the fast convergence factor
//!   (1 + beta_cubic)/2 = 0.85 = 17/20 and alpha_cubic = 3(1 - beta_cubic)/(1 + beta_cubic)
//!   = 0.9/1.7 = 9/17 are applied as exact integer fractions;
//! * K is the integer cube root ([`cube_root`]) of a value in ticks^3, so it is exact
//!   to one tick.
//!
//! Every product saturates; divisors are constants or `max(x, 1)`.
//!
//! # Not implemented
//!
//! HyStart++ (RFC 9406, allowed by RFC 9438 4.10): slow start is plain RFC 5681 with
//! RFC 3465 byte counting. Spurious congestion event undo (RFC 9438 4.9) needs a
//! detector (F-RTO, Eifel) that partcp does not have.

use super::newreno::RenoWindow;
use super::{CongestionControl, MAX_CWND};
use crate::time::{Duration, Instant};

/// Ticks per second is 2^TICK_SHIFT.
const TICK_SHIFT: u32 = 10;
/// C = 0.4, RFC 9438 section 5.1 ("C SHOULD be set to 0.4"), as C_NUM / C_DEN.
const C_NUM: u64 = 2;
const C_DEN: u64 = 5;
/// beta_cubic = 0.7, RFC 9438 section 4.6 ("beta_cubic SHOULD be set to 0.7").
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// (1 + beta_cubic) / 2 = 0.85, RFC 9438 section 4.7 (fast convergence).
const FAST_CONV_NUM: u64 = 17;
const FAST_CONV_DEN: u64 = 20;
/// alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic) = 0.9 / 1.7 = 9/17, RFC 9438
/// section 4.3 equation (4); it becomes 1 = 17/17 once W_est reaches cwnd_prior.
const ALPHA_NUM: u64 = 9;
const ALPHA_DEN: u64 = 17;

/// Floor of the cube root of `x`, exact for every `u64` (no floating point).
///
/// Binary digit-by-digit extraction: the root is built one bit at a time from the top,
/// taking the bits of `x` in groups of three. With `y` the root so far, appending a 1 bit
/// turns `(2y)^3` into `(2y + 1)^3 = (2y)^3 + 3*(2y)*(2y + 1) + 1`, so the bit is set
/// when the remainder still holds `3*(2y)*(2y + 1) + 1` at the current scale. Comparing
/// against `rem >> shift` instead of shifting the term left keeps every value in range:
/// `y < 2^22`, so the term is below 2^46.
pub fn cube_root(x: u64) -> u64 {
    let mut rem = x;
    let mut y: u64 = 0;
    let mut shift: u32 = 63;
    loop {
        y <<= 1;
        let term = 3 * y * (y + 1) + 1;
        if (rem >> shift) >= term {
            rem -= term << shift;
            y += 1;
        }
        if shift == 0 {
            return y;
        }
        shift -= 3;
    }
}

/// `v * num / den` without overflow for `num < 2^32`, saturating at `u64::MAX`.
fn mul_frac(v: u64, num: u64, den: u64) -> u64 {
    let den = den.max(1);
    (v / den)
        .saturating_mul(num)
        .saturating_add((v % den).saturating_mul(num) / den)
}

fn to_u64(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX).min(MAX_CWND)
}

/// A duration in CUBIC ticks (2^-10 s): `us * 1024 / 10^6 = us * 128 / 125`.
fn ticks(d: Duration) -> u64 {
    mul_frac(d.micros(), 128, 125)
}

/// `C * d^3` segments, in bytes of `smss`, for an offset of `d` ticks from K.
///
/// `d^3` is in 2^-30 s^3; times C it is in 2^-30 segments, and times `smss` shifted
/// right by 30 it is in bytes.
fn cubic_delta(d: u64, smss: u64) -> u64 {
    let cube = d.saturating_mul(d).saturating_mul(d);
    let scaled = mul_frac(cube, C_NUM, C_DEN);
    let frac_mask = (1u64 << (3 * TICK_SHIFT)) - 1;
    let whole = (scaled >> (3 * TICK_SHIFT)).saturating_mul(smss);
    let part = (scaled & frac_mask).saturating_mul(smss) >> (3 * TICK_SHIFT);
    whole.saturating_add(part)
}

/// K in ticks for a window that must grow by `delta` bytes back to W_max, RFC 9438
/// section 4.2 equation (2): `K = cubic_root((W_max - cwnd_epoch) / C)`, with the
/// difference in segments (`delta / smss`) and K in seconds. In ticks,
/// `K^3 = delta / smss / C * 2^30 = delta * 5 * 2^29 / smss`.
pub(crate) fn k_ticks(delta: u64, smss: u64) -> u64 {
    let scale = (C_DEN << (3 * TICK_SHIFT)) / C_NUM; // 5 * 2^29
    cube_root(mul_frac(delta, scale, smss.max(1)))
}

/// One congestion avoidance stage ("epoch") of RFC 9438.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Epoch {
    /// t_epoch: when this congestion avoidance stage began.
    start: Instant,
    /// K, in ticks.
    k: u64,
    /// W_max for this stage (the curve's plateau), in bytes.
    origin: u64,
    /// W_est of RFC 9438 4.3, in bytes.
    w_est: u64,
    /// Fractional W_est growth carried between ACKs, in units of 1/(17*cwnd) bytes.
    est_carry: u64,
    /// Fractional cwnd growth carried between ACKs, in units of 1/cwnd bytes.
    cwnd_carry: u64,
}

/// CUBIC congestion control state (RFC 9438).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cubic {
    w: RenoWindow,
    /// W_max: the window just before the last reduction (after fast convergence), bytes.
    /// Zero after a timeout, so the next stage starts with K = 0 (RFC 9438 4.8).
    w_max: usize,
    /// cwnd_prior: cwnd before the last reduction (RFC 9438 4.3 and 4.6), bytes.
    cwnd_prior: usize,
    epoch: Option<Epoch>,
    /// The smallest RTT sample seen: the RTT of RFC 9438's W_cubic(t + RTT).
    min_rtt: Option<Duration>,
}

impl Cubic {
    /// cwnd = IW (RFC 6928), ssthresh arbitrarily high (RFC 5681 3.1), no W_max yet.
    pub fn new(smss: usize) -> Self {
        Cubic {
            w: RenoWindow::new(smss),
            w_max: 0,
            cwnd_prior: 0,
            epoch: None,
            min_rtt: None,
        }
    }

    /// See [`super::Congestion::on_syn_loss`].
    pub fn on_syn_loss(&mut self, smss: usize) {
        self.w.syn_loss(smss);
        self.epoch = None;
    }

    /// W_max, in bytes (0 before the first congestion event and after a timeout).
    pub fn w_max(&self) -> usize {
        self.w_max
    }

    /// K of the current congestion avoidance stage, or `None` outside one.
    pub fn k(&self) -> Option<Duration> {
        // ticks * 10^6 / 1024 = ticks * 15625 / 16 microseconds.
        self.epoch
            .map(|e| Duration::from_micros(mul_frac(e.k, 15625, 16)))
    }

    /// W_est of the current congestion avoidance stage (RFC 9438 4.3), in bytes.
    pub fn w_est(&self) -> Option<usize> {
        self.epoch.map(|e| to_usize(e.w_est))
    }

    /// The smallest RTT sample seen so far.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// W_cubic(t), RFC 9438 section 4.2 equation (1): `C * (t - K)^3 + W_max`, for `t`
    /// in ticks since the epoch, in bytes.
    fn w_cubic(e: &Epoch, t: u64, smss: u64) -> u64 {
        if t >= e.k {
            e.origin.saturating_add(cubic_delta(t - e.k, smss))
        } else {
            e.origin.saturating_sub(cubic_delta(e.k - t, smss))
        }
    }

    /// Start a congestion avoidance stage at `now` with the current cwnd as cwnd_epoch.
    fn start_epoch(&mut self, now: Instant, smss: u64) -> Epoch {
        let cwnd = to_u64(self.w.cwnd);
        let w_max = to_u64(self.w_max);
        // RFC 9438 4.2 equation (2) gives K from W_max - cwnd_epoch. When cwnd_epoch is
        // not below W_max (first stage after slow start, or after a timeout: RFC 9438 4.8,
        // "K is set to 0, and W_max is set to the congestion window size at the beginning
        // of the current congestion avoidance stage") the curve starts at its plateau.
        let (k, origin) = if cwnd < w_max {
            (k_ticks(w_max - cwnd, smss), w_max)
        } else {
            (0, cwnd)
        };
        // RFC 9438 4.3: "W_est is set equal to cwnd_epoch at the start of the congestion
        // avoidance stage."
        Epoch {
            start: now,
            k,
            origin,
            w_est: cwnd,
            est_carry: 0,
            cwnd_carry: 0,
        }
    }

    /// Congestion avoidance on `acked` newly acknowledged bytes (RFC 9438 4.2–4.5).
    fn congestion_avoidance(&mut self, now: Instant, acked: usize, smss: usize) {
        let smss64 = to_u64(smss).max(1);
        let mut e = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(now, smss64),
        };
        let cwnd = to_u64(self.w.cwnd).max(1);
        let acked = to_u64(acked);

        // RFC 9438 4.3, equation (4): W_est = W_est + alpha_cubic * segments_acked / cwnd,
        // in bytes W_est += alpha * acked * SMSS / cwnd. "Once W_est has grown to reach
        // the cwnd at the time of most recently setting ssthresh -- that is, W_est >=
        // cwnd_prior -- the sender SHOULD set alpha_cubic to 1".
        let alpha_num = if e.w_est >= to_u64(self.cwnd_prior) {
            ALPHA_DEN
        } else {
            ALPHA_NUM
        };
        let est_den = cwnd.saturating_mul(ALPHA_DEN);
        let est_num = e
            .est_carry
            .saturating_add(acked.saturating_mul(smss64).saturating_mul(alpha_num));
        e.w_est = e.w_est.saturating_add(est_num / est_den);
        e.est_carry = est_num % est_den;

        let t = ticks(now.saturating_since(e.start));
        let w_cubic_now = Self::w_cubic(&e, t, smss64);
        let new_cwnd = if w_cubic_now < e.w_est {
            // RFC 9438 4.3: "If W_cubic(t) is less than W_est ... CUBIC is in the
            // Reno-friendly region and cwnd SHOULD be set to W_est at each reception of a
            // new ACK."
            e.cwnd_carry = 0;
            e.w_est.max(cwnd)
        } else {
            // RFC 9438 4.2: the target is W_cubic(t + RTT), clamped to [cwnd, 1.5*cwnd];
            // 4.4 (concave region, cwnd < W_max) and 4.5 (convex region, cwnd >= W_max):
            // "cwnd MUST be incremented by (target - cwnd)/cwnd for each received new
            // ACK", i.e. by (target - cwnd) * acked / cwnd bytes.
            let rtt = ticks(self.min_rtt.unwrap_or(Duration::ZERO));
            let target = Self::w_cubic(&e, t.saturating_add(rtt), smss64)
                .clamp(cwnd, cwnd.saturating_add(cwnd / 2));
            let grow_num = e
                .cwnd_carry
                .saturating_add((target - cwnd).saturating_mul(acked));
            e.cwnd_carry = grow_num % cwnd;
            cwnd.saturating_add(grow_num / cwnd)
        };
        self.w.cwnd = to_usize(new_cwnd);
        self.epoch = Some(e);
    }

    /// The multiplicative decrease shared by fast recovery and timeouts:
    /// RFC 9438 4.6, `ssthresh = flight_size * beta_cubic`, kept at least 2 segments.
    fn reduced_ssthresh(flight_size: usize, smss: usize) -> usize {
        to_usize(mul_frac(to_u64(flight_size), BETA_NUM, BETA_DEN)).max(smss.saturating_mul(2))
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> usize {
        self.w.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.w.ssthresh
    }

    fn on_ack(
        &mut self,
        now: Instant,
        acked: usize,
        _flight_size: usize,
        smss: usize,
        rtt: Option<Duration>,
    ) {
        if let Some(sample) = rtt {
            if sample > Duration::ZERO && self.min_rtt.is_none_or(|m| sample < m) {
                self.min_rtt = Some(sample);
            }
        }
        self.w.ack_received();
        let mut rest = acked;
        if self.w.in_slow_start() {
            // RFC 9438 4.10: CUBIC MAY use standard slow start [RFC5681] (as here) or
            // HyStart++.
            rest = self.w.slow_start(acked, smss);
        }
        if rest > 0 {
            self.congestion_avoidance(now, rest, smss);
        }
    }

    fn on_enter_recovery(&mut self, _now: Instant, flight_size: usize, smss: usize) {
        let cwnd = self.w.cwnd;
        // RFC 9438 4.7, fast convergence: "if cwnd < W_max and fast convergence is
        // enabled, further reduce W_max: W_max = cwnd * (1 + beta_cubic) / 2; otherwise,
        // remember cwnd before reduction: W_max = cwnd".
        self.w_max = if cwnd < self.w_max {
            to_usize(mul_frac(to_u64(cwnd), FAST_CONV_NUM, FAST_CONV_DEN))
        } else {
            cwnd
        };
        // RFC 9438 4.6: cwnd_prior = cwnd; ssthresh = flight_size * beta_cubic;
        // cwnd = max(ssthresh, 2 segments) on loss (RFC 6675 / RFC 5681 then run the
        // recovery itself).
        self.cwnd_prior = cwnd;
        self.w
            .enter_recovery(Self::reduced_ssthresh(flight_size, smss));
        self.epoch = None;
    }

    fn on_recovery_dupack(&mut self, smss: usize) {
        self.w.recovery_dupack(smss);
    }

    fn on_partial_ack(&mut self, acked: usize, smss: usize) {
        self.w.partial_ack(acked, smss);
    }

    fn on_exit_recovery(&mut self, _now: Instant, flight_size: usize, smss: usize) {
        self.w.exit_recovery(flight_size, smss);
        // The next congestion avoidance stage starts with the next ACK.
        self.epoch = None;
    }

    fn on_rto(&mut self, _now: Instant, flight_size: usize, smss: usize) {
        // RFC 9438 4.8: "In the case of a timeout, CUBIC follows Reno to reduce cwnd
        // [RFC5681] but sets ssthresh using beta_cubic (same as in Section 4.6)".
        let cwnd = self.w.cwnd;
        if self
            .w
            .timeout(Self::reduced_ssthresh(flight_size, smss), smss)
        {
            self.cwnd_prior = cwnd;
        }
        // RFC 9438 4.8: in the first congestion avoidance stage after a timeout, K = 0
        // and W_max is the cwnd at the start of that stage: start_epoch does exactly that
        // when W_max is 0.
        self.w_max = 0;
        self.epoch = None;
    }

    fn on_idle_restart(&mut self, idle: Duration, rto: Duration, smss: usize) {
        if self.w.idle_restart(idle, rto, smss) {
            self.epoch = None;
        } else if let Some(e) = self.epoch.as_mut() {
            // RFC 9438 5.8: CUBIC must not grow cwnd from time the flow did not use; the
            // idle period is taken out of t by moving the epoch start forward (as Linux
            // does on transmit after idle).
            e.start += idle;
        }
    }
}
