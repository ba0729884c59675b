// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/partcp/`: version, family number, counters, the strategy (read
//! and switch), scheduling statistics and the connection list.
//! The file formats are documented in `Documentation/debugfs.md`.

use core::fmt;
use kernel::debugfs::{Dir, File};
use kernel::prelude::*;


use crate::glue::obj::conn::{ConnInner, ConnRef, ListenRef};
use crate::stats::Stats;
use crate::glue::kernel::mem::MemoryView;
use crate::glue::kernel::stats::{CountersView, SocketStatsView};
use crate::glue::strategy::connp_l::GroupLockClass;
use crate::glue::strategy::connp_t::QueueLockClass;
use crate::glue::strategy::{self, Kind, SchedView};

/// Contents of the `version` file.
struct Version;

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::glue::VERSION)
    }
}

/// Contents of the `family` file: the address family number in use.
struct Family(i32);

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The `strategy` debugfs file: reads the active strategy, writes switch it.
struct StrategyFile;

impl fmt::Debug for StrategyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", strategy::active())
    }
}

impl kernel::debugfs::Reader for StrategyFile {
    fn read_from_slice(&self, reader: &mut kernel::uaccess::UserSliceReader) -> Result {
        require_net_admin()?;
        let mut buf = [0u8; 64];
        let n = reader.len();
        let Some(dst) = buf.get_mut(..n) else {
            pr_warn!("strategy: request too long ({} bytes)\n", n);
            return Err(EINVAL);
        };
        reader.read_slice(dst)?;
        let text = buf.get(..n).unwrap_or(&[]);
        let (g, t) = strategy::defaults();
        let cfg = match strategy::parse(text, g, t) {
            Ok(c) => c,
            Err(e) => {
                pr_warn!(
                    "strategy: '{}' rejected: want msgp, connp-t [1..={}] or connp-l [1..={}]\n",
                    kernel::str::BStr::from_bytes(strategy::trim(text)),
                    crate::glue::kernel::shim::num_possible_cpus(),
                    strategy::MAX_GROUPS
                );
                return Err(e);
            }
        };
        strategy::switch(cfg)
    }
}
/// Contents of the `locks` file: one line per lock class.
struct LocksView;

impl fmt::Debug for LocksView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::glue::kernel::lock::write_class;
        writeln!(f, "class acquired contended wait_ns wait_max_ns hold_ns hold_max_ns")?;
        write_class::<crate::glue::obj::stack::TableLockClass>(f)?;
        writeln!(f)?;
        write_class::<crate::glue::strategy::msgp::ConnLockClass>(f)?;
        writeln!(f)?;
        write_class::<crate::glue::obj::conn::ListenLockClass>(f)?;
        writeln!(f)?;
        write_class::<GroupLockClass>(f)?;
        writeln!(f)?;
        write_class::<QueueLockClass>(f)
    }
}

/// Contents of the `percpu` file: every counter (data path, scheduling, lock
/// acquisitions) broken down by CPU: a header `counter cpu0 .. cpuN-1 total`, then one
/// row per counter. The per-CPU values of a row add up to its total (the CPUs past
/// `cpuN-1` never run, so they hold zero).
struct PerCpuView;

impl fmt::Debug for PerCpuView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::glue::kernel::stats::{on_cpu, write_row, Counter};
        use crate::glue::strategy::{sched_on_cpu, Sched};
        // CAST: a CPU count fits a usize.
        let cpus = (crate::glue::kernel::shim::num_possible_cpus() as usize).clamp(1, crate::glue::kernel::percpu::SLOTS);
        write!(f, "counter")?;
        for cpu in 0..cpus {
            write!(f, " cpu{cpu}")?;
        }
        writeln!(f, " total")?;
        for c in Counter::ALL {
            write_row(f, format_args!("{}", c.name()), cpus, |cpu| on_cpu(*c, cpu))?;
        }
        // Maxima are not sums: `queue_depth_max` stays in `sched` only.
        for c in Sched::ALL.iter().filter(|c| !matches!(c, Sched::QueueMax)) {
            write_row(f, format_args!("{}", c.name()), cpus, |cpu| sched_on_cpu(*c, cpu))?;
        }
        use crate::glue::kernel::lock::write_class_percpu;
        write_class_percpu::<crate::glue::obj::stack::TableLockClass>(f, cpus)?;
        write_class_percpu::<crate::glue::strategy::msgp::ConnLockClass>(f, cpus)?;
        write_class_percpu::<crate::glue::obj::conn::ListenLockClass>(f, cpus)?;
        write_class_percpu::<GroupLockClass>(f, cpus)?;
        write_class_percpu::<QueueLockClass>(f, cpus)
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
        crate::glue::kernel::stats::reset();
        crate::glue::strategy::sched_reset();
        use crate::glue::kernel::lock::reset_class;
        reset_class::<crate::glue::obj::stack::TableLockClass>();
        reset_class::<crate::glue::strategy::msgp::ConnLockClass>();
        reset_class::<crate::glue::obj::conn::ListenLockClass>();
        reset_class::<GroupLockClass>();
        reset_class::<QueueLockClass>();
        Ok(())
    }
}

