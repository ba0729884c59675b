// SPDX-License-Identifier: GPL-2.0

//! **ConnP-L(n)** (connection-parallel, locks): connections are hashed by their 4-tuple
//! into `n` groups, each with one `spin_lock_bh` (class `group`). Whichever context has
//! a connection's work takes the group's lock and does the work itself: no hand-off, and
//! no per-connection lock is ever taken.
//!
//! # Invariants
//!
//! Under ConnP-L, `Conn::inner` of a connection in group `g` (`Conn::home`) is only
//! accessed with group lock `g` held. The lock array is built once in [`Groups::new`]
//! and never resized or moved until the strategy is freed, which happens only when no
//! connection exists (see `strategy/mod.rs`).

use kernel::prelude::*;

use crate::glue::conn::{Conn, ConnInner};
use crate::glue::lock::{lock_class, RawBhLock};

lock_class!(GroupLockClass, "group");

/// The group locks.
pub(crate) struct Groups {
    locks: KVVec<RawBhLock<GroupLockClass>>,
}

impl Groups {
    /// No groups (other strategies).
    pub(crate) fn empty() -> Groups {
        Groups { locks: KVVec::new() }
    }

    /// `n` initialized group locks.
    pub(crate) fn new(n: u32) -> Result<Groups> {
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        let mut locks = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            locks.push_within_capacity(RawBhLock::uninit()).map_err(|_| ENOMEM)?;
        }
        let key = kernel::static_lock_class!();
        for l in locks.iter() {
            // SAFETY: Each lock is at its final address (the vector is full and is never
            // resized) and initialized once, before use.
            unsafe { l.init(key) };
        }
        Ok(Groups { locks })
    }

    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.locks.len()
    }

    /// Runs `f` with exclusive access to `conn`'s state, under its group's lock.
    ///
    /// The caller must have checked that `conn` was created under this ConnP-L
    /// configuration (`Conn::kind`); `None` if its group does not exist (impossible by
    /// the invariants, handled without touching the state).
    pub(crate) fn with<R>(&self, conn: &Conn, f: impl FnOnce(&mut ConnInner) -> R) -> Option<R> {
        let l = self.locks.get(usize::try_from(conn.home).ok()?)?;
        let _g = l.lock();
        // SAFETY: Under ConnP-L every access to `inner` holds the lock of the
        // connection's group (module invariant), held here until `f` returns.
        let inner = unsafe { conn.inner_mut() };
        Some(f(inner))
    }
}
