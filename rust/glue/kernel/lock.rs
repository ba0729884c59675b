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
//! nanoseconds, timed only while [`TIMING`] is on (module parameter `lock_timing`, off
//! by default: timing reads the clock twice per acquisition). A contended acquisition
//! also fires `partcp:partcp_lock_contended` (timed whenever that event is enabled).

use core::marker::PhantomData;

use kernel::bindings;
use kernel::ffi::c_char;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::lock::{Backend, Lock};

use crate::glue::kernel::clock::now_ns;
use crate::glue::kernel::percpu::PerCpu;
use crate::glue::kernel::shim;
use crate::glue::kernel::trace;

/// Whether lock wait/hold times are measured (module parameter `lock_timing`, default
/// off; writable at run time). A guard remembers whether its acquisition was timed, so
/// switching while a lock is held is harmless.
pub(crate) static TIMING: Atomic<bool> = Atomic::new(false);

/// Whether lock wait/hold times are measured now.
#[inline]
pub(crate) fn timing() -> bool {
    TIMING.load(Relaxed)
}

/// Setter of the `lock_timing` module parameter (the shim's `kernel_param_ops.set`,
/// at load and on writes to `/sys/module/partcp/parameters/lock_timing`).
#[no_mangle]
pub(crate) extern "C" fn partcp_rust_set_lock_timing(on: bool) {
    TIMING.store(on, Relaxed);
}

/// Getter of the `lock_timing` module parameter.
#[no_mangle]
pub(crate) extern "C" fn partcp_rust_lock_timing() -> bool {
    timing()
}

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
            let timed = (counting && timing()) || tracing;
            let t0 = if timed { now_ns() } else { 0 };
            // SAFETY: As above.
            unsafe { shim::partcp_spin_lock_bh(ptr) };
            let waited = if timed { now_ns().saturating_sub(t0) } else { 0 };
            trace::lock_contended(C::NAME, waited);
            if counting {
                stats.add(idx::CONTENDED, 1);
                if timed && timing() {
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
        if timing() {
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
            Some(if timing() { now_ns() } else { 0 })
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
                // The class's words of the per-CPU counter area, found by its name.
                const BASE: Option<usize> = $crate::glue::kernel::percpu::area::lock($name);
                kernel::static_assert!(BASE.is_some(), "lock class missing from percpu::area::LOCK_CLASSES");
                static STATS: $crate::glue::kernel::lock::LockStats =
                    $crate::glue::kernel::percpu::PerCpu::at(match BASE {
                        Some(b) => b,
                        None => 0,
                    });
                &STATS
            }
        }
    };
}
pub(crate) use lock_class;

