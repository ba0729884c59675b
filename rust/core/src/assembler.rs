//! Out-of-order range tracking in sequence space, in a fixed-size array.
//!
//! [`RangeSet`] keeps a sorted set of disjoint, non-adjacent half-open ranges
//! `[start, end)` of sequence numbers. The receiver uses it (as [`Assembler`]) to remember
//! which bytes beyond RCV.NXT it already holds in its receive buffer (RFC 9293, section
//! 3.10.7.4: segments received out of order "may be held" for later processing) and to
//! generate SACK blocks (RFC 2018); the sender's SACK scoreboard (RFC 6675) uses the same
//! type for SACKed ranges.
//!
//! All ranges live within one window (less than 2**31 bytes), so sequence comparison is
//! meaningful among them. The capacity is a const generic; when it is exhausted an insert
//! that would need a new slot fails with [`Full`] and changes nothing, and the caller
//! drops the data (the peer retransmits it) and counts the event.

use crate::seq::SeqNum;

/// Default number of out-of-order ranges a receiver tracks. Linux bounds its
/// out-of-order queue by memory only; 32 disjoint holes per window is plenty for the
/// loss rates TCP is meant to survive, and the sender simply retransmits what did not fit.
pub const ASSEMBLER_RANGES: usize = 32;

/// The receiver's out-of-order tracker.
pub type Assembler = RangeSet<ASSEMBLER_RANGES>;

/// An insert needed a new slot and all `N` are in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// One half-open range `[start, end)` of sequence space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SeqRange {
    /// First sequence number in the range.
    pub start: SeqNum,
    /// One past the last sequence number in the range.
    pub end: SeqNum,
}

impl SeqRange {
    /// Number of sequence numbers covered.
    #[inline]
    pub fn len(&self) -> usize {
        self.end.since(self.start)
    }

    /// True if the range covers nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// True if `seq` is inside the range.
    #[inline]
    pub fn contains(&self, seq: SeqNum) -> bool {
        seq.in_range(self.start, self.end)
    }
}

