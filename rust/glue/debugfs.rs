// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/partcp/`: version, family number, counters, the strategy (read
//! and switch), scheduling statistics and the connection list.
//! The file formats are documented in `Documentation/debugfs.md`.

use core::fmt;
use kernel::debugfs::{Dir, File};
use kernel::prelude::*;

use kernel::sync::Arc;

use super::conn::Conn;
use super::stats::{CountersView, SocketStatsView};
use super::strategy::connp_l::GroupLockClass;
use super::strategy::connp_t::QueueLockClass;
use super::strategy::{Kind, SchedView, StrategyFile};

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
        write_class::<super::conn::ListenLockClass>(f)?;
        writeln!(f)?;
        write_class::<GroupLockClass>(f)?;
        writeln!(f)?;
        write_class::<QueueLockClass>(f)
    }
}

/// Writes to partcp's debugfs files (switching the strategy, zeroing counters) need
/// CAP_NET_ADMIN: the files' 0600/0200 root-owned modes stop other users, but not a
/// uid-0 process that dropped its capabilities (e.g. a container's root). EPERM otherwise.
pub(crate) fn require_net_admin() -> Result {
    // CAST: CAP_NET_ADMIN is 12.
    // SAFETY: `capable` only reads the current task's credentials; callable from any
    // process context (debugfs write handlers run in the writer's context).
    if unsafe { kernel::bindings::capable(kernel::bindings::CAP_NET_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// The `reset` file: any write zeroes the data-path, lock and scheduling counters.
struct Reset;

impl kernel::debugfs::Reader for Reset {
    fn read_from_slice(&self, reader: &mut kernel::uaccess::UserSliceReader) -> Result {
        require_net_admin()?;
        // Accept (and ignore) whatever was written.
        let mut buf = [0u8; 16];
        while reader.len() > 0 {
            let n = reader.len().min(buf.len());
            reader.read_slice(buf.get_mut(..n).unwrap_or(&mut []))?;
        }
        super::stats::reset();
        super::strategy::sched_reset();
        use super::lock::reset_class;
        reset_class::<super::stack::TableLockClass>();
        reset_class::<super::conn::ConnLockClass>();
        reset_class::<super::conn::ListenLockClass>();
        reset_class::<GroupLockClass>();
        reset_class::<QueueLockClass>();
        Ok(())
    }
}

/// The `connections` file: one line per connection.
struct ConnectionsView;

impl fmt::Debug for ConnectionsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "local remote state cwnd srtt_us owner")?;
        let Some(stack) = super::stack::stack() else { return Ok(()) };
        // Take references under the table lock (no allocation there: the vector is sized
        // first, outside the lock), then read each connection through the dispatch layer
        // (under ConnP-T a round trip to its thread), with no spinlock held.
        let n = stack.tables.lock().conns.iter().count();
        let Ok(mut v) = KVec::<Arc<Conn>>::with_capacity(n + 16, GFP_KERNEL) else {
            return writeln!(f, "(out of memory)");
        };
        {
            let t = stack.tables.lock();
            for (_, c) in t.conns.iter() {
                if v.push_within_capacity(c.clone()).is_err() {
                    break;
                }
            }
        }
        let mut r = Ok(());
        for c in v.drain_all() {
            if r.is_ok() {
                let (state, cwnd, srtt) =
                    super::dispatch::read(&c, |g| (g.tcp.state(), g.tcp.cwnd(), g.tcp.srtt().map_or(0, |d| d.micros())));
                let k = &c.key;
                let owner = match c.kind {
                    Kind::MsgP => "conn-lock",
                    Kind::ConnPL => "group",
                    Kind::ConnPT => "thread",
                };
                r = writeln!(
                    f,
                    "{}:{} {}:{} {:?} {} {} {} {}",
                    Ip(k.laddr),
                    k.lport,
                    Ip(k.raddr),
                    k.rport,
                    state,
                    cwnd,
                    srtt,
                    owner,
                    c.home
                );
            }
            super::conn::release(c);
        }
        r
    }
}

/// A host-order IPv4 address, dotted.
struct Ip(u32);

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        write!(f, "{}.{}.{}.{}", b[0], b[1], b[2], b[3])
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
    _strategy: Pin<KBox<File<StrategyFile>>>,
    _sched: Pin<KBox<File<SchedView>>>,
    _connections: Pin<KBox<File<ConnectionsView>>>,
    _reset: Pin<KBox<File<Reset>>>,
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
        let strategy = KBox::pin_init(dir.read_write_file(c"strategy", StrategyFile), GFP_KERNEL)?;
        let sched = KBox::pin_init(dir.read_only_file(c"sched", SchedView), GFP_KERNEL)?;
        let connections = KBox::pin_init(dir.read_only_file(c"connections", ConnectionsView), GFP_KERNEL)?;
        let reset = KBox::pin_init(dir.write_only_file(c"reset", Reset), GFP_KERNEL)?;
        Ok(DebugFs {
            _locks: locks,
            _strategy: strategy,
            _sched: sched,
            _connections: connections,
            _reset: reset,
            _stats: stats,
            _version: version,
            _family: family,
            _sockets: sockets,
            _dir: dir,
        })
    }
}
