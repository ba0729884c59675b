// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! [`FrontVec`]: the index of the send and receive queues (`txq.rs`, `rxq.rs`), a vector
//! of byte runs ([`Span`]) that is consumed from the front. Dropping the first items
//! costs only what they cost (their slots are emptied and a head index moves past
//! them), not a shift of the whole queue; the emptied slots are reclaimed at once when
//! the queue empties, else once they are at least as many as the live items, so that
//! every item is moved at most once more on average.

use kernel::alloc::{AllocError, Flags};
use kernel::prelude::*;

/// An item of a byte queue: a run of bytes that can lose bytes at its front.
pub(crate) trait Span {
    /// Bytes in the run.
    fn len(&self) -> usize;
    /// Drops the first `n` bytes (`n < self.len()`).
    fn trim_front(&mut self, n: usize);
}

/// A vector consumed from the front.
///
/// # Invariants
///
/// `slots[..head]` are `None` and `slots[head..]` are `Some`.
pub(crate) struct FrontVec<T> {
    slots: KVec<Option<T>>,
    head: usize,
}

impl<T> FrontVec<T> {
    /// An empty vector (allocates nothing).
    pub(crate) const fn new() -> Self {
        FrontVec { slots: KVec::new(), head: 0 }
    }

    /// The live slots, all `Some` (type invariants).
    fn live(&self) -> &[Option<T>] {
        self.slots.get(self.head..).unwrap_or(&[])
    }

    /// The live slots, mutably.
    fn live_mut(&mut self) -> &mut [Option<T>] {
        let head = self.head;
        self.slots.get_mut(head..).unwrap_or(&mut [])
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.head
    }

    /// The items, first to last.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.live().iter().flatten()
    }

    /// Item `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.live().get(i)?.as_ref()
    }

    /// Item `i`, mutably.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.live_mut().get_mut(i)?.as_mut()
    }

    /// The last item.
    pub(crate) fn last(&self) -> Option<&T> {
        self.live().last()?.as_ref()
    }

    /// The last item, mutably.
    pub(crate) fn last_mut(&mut self) -> Option<&mut T> {
        self.live_mut().last_mut()?.as_mut()
    }

    /// The number of leading items for which `pred` holds, if it holds for a prefix of
    /// the items and not after (a binary search, as `slice::partition_point`).
    pub(crate) fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        self.live().partition_point(|s| s.as_ref().is_some_and(&mut pred))
    }

    /// Appends `v`.
    pub(crate) fn push(&mut self, v: T, flags: Flags) -> Result<(), AllocError> {
        // INVARIANT: A `Some` after the live slots.
        self.slots.push(Some(v), flags)
    }

    /// Inserts `v` before item `i` (at most [`Self::len`]); `None` (and `v` dropped) if
    /// the vector cannot grow or `i` is out of range.
    pub(crate) fn insert(&mut self, i: usize, v: T, flags: Flags) -> Option<()> {
        self.slots.reserve(1, flags).ok()?;
        // INVARIANT: A `Some` inserted at or after `head`.
        self.slots.insert_within_capacity(self.head.checked_add(i)?, Some(v)).ok()
    }

    /// Drops the first `k` items (all of them if fewer), in time proportional to `k`
    /// (amortized: see the file header).
    pub(crate) fn drop_front(&mut self, k: usize) {
        let k = k.min(self.len());
        for s in self.live_mut().iter_mut().take(k) {
            *s = None;
        }
        // INVARIANT: The `k` slots after `head` were just emptied.
        self.head += k;
        let live = self.len();
        if live == 0 {
            // INVARIANT: No slots, no head.
            self.slots.clear();
            self.head = 0;
        } else if self.head >= live {
            // At least as many empty slots as items: move the items to the front once
            // (cost `head + live <= 2 * head`, the slots dropped since the last time).
            let head = self.head;
            self.slots.as_mut_slice().rotate_left(head);
            // INVARIANT: The live items are now `slots[..live]`; the `None`s after them
            // are cut off.
            self.slots.truncate(live);
            self.head = 0;
        }
    }
}

impl<T: Span> FrontVec<T> {
    /// Drops the first `n` bytes of the queue: the items they cover whole, and the front
    /// of the item they end in. `dropped` sees each item before it is dropped. Time
    /// proportional to the items dropped.
    pub(crate) fn consume_bytes(&mut self, n: usize, mut dropped: impl FnMut(&T)) {
        let mut left = n;
        let mut whole = 0usize;
        for s in self.live_mut().iter_mut().flatten() {
            if left == 0 {
                break;
            }
            if s.len() <= left {
                left -= s.len();
                dropped(&*s);
                whole += 1;
            } else {
                s.trim_front(left);
                left = 0;
            }
        }
        self.drop_front(whole);
    }
}

/// KUnit: dropping from the front (partial, whole, past the end), reclaiming the
/// emptied slots, inserting and searching after drops, and consuming bytes.
#[kunit_tests(partcp_frontvec)]
mod tests {
    use super::*;

