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

use core::fmt;

use kernel::alloc::flags::{GFP_ATOMIC, __GFP_NOWARN};
use kernel::prelude::*;

use crate::side::{NoMemory, SideAlloc, Slot};

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
            None => KBox::new(value, GFP_ATOMIC | __GFP_NOWARN).map_err(|_| NoMemory)?,
        };
        Ok(&mut **self.0.insert(b))
    }

    fn take(&mut self) -> Option<T> {
        self.0.take().map(KBox::into_inner)
    }

    fn release(&mut self) {
        self.0 = None;
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
    }
}