/// The `connections` file: one line per connection.
struct ConnectionsView;

impl fmt::Debug for ConnectionsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "local remote state cwnd srtt_us owner home")?;
        let Some(v) = live_conns() else {
            return writeln!(f, "(out of memory)");
        };
        let mut r = Ok(());
        let read = |g: &mut ConnInner| (g.tcp.state(), g.tcp.cwnd(), g.tcp.srtt().map_or(0, |d| d.micros()));
        crate::glue::dispatch::read_each(&v, read, |c, (state, cwnd, srtt)| {
            if r.is_err() {
                return;
            }
            let k = &c.key;
            let owner = match c.state.kind() {
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
        });
        drop(v);
        r
    }
}

/// References to every connection in the table, taken under the table lock (no
/// allocation there: the vector is sized first, outside the lock); `None` without a
/// stack or memory.
fn live_conns() -> Option<KVec<ConnRef>> {
    let stack = crate::glue::obj::stack::stack()?;
    let mut v = KVec::<ConnRef>::with_capacity(stack.conn_count() + 16, GFP_KERNEL).ok()?;
    stack.conns(&mut v);
    Some(v)
}

/// The `conn_stats` file: the TCP core's counters (`rust/core/src/stats.rs`), one line
/// per connection (`local remote` then every counter) and per listener (`local listen`).
struct ConnStatsView;

impl ConnStatsView {
    fn row(f: &mut fmt::Formatter<'_>, local: (u32, u16), remote: fmt::Arguments<'_>, st: &Stats) -> fmt::Result {
        write!(f, "{}:{} {}", Ip(local.0), local.1, remote)?;
        for (_, v) in st.fields() {
            write!(f, " {v}")?;
        }
        writeln!(f)
    }
}

impl fmt::Debug for ConnStatsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local remote")?;
        for (name, _) in Stats::default().fields() {
            write!(f, " {name}")?;
        }
        writeln!(f)?;
        let Some(v) = live_conns() else { return Ok(()) };
        let mut r = Ok(());
        crate::glue::dispatch::read_each(&v, |g: &mut ConnInner| g.tcp.stats(), |c, st| {
            if r.is_ok() {
                let k = &c.key;
                r = Self::row(f, (k.laddr, k.lport), format_args!("{}:{}", Ip(k.raddr), k.rport), &st);
            }
        });
        drop(v);
        r?;
        // Listeners: references taken under the table lock (no allocation there).
        let Some(stack) = crate::glue::obj::stack::stack() else { return Ok(()) };
        let Ok(mut ls) = KVec::<ListenRef>::with_capacity(stack.listener_count() + 4, GFP_KERNEL) else {
            return Ok(());
        };
        stack.listeners(&mut ls);
        let mut r = Ok(());
        for l in ls.drain_all() {
            if r.is_ok() {
                let st = *l.inner.lock().core.stats();
                r = Self::row(f, (l.key.laddr, l.key.lport), format_args!("listen"), &st);
            }
            drop(l);
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
    _percpu: Pin<KBox<File<PerCpuView>>>,
    _conn_stats: Pin<KBox<File<ConnStatsView>>>,
    _reset: Pin<KBox<File<Reset>>>,
    _memory: Pin<KBox<File<MemoryView>>>,
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
        let percpu = KBox::pin_init(dir.read_only_file(c"percpu", PerCpuView), GFP_KERNEL)?;
        let conn_stats = KBox::pin_init(dir.read_only_file(c"conn_stats", ConnStatsView), GFP_KERNEL)?;
        let reset = KBox::pin_init(dir.write_only_file(c"reset", Reset), GFP_KERNEL)?;
        let memory = KBox::pin_init(dir.read_only_file(c"memory", MemoryView), GFP_KERNEL)?;
        Ok(DebugFs {
            _locks: locks,
            _strategy: strategy,
            _sched: sched,
            _connections: connections,
            _percpu: percpu,
            _conn_stats: conn_stats,
            _reset: reset,
            _memory: memory,
            _stats: stats,
            _version: version,
            _family: family,
            _sockets: sockets,
            _dir: dir,
        })
    }
}