    /// Stream bytes `start..start + len`.
    struct Run {
        start: usize,
        len: usize,
    }

    impl Span for Run {
        fn len(&self) -> usize {
            self.len
        }

        fn trim_front(&mut self, n: usize) {
            self.start += n;
            self.len -= n;
        }
    }

    /// Runs of `len` bytes back to back, `n` of them.
    fn runs(n: usize, len: usize) -> Result<FrontVec<Run>> {
        let mut v = FrontVec::new();
        for k in 0..n {
            v.push(Run { start: k * len, len }, GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// The runs' starts, first to last.
    fn starts(v: &FrontVec<Run>) -> Result<KVec<usize>> {
        let mut out = KVec::new();
        for r in v.iter() {
            out.push(r.start, GFP_KERNEL)?;
        }
        Ok(out)
    }

    /// The slots never hold more empty ones than live ones (the amortized bound).
    fn bounded<T>(v: &FrontVec<T>) -> bool {
        v.head <= v.len() && v.slots.len() == v.head + v.len()
    }

    #[test]
    fn drops_move_the_head_then_reclaim() -> Result {
        let mut v = runs(10, 1)?;
        v.drop_front(3);
        assert!(v.len() == 7 && v.head == 3 && v.slots.len() == 10);
        assert!(starts(&v)?[..] == [3, 4, 5, 6, 7, 8, 9]);
        assert!(v.get(0).is_some_and(|r| r.start == 3) && v.last().is_some_and(|r| r.start == 9));
        assert!(v.get(7).is_none());
        // Seven empty slots, three live: the live ones move to the front.
        v.drop_front(4);
        assert!(v.head == 0 && v.slots.len() == 3 && bounded(&v));
        assert!(starts(&v)?[..] == [7, 8, 9]);
        // More than there are: all, and nothing is kept.
        v.drop_front(5);
        assert!(v.len() == 0 && v.slots.len() == 0 && v.head == 0);
        assert!(v.last().is_none());
        Ok(())
    }

    #[test]
    fn many_small_drops_stay_bounded() -> Result {
        let mut v = runs(1000, 1)?;
        let mut next = 1000;
        for _ in 0..3000 {
            v.drop_front(1);
            v.push(Run { start: next, len: 1 }, GFP_KERNEL)?;
            next += 1;
            assert!(bounded(&v));
        }
        assert!(v.len() == 1000);
        assert!(v.get(0).is_some_and(|r| r.start == 3000));
        assert!(v.last().is_some_and(|r| r.start == 3999));
        Ok(())
    }

    #[test]
    fn insert_and_search_count_from_the_head() -> Result {
        let mut v = runs(8, 10)?;
        v.drop_front(2);
        // Items start at 20, 30, ..., 70; insert 45 before 50 (item 3).
        let i = v.partition_point(|r| r.start < 45);
        assert!(i == 3);
        assert!(v.insert(i, Run { start: 45, len: 1 }, GFP_KERNEL).is_some());
        assert!(starts(&v)?[..] == [20, 30, 40, 45, 50, 60, 70]);
        assert!(v.partition_point(|r| r.start < 20) == 0);
        assert!(v.partition_point(|r| r.start < 1000) == v.len());
        // At the end, and past it (refused).
        assert!(v.insert(v.len(), Run { start: 80, len: 1 }, GFP_KERNEL).is_some());
        assert!(v.insert(v.len() + 1, Run { start: 99, len: 1 }, GFP_KERNEL).is_none());
        assert!(v.last().is_some_and(|r| r.start == 80) && v.len() == 8);
        if let Some(r) = v.get_mut(0) {
            r.start = 21;
        }
        if let Some(r) = v.last_mut() {
            r.start = 81;
        }
        assert!(starts(&v)?[..] == [21, 30, 40, 45, 50, 60, 70, 81]);
        Ok(())
    }

    #[test]
    fn consume_bytes_drops_whole_runs_and_trims_the_next() -> Result {
        let mut v = runs(3, 5)?;
        let mut seen = 0usize;
        // 7 bytes: the first run whole, two bytes of the second.
        v.consume_bytes(7, |r| seen += r.len);
        assert!(seen == 5 && v.len() == 2);
        assert!(v.get(0).is_some_and(|r| r.start == 7 && r.len == 3));
        // Exactly to a run's end: the run goes, the next is untouched.
        v.consume_bytes(3, |r| seen += r.len);
        assert!(seen == 8 && v.len() == 1);
        assert!(v.get(0).is_some_and(|r| r.start == 10 && r.len == 5));
        // Nothing, then more than there is.
        v.consume_bytes(0, |_| seen += 100);
        assert!(seen == 8 && v.len() == 1);
        v.consume_bytes(50, |r| seen += r.len);
        assert!(seen == 13 && v.len() == 0 && v.slots.len() == 0);
        Ok(())
    }
}
