// SPDX-License-Identifier: GPL-2.0

//! partcp's per-socket state, owned by the Rust side and reachable from the
//! `struct sock` through the shim's private pointer.

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

/// Socket identifiers, unique for the module's lifetime (debugging aid).
static NEXT_ID: Atomic<i64> = Atomic::new(1);

/// What a socket is doing from the application's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockState {
    /// Created, neither connected nor listening.
    Unconnected,
}

/// The Rust half of an AF_PARTCP socket.
///
/// # Invariants
///
/// Allocated in `family::create`, freed exactly once in `family::release`; in between
/// it is reachable only through its `struct sock`'s private pointer.
pub(crate) struct PartcpSock {
    /// Identifier for log messages.
    pub(crate) id: i64,
    /// Application-visible state.
    pub(crate) state: SockState,
    /// Whether the socket was created by the kernel (`kern` argument of `create`).
    pub(crate) kern: bool,
}

impl PartcpSock {
    /// Allocates the state of a new socket.
    pub(crate) fn new(kern: bool) -> Result<KBox<Self>> {
        let id = NEXT_ID.fetch_add(1, Relaxed);
        Ok(KBox::new(
            PartcpSock {
                id,
                state: SockState::Unconnected,
                kern,
            },
            GFP_KERNEL,
        )?)
    }
}
