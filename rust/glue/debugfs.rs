// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/partcp/`: version, family number and counters.
//! The file formats are documented in `Documentation/debugfs.md`.

use core::fmt;
use kernel::debugfs::{Dir, File};
use kernel::prelude::*;

use super::stats::{CountersView, SocketStatsView};

/// Contents of the `version` file.
struct Version;

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::VERSION)
    }
}

/// Contents of the `family` file: the address family number in use.
struct Family(i32);

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Contents of the `locks` file: one line per lock class.
struct LocksView;

impl fmt::Debug for LocksView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::lock::write_class;
        writeln!(f, "class acquired contended wait_ns wait_max_ns hold_ns hold_max_ns")?;
        write_class::<super::stack::TableLockClass>(f)?;
        writeln!(f)?;
        write_class::<super::conn::ConnLockClass>(f)?;
        writeln!(f)?;
        write_class::<super::conn::ListenLockClass>(f)
    }
}

/// The debugfs tree; removed when dropped.
pub(crate) struct DebugFs {
    // Files before the directory: each file is removed before its parent.
    _version: Pin<KBox<File<Version>>>,
    _family: Pin<KBox<File<Family>>>,
    _sockets: Pin<KBox<File<SocketStatsView>>>,
    _stats: Pin<KBox<File<CountersView>>>,
    _locks: Pin<KBox<File<LocksView>>>,
    _dir: Dir,
}

impl DebugFs {
    /// Creates `/sys/kernel/debug/partcp/` and its files.
    pub(crate) fn new(family: i32) -> Result<Self> {
        let dir = Dir::new(c"partcp");
        let version = KBox::pin_init(dir.read_only_file(c"version", Version), GFP_KERNEL)?;
        let family = KBox::pin_init(dir.read_only_file(c"family", Family(family)), GFP_KERNEL)?;
        let sockets =
            KBox::pin_init(dir.read_only_file(c"sockets", SocketStatsView), GFP_KERNEL)?;
        let stats = KBox::pin_init(dir.read_only_file(c"stats", CountersView), GFP_KERNEL)?;
        let locks = KBox::pin_init(dir.read_only_file(c"locks", LocksView), GFP_KERNEL)?;
        Ok(DebugFs {
            _locks: locks,
            _stats: stats,
            _version: version,
            _family: family,
            _sockets: sockets,
            _dir: dir,
        })
    }
}
