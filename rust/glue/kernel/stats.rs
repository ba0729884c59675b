// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters (per-CPU, free-running), rendered by debugfs. Every counter is
//! documented in `Documentation/debugfs.md`.

use core::fmt;

use kernel::sync::atomic::{Atomic, Relaxed};

use crate::glue::kernel::percpu::{area, PerCpu};

/// Whether hot-path statistics are counted (module parameter `stats`, default on):
/// lock statistics, scheduling counters and the data-path counters below. Object
/// lifecycle counters (sockets, connections) always count: `sockets_open` gates strategy
/// switches.
pub(crate) static ENABLED: Atomic<bool> = Atomic::new(true);

/// Whether hot-path counting is on.
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// Declares a counter enum: variants in display order, `ALL`, and `name()` (the name in
/// debugfs). Used here and by the strategies' scheduling counters.
macro_rules! counter_enum {
    ($(#[$doc:meta])* $ty:ident { $($name:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        #[repr(usize)]
        pub(crate) enum $ty { $($name,)* }

        impl $ty {
            /// Every counter, in display order.
            pub(crate) const ALL: &'static [$ty] = &[$($ty::$name,)*];

            /// Name in debugfs.
            pub(crate) const fn name(self) -> &'static str {
                match self { $($ty::$name => $text,)* }
            }
        }
    };
}
pub(crate) use counter_enum;

counter_enum! {
    /// A module-wide counter.
    Counter {
        SocketsCreated => "sockets_created",
        SocketsReleased => "sockets_released",
        SocketsRejected => "sockets_rejected",
        RxSegments => "rx_segments",
        RxGroMerged => "rx_gro_merged",
        RxChecksumErrors => "rx_checksum_errors",
        RxMalformed => "rx_malformed",
        RxNoSocket => "rx_no_socket",
        RxPassed => "rx_passed",
        TxSegments => "tx_segments",
        TxErrors => "tx_errors",
        TxNoMem => "tx_nomem",
        AcceptOverflow => "accept_overflow",
        AcceptNoMem => "accept_nomem",
        ConnsCreated => "conns_created",
        ConnsFreed => "conns_freed",
        RstsSent => "rsts_sent_no_socket",
        RxListenerDropped => "rx_listener_dropped",
        RxReassembled => "rx_reassembled",
        RxIcmpErrors => "rx_icmp_errors",
        RxOptionsIgnored => "rx_options_ignored",
        RxSourceRouted => "rx_source_routed",
        RouteLookups => "route_lookups",
        RouteRefreshes => "route_refreshes",
    }
}

impl Counter {
    /// Lifecycle counters count even with statistics off.
    const fn always(self) -> bool {
        matches!(
            self,
            Counter::SocketsCreated | Counter::SocketsReleased | Counter::ConnsCreated | Counter::ConnsFreed
        )
    }
}

const COUNT: usize = Counter::ALL.len();

kernel::static_assert!(COUNT <= area::STATS_LEN);

static COUNTERS: PerCpu<COUNT> = PerCpu::at(area::STATS);

/// Adds one to `c` on this CPU.
#[inline]
pub(crate) fn count(c: Counter) {
    if c.always() || enabled() {
        COUNTERS.add(c as usize, 1);
    }
}

/// Zeroes the data-path counters (the `reset` debugfs file); lifecycle counters stay.
pub(crate) fn reset() {
    for c in Counter::ALL {
        if !c.always() {
            for cpu in 0..crate::glue::kernel::percpu::SLOTS {
                COUNTERS.set(cpu, *c as usize, 0);
            }
        }
    }
}

/// Sockets currently open.
pub(crate) fn sockets_open() -> i64 {
    total(Counter::SocketsCreated) - total(Counter::SocketsReleased)
}

/// `c` as counted on CPU `cpu` (the `percpu` debugfs file).
pub(crate) fn on_cpu(c: Counter, cpu: usize) -> i64 {
    COUNTERS.get(cpu, c as usize)
}

/// Writes one `percpu` row: `name`, the value on each of the first `cpus` CPUs, then
/// the total over all CPUs.
pub(crate) fn write_row(
    f: &mut fmt::Formatter<'_>,
    name: fmt::Arguments<'_>,
    cpus: usize,
    get: impl Fn(usize) -> i64,
) -> fmt::Result {
    write!(f, "{name}")?;
    for cpu in 0..cpus {
        write!(f, " {}", get(cpu))?;
    }
    let total: i64 = (0..crate::glue::kernel::percpu::SLOTS).map(get).sum();
    writeln!(f, " {total}")
}

/// Total of `c` over all CPUs.
pub(crate) fn total(c: Counter) -> i64 {
    COUNTERS.sum(c as usize)
}

/// A read-only view of the socket counters for the `sockets` debugfs file.
pub(crate) struct SocketStatsView;

impl fmt::Debug for SocketStatsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let created = total(Counter::SocketsCreated);
        let released = total(Counter::SocketsReleased);
        writeln!(f, "sockets_open {}", created - released)?;
        writeln!(f, "sockets_created {}", created)?;
        write!(f, "sockets_rejected {}", total(Counter::SocketsRejected))
    }
}

/// All module counters, one `name value` per line (the `stats` debugfs file).
pub(crate) struct CountersView;

impl fmt::Debug for CountersView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for c in Counter::ALL {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{} {}", c.name(), total(*c))?;
        }
        Ok(())
    }
}