/// Sorted, disjoint, non-adjacent ranges of sequence space; at most `N` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeSet<const N: usize> {
    ranges: [SeqRange; N],
    count: usize,
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RangeSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet {
            ranges: [SeqRange {
                start: SeqNum(0),
                end: SeqNum(0),
            }; N],
            count: 0,
        }
    }

    /// Maximum number of ranges held.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Number of ranges held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if no range is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forget every range.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The ranges, in ascending sequence order.
    pub fn ranges(&self) -> &[SeqRange] {
        &self.ranges[..self.count.min(N)]
    }

    /// The lowest range, if any.
    pub fn first(&self) -> Option<SeqRange> {
        self.ranges().first().copied()
    }

    /// The highest range, if any.
    pub fn last(&self) -> Option<SeqRange> {
        self.ranges().last().copied()
    }

    /// Add `[start, end)`, merging with overlapping or adjacent ranges. An empty range is
    /// ignored. Fails (leaving the set unchanged) only if a new slot is needed and none
    /// is free.
    pub fn insert(&mut self, start: SeqNum, end: SeqNum) -> Result<(), Full> {
        if end <= start {
            return Ok(());
        }
        let n = self.count.min(N);
        // First range that ends at or after `start` (touching counts: merge adjacent).
        let mut i = 0;
        while i < n && self.ranges[i].end < start {
            i += 1;
        }
        // First range that starts strictly after `end`.
        let mut j = i;
        while j < n && self.ranges[j].start <= end {
            j += 1;
        }
        if i == j {
            if n >= N {
                return Err(Full);
            }
            let mut k = n;
            while k > i {
                self.ranges[k] = self.ranges[k - 1];
                k -= 1;
            }
            self.ranges[i] = SeqRange { start, end };
            self.count = n + 1;
        } else {
            let merged = SeqRange {
                start: start.min(self.ranges[i].start),
                end: end.max(self.ranges[j - 1].end),
            };
            self.ranges[i] = merged;
            let removed = j - i - 1;
            if removed > 0 {
                let mut k = i + 1;
                while k + removed < n {
                    self.ranges[k] = self.ranges[k + removed];
                    k += 1;
                }
                self.count = n - removed;
            }
        }
        Ok(())
    }

    /// Forget everything before `seq`: ranges entirely below it are removed, a range
    /// straddling it is trimmed to start at `seq`.
    pub fn remove_before(&mut self, seq: SeqNum) {
        let n = self.count.min(N);
        let mut drop = 0;
        while drop < n && self.ranges[drop].end <= seq {
            drop += 1;
        }
        if drop > 0 {
            let mut k = 0;
            while k + drop < n {
                self.ranges[k] = self.ranges[k + drop];
                k += 1;
            }
            self.count = n - drop;
        }
        if let Some(first) = self.ranges[..self.count.min(N)].first_mut() {
            if first.start < seq {
                first.start = seq;
            }
        }
    }

    /// If the lowest range starts at or before `seq` (i.e. it is contiguous with data
    /// already in order up to `seq`), remove it and return its end.
    pub fn pop_contiguous(&mut self, seq: SeqNum) -> Option<SeqNum> {
        let first = self.first()?;
        if first.start > seq {
            return None;
        }
        self.remove_before(first.end);
        Some(first.end.max(seq))
    }

    /// The range containing `seq`, if any.
    pub fn find(&self, seq: SeqNum) -> Option<SeqRange> {
        self.ranges().iter().copied().find(|r| r.contains(seq))
    }

    /// True if every sequence number of `[start, end)` is held (an empty range is held).
    pub fn covers(&self, start: SeqNum, end: SeqNum) -> bool {
        if end <= start {
            return true;
        }
        self.ranges()
            .iter()
            .any(|r| r.start <= start && end <= r.end)
    }

    /// Total number of sequence numbers held at or after `seq`.
    pub fn bytes_from(&self, seq: SeqNum) -> usize {
        self.ranges()
            .iter()
            .map(|r| r.end.since(r.start.max(seq)))
            .fold(0usize, usize::saturating_add)
    }

    /// Number of sequence numbers of `[start, end)` held.
    pub fn bytes_within(&self, start: SeqNum, end: SeqNum) -> usize {
        self.ranges()
            .iter()
            .map(|r| r.end.min(end).since(r.start.max(start)))
            .fold(0usize, usize::saturating_add)
    }

    /// The first range that ends after `seq` (contains it or lies above it).
    pub fn next_at_or_after(&self, seq: SeqNum) -> Option<SeqRange> {
        self.ranges().iter().copied().find(|r| r.end > seq)
    }

    /// Highest sequence number held plus one, if any range is held.
    pub fn highest(&self) -> Option<SeqNum> {
        self.last().map(|r| r.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u32, b: u32) -> SeqRange {
        SeqRange {
            start: SeqNum(a),
            end: SeqNum(b),
        }
    }

    fn set<const N: usize>(pairs: &[(u32, u32)]) -> RangeSet<N> {
        let mut s = RangeSet::<N>::new();
        for &(a, b) in pairs {
            s.insert(SeqNum(a), SeqNum(b)).unwrap();
        }
        s
    }

    #[test]
    fn insert_disjoint_keeps_order() {
        let s = set::<4>(&[(30, 40), (10, 20), (50, 60)]);
        assert_eq!(s.ranges(), &[r(10, 20), r(30, 40), r(50, 60)]);
    }

    #[test]
    fn insert_adjacent_merges() {
        let s = set::<4>(&[(10, 20), (20, 30)]);
        assert_eq!(s.ranges(), &[r(10, 30)]);
        let s = set::<4>(&[(20, 30), (10, 20)]);
        assert_eq!(s.ranges(), &[r(10, 30)]);
    }

    #[test]
    fn insert_bridging_merges_many() {
        let s = set::<8>(&[(10, 20), (30, 40), (50, 60), (70, 80), (15, 75)]);
        assert_eq!(s.ranges(), &[r(10, 80)]);
    }

    #[test]
    fn insert_inside_existing_is_noop() {
        let s = set::<2>(&[(10, 50), (20, 30)]);
        assert_eq!(s.ranges(), &[r(10, 50)]);
    }

    #[test]
    fn insert_extends_left_and_right() {
        let s = set::<2>(&[(20, 30), (15, 25), (28, 35)]);
        assert_eq!(s.ranges(), &[r(15, 35)]);
    }

    #[test]
    fn empty_insert_ignored() {
        let mut s = RangeSet::<1>::new();
        s.insert(SeqNum(5), SeqNum(5)).unwrap();
        s.insert(SeqNum(9), SeqNum(5)).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn full_set_rejects_new_but_merges() {
        let mut s = set::<2>(&[(10, 20), (30, 40)]);
        assert_eq!(s.insert(SeqNum(50), SeqNum(60)), Err(Full));
        assert_eq!(s.insert(SeqNum(0), SeqNum(5)), Err(Full));
        assert_eq!(s.ranges(), &[r(10, 20), r(30, 40)]);
        s.insert(SeqNum(40), SeqNum(45)).unwrap();
        assert_eq!(s.ranges(), &[r(10, 20), r(30, 45)]);
        s.insert(SeqNum(19), SeqNum(31)).unwrap();
        assert_eq!(s.ranges(), &[r(10, 45)]);
        s.insert(SeqNum(50), SeqNum(60)).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn zero_capacity_set_never_panics() {
        let mut s = RangeSet::<0>::new();
        assert_eq!(s.insert(SeqNum(1), SeqNum(2)), Err(Full));
        assert_eq!(s.pop_contiguous(SeqNum(1)), None);
        s.remove_before(SeqNum(3));
        assert!(s.is_empty());
    }

    #[test]
    fn wraps_around_sequence_space() {
        let base = u32::MAX - 5;
        let s = set::<4>(&[(base, base.wrapping_add(4)), (base.wrapping_add(8), 10)]);
        assert_eq!(s.len(), 2);
        let mut s2 = s;
        s2.insert(SeqNum(base.wrapping_add(4)), SeqNum(base.wrapping_add(8)))
            .unwrap();
        assert_eq!(s2.ranges(), &[r(base, 10)]);
        assert_eq!(s2.bytes_from(SeqNum(0)), 10);
    }

    #[test]
    fn pop_contiguous_only_when_touching() {
        let mut s = set::<4>(&[(10, 20), (30, 40)]);
        assert_eq!(s.pop_contiguous(SeqNum(5)), None);
        assert_eq!(s.pop_contiguous(SeqNum(10)), Some(SeqNum(20)));
        assert_eq!(s.ranges(), &[r(30, 40)]);
        assert_eq!(s.pop_contiguous(SeqNum(35)), Some(SeqNum(40)));
        assert!(s.is_empty());
    }

    #[test]
    fn pop_contiguous_never_moves_backwards() {
        let mut s = set::<4>(&[(10, 20)]);
        assert_eq!(s.pop_contiguous(SeqNum(25)), Some(SeqNum(25)));
    }

    #[test]
    fn remove_before_trims() {
        let mut s = set::<4>(&[(10, 20), (30, 40), (50, 60)]);
        s.remove_before(SeqNum(35));
        assert_eq!(s.ranges(), &[r(35, 40), r(50, 60)]);
        s.remove_before(SeqNum(40));
        assert_eq!(s.ranges(), &[r(50, 60)]);
        s.remove_before(SeqNum(100));
        assert!(s.is_empty());
    }

    #[test]
    fn queries() {
        let s = set::<4>(&[(10, 20), (30, 40)]);
        assert_eq!(s.find(SeqNum(15)), Some(r(10, 20)));
        assert_eq!(s.find(SeqNum(20)), None);
        assert!(s.covers(SeqNum(31), SeqNum(40)));
        assert!(!s.covers(SeqNum(15), SeqNum(31)));
        assert!(s.covers(SeqNum(5), SeqNum(5)));
        assert_eq!(s.bytes_from(SeqNum(15)), 15);
        assert_eq!(s.bytes_within(SeqNum(15), SeqNum(35)), 10);
        assert_eq!(s.next_at_or_after(SeqNum(20)), Some(r(30, 40)));
        assert_eq!(s.next_at_or_after(SeqNum(12)), Some(r(10, 20)));
        assert_eq!(s.next_at_or_after(SeqNum(40)), None);
        assert_eq!(s.highest(), Some(SeqNum(40)));
        assert_eq!(s.first(), Some(r(10, 20)));
        assert_eq!(r(10, 20).len(), 10);
        assert!(r(5, 5).is_empty());
    }

    #[test]
    fn randomized_against_bitmap() {
        // Compare with a plain bitmap model over a small window.
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for round in 0..50u32 {
            let base = next();
            let mut s = RangeSet::<6>::new();
            let mut model = [false; 200];
            for _ in 0..40 {
                let a = (next() % 190) as usize;
                let len = (next() % 12) as usize;
                let b = (a + len).min(200);
                let before = s;
                let res = s.insert(SeqNum(base) + a, SeqNum(base) + b);
                if res.is_ok() {
                    for m in model.iter_mut().take(b).skip(a) {
                        *m = true;
                    }
                } else {
                    assert_eq!(s, before, "round {round}");
                }
                for (i, &held) in model.iter().enumerate() {
                    assert_eq!(s.find(SeqNum(base) + i).is_some(), held, "round {round}");
                }
                for w in s.ranges().windows(2) {
                    assert!(w[0].end < w[1].start);
                }
            }
        }
    }
}
