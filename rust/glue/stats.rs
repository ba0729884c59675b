// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters, rendered by debugfs.

use core::fmt;
use kernel::sync::atomic::{Atomic, Relaxed};

/// Free-running counters for the socket layer.
pub(crate) struct SocketStats {
    /// Sockets currently open.
    pub(crate) open: Atomic<i64>,
    /// Sockets created since load.
    pub(crate) created: Atomic<i64>,
    /// `socket()` calls refused for an unsupported type or protocol.
    pub(crate) rejected: Atomic<i64>,
}

/// The counters of this module instance.
pub(crate) static SOCKETS: SocketStats = SocketStats {
    open: Atomic::new(0),
    created: Atomic::new(0),
    rejected: Atomic::new(0),
};

/// A read-only view of [`SOCKETS`] for a debugfs file (one `name value` pair per line).
pub(crate) struct SocketStatsView;

impl fmt::Debug for SocketStatsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sockets_open {}", SOCKETS.open.load(Relaxed))?;
        writeln!(f, "sockets_created {}", SOCKETS.created.load(Relaxed))?;
        write!(f, "sockets_rejected {}", SOCKETS.rejected.load(Relaxed))
    }
}
