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

/// A duration in CUBIC ticks (2^-10 s): `us * 1024 / 10^6 = us * 128 / 125000`.
fn ticks(d: Duration) -> u64 {
    mul_frac(d.micros(), 128, 125_000)
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
    /// The previous ACK in this stage, to measure application-limited time.
    last_ack: Instant,
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
            last_ack: now,
        }
    }

    /// Congestion avoidance on `acked` newly acknowledged bytes (RFC 9438 4.2–4.5), with
    /// `flight_size` bytes outstanding before this ACK.
    fn congestion_avoidance(
        &mut self,
        now: Instant,
        acked: usize,
        flight_size: usize,
        smss: usize,
    ) {
        let smss64 = to_u64(smss).max(1);
        let mut e = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(now, smss64),
        };
        // RFC 9438 5.8: "CUBIC does not increase its congestion window if a flow is
        // application limited", and t of equation (1) must not count the time spent so.
        // The flow was cwnd-limited if the sender could not fit another full segment in
        // the window; otherwise cwnd stays and the epoch start moves forward by the time
        // since the previous ACK, freezing t.
        let cwnd_limited = flight_size.saturating_add(smss) > self.w.cwnd;
        if !cwnd_limited {
            e.start += now.saturating_since(e.last_ack);
            e.last_ack = now;
            self.epoch = Some(e);
            return;
        }
        e.last_ack = now;
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
        flight_size: usize,
        smss: usize,
        rtt: Option<Duration>,
    ) {
        if let Some(sample) = rtt {
            if sample > Duration::ZERO && self.min_rtt.is_none_or(|m| sample < m) {
                self.min_rtt = Some(sample);
            }
        }
        // RFC 9438 4.10: CUBIC MAY use standard slow start [RFC5681] (as here) or
        // HyStart++.
        let rest = self.w.new_ack(acked, smss);
        if rest > 0 {
            self.congestion_avoidance(now, rest, flight_size, smss);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::INITIAL_SSTHRESH;
    use std::vec::Vec;

    const MSS: usize = 1460;
    const T0: Instant = Instant(1_000_000);

    /// A CUBIC sender that has just left fast recovery after a loss at `w_max_segs`
    /// segments (with FlightSize = cwnd), so cwnd = 0.7 * W_max.
    fn after_loss(w_max_segs: usize) -> Cubic {
        let mut c = Cubic::new(MSS);
        c.w.cwnd = w_max_segs * MSS;
        c.on_enter_recovery(T0, w_max_segs * MSS, MSS);
        c.on_exit_recovery(T0, c.cwnd(), MSS);
        c
    }

    /// One round trip: the whole window is acknowledged one segment per ACK at `now`,
    /// by a bulk sender that refills the window after every ACK (FlightSize = cwnd).
    fn round(c: &mut Cubic, now: Instant, rtt: Duration) {
        let mut left = c.cwnd();
        while left > 0 {
            let n = MSS.min(left);
            c.on_ack(now, n, c.cwnd(), MSS, Some(rtt));
            left -= n;
        }
    }

    /// cwnd in segments after each of `rounds` round trips of `rtt`, starting at T0.
    fn trace(c: &mut Cubic, rounds: usize, rtt: Duration) -> Vec<usize> {
        let mut now = T0;
        let mut out = Vec::new();
        for _ in 0..rounds {
            round(c, now, rtt);
            out.push(c.cwnd() / MSS);
            now += rtt;
        }
        out
    }

    // The integer cube root.

    #[test]
    fn cube_root_exact_for_perfect_cubes() {
        let mut n: u64 = 0;
        while n <= 2_642_245 {
            assert_eq!(cube_root(n * n * n), n, "n={n}");
            if n > 0 {
                assert_eq!(cube_root(n * n * n - 1), n - 1, "n={n}");
            }
            n += if n < 2000 { 1 } else { 997 };
        }
        assert_eq!(cube_root(2_642_245u64.pow(3)), 2_642_245);
    }

    #[test]
    fn cube_root_of_extremes() {
        assert_eq!(cube_root(0), 0);
        assert_eq!(cube_root(1), 1);
        assert_eq!(cube_root(7), 1);
        assert_eq!(cube_root(8), 2);
        // 2642245^3 = 18446724184312856125 <= u64::MAX < 2642246^3.
        assert_eq!(cube_root(u64::MAX), 2_642_245);
    }

    #[test]
    fn cube_root_is_floor_and_monotone() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut prev_in = 0u64;
        let mut prev_out = 0u64;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mix magnitudes: shift the random value down by 0..63 bits.
            let v = x >> (i % 64);
            let r = cube_root(v);
            assert!(r * r * r <= v, "v={v}");
            assert!((r + 1).checked_pow(3).is_none_or(|c| c > v), "v={v}");
            // Monotone on an increasing sequence.
            let m = prev_in.saturating_add(i * i * i);
            let rm = cube_root(m);
            assert!(rm >= prev_out);
            prev_in = m;
            prev_out = rm;
        }
    }

    // RFC 9438 4.2 equation (2): K.

    #[test]
    fn k_for_known_window_drops() {
        // K = cbrt((W_max - cwnd_epoch) / C) seconds, in ticks of 2^-10 s:
        // K^3 = dW / 0.4 * 2^30 ticks^3 = dW * 5 * 2^29.
        //
        // dW = 30 segments (W_max 100 -> 70): K^3 = 30 * 5 * 2^29 = 80530636800;
        //   4318^3 = 80509645432 <= K^3 < 4319^3 = 80565593759, so K = 4318 ticks
        //   (4.2168 s; exactly cbrt(75) = 4.2172 s).
        assert_eq!(k_ticks(30 * 1460, 1460), 4318);
        // dW = 3 segments: K^3 = 8053063680; 2004^3 = 8048096064 <= K^3 <
        //   2005^3 = 8060150125, K = 2004 ticks (1.957 s; cbrt(7.5) = 1.9574 s).
        assert_eq!(k_ticks(3 * 1460, 1460), 2004);
        // dW = 0.4 segment: K^3 = 2^30 exactly, K = 1024 ticks = 1 s.
        assert_eq!(k_ticks(400, 1000), 1024);
        // dW = 3.2 segments: dW / C = 8, K = 2 s = 2048 ticks.
        assert_eq!(k_ticks(3200, 1000), 2048);
        assert_eq!(k_ticks(0, 1460), 0);
    }

    #[test]
    fn k_of_the_epoch_after_a_loss() {
        // W_max = 100 segments, cwnd_epoch = 70: K = 4318 ticks
        // = 4318 * 10^6 / 1024 us = 4216796.875 us, truncated.
        let mut c = after_loss(100);
        assert_eq!(c.k(), None);
        c.on_ack(T0, MSS, 70 * MSS, MSS, Some(Duration::from_millis(100)));
        assert_eq!(c.k(), Some(Duration::from_micros(4_216_796)));
    }

    // RFC 9438 4.6: multiplicative decrease.

    #[test]
    fn loss_reduces_window_to_seven_tenths() {
        let mut c = Cubic::new(MSS);
        c.w.cwnd = 100 * MSS;
        c.on_enter_recovery(T0, 100 * MSS, MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert_eq!(c.cwnd(), 70 * MSS);
        assert_eq!(c.w_max(), 100 * MSS);
    }

    #[test]
    fn reduction_uses_flight_size_and_two_segment_floor() {
        let mut c = Cubic::new(MSS);
        c.w.cwnd = 100 * MSS;
        // 14601 * 0.7 = 10220.7, truncated.
        c.on_enter_recovery(T0, 14601, MSS);
        assert_eq!(c.ssthresh(), 10220);
        let mut c = Cubic::new(MSS);
        c.on_enter_recovery(T0, 2 * MSS, MSS);
        assert_eq!(c.ssthresh(), 2 * MSS);
    }

    // RFC 9438 4.7: fast convergence.

    #[test]
    fn fast_convergence_lowers_w_max_when_losses_come_earlier() {
        let mut c = after_loss(100);
        assert_eq!(c.w_max(), 100 * MSS);
        // The next loss comes at 90 segments < W_max: W_max = 90 * 0.85 = 76.5 segments.
        c.w.cwnd = 90 * MSS;
        c.on_enter_recovery(T0, 90 * MSS, MSS);
        assert_eq!(c.w_max(), 90 * MSS * 17 / 20);
        assert_eq!(c.w_max(), 111_690);
        // A loss above W_max simply records cwnd.
        c.w.cwnd = 120 * MSS;
        c.on_enter_recovery(T0, 120 * MSS, MSS);
        assert_eq!(c.w_max(), 120 * MSS);
    }

    // RFC 9438 4.4 / 4.5: concave then convex growth.

    #[test]
    fn growth_is_concave_below_w_max_then_convex_above() {
        // W_max = 1000 segments, RTT 100 ms: K = cbrt(300 / 0.4) = 9.09 s = 91 rounds.
        // Reno-friendly W_est only gains ~0.53 segment per round here, so the cubic
        // curve governs.
        let mut c = after_loss(1000);
        let rtt = Duration::from_millis(100);
        let w = trace(&mut c, 140, rtt);
        let grow = |a: usize, b: usize| w[b] - w[a];
        // Concave: fast at first, slower approaching W_max.
        assert!(grow(0, 10) > 3 * grow(70, 80), "{w:?}");
        // Plateau near W_max around t = K.
        assert!(w[88] >= 990 && w[88] <= 1000, "{}", w[88]);
        assert!(w[92] >= 995 && w[92] <= 1005, "{}", w[92]);
        // Convex: accelerating beyond W_max.
        assert!(grow(125, 135) > 3 * grow(95, 105), "{w:?}");
        // Never exceeds W_max before K.
        assert!(w[..89].iter().all(|&x| x <= 1000));
    }

    #[test]
    fn cwnd_follows_the_cubic_curve() {
        // W_max = 1000 segments, cwnd_epoch = 700, K ~ 9.08 s. At t = 5 s (50 rounds of
        // 100 ms, plus one RTT of look-ahead: t + RTT = 5.1 s):
        // W = 1000 - 0.4 * (9.08 - 5.1)^3 = 1000 - 0.4 * 63.0 = 974.8 segments.
        let mut c = after_loss(1000);
        let w = trace(&mut c, 51, Duration::from_millis(100));
        assert!((972..=977).contains(&w[50]), "{}", w[50]);
    }

    #[test]
    fn growth_per_rtt_capped_at_one_and_a_half() {
        // RFC 9438 4.2: target <= 1.5 * cwnd.
        let mut c = after_loss(100);
        c.on_ack(T0, MSS, 70 * MSS, MSS, Some(Duration::from_millis(10)));
        let before = c.cwnd();
        // Long after K the cubic term is enormous.
        round(
            &mut c,
            T0 + Duration::from_secs(1000),
            Duration::from_millis(10),
        );
        assert!(
            c.cwnd() <= before + before / 2 + MSS,
            "{} {}",
            c.cwnd(),
            before
        );
        assert!(c.cwnd() > before + before / 3);
    }

    // RFC 9438 4.3: Reno-friendly region.

    #[test]
    fn reno_friendly_region_dominates_at_small_rtt() {
        // W_max = 20 segments, RTT 1 ms: K = cbrt(6 / 0.4) = 2.47 s = 2466 rounds, so the
        // cubic curve barely moves in 100 rounds while Reno grows one segment per round.
        let mut c = after_loss(20);
        let w = trace(&mut c, 100, Duration::from_millis(1));
        assert_eq!(c.w_est(), Some(c.cwnd()));
        // 14 segments, ~0.53 per round up to cwnd_prior = 20 (12 rounds), then 1 per
        // round: about 14 + 6 + 88 = 108.
        assert!(w[99] > 95 && w[99] < 115, "{}", w[99]);
    }

    #[test]
    fn reno_friendly_alpha_is_nine_seventeenths_before_cwnd_prior() {
        // alpha_cubic = 3 * 0.3 / 1.7 = 0.529 segment per round: 4 rounds from 14
        // segments give about 16.1 segments (Reno would reach 18).
        let mut c = after_loss(20);
        let w = trace(&mut c, 4, Duration::from_millis(1));
        let bytes = c.cwnd();
        assert!(
            bytes > 155 * MSS / 10 && bytes < 168 * MSS / 10,
            "{w:?} {bytes}"
        );
    }

    // RFC 9438 4.8: timeout.

    #[test]
    fn timeout_resets_to_one_segment_and_k_zero() {
        let mut c = Cubic::new(MSS);
        c.w.cwnd = 100 * MSS;
        c.on_rto(T0, 100 * MSS, MSS);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert_eq!(c.w_max(), 0);
        // A repeated timeout keeps ssthresh (RFC 5681 3.1 note).
        c.on_rto(T0, MSS, MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        // Slow start up to ssthresh, then the first stage has K = 0 and W_max = cwnd.
        let mut now = T0;
        while c.cwnd() < c.ssthresh() {
            c.on_ack(now, MSS, c.cwnd(), MSS, None);
            now += Duration::from_millis(1);
        }
        c.on_ack(now, MSS, c.cwnd(), MSS, None);
        assert_eq!(c.k(), Some(Duration::ZERO));
    }

    // RFC 9438 4.10 / RFC 5681: slow start before the first loss.

    #[test]
    fn slow_start_doubles_like_reno() {
        let mut c = Cubic::new(MSS);
        assert_eq!(c.ssthresh(), INITIAL_SSTHRESH);
        let w = trace(&mut c, 3, Duration::from_millis(10));
        assert_eq!(w, [20, 40, 80]);
        assert_eq!(c.k(), None);
    }

    #[test]
    fn recovery_inflation_and_deflation_as_reno() {
        let mut c = after_loss(100);
        let base = c.cwnd();
        c.on_enter_recovery(T0, base, MSS);
        let inflated = c.cwnd() + 3 * MSS;
        for _ in 0..3 {
            c.on_recovery_dupack(MSS);
        }
        assert_eq!(c.cwnd(), inflated);
        c.on_partial_ack(2 * MSS, MSS);
        assert_eq!(c.cwnd(), inflated - MSS);
    }

    // RFC 9438 5.8 and RFC 5681 4.1: idle periods.

    #[test]
    fn short_idle_shifts_the_epoch() {
        let mut c = after_loss(100);
        c.on_ack(T0, MSS, 70 * MSS, MSS, None);
        c.on_idle_restart(Duration::from_millis(500), Duration::from_secs(1), MSS);
        assert_eq!(
            c.epoch.map(|e| e.start),
            Some(T0 + Duration::from_millis(500))
        );
        assert_eq!(c.cwnd(), 70 * MSS + c.cwnd() % MSS);
    }

    #[test]
    fn long_idle_restarts_from_initial_window() {
        let mut c = after_loss(100);
        c.on_ack(T0, MSS, 70 * MSS, MSS, None);
        c.on_idle_restart(Duration::from_secs(5), Duration::from_secs(1), MSS);
        assert_eq!(c.cwnd(), 10 * MSS);
        assert!(c.epoch.is_none());
    }

    // RFC 9438 5.8: application-limited flows.

    #[test]
    fn application_limited_acks_do_not_grow_cwnd() {
        let mut c = after_loss(100);
        let cwnd = c.cwnd();
        let mut now = T0;
        for _ in 0..200 {
            // Only 10 segments outstanding of a 70-segment window.
            c.on_ack(now, MSS, 10 * MSS, MSS, Some(Duration::from_millis(10)));
            now += Duration::from_millis(10);
        }
        assert_eq!(c.cwnd(), cwnd);
    }

    #[test]
    fn application_limited_time_is_not_counted_in_t() {
        let rtt = Duration::from_millis(100);
        let mut busy = after_loss(1000);
        let mut idle = after_loss(1000);
        round(&mut busy, T0, rtt);
        round(&mut idle, T0, rtt);
        // The second sender is application limited for 5 s, ACKing a trickle.
        let mut now = T0;
        for _ in 0..50 {
            now += rtt;
            idle.on_ack(now, MSS, MSS, MSS, Some(rtt));
        }
        // Then both run 10 cwnd-limited rounds: the idle one resumes the curve where it
        // left it, the same growth as the busy one over its first 10 rounds.
        let mut t_busy = T0;
        let mut t_idle = now;
        for _ in 0..10 {
            t_busy += rtt;
            t_idle += rtt;
            round(&mut busy, t_busy, rtt);
            round(&mut idle, t_idle, rtt);
        }
        let (b, i) = (busy.cwnd() / MSS, idle.cwnd() / MSS);
        assert!(b.abs_diff(i) <= 2, "busy {b} idle {i}");
    }

    // RTT bookkeeping.

    #[test]
    fn min_rtt_ignores_missing_and_zero_samples() {
        let mut c = Cubic::new(MSS);
        c.on_ack(T0, 1, 1, MSS, Some(Duration::from_millis(50)));
        c.on_ack(T0, 1, 1, MSS, None);
        c.on_ack(T0, 1, 1, MSS, Some(Duration::ZERO));
        c.on_ack(T0, 1, 1, MSS, Some(Duration::from_millis(30)));
        c.on_ack(T0, 1, 1, MSS, Some(Duration::from_millis(40)));
        assert_eq!(c.min_rtt(), Some(Duration::from_millis(30)));
    }

    // Robustness: no overflow with huge windows and times.

    #[test]
    fn helpers_saturate() {
        assert_eq!(cubic_delta(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(cubic_delta(0, 1460), 0);
        // One second past K: C * 1^3 = 0.4 segment = 584 bytes of 1460, less the
        // truncation of 0.4 * 2^30 to 429496729.
        assert_eq!(cubic_delta(1024, 1460), 583);
        assert!(k_ticks(u64::MAX, 1) <= 2_642_245);
        assert_eq!(k_ticks(u64::MAX, 0), 2_642_245);
        assert_eq!(ticks(Duration::from_secs(1)), 1024);
        assert_eq!(ticks(Duration::from_micros(976)), 0);
        assert_eq!(ticks(Duration::from_micros(977)), 1);
        assert_eq!(ticks(Duration::from_secs(3600)), 3600 * 1024);
        assert!(ticks(Duration::MAX) > 0);
        assert_eq!(mul_frac(u64::MAX, 7, 10), u64::MAX / 10 * 7 + 3);
    }

    #[test]
    fn huge_windows_and_times_do_not_overflow() {
        let mut c = Cubic::new(MSS);
        c.w.cwnd = MAX_CWND;
        c.w.ssthresh = MAX_CWND;
        c.on_enter_recovery(T0, usize::MAX, MSS);
        c.on_exit_recovery(T0, usize::MAX, MSS);
        for t in [0, 1, u64::MAX / 2, u64::MAX] {
            c.on_ack(Instant(t), usize::MAX, usize::MAX, MSS, Some(Duration::MAX));
            assert!(c.cwnd() <= MAX_CWND);
        }
        c.w.cwnd = MAX_CWND / 3;
        c.on_enter_recovery(Instant(u64::MAX), usize::MAX, usize::MAX);
        c.on_ack(Instant(0), usize::MAX, 0, usize::MAX, None);
        c.on_ack(Instant(u64::MAX), usize::MAX, 0, usize::MAX, None);
        c.on_rto(Instant(u64::MAX), usize::MAX, usize::MAX);
        c.on_idle_restart(Duration::MAX, Duration::MAX, usize::MAX);
        assert!(c.cwnd() <= MAX_CWND && c.ssthresh() <= MAX_CWND);
    }

    #[test]
    fn huge_smss_and_zero_smss_do_not_panic() {
        for smss in [0usize, 1, usize::MAX] {
            let mut c = Cubic::new(smss);
            c.w.cwnd = 1000;
            c.on_enter_recovery(T0, 1000, smss);
            c.on_exit_recovery(T0, 1000, smss);
            c.on_ack(T0, 1000, 1000, smss, Some(Duration::from_millis(1)));
            c.on_ack(T0 + Duration::from_secs(60), 1000, 1000, smss, None);
            assert!(c.cwnd() <= MAX_CWND);
        }
    }
}
