// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! The TCP core's side storage (`crate::side`) in the kernel: each structure a
//! connection holds only while in use (its out-of-order ranges, SACK scoreboard, send
//! times and F-RTO state) in a `KBox` of its own, allocated when the core first needs it
//! and freed as soon as the core gives it back, or with the connection. The arrays are
//! 256 bytes (kmalloc-256), the F-RTO state 144 (kmalloc-192); an idle connection holds
//! none, where Linux keeps the same information in the skbs it queues.
//!
//! The core asks from NAPI/softirq context and under the connection's lock (spinning,
//! with bottom halves off), so allocations are `GFP_ATOMIC`, and `__GFP_NOWARN` since
//! the core copes with a failure (it counts it in `side_alloc_failures` and goes on as
//! with a full structure).
//!
//! Module-wide, the side structures allocated now, their bytes and the failed
//! allocations since load are counted for the `memory` debugfs file ([`held`],
//! [`failures`]): with every connection idle the first two read 0. A connection that
//! sends in bursts allocates and frees its send times once a burst, so the counts are
//! per-CPU (`percpu.rs`: a non-locked add, no shared cache line); a CPU's share of the
//! objects held may be negative (freed on another CPU than allocated), their sum is
//! exact.

use core::fmt;
use core::mem::size_of;

use kernel::alloc::flags::{GFP_ATOMIC, __GFP_NOWARN};
use kernel::prelude::*;

use crate::glue::kernel::percpu::{area, PerCpu};
use crate::side::{NoMemory, SideAlloc, Slot};

/// The counts' words in the per-CPU area.
#[repr(usize)]
enum Word {
    /// Side structures allocated now (allocations less frees).
    Held,
    /// Their bytes (as requested; kmalloc rounds up).
    HeldBytes,
    /// Allocations that failed since load.
    Failures,
}

const WORDS: usize = 3;
kernel::static_assert!(WORDS <= area::SIDE_LEN);

static COUNTS: PerCpu<WORDS> = PerCpu::at(area::SIDE);

/// Adds `v` to `w` on this CPU.
#[inline]
fn add(w: Word, v: usize) {
    // CAST: the sizes of the core's side structures, far below i64::MAX.
    COUNTS.add(w as usize, v as i64);
}

/// Subtracts `v` from `w` on this CPU.
#[inline]
fn sub(w: Word, v: usize) {
    // CAST: as in `add`.
    COUNTS.add(w as usize, -(v as i64));
}

/// `w` summed over the CPUs (never negative: every free follows its allocation).
fn total(w: Word) -> usize {
    usize::try_from(COUNTS.sum(w as usize)).unwrap_or(0)
}

/// Side structures allocated now, and their bytes.
pub(crate) fn held() -> (usize, usize) {
    (total(Word::Held), total(Word::HeldBytes))
}

/// Side allocations that failed since the module was loaded.
pub(crate) fn failures() -> usize {
    total(Word::Failures)
}

/// Side storage in `KBox`es.
pub(crate) struct KernelSide;

impl SideAlloc for KernelSide {
    type Slot<T> = KSlot<T>;
}

/// At most one `T`, in a `KBox` of its own; nothing allocated while empty.
pub(crate) struct KSlot<T>(Option<KBox<T>>);

impl<T> Slot<T> for KSlot<T> {
    fn empty() -> Self {
        KSlot(None)
    }

    fn get(&self) -> Option<&T> {
        self.0.as_deref()
    }

    fn get_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    fn put(&mut self, value: T) -> Result<&mut T, NoMemory> {
        let b = match self.0.take() {
            Some(mut b) => {
                *b = value;
                b
            }
            None => match KBox::new(value, GFP_ATOMIC | __GFP_NOWARN) {
                Ok(b) => {
                    add(Word::Held, 1);
                    add(Word::HeldBytes, size_of::<T>());
                    b
                }
                Err(_) => {
                    add(Word::Failures, 1);
                    return Err(NoMemory);
                }
            },
        };
        Ok(&mut **self.0.insert(b))
    }

    fn take(&mut self) -> Option<T> {
        let b = self.0.take()?;
        sub(Word::Held, 1);
        sub(Word::HeldBytes, size_of::<T>());
        Some(KBox::into_inner(b))
    }

    fn release(&mut self) {
        drop(self.take());
    }
}

impl<T> Drop for KSlot<T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T: fmt::Debug> fmt::Debug for KSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_deref().fmt(f)
    }
}

/// KUnit: a slot allocates on the first `put`, reuses its box after, and frees it on
/// `take`, `release` and drop.
#[kernel::prelude::kunit_tests(partcp_side)]
mod tests {
    use super::*;

    #[test]
    fn slot_holds_only_while_full() {
        let mut s = <KSlot<[u64; 32]> as Slot<_>>::empty();
        assert!(s.get().is_none() && !s.is_held());
        let first = match s.put([7; 32]) {
            Ok(v) => core::ptr::from_mut(v).cast::<u8>(),
            // An allocation failure is the core's business; nothing to check here.
            Err(NoMemory) => return,
        };
        assert!(s.get().is_some_and(|v| v[31] == 7));
        // A full slot overwrites in place: the same box, nothing allocated.
        let again = s.put([9; 32]).map(|v| core::ptr::from_mut(v).cast::<u8>());
        assert!(again == Ok(first));
        if let Some(v) = s.get_mut() {
            v[0] = 1;
        }
        assert!(s.take().is_some_and(|v| v[0] == 1 && v[1] == 9));
        assert!(!s.is_held() && s.take().is_none());
        assert!(s.put([3; 32]).is_ok() || !s.is_held());
        s.release();
        assert!(!s.is_held());
        let mut d = <KSlot<u32> as Slot<_>>::empty();
        let _ = d.put(5);
        drop(d);
        // KUnit runs at load, before any connection exists: nothing else is held.
        assert!(held() == (0, 0));
    }
}
