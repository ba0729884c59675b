// SPDX-License-Identifier: GPL-2.0

//! Layer: executors.
//!
//! **MsgP** (message-parallel): whichever context has a connection's work — the
//! syscall, the NAPI poll that received a segment, the timer softirq — does it itself,
//! serialized by the connection's own `spin_lock_bh` (class `conn`), which owns the
//! state. As in the paper's FreeBSD organization, every lookup of a partcp segment and
//! every call also takes the global connection-table lock (class `table`, see
//! `stack.rs`). No hand-offs.

use kernel::alloc::Box;
use kernel::prelude::*;

use crate::glue::kernel::lock::{lock_class, new_bh_lock, BhLock};
use crate::glue::kernel::mem::StateAlloc;

lock_class!(ConnLockClass, "conn");

/// A MsgP connection's state, owned by its lock: reachable only with the lock held.
/// Allocated from the connection-state cache ([`StateAlloc`]).
pub(crate) struct MsgPCell<T>(Pin<Box<BhLock<T, ConnLockClass>, StateAlloc>>);

/// The bytes a [`MsgPCell`] of `T` allocates.
pub(crate) const fn cell_layout<T>() -> (usize, usize) {
    (core::mem::size_of::<BhLock<T, ConnLockClass>>(), core::mem::align_of::<BhLock<T, ConnLockClass>>())
}

impl<T: Unpin> MsgPCell<T> {
    /// The state `inner` behind a new lock (its own allocation: the lock then has its own
    /// cache line and the connection object need not be pinned around it).
    pub(crate) fn new(inner: T, flags: kernel::alloc::Flags) -> Result<Self> {
        Ok(MsgPCell(Box::pin_init(new_bh_lock!(inner, c"Conn::lock"), flags)?))
    }

    /// Runs `f` with the state, under the connection's lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.0.lock();
        f(&mut g)
    }
}
