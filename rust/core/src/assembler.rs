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
//!
//! A connection keeps its sets as [`SideRanges`]: the same operations, the ranges held
//! in side storage ([`crate::side`]) only while the set is not empty.

use crate::seq::SeqNum;
use crate::side::{NoMemory, SideAlloc, Slot};
use core::fmt;

/// Default number of out-of-order ranges a receiver tracks. Linux bounds its
/// out-of-order queue by memory only; 32 disjoint holes per window is plenty for the
/// loss rates TCP is meant to survive, and the sender simply retransmits what did not fit.
pub const ASSEMBLER_RANGES: usize = 32;

/// The receiver's out-of-order tracker, its ranges in side storage `A`.
pub type Assembler<A> = SideRanges<A, ASSEMBLER_RANGES>;

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

/// No range: the content of unused slots.
const NO_RANGE: SeqRange = SeqRange {
    start: SeqNum(0),
    end: SeqNum(0),
};

impl<const N: usize> RangeSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet {
            ranges: [NO_RANGE; N],
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
        insert_in(&mut self.ranges, &mut self.count, start, end)
    }

    /// Forget everything before `seq`: ranges entirely below it are removed, a range
    /// straddling it is trimmed to start at `seq`.
    pub fn remove_before(&mut self, seq: SeqNum) {
        remove_before_in(&mut self.ranges, &mut self.count, seq);
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
        find_in(self.ranges(), seq)
    }

    /// True if every sequence number of `[start, end)` is held (an empty range is held).
    pub fn covers(&self, start: SeqNum, end: SeqNum) -> bool {
        covers_in(self.ranges(), start, end)
    }

    /// Total number of sequence numbers held at or after `seq`.
    pub fn bytes_from(&self, seq: SeqNum) -> usize {
        bytes_from_in(self.ranges(), seq)
    }

    /// Number of sequence numbers of `[start, end)` held.
    pub fn bytes_within(&self, start: SeqNum, end: SeqNum) -> usize {
        bytes_within_in(self.ranges(), start, end)
    }

    /// The first range that ends after `seq` (contains it or lies above it).
    pub fn next_at_or_after(&self, seq: SeqNum) -> Option<SeqRange> {
        next_at_or_after_in(self.ranges(), seq)
    }

    /// Highest sequence number held plus one, if any range is held.
    pub fn highest(&self) -> Option<SeqNum> {
        self.last().map(|r| r.end)
    }
}

// The operations, on the slots (`ranges.len()` of them) and the count of those in use,
// shared by [`RangeSet`] and [`SideRanges`].

/// [`RangeSet::insert`].
fn insert_in(
    ranges: &mut [SeqRange],
    count: &mut usize,
    start: SeqNum,
    end: SeqNum,
) -> Result<(), Full> {
    if end <= start {
        return Ok(());
    }
    let cap = ranges.len();
    let n = (*count).min(cap);
    // First range that ends at or after `start` (touching counts: merge adjacent).
    let mut i = 0;
    while i < n && ranges[i].end < start {
        i += 1;
    }
    // First range that starts strictly after `end`.
    let mut j = i;
    while j < n && ranges[j].start <= end {
        j += 1;
    }
    if i == j {
        if n >= cap {
            return Err(Full);
        }
        let mut k = n;
        while k > i {
            ranges[k] = ranges[k - 1];
            k -= 1;
        }
        ranges[i] = SeqRange { start, end };
        *count = n + 1;
    } else {
        let merged = SeqRange {
            start: start.min(ranges[i].start),
            end: end.max(ranges[j - 1].end),
        };
        ranges[i] = merged;
        let removed = j - i - 1;
        if removed > 0 {
            let mut k = i + 1;
            while k + removed < n {
                ranges[k] = ranges[k + removed];
                k += 1;
            }
            *count = n - removed;
        }
    }
    Ok(())
}

/// [`RangeSet::remove_before`].
fn remove_before_in(ranges: &mut [SeqRange], count: &mut usize, seq: SeqNum) {
    let n = (*count).min(ranges.len());
    let mut drop = 0;
    while drop < n && ranges[drop].end <= seq {
        drop += 1;
    }
    if drop > 0 {
        let mut k = 0;
        while k + drop < n {
            ranges[k] = ranges[k + drop];
            k += 1;
        }
        *count = n - drop;
    }
    if let Some(first) = ranges[..(*count).min(n)].first_mut() {
        if first.start < seq {
            first.start = seq;
        }
    }
}

/// [`RangeSet::find`], over the ranges in use.
fn find_in(ranges: &[SeqRange], seq: SeqNum) -> Option<SeqRange> {
    ranges.iter().copied().find(|r| r.contains(seq))
}

/// [`RangeSet::covers`].
fn covers_in(ranges: &[SeqRange], start: SeqNum, end: SeqNum) -> bool {
    if end <= start {
        return true;
    }
    ranges.iter().any(|r| r.start <= start && end <= r.end)
}

/// [`RangeSet::bytes_from`].
fn bytes_from_in(ranges: &[SeqRange], seq: SeqNum) -> usize {
    ranges
        .iter()
        .map(|r| r.end.since(r.start.max(seq)))
        .fold(0usize, usize::saturating_add)
}

/// [`RangeSet::bytes_within`].
fn bytes_within_in(ranges: &[SeqRange], start: SeqNum, end: SeqNum) -> usize {
    ranges
        .iter()
        .map(|r| r.end.min(end).since(r.start.max(start)))
        .fold(0usize, usize::saturating_add)
}

/// [`RangeSet::next_at_or_after`].
fn next_at_or_after_in(ranges: &[SeqRange], seq: SeqNum) -> Option<SeqRange> {
    ranges.iter().copied().find(|r| r.end > seq)
}

