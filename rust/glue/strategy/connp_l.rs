// SPDX-License-Identifier: GPL-2.0

//! Layer: executors.
//!
//! **ConnP-L(n)** (connection-parallel, locks): connections are hashed by their 4-tuple
//! into `n` groups, each with one `spin_lock_bh` (class `group`) on its own cache line.
//! Whichever context has a connection's work takes the group's lock and does the work
//! itself: no hand-off, no per-connection lock, no global lock.
//!
//! A connection's state is a [`GroupCell`]: the state together with a reference to its
//! group, opened only by taking that group's lock. It is the kernel crate's `LockedBy`
//! with the owner built in, so access needs no owner check and cannot fail.

use core::cell::UnsafeCell;

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::glue::kernel::lock::{lock_class, new_bh_lock, BhLock};

lock_class!(GroupLockClass, "group");

/// A group: its lock, alone on its cache line(s) so that groups do not false-share.
#[repr(align(64))]
#[pin_data]
pub(crate) struct Group {
    #[pin]
    lock: BhLock<(), GroupLockClass>,
}

/// The group locks of a ConnP-L configuration.
pub(crate) struct Groups {
    groups: KVVec<Arc<Group>>,
}

impl Groups {
    /// No groups (other strategies).
    pub(crate) fn empty() -> Groups {
        Groups { groups: KVVec::new() }
    }

    /// `n` groups.
    pub(crate) fn new(n: u32) -> Result<Groups> {
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        let mut groups = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let g = Arc::pin_init(pin_init!(Group { lock <- new_bh_lock!((), c"Group::lock") }), GFP_KERNEL)?;
            groups.push_within_capacity(g).map_err(|_| ENOMEM)?;
        }
        Ok(Groups { groups })
    }

    /// Group `i`.
    pub(crate) fn get(&self, i: u32) -> Option<Arc<Group>> {
        self.groups.get(usize::try_from(i).ok()?).cloned()
    }
}

/// A value that only its group's lock opens.
///
/// # Invariants
///
/// `cell` is only accessed in [`GroupCell::with`], with `group.lock` held.
pub(crate) struct GroupCell<T> {
    group: Arc<Group>,
    cell: UnsafeCell<T>,
}

// SAFETY: The value moves between threads with the cell (`T: Send`).
unsafe impl<T: Send> Send for GroupCell<T> {}
// SAFETY: Shared access only reaches the value under the group's lock (type
// invariants), so `&GroupCell` never hands out aliasing `&mut T`; `T: Send` because the
// value is used from whichever thread holds the lock.
unsafe impl<T: Send> Sync for GroupCell<T> {}

impl<T> GroupCell<T> {
    /// `v`, locked by `group`.
    pub(crate) fn new(group: Arc<Group>, v: T) -> Self {
        GroupCell { group, cell: UnsafeCell::new(v) }
    }

    /// Runs `f` with the value, under the group's lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let _g = self.group.lock.lock();
        // SAFETY: The group's lock is held until `f` returns, and every access to `cell`
        // holds it (type invariants); the reference does not escape `f`.
        f(unsafe { &mut *self.cell.get() })
    }
}
