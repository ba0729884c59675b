// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A bottom-half-disabling spinlock with per-class statistics.
//!
//! partcp's locks are taken from process context (syscalls) and from softirq context
//! (NAPI receive, timers), so they must disable bottom halves like `spin_lock_bh`, which
//! the `kernel` crate (7.3) does not offer. [`BhBackend`] implements the crate's lock
//! [`Backend`] trait over the C shim's `spin_lock_bh`, so [`BhLock`] works with the
//! crate's `Guard` and `CondVar`.
//!
//! Each lock class (a type implementing [`LockClass`]) has per-CPU counters: acquisitions,
//! contended acquisitions (the trylock failed), and total/maximum wait and hold times in
//! nanoseconds (timed only while [`TIMING`] is on). A contended acquisition also fires
//! `partcp:partcp_lock_contended` (timed whenever that event is enabled).

use core::marker::PhantomData;

use kernel::bindings;
use kernel::ffi::c_char;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::lock::{Backend, Lock};

use crate::glue::kernel::clock::now_ns;
use crate::glue::kernel::percpu::PerCpu;
use crate::glue::kernel::shim;
use crate::glue::kernel::trace;

/// Whether lock wait/hold times are measured (module parameter `lock_timing`).
pub(crate) static TIMING: Atomic<bool> = Atomic::new(true);

/// Counter indices of [`LockStats`].
pub(crate) mod idx {
    pub(crate) const ACQUIRED: usize = 0;
    pub(crate) const CONTENDED: usize = 1;
    pub(crate) const WAIT_NS: usize = 2;
    pub(crate) const WAIT_MAX_NS: usize = 3;
    pub(crate) const HOLD_NS: usize = 4;
    pub(crate) const HOLD_MAX_NS: usize = 5;
    pub(crate) const COUNT: usize = 6;
}

/// Statistics of one lock class.
pub(crate) type LockStats = PerCpu<{ idx::COUNT }>;

/// A class of locks that share statistics (e.g. "every connection lock").
pub(crate) trait LockClass: 'static {
    /// Name shown in debugfs.
    const NAME: &'static str;
    /// The class's counters.
    fn stats() -> &'static LockStats;
}

/// `spin_lock_bh` as a lock backend, counting into class `C`.
pub(crate) struct BhBackend<C>(PhantomData<C>);

/// A `spin_lock_bh` lock of class `C` protecting a `T`.
pub(crate) type BhLock<T, C> = Lock<T, BhBackend<C>>;

/// Creates a [`BhLock`] initializer with a lockdep class per call site.
macro_rules! new_bh_lock {
    ($inner:expr, $name:literal) => {
        kernel::sync::lock::Lock::new($inner, $name, kernel::static_lock_class!())
    };
}
pub(crate) use new_bh_lock;

// SAFETY: The kernel `spinlock_t` ensures mutual exclusion; `lock`/`unlock` pair
// `spin_lock_bh`/`spin_unlock_bh`, and `relock` uses the default, which calls `lock`.
unsafe impl<C: LockClass> Backend for BhBackend<C> {
    type State = bindings::spinlock_t;
    /// When the lock was acquired (ns), or 0 when not timing.
    type GuardState = u64;

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: The caller guarantees `ptr` is valid for writes and `name`/`key` live
        // forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> u64 {
        let counting = crate::glue::kernel::stats::enabled();
        if !counting && !trace::lock_contended_enabled() {
            // SAFETY: The caller guarantees `ptr` points to an initialized spinlock.
            unsafe { shim::partcp_spin_lock_bh(ptr) };
            return 0;
        }
        let stats = C::stats();
        // SAFETY: The caller guarantees `ptr` points to an initialized spinlock.
        if unsafe { shim::partcp_spin_trylock_bh(ptr) } == 0 {
            let tracing = trace::lock_contended_enabled();
            let timing = (counting && TIMING.load(Relaxed)) || tracing;
            let t0 = if timing { now_ns() } else { 0 };
            // SAFETY: As above.
            unsafe { shim::partcp_spin_lock_bh(ptr) };
            let waited = if timing { now_ns().saturating_sub(t0) } else { 0 };
            trace::lock_contended(C::NAME, waited);
            if counting {
                stats.add(idx::CONTENDED, 1);
                if TIMING.load(Relaxed) {
                    // CAST: wait times are far below i64::MAX ns.
                    stats.add(idx::WAIT_NS, waited as i64);
                    stats.max(idx::WAIT_MAX_NS, waited as i64);
                }
            }
        }
        if !counting {
            return 0;
        }
        stats.add(idx::ACQUIRED, 1);
        if TIMING.load(Relaxed) {
            now_ns()
        } else {
            0
        }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<u64> {
        // SAFETY: The caller guarantees `ptr` points to an initialized spinlock.
        if unsafe { shim::partcp_spin_trylock_bh(ptr) } != 0 {
            if !crate::glue::kernel::stats::enabled() {
                return Some(0);
            }
            C::stats().add(idx::ACQUIRED, 1);
            Some(if TIMING.load(Relaxed) { now_ns() } else { 0 })
        } else {
            None
        }
    }

    unsafe fn unlock(ptr: *mut Self::State, acquired: &u64) {
        if *acquired != 0 {
            let held = now_ns().saturating_sub(*acquired) as i64;
            let stats = C::stats();
            stats.add(idx::HOLD_NS, held);
            stats.max(idx::HOLD_MAX_NS, held);
        }
        // SAFETY: The caller owns the lock.
        unsafe { shim::partcp_spin_unlock_bh(ptr) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller guarantees `ptr` points to an initialized spinlock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

/// Declares a lock class with its own static counters.
macro_rules! lock_class {
    ($ty:ident, $name:literal) => {
        #[doc = concat!("Lock class `", $name, "`.")]
        pub(crate) struct $ty;
        impl $crate::glue::kernel::lock::LockClass for $ty {
            const NAME: &'static str = $name;
            fn stats() -> &'static $crate::glue::kernel::lock::LockStats {
                static STATS: $crate::glue::kernel::lock::LockStats = $crate::glue::kernel::percpu::PerCpu::new();
                &STATS
            }
        }
    };
}
pub(crate) use lock_class;

/// One line of the `locks` debugfs file for class `C`.
pub(crate) fn write_class<C: LockClass>(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let s = C::stats();
    write!(
        f,
        "{} {} {} {} {} {} {}",
        C::NAME,
        s.sum(idx::ACQUIRED),
        s.sum(idx::CONTENDED),
        s.sum(idx::WAIT_NS),
        s.max_all(idx::WAIT_MAX_NS),
        s.sum(idx::HOLD_NS),
        s.max_all(idx::HOLD_MAX_NS)
    )
}

/// Writes class `C`'s per-CPU acquisitions and contended acquisitions as two `percpu`
/// rows (`lock_<class>_acquired`, `lock_<class>_contended`).
pub(crate) fn write_class_percpu<C: LockClass>(f: &mut core::fmt::Formatter<'_>, cpus: usize) -> core::fmt::Result {
    let s = C::stats();
    for (i, what) in [(idx::ACQUIRED, "acquired"), (idx::CONTENDED, "contended")] {
        crate::glue::kernel::stats::write_row(f, format_args!("lock_{}_{}", C::NAME, what), cpus, |cpu| s.get(cpu, i))?;
    }
    Ok(())
}

/// Zeroes class `C`'s counters (the `reset` debugfs file).
pub(crate) fn reset_class<C: LockClass>() {
    C::stats().reset();
}
