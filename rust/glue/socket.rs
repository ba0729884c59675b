// SPDX-License-Identifier: GPL-2.0

//! partcp's per-socket state, owned by the Rust side and reachable from the
//! `struct sock` through the shim's private pointer.

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

/// Socket identifiers, unique for the module's lifetime (debugging aid).
static NEXT_ID: Atomic<i64> = Atomic::new(1);

/// The Rust half of an AF_PARTCP socket.
///
/// # Invariants
///
/// Allocated in `family::create`, freed exactly once in `family::release`; in between
/// it is reachable only through its `struct sock`'s private pointer.
pub(crate) struct PartcpSock {
    /// Identifier for log messages.
    pub(crate) id: i64,
}

impl PartcpSock {
    /// Allocates the state of a new socket.
    pub(crate) fn new() -> Result<KBox<Self>> {
        let id = NEXT_ID.fetch_add(1, Relaxed);
        Ok(KBox::new(PartcpSock { id }, GFP_KERNEL)?)
    }
}
