// SPDX-License-Identifier: GPL-2.0

//! Per-CPU free-running counters.
//!
//! Linux 7.3's `kernel` crate has no per-CPU abstraction. Each CPU gets its own
//! cache-line-aligned slot of atomics, written only with relaxed atomic adds by code
//! running on that CPU (preemption can migrate a writer mid-update, which the atomic
//! add tolerates), so the hot path writes no shared cache line. Readers sum all slots.

use kernel::bindings;
use kernel::cpu::CpuId;
use kernel::sync::atomic::{Atomic, Relaxed};

/// Number of per-CPU slots: the kernel's compile-time CPU limit.
// CAST: NR_CPUS is a small configuration constant.
pub(crate) const SLOTS: usize = bindings::NR_CPUS as usize;

/// One CPU's `N` counters, on their own cache lines.
#[repr(C, align(64))]
pub(crate) struct Slot<const N: usize> {
    v: [Atomic<i64>; N],
}

/// `N` counters, one copy per CPU.
pub(crate) struct PerCpu<const N: usize> {
    slots: [Slot<N>; SLOTS],
}

/// Index of the CPU this code runs on (stable in softirq and with BH disabled;
/// elsewhere a hint, which is all a counter needs).
#[inline]
pub(crate) fn this_cpu() -> usize {
    // CAST: CPU ids are below NR_CPUS.
    (CpuId::current().as_u32() as usize).min(SLOTS - 1)
}

impl<const N: usize> PerCpu<N> {
    /// All counters zero.
    pub(crate) const fn new() -> Self {
        PerCpu {
            slots: [const {
                Slot {
                    v: [const { Atomic::new(0) }; N],
                }
            }; SLOTS],
        }
    }

    /// Adds `v` to counter `i` on this CPU.
    #[inline]
    pub(crate) fn add(&self, i: usize, v: i64) {
        if let Some(c) = self.slots[this_cpu()].v.get(i) {
            c.add(v, Relaxed);
        }
    }

    /// Raises counter `i` on this CPU to `v` if it is lower (a per-CPU maximum).
    #[inline]
    pub(crate) fn max(&self, i: usize, v: i64) {
        if let Some(c) = self.slots[this_cpu()].v.get(i) {
            if c.load(Relaxed) < v {
                c.store(v, Relaxed);
            }
        }
    }

    /// Zeroes every counter (the `reset` debugfs file). Concurrent adds may survive or
    /// be lost; counters are statistics, not accounting.
    pub(crate) fn reset(&self) {
        for s in self.slots.iter() {
            for c in s.v.iter() {
                c.store(0, Relaxed);
            }
        }
    }

    /// Sets counter `i` of CPU `cpu` to `v`.
    pub(crate) fn set(&self, cpu: usize, i: usize, v: i64) {
        if let Some(c) = self.slots.get(cpu).and_then(|s| s.v.get(i)) {
            c.store(v, Relaxed);
        }
    }

    /// Counter `i` of CPU `cpu`.
    pub(crate) fn get(&self, cpu: usize, i: usize) -> i64 {
        self.slots
            .get(cpu)
            .and_then(|s| s.v.get(i))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// Counter `i` summed over all CPUs.
    pub(crate) fn sum(&self, i: usize) -> i64 {
        (0..SLOTS).map(|cpu| self.get(cpu, i)).sum()
    }

    /// Counter `i`'s maximum over all CPUs.
    pub(crate) fn max_all(&self, i: usize) -> i64 {
        (0..SLOTS).map(|cpu| self.get(cpu, i)).max().unwrap_or(0)
    }
}