/// One line of the `locks` debugfs file for class `C`; with lock timing off the four
/// time columns read `off`.
pub(crate) fn write_class<C: LockClass>(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let s = C::stats();
    write!(f, "{} {} {}", C::NAME, s.sum(idx::ACQUIRED), s.sum(idx::CONTENDED))?;
    if !timing() {
        return write!(f, " off off off off");
    }
    write!(
        f,
        " {} {} {} {}",
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

/// KUnit: the statistics of a [`BhLock`] of a class of its own (`kunit`, in no debugfs
/// file): acquisitions counted exactly, contended acquisitions counted and never more
/// than acquisitions, times and maxima consistent, the `locks` line, reset.
#[kernel::prelude::kunit_tests(partcp_lock_stats)]
mod tests {
    use super::*;
    use kernel::prelude::*;
    use kernel::processor::cpu_relax;
    use kernel::str::CString;
    use kernel::sync::atomic::{Acquire, Release};
    use kernel::sync::Arc;
    use kernel::time::delay::{fsleep, udelay};
    use kernel::time::Delta;

    lock_class!(KunitLockClass, "kunit");

    type TestLock = BhLock<u64, KunitLockClass>;

    /// A lock shared with a work item, and the flags the two sides signal each other with.
    #[pin_data]
    struct Shared {
        #[pin]
        lock: TestLock,
        held: Atomic<bool>,
        entering: Atomic<bool>,
        done: Atomic<bool>,
    }

    /// A private workqueue for the other side of the concurrent tests. Dropping it
    /// drains it: every work item has returned, so no code of this module still runs
    /// on it once a test is over (the module may be unloaded right after loading).
    struct TestQueue(*mut bindings::workqueue_struct);

    impl TestQueue {
        fn new() -> Result<TestQueue> {
            // SAFETY: The name is a NUL-terminated string; the flags are valid.
            let wq = unsafe {
                bindings::alloc_workqueue_noprof(c"partcp_kunit".as_ptr().cast(), bindings::wq_flags_WQ_UNBOUND, 0)
            };
            if wq.is_null() {
                return Err(ENOMEM);
            }
            Ok(TestQueue(wq))
        }

        fn queue(&self) -> &kernel::workqueue::Queue {
            // SAFETY: `self.0` is a live workqueue until `drop`, which the borrow precedes.
            unsafe { kernel::workqueue::Queue::from_raw(self.0) }
        }
    }

    impl Drop for TestQueue {
        fn drop(&mut self) {
            // SAFETY: Allocated in `new`; nothing can queue on it any more (the only
            // borrows of it have ended); `destroy_workqueue` waits for queued items.
            unsafe { bindings::destroy_workqueue(self.0) };
        }
    }

    fn shared() -> Result<Arc<Shared>> {
        Arc::pin_init(
            pin_init!(Shared {
                lock <- new_bh_lock!(0, c"kunit::Shared::lock"),
                held: Atomic::new(false),
                entering: Atomic::new(false),
                done: Atomic::new(false),
            }),
            GFP_KERNEL,
        )
    }

    fn sum(i: usize) -> i64 {
        KunitLockClass::stats().sum(i)
    }

    /// What a counter of `n` events reads: `n` with statistics on, else 0.
    fn counted(n: i64) -> i64 {
        if crate::glue::kernel::stats::enabled() {
            n
        } else {
            0
        }
    }

    /// Sleeps in 1 ms steps until `flag` is set, for at most `ms` milliseconds.
    fn wait_for(flag: &Atomic<bool>, ms: u32) -> bool {
        for _ in 0..ms {
            if flag.load(Acquire) {
                return true;
            }
            fsleep(Delta::from_millis(1));
        }
        flag.load(Acquire)
    }

    /// Busy-waits (the caller may hold a spinlock) until `flag` is set or `max_ns` passed.
    fn spin_for(flag: Option<&Atomic<bool>>, max_ns: u64) {
        let t0 = now_ns();
        while now_ns().saturating_sub(t0) < max_ns {
            if flag.is_some_and(|f| f.load(Acquire)) {
                return;
            }
            cpu_relax();
        }
    }

    /// The class's `locks` debugfs line.
    struct Line;

    impl core::fmt::Debug for Line {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write_class::<KunitLockClass>(f)
        }
    }

    #[test]
    fn acquisitions_counted() -> Result {
        let sh = shared()?;
        reset_class::<KunitLockClass>();
        for _ in 0..10 {
            *sh.lock.lock() += 1;
        }
        assert!(*sh.lock.lock() == 10);
        assert!(sum(idx::ACQUIRED) == counted(11));
        // One context alone never finds the lock taken.
        assert!(sum(idx::CONTENDED) == 0);
        assert!(sum(idx::WAIT_NS) == 0 && KunitLockClass::stats().max_all(idx::WAIT_MAX_NS) == 0);
        // A trylock that succeeds counts; one that fails (the lock is held) does not.
        assert!(sh.lock.try_lock().is_some());
        assert!(sum(idx::ACQUIRED) == counted(12));
        {
            let _g = sh.lock.lock();
            assert!(sh.lock.try_lock().is_none());
        }
        assert!(sum(idx::ACQUIRED) == counted(13));
        assert!(sum(idx::CONTENDED) == 0);
        // Per-CPU rows add up to the total.
        let per_cpu: i64 =
            (0..crate::glue::kernel::percpu::SLOTS).map(|cpu| KunitLockClass::stats().get(cpu, idx::ACQUIRED)).sum();
        assert!(per_cpu == sum(idx::ACQUIRED));
        Ok(())
    }

    #[test]
    fn hold_times() -> Result {
        let sh = shared()?;
        reset_class::<KunitLockClass>();
        for _ in 0..3 {
            let _g = sh.lock.lock();
            udelay(Delta::from_micros(20));
        }
        let (hold, hold_max) = (sum(idx::HOLD_NS), KunitLockClass::stats().max_all(idx::HOLD_MAX_NS));
        if crate::glue::kernel::stats::enabled() && timing() {
            assert!(hold_max > 0);
            assert!(hold_max <= hold);
        } else {
            assert!(hold == 0 && hold_max == 0);
        }
        Ok(())
    }

    #[test]
    fn timing_switched_on() -> Result {
        // As writing 1 to the `lock_timing` parameter: times appear at once, and the
        // per-CPU maxima (`this_cpu_cmpxchg`) stay within the totals.
        if !crate::glue::kernel::stats::enabled() {
            return Ok(());
        }
        let was = timing();
        partcp_rust_set_lock_timing(true);
        let sh = shared()?;
        reset_class::<KunitLockClass>();
        for us in [5, 30, 10] {
            let _g = sh.lock.lock();
            udelay(Delta::from_micros(us));
        }
        let (hold, hold_max) = (sum(idx::HOLD_NS), KunitLockClass::stats().max_all(idx::HOLD_MAX_NS));
        let line = CString::try_from_fmt(fmt!("{:?}", Line))?;
        partcp_rust_set_lock_timing(was);
        assert!(partcp_rust_lock_timing() == was);
        assert!(hold_max > 0 && hold_max <= hold);
        assert!(line.to_bytes().starts_with(b"kunit 3 0 0 0 "));
        Ok(())
    }

    /// What counting costs per operation on this machine, logged for
    /// `Documentation/debugfs.md` ("Cost of counting"): an uncontended lock/unlock pair
    /// with `lock_timing` off and on, and a counter add as `this_cpu_add` (what
    /// [`PerCpu::add`] does) and as the locked add on a slot indexed by CPU id that
    /// partcp used before. Each is the minimum over a few rounds; the test checks that
    /// the two lock loops ran with timing off and on as labelled (acquisitions counted
    /// both times, hold time only the second), not the times.
    #[test]
    fn cost() -> Result {
        const N: u64 = 20_000;
        const ROUNDS: usize = 5;
        if !crate::glue::kernel::stats::enabled() {
            return Ok(());
        }
        /// The old counters: one slot per CPU, locked adds.
        static OLD: [Atomic<i64>; crate::glue::kernel::percpu::SLOTS] =
            [const { Atomic::new(0) }; crate::glue::kernel::percpu::SLOTS];
        let sh = shared()?;
        let was = timing();
        // Minimum ns per operation of `f` run N times, over ROUNDS rounds.
        let per_op = |f: &dyn Fn()| -> u64 {
            let mut best = u64::MAX;
            for _ in 0..ROUNDS {
                let t0 = now_ns();
                for _ in 0..N {
                    f();
                }
                best = best.min(now_ns().saturating_sub(t0));
            }
            best / N
        };
        reset_class::<KunitLockClass>();
        partcp_rust_set_lock_timing(false);
        let lock_off = per_op(&|| drop(sh.lock.lock()));
        // What was measured is what the line says: counted, and not timed...
        let (acq_off, hold_off) = (sum(idx::ACQUIRED), sum(idx::HOLD_NS));
        reset_class::<KunitLockClass>();
        partcp_rust_set_lock_timing(true);
        let lock_on = per_op(&|| drop(sh.lock.lock()));
        // ...then counted and timed.
        let (acq_on, hold_on) = (sum(idx::ACQUIRED), sum(idx::HOLD_NS));
        partcp_rust_set_lock_timing(was);
        let this_cpu = per_op(&|| KunitLockClass::stats().add(idx::CONTENDED, 1));
        let locked = per_op(&|| {
            OLD[crate::glue::kernel::percpu::this_cpu()].add(1, Relaxed);
        });
        reset_class::<KunitLockClass>();
        pr_info!(
            "cost of counting: lock+unlock {} ns with lock_timing=0, {} ns with lock_timing=1; counter add {} ns (this_cpu_add), {} ns (locked add)\n",
            lock_off,
            lock_on,
            this_cpu,
            locked
        );
        // The times themselves are not judged: on a shared host under emulation either
        // loop may be the slower one.
        let ops = (N as i64) * (ROUNDS as i64);
        assert!(acq_off == ops && acq_on == ops);
        assert!(hold_off == 0);
        assert!(hold_on > 0);
        Ok(())
    }

    #[test]
    fn locks_line_and_reset() -> Result {
        let sh = shared()?;
        reset_class::<KunitLockClass>();
        for _ in 0..3 {
            drop(sh.lock.lock());
        }
        let line = CString::try_from_fmt(fmt!("{:?}", Line))?;
        let want: &[u8] = match (crate::glue::kernel::stats::enabled(), timing()) {
            (true, true) => b"kunit 3 0 0 0 ",
            (true, false) => b"kunit 3 0 off off off off",
            (false, true) => b"kunit 0 0 0 0 0 0",
            (false, false) => b"kunit 0 0 off off off off",
        };
        assert!(line.to_bytes().starts_with(want));
        reset_class::<KunitLockClass>();
        for i in 0..idx::COUNT {
            assert!(sum(i) == 0 && KunitLockClass::stats().max_all(i) == 0);
        }
        let line = CString::try_from_fmt(fmt!("{:?}", Line))?;
        let want: &[u8] = if timing() { b"kunit 0 0 0 0 0 0" } else { b"kunit 0 0 off off off off" };
        assert!(line.to_bytes() == want);
        Ok(())
    }

    #[test]
    fn concurrent_acquisitions() -> Result {
        const N: u64 = 2000;
        let sh = shared()?;
        let wq = TestQueue::new()?;
        reset_class::<KunitLockClass>();
        let other = sh.clone();
        wq.queue().try_spawn(GFP_KERNEL, move || {
            for _ in 0..N {
                *other.lock.lock() += 1;
            }
            other.done.store(true, Release);
        })?;
        for _ in 0..N {
            *sh.lock.lock() += 1;
        }
        assert!(wait_for(&sh.done, 20_000));
        assert!(*sh.lock.lock() == 2 * N);
        // Every acquisition counted once, whichever side and CPU took it.
        assert!(sum(idx::ACQUIRED) == counted(2 * N as i64 + 1));
        let (contended, wait, wait_max) =
            (sum(idx::CONTENDED), sum(idx::WAIT_NS), KunitLockClass::stats().max_all(idx::WAIT_MAX_NS));
        assert!(contended >= 0 && contended <= sum(idx::ACQUIRED));
        assert!(wait_max <= wait);
        if contended == 0 {
            assert!(wait == 0);
        }
        Ok(())
    }

    #[test]
    fn contention_counted() -> Result {
        // A work item holds the lock while this test takes it: contended (and timed) on
        // a machine with two CPUs. One CPU cannot contend a spinlock (its holder is not
        // preemptible), and without statistics nothing counts.
        if crate::glue::kernel::shim::num_online_cpus() < 2 || !crate::glue::kernel::stats::enabled() {
            return Ok(());
        }
        reset_class::<KunitLockClass>();
        // The holder keeps the lock for 10 ms after this side announces it is about to
        // take it; a host that deschedules this vCPU for longer makes an attempt miss,
        // hence the retries.
        let wq = TestQueue::new()?;
        let mut contended = false;
        for _ in 0..10 {
            let sh = shared()?;
            let holder = sh.clone();
            wq.queue().try_spawn(GFP_KERNEL, move || {
                let g = holder.lock.lock();
                holder.held.store(true, Release);
                spin_for(Some(&holder.entering), 1_000_000_000);
                spin_for(None, 10_000_000);
                drop(g);
                holder.done.store(true, Release);
            })?;
            let held = wait_for(&sh.held, 2000);
            sh.entering.store(true, Release);
            if held {
                drop(sh.lock.lock());
            }
            assert!(wait_for(&sh.done, 20_000));
            if sum(idx::CONTENDED) > 0 {
                contended = true;
                break;
            }
        }
        assert!(contended);
        assert!(sum(idx::CONTENDED) <= sum(idx::ACQUIRED));
        if timing() {
            // The wait covers at least part of the holder's 10 ms.
            assert!(sum(idx::WAIT_NS) > 0);
            assert!(KunitLockClass::stats().max_all(idx::WAIT_MAX_NS) <= sum(idx::WAIT_NS));
        }
        Ok(())
    }
}