/// Why [`SideRanges::insert`] changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// A new slot was needed and all `N` are in use.
    Full,
    /// The set was empty and the memory for its ranges could not be had.
    NoMemory,
}

/// A [`RangeSet`] whose ranges live in side storage ([`crate::side`]) only while there
/// are any: an empty set holds no memory. The count stays inline, so the storage is
/// exactly the `N` ranges (256 bytes for 32: a kmalloc-256 object in the kernel).
///
/// Invariant: the slot holds the ranges if and only if the count is not zero.
pub struct SideRanges<A: SideAlloc, const N: usize> {
    ranges: A::Slot<[SeqRange; N]>,
    count: usize,
}

impl<A: SideAlloc, const N: usize> Clone for SideRanges<A, N>
where
    A::Slot<[SeqRange; N]>: Clone,
{
    fn clone(&self) -> Self {
        SideRanges {
            ranges: self.ranges.clone(),
            count: self.count,
        }
    }
}

impl<A: SideAlloc, const N: usize> fmt::Debug for SideRanges<A, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SideRanges")
            .field("ranges", &self.ranges())
            .field("held", &self.ranges.is_held())
            .finish()
    }
}

impl<A: SideAlloc, const N: usize> Default for SideRanges<A, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: SideAlloc, const N: usize> SideRanges<A, N> {
    /// An empty set, holding no memory.
    pub fn new() -> Self {
        SideRanges {
            ranges: A::Slot::empty(),
            count: 0,
        }
    }

    /// True if memory is held (exactly when a range is).
    pub fn is_held(&self) -> bool {
        self.ranges.is_held()
    }

    /// Number of ranges held.
    pub fn len(&self) -> usize {
        self.ranges().len()
    }

    /// True if no range is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every range and give the memory back.
    pub fn clear(&mut self) {
        self.count = 0;
        self.ranges.release();
    }

    /// The ranges, in ascending sequence order.
    pub fn ranges(&self) -> &[SeqRange] {
        match self.ranges.get() {
            Some(r) => &r[..self.count.min(N)],
            None => &[],
        }
    }

    /// The ranges as a plain [`RangeSet`] (a copy).
    pub fn to_set(&self) -> RangeSet<N> {
        let mut set = RangeSet::new();
        if let Some(r) = self.ranges.get() {
            set.ranges = *r;
            set.count = self.count.min(N);
        }
        set
    }

    /// Make the set `set`, e.g. a copy from [`SideRanges::to_set`] to undo inserts since.
    /// An empty `set` gives the memory back; a non-empty one needs it, and without it
    /// the set is left empty.
    pub fn assign(&mut self, set: &RangeSet<N>) -> Result<(), NoMemory> {
        if set.is_empty() {
            self.clear();
            return Ok(());
        }
        match self.ranges.put(set.ranges) {
            Ok(_) => {
                self.count = set.count;
                Ok(())
            }
            Err(e) => {
                self.count = 0;
                Err(e)
            }
        }
    }

    /// The lowest range, if any.
    pub fn first(&self) -> Option<SeqRange> {
        self.ranges().first().copied()
    }

    /// The highest range, if any.
    pub fn last(&self) -> Option<SeqRange> {
        self.ranges().last().copied()
    }

    /// [`RangeSet::insert`]; the first range takes the memory, which can fail.
    pub fn insert(&mut self, start: SeqNum, end: SeqNum) -> Result<(), InsertError> {
        if end <= start {
            return Ok(());
        }
        if self.ranges.get().is_none() {
            self.count = 0;
            self.ranges
                .put([NO_RANGE; N])
                .map_err(|NoMemory| InsertError::NoMemory)?;
        }
        let res = match self.ranges.get_mut() {
            Some(r) => insert_in(r, &mut self.count, start, end).map_err(|Full| InsertError::Full),
            None => Err(InsertError::NoMemory),
        };
        self.release_if_empty();
        res
    }

    /// [`RangeSet::remove_before`]; gives the memory back once empty.
    pub fn remove_before(&mut self, seq: SeqNum) {
        if let Some(r) = self.ranges.get_mut() {
            remove_before_in(r, &mut self.count, seq);
        }
        self.release_if_empty();
    }

    /// [`RangeSet::pop_contiguous`]; gives the memory back once empty.
    pub fn pop_contiguous(&mut self, seq: SeqNum) -> Option<SeqNum> {
        let first = self.first()?;
        if first.start > seq {
            return None;
        }
        self.remove_before(first.end);
        Some(first.end.max(seq))
    }

    /// [`RangeSet::find`].
    pub fn find(&self, seq: SeqNum) -> Option<SeqRange> {
        find_in(self.ranges(), seq)
    }

    /// [`RangeSet::covers`].
    pub fn covers(&self, start: SeqNum, end: SeqNum) -> bool {
        covers_in(self.ranges(), start, end)
    }

    /// [`RangeSet::bytes_from`].
    pub fn bytes_from(&self, seq: SeqNum) -> usize {
        bytes_from_in(self.ranges(), seq)
    }

    /// [`RangeSet::bytes_within`].
    pub fn bytes_within(&self, start: SeqNum, end: SeqNum) -> usize {
        bytes_within_in(self.ranges(), start, end)
    }

    /// [`RangeSet::next_at_or_after`].
    pub fn next_at_or_after(&self, seq: SeqNum) -> Option<SeqRange> {
        next_at_or_after_in(self.ranges(), seq)
    }

    /// [`RangeSet::highest`].
    pub fn highest(&self) -> Option<SeqNum> {
        self.last().map(|r| r.end)
    }

    /// Keeps the invariant: no memory without a range.
    fn release_if_empty(&mut self) {
        if self.count == 0 {
            self.ranges.release();
        }
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
