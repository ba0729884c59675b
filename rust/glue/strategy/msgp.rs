// SPDX-License-Identifier: GPL-2.0

//! **MsgP** (message-parallel): whichever context has a connection's work — the
//! syscall, the NAPI poll that received a segment, the timer softirq — does it itself,
//! serialized by the connection's own `spin_lock_bh` (`Conn::lock`, class `conn`).
//! Lookups take the global table lock (class `table`). No hand-offs.
//!
//! # Invariants
//!
//! Under MsgP, `Conn::inner` is only accessed with `Conn::lock` held.

use crate::glue::conn::{Conn, ConnInner};

/// Runs `f` with exclusive access to `conn`'s state, under its lock.
///
/// The caller must have checked that `conn` was created under MsgP (`Conn::kind`).
pub(crate) fn with<R>(conn: &Conn, f: impl FnOnce(&mut ConnInner) -> R) -> R {
    let _g = conn.lock.lock();
    // SAFETY: Under MsgP every access to `inner` holds `conn.lock` (module invariant),
    // which this function holds until `f` returns; the reference does not escape `f`.
    let inner = unsafe { conn.inner_mut() };
    f(inner)
}
