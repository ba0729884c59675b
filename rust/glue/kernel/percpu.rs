// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! Per-CPU free-running counters.
//!
//! Linux 7.3's `kernel` crate has no per-CPU abstraction, so the counters live in one
//! per-CPU area that the C shim defines (`DEFINE_PER_CPU_ALIGNED`, [`WORDS`] 64-bit
//! words per CPU) and writes with `this_cpu_add`: on x86 one non-locked add relative to
//! the CPU's per-CPU base, which neither preemption nor an interrupt can split, so the
//! hot path takes no lock prefix and writes no shared cache line. Readers sum all CPUs.
//!
//! Each counter set ([`PerCpu`]) owns a fixed range of words of the area ([`area`]):
//! the module-wide counters, the strategies' scheduling counters, one range per lock
//! class, found by the class's name, and the side storage's counts.

use kernel::bindings;
use kernel::cpu::CpuId;

use crate::glue::kernel::shim;

/// Number of per-CPU slots readers walk: the kernel's compile-time CPU limit.
// CAST: NR_CPUS is a small configuration constant.
pub(crate) const SLOTS: usize = bindings::NR_CPUS as usize;

/// 64-bit words in each CPU's counter area (`PARTCP_PCPU_WORDS` in `partcp_shim.h`).
pub(crate) const WORDS: usize = 128;

/// The layout of the counter area: where each counter set starts and how many words
/// it may use. Every range starts on a cache line (8 words).
pub(crate) mod area {
    /// The module-wide counters (`stats.rs`).
    pub(crate) const STATS: usize = 0;
    /// Words reserved for them.
    pub(crate) const STATS_LEN: usize = 32;
    /// The strategies' scheduling counters (`strategy/mod.rs`).
    pub(crate) const SCHED: usize = 32;
    /// Words reserved for them.
    pub(crate) const SCHED_LEN: usize = 32;
    /// The lock classes, [`LOCK_LEN`] words each, in the order of [`LOCK_CLASSES`].
    pub(crate) const LOCKS: usize = 64;
    /// Words reserved for each lock class.
    pub(crate) const LOCK_LEN: usize = 8;
    /// Every lock class's name (`LockClass::NAME`).
    pub(crate) const LOCK_CLASSES: [&str; 6] = ["table", "conn", "listener", "group", "queue", "kunit"];
    /// The side storage's counts (`side.rs`): objects and bytes held, failed allocations.
    pub(crate) const SIDE: usize = 120;
    /// Words reserved for them.
    pub(crate) const SIDE_LEN: usize = 8;

    /// The first word of the lock class called `name`, or `None` for a name missing
    /// from [`LOCK_CLASSES`] (`lock_class!` refuses to compile it).
    pub(crate) const fn lock(name: &str) -> Option<usize> {
        let mut i = 0;
        while i < LOCK_CLASSES.len() {
            if eq(LOCK_CLASSES[i].as_bytes(), name.as_bytes()) {
                return Some(LOCKS + i * LOCK_LEN);
            }
            i += 1;
        }
        None
    }

    const fn eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    kernel::static_assert!(STATS + STATS_LEN <= SCHED);
    kernel::static_assert!(SCHED + SCHED_LEN <= LOCKS);
    kernel::static_assert!(LOCKS + LOCK_CLASSES.len() * LOCK_LEN <= SIDE);
    kernel::static_assert!(SIDE + SIDE_LEN <= super::WORDS);
}

/// `N` counters, one copy per CPU, at words `base..base + N` of the counter area.
///
/// # Invariants
///
/// `base + N <= WORDS` and no two counter sets overlap, by construction in [`area`]
/// (checked where each set is defined); the shim ignores words outside the area anyway.
pub(crate) struct PerCpu<const N: usize> {
    base: usize,
}

/// Index of the CPU this code runs on (stable in softirq and with BH disabled;
/// elsewhere a hint).
#[inline]
pub(crate) fn this_cpu() -> usize {
    // CAST: CPU ids are below NR_CPUS.
    (CpuId::current().as_u32() as usize).min(SLOTS - 1)
}

impl<const N: usize> PerCpu<N> {
    /// The counters at words `base..base + N` (see [`area`]).
    pub(crate) const fn at(base: usize) -> Self {
        PerCpu { base }
    }

    /// The area word of counter `i`, if `i < N`.
    #[inline]
    fn word(&self, i: usize) -> Option<u32> {
        // CAST: below WORDS (type invariant).
        (i < N).then_some((self.base + i) as u32)
    }

    /// Adds `v` to counter `i` on this CPU.
    #[inline]
    pub(crate) fn add(&self, i: usize, v: i64) {
        if let Some(w) = self.word(i) {
            shim::pcpu_add(w, v);
        }
    }

    /// Raises counter `i` on this CPU to `v` if it is lower (a per-CPU maximum).
    #[inline]
    pub(crate) fn max(&self, i: usize, v: i64) {
        if let Some(w) = self.word(i) {
            shim::pcpu_max(w, v);
        }
    }

    /// Zeroes every counter (the `reset` debugfs file). Concurrent adds may survive or
    /// be lost; counters are statistics, not accounting.
    pub(crate) fn reset(&self) {
        for cpu in 0..SLOTS {
            for i in 0..N {
                self.set(cpu, i, 0);
            }
        }
    }

    /// Sets counter `i` of CPU `cpu` to `v`.
    pub(crate) fn set(&self, cpu: usize, i: usize, v: i64) {
        if let (Some(w), Ok(cpu)) = (self.word(i), u32::try_from(cpu)) {
            shim::pcpu_write(cpu, w, v);
        }
    }

    /// Counter `i` of CPU `cpu` (0 for a CPU that is not possible).
    pub(crate) fn get(&self, cpu: usize, i: usize) -> i64 {
        match (self.word(i), u32::try_from(cpu)) {
            (Some(w), Ok(cpu)) => shim::pcpu_read(cpu, w),
            _ => 0,
        }
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
