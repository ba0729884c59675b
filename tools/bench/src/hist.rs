//! A latency histogram with log-linear buckets: exact below 32 ns, then 32 buckets per
//! power of two, so a bucket spans at most 1/32 of its lower bound and a quantile read
//! as the bucket's midpoint is within 1.6% of a sample of that bucket. 1024 buckets
//! cover up to 2^36 ns (68 s); longer samples count in the last bucket. Percentiles
//! come from the counts alone: no sample is stored.
//!
//! One thread records (`record`, relaxed atomic adds, one per sample); another reads
//! snapshots at the edges of the measured window and subtracts them (`Snapshot::delta`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two (and the exact range below it), as a shift.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two above the exact range: values up to 2^(SUB_BITS + OCTAVES) ns.
const OCTAVES: u64 = 31;
/// Number of buckets.
pub const BUCKETS: usize = (SUB + OCTAVES * SUB) as usize;

/// The bucket of a sample of `ns` nanoseconds.
pub fn bucket(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    // The highest set bit is at position `e` >= SUB_BITS: octave e - SUB_BITS, and the
    // SUB_BITS bits below the highest select the sub-bucket.
    let e = 63 - u64::from(ns.leading_zeros());
    let octave = e - u64::from(SUB_BITS);
    if octave >= OCTAVES {
        return BUCKETS - 1;
    }
    let sub = (ns >> octave) & (SUB - 1);
    (SUB + octave * SUB + sub) as usize
}

/// The range of nanoseconds `[lo, hi)` that bucket `i` counts.
pub fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i + 1);
    }
    let octave = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    let lo = (SUB + sub) << octave;
    (lo, lo + (1 << octave))
}

/// Counts per bucket, written by one thread and read by others.
pub struct Hist {
    counts: Vec<AtomicU64>,
}

impl Default for Hist {
    fn default() -> Self {
        Hist { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl Hist {
    /// Counts one sample of `ns` nanoseconds.
    pub fn record(&self, ns: u64) {
        self.counts[bucket(ns)].fetch_add(1, Relaxed);
    }

    /// The counts as they are now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.counts.iter().map(|c| c.load(Relaxed)).collect())
    }
}

/// A copy of a histogram's counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(Vec<u64>);

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot(vec![0; BUCKETS])
    }
}

impl Snapshot {
    /// Adds `other`'s counts (another thread's histogram).
    pub fn add(&mut self, other: &Snapshot) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    /// The samples counted after `earlier` was taken.
    pub fn delta(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot(self.0.iter().zip(&earlier.0).map(|(a, b)| a.saturating_sub(*b)).collect())
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The `q` quantile (0 < q <= 1) in nanoseconds: the midpoint of the bucket holding
    /// the sample of rank ceil(q * count); `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.0.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                return Some((lo + hi - 1) as f64 / 2.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_in_order() {
        // Every bucket starts where the previous one ended, and maps back to itself.
        let mut next = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, next, "bucket {i}");
            assert!(hi > lo);
            assert_eq!(bucket(lo), i);
            assert_eq!(bucket(hi - 1), i);
            // At most 1/32 of the lower bound wide above the exact range.
            assert!(lo < SUB || (hi - lo) * SUB <= lo, "bucket {i} [{lo}, {hi})");
            next = hi;
        }
        assert_eq!(next, 1 << 36);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket(1 << 36), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let h = Hist::default();
        for v in [3, 3, 7, 31] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        assert_eq!(s.quantile(0.5), Some(3.0));
        assert_eq!(s.quantile(0.75), Some(7.0));
        assert_eq!(s.quantile(1.0), Some(31.0));
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        // 1..=10000 us: p50 is 5000 us and p99 9900 us, within the 1.6% bucket error.
        let h = Hist::default();
        for us in 1..=10_000u64 {
            h.record(us * 1000);
        }
        let s = h.snapshot();
        let p50 = s.quantile(0.5).unwrap() / 1000.0;
        let p99 = s.quantile(0.99).unwrap() / 1000.0;
        assert!((p50 - 5000.0).abs() <= 5000.0 * 0.016, "p50 {p50}");
        assert!((p99 - 9900.0).abs() <= 9900.0 * 0.016, "p99 {p99}");
        assert!(s.quantile(0.99) > s.quantile(0.5));
    }

    #[test]
    fn a_tail_moves_p99_not_p50() {
        // 98 fast samples and 2 slow: p99 lands among the slow ones, p50 among the fast.
        let h = Hist::default();
        for _ in 0..98 {
            h.record(20_000);
        }
        h.record(5_000_000);
        h.record(5_000_000);
        let s = h.snapshot();
        assert!((s.quantile(0.5).unwrap() - 20_000.0).abs() < 20_000.0 * 0.016);
        assert!((s.quantile(0.99).unwrap() - 5_000_000.0).abs() < 5_000_000.0 * 0.016);
    }

    #[test]
    fn window_delta_and_threads_merge() {
        // Samples before the window's first snapshot are not in the delta.
        let (a, b) = (Hist::default(), Hist::default());
        a.record(1_000_000);
        let a0 = a.snapshot();
        let b0 = b.snapshot();
        a.record(50_000);
        b.record(60_000);
        b.record(70_000);
        let mut w = a.snapshot().delta(&a0);
        w.add(&b.snapshot().delta(&b0));
        assert_eq!(w.count(), 3);
        assert!(w.quantile(1.0).unwrap() < 80_000.0);
        assert_eq!(Snapshot::default().quantile(0.5), None);
        assert_eq!(Snapshot::default().count(), 0);
    }
}
