// SPDX-License-Identifier: GPL-2.0

//! Layer: executors.
//!
//! **ConnP-T(n)** (connection-parallel, threads): `n` protocol kernel threads, thread
//! `i` bound to the `i`-th online CPU. Every piece of work for a connection — received
//! segments from NAPI, application requests from syscalls, timer expiries — is queued
//! to the thread its 4-tuple hashes to, which alone runs the connection's protocol
//! code: no lock guards connection state. Work before the 4-tuple is known to belong to
//! a connection (segments for listeners: SYN processing, handshake completion) goes to
//! thread 0, as in the paper.
//!
//! Each thread has a bounded queue preallocated at start (`QUEUE_LEN` items) under a
//! `spin_lock_bh` (class `queue`), drained in batches of up to `BATCH` items. NAPI and
//! timers enqueue and return; when a segment does not fit, its skb is dropped and
//! counted (TCP recovers), when a timer expiry does not fit the timer is re-armed for
//! the next jiffy. A syscall enqueues a request and sleeps uninterruptibly on a
//! completion until the thread has run it (if the queue is full it sleeps and retries).
//!
//! A connection's state is a [`ThreadCell`], which opens only with the [`ThreadCtx`] of
//! its thread: a value only that thread's main loop creates, once.
//!
//! The executor is generic over the work it runs ([`WorkItem`]: run on the thread, or
//! cancel when it will not run) and imports nothing above the kernel wrappers; partcp's
//! work is defined in `obj/work.rs` and run by `dispatch.rs`.
//!
//! # Invariants
//!
//! A [`Worker`] is pinned in its `Arc` from [`Threads::start`]; its thread runs
//! [`thread_fn`] with a borrowed pointer to it, and [`Threads`] holds a reference until
//! it has stopped the thread (`kthread_stop` waits for it).

use core::cell::UnsafeCell;
use core::fmt;

use kernel::bindings;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Full, Relaxed};
use kernel::sync::{new_condvar, Arc, CondVar};

use super::{sched_add, sched_max, Config, Kind, Sched};
use crate::glue::kernel::clock::now_ns;
use crate::glue::kernel::lock::{lock_class, new_bh_lock, BhLock};
use crate::glue::kernel::percpu::{this_cpu, SLOTS};
use crate::glue::kernel::shim;
use crate::glue::kernel::trace;

lock_class!(QueueLockClass, "queue");

/// Capacity of each thread's queue.
pub(crate) const QUEUE_LEN: usize = 4096;
/// Largest batch a thread takes from its queue at once.
const BATCH: usize = 64;

/// A piece of work for a protocol thread, which knows how to run itself there and how
/// to dispose of itself when it will not run. The executor never looks inside it.
pub(crate) trait WorkItem: Send + Sized + 'static {
    /// Runs the work on its protocol thread; `ctx` is that thread's context.
    fn run(self, ctx: &mut ThreadCtx);

    /// Disposes of work that will not run (queue full, or the thread stopping). Called
    /// from any context that could have queued it, so it must not open thread-owned
    /// state.
    fn cancel(self);
}

/// A queued work item and the CPU that raised it.
pub(crate) struct Item<W> {
    work: W,
    cpu: u32,
}

/// Why a push failed; the work comes back.
pub(crate) enum PushError<W> {
    /// The queue is full.
    Full(W),
    /// The thread is stopping or gone.
    Stopped(W),
}

/// A bounded ring of items.
struct Ring<W> {
    slots: KVVec<Option<Item<W>>>,
    head: usize,
    len: usize,
    stopped: bool,
}

impl<W> Ring<W> {
    fn push(&mut self, item: Item<W>) -> core::result::Result<(), Item<W>> {
        let cap = self.slots.len();
        if self.len >= cap {
            return Err(item);
        }
        let i = (self.head + self.len).checked_rem(cap).unwrap_or(0);
        match self.slots.get_mut(i) {
            Some(s) => {
                *s = Some(item);
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    fn pop(&mut self) -> Option<Item<W>> {
        if self.len == 0 {
            return None;
        }
        let item = self.slots.get_mut(self.head).and_then(|s| s.take());
        self.head = (self.head + 1).checked_rem(self.slots.len()).unwrap_or(0);
        self.len -= 1;
        item
    }
}

/// The context of a protocol thread: proof that code runs on that thread. Only
/// [`thread_fn`] creates one, once, for its own worker; it cannot leave the thread (a
/// raw pointer field makes it neither `Send` nor `Sync`).
pub(crate) struct ThreadCtx {
    /// The thread's [`Worker`], as an address: the context's identity.
    worker: *const (),
}

/// A value that only its protocol thread opens.
///
/// # Invariants
///
/// `cell` is only accessed through [`ThreadCell::get_mut`], with the [`ThreadCtx`] of
/// `worker`'s thread borrowed mutably for as long as the access lasts.
pub(crate) struct ThreadCell<T, W: WorkItem> {
    worker: Arc<Worker<W>>,
    cell: UnsafeCell<T>,
}

// SAFETY: The value moves between threads with the cell (`T: Send`).
unsafe impl<T: Send, W: WorkItem> Send for ThreadCell<T, W> {}
// SAFETY: Shared access reaches the value only on its worker's thread, with that
// thread's unique `ThreadCtx` mutably borrowed (type invariants): never two `&mut T`.
unsafe impl<T: Send, W: WorkItem> Sync for ThreadCell<T, W> {}

impl<T, W: WorkItem> ThreadCell<T, W> {
    /// `v`, owned by `worker`'s thread.
    pub(crate) fn new(worker: Arc<Worker<W>>, v: T) -> Self {
        ThreadCell { worker, cell: UnsafeCell::new(v) }
    }

    /// The owning thread's worker (to hand work to it).
    pub(crate) fn worker(&self) -> &Worker<W> {
        &self.worker
    }

    /// The value, if `ctx` is the owning thread's context.
    pub(crate) fn get_mut<'a>(&'a self, ctx: &'a mut ThreadCtx) -> Option<&'a mut T> {
        if core::ptr::eq(ctx.worker, self.worker.id()) {
            // SAFETY: `ctx` is the unique context of this cell's thread, borrowed
            // mutably for `'a` (type invariants): no other access exists meanwhile.
            Some(unsafe { &mut *self.cell.get() })
        } else {
            None
        }
    }
}

/// One protocol thread.
#[pin_data]
pub(crate) struct Worker<W: WorkItem> {
    idx: u32,
    cpu: u32,
    #[pin]
    q: BhLock<Ring<W>, QueueLockClass>,
    /// Syscalls waiting for room in a full queue (notified, under `q`, when the thread
    /// takes a batch from a full queue or stops).
    #[pin]
    room: CondVar,
    task: Atomic<*mut bindings::task_struct>,
    /// The thread is (about to be) asleep: producers must wake it.
    sleeping: Atomic<bool>,
    /// The thread has exited (set after `kthread_stop` returned).
    exited: Atomic<bool>,
    /// The batch being processed; only the thread touches it.
    batch: UnsafeCell<KVec<Item<W>>>,
}

// SAFETY: `task` is a kernel task pointer usable from any thread; `batch` is only used by
// the worker's thread (see `thread_fn`); the rest is locked or atomic.
unsafe impl<W: WorkItem> Send for Worker<W> {}
// SAFETY: As above.
unsafe impl<W: WorkItem> Sync for Worker<W> {}

/// Per-thread statistics, indexed by thread (static: readable without a token).
struct ThreadStat {
    cpu: Atomic<i64>,
    items: Atomic<i64>,
    busy_ns: Atomic<i64>,
    batches: Atomic<i64>,
}

static THREAD_STATS: [ThreadStat; SLOTS] = [const {
    ThreadStat { cpu: Atomic::new(-1), items: Atomic::new(0), busy_ns: Atomic::new(0), batches: Atomic::new(0) }
}; SLOTS];

/// Zeroes the per-thread statistics.
pub(crate) fn reset_thread_stats() {
    for t in THREAD_STATS.iter() {
        t.items.store(0, Relaxed);
        t.busy_ns.store(0, Relaxed);
        t.batches.store(0, Relaxed);
    }
}

/// Per-thread lines of the `sched` file (ConnP-T only).
pub(crate) fn write_thread_stats(f: &mut fmt::Formatter<'_>, cfg: Config) -> fmt::Result {
    if cfg.kind != Kind::ConnPT {
        return Ok(());
    }
    let n = usize::try_from(cfg.n).unwrap_or(0);
    for (i, t) in THREAD_STATS.iter().enumerate().take(n) {
        writeln!(
            f,
            "thread {} cpu {} items {} batches {} busy_ns {}",
            i,
            t.cpu.load(Relaxed),
            t.items.load(Relaxed),
            t.batches.load(Relaxed),
            t.busy_ns.load(Relaxed)
        )?;
    }
    Ok(())
}

impl<W: WorkItem> Worker<W> {
    /// The worker's identity, as its thread's [`ThreadCtx`] carries it.
    fn id(&self) -> *const () {
        (self as *const Self).cast()
    }

    fn new(idx: u32, cpu: u32) -> Result<Arc<Self>> {
        let mut slots = KVVec::with_capacity(QUEUE_LEN, GFP_KERNEL)?;
        for _ in 0..QUEUE_LEN {
            slots.push_within_capacity(None).map_err(|_| ENOMEM)?;
        }
        let batch = KVec::with_capacity(BATCH, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Worker {
                idx,
                cpu,
                q <- new_bh_lock!(Ring { slots, head: 0, len: 0, stopped: false }, c"Worker::q"),
                room <- new_condvar!("Worker::room"),
                task: Atomic::new(core::ptr::null_mut()),
                sleeping: Atomic::new(false),
                exited: Atomic::new(false),
                batch: UnsafeCell::new(batch),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues `work` (a hand-off) and wakes the thread if it sleeps.
    pub(crate) fn push(&self, work: W, kind: Sched) -> core::result::Result<(), PushError<W>> {
        // CAST: CPU ids are below NR_CPUS.
        let item = Item { work, cpu: this_cpu() as u32 };
        // Held until after the wake-up: `stop` waits for a grace period before it drops
        // its task reference, so `task` stays allocated while we may still wake it.
        let _rcu = kernel::sync::rcu::read_lock();
        let depth = {
            let mut q = self.q.lock();
            if q.stopped {
                return Err(PushError::Stopped(item.work));
            }
            match q.push(item) {
                Ok(()) => q.len,
                Err(item) => return Err(PushError::Full(item.work)),
            }
        };
        sched_add(Sched::Handoffs, 1);
        sched_add(kind, 1);
        sched_max(Sched::QueueMax, i64::try_from(depth).unwrap_or(i64::MAX));
        trace::handoff(self.idx, kind.handoff_kind(), depth);
        // Ordering: see `thread_fn` (the queue lock orders this load after the thread's
        // `sleeping` store, or our push before its emptiness check).
        if self.sleeping.load(Relaxed) {
            let task = self.task.load(Relaxed);
            if !task.is_null() {
                // `task` was set before the thread could run and is referenced
                // (`get_task_struct` in `start`) until `stop` has seen the queue
                // stopped, stopped the thread, and waited for an RCU grace period.
                // SAFETY: `task` is allocated for this RCU read-side section (we passed
                // the `stopped` check above); waking an exited task is a no-op.
                if unsafe { bindings::wake_up_process(task) } != 0 {
                    sched_add(Sched::Wakeups, 1);
                }
            }
        }
        Ok(())
    }

    /// Sleeps until the queue has room or the thread stops (a syscall whose request
    /// found the queue full). Process context.
    pub(crate) fn wait_for_room(&self) {
        let mut q = self.q.lock();
        if q.len >= q.slots.len() && !q.stopped {
            self.room.wait(&mut q);
        }
    }

    /// Stops the thread (idempotent) and discards queued work. Process context.
    fn stop(&self) {
        let task = {
            let mut q = self.q.lock();
            q.stopped = true;
            self.room.notify_all();
            self.task.xchg(core::ptr::null_mut(), Full)
        };
        if !task.is_null() {
            // SAFETY: `task` is our thread, created by `kthread_create_on_cpu`; it only
            // exits through this `kthread_stop` (taken once: `task` was swapped out).
            unsafe { bindings::kthread_stop(task) };
            self.exited.store(true, kernel::sync::atomic::Release);
            // Pushes that passed the `stopped` check are in RCU read-side sections and
            // may still wake `task`: wait for them before dropping our reference.
            kernel::sync::rcu::synchronize_rcu();
            // SAFETY: Taken in `Threads::start`.
            unsafe { bindings::put_task_struct(task) };
        }
        self.exited.store(true, kernel::sync::atomic::Release);
        loop {
            let item = self.q.lock().pop();
            match item {
                Some(i) => i.work.cancel(),
                None => break,
            }
        }
    }
}

/// The protocol threads of a ConnP-T strategy.
pub(crate) struct Threads<W: WorkItem> {
    workers: KVec<Arc<Worker<W>>>,
}

impl<W: WorkItem> Threads<W> {
    /// No threads (other strategies).
    pub(crate) fn empty() -> Self {
        Threads { workers: KVec::new() }
    }

    /// Starts `n` threads, thread `i` bound to the `i`-th online CPU.
    pub(crate) fn start(n: u32) -> Result<Self> {
        let mut t = Threads { workers: KVec::with_capacity(usize::try_from(n).map_err(|_| EINVAL)?, GFP_KERNEL)? };
        for i in 0..n {
            let cpu = shim::online_cpu(i);
            let w = Worker::new(i, cpu)?;
            let data = (&*w as *const Worker<W>).cast_mut().cast::<c_void>();
            // SAFETY: `thread_fn` matches the kthread signature; `data` points to the
            // pinned worker, which outlives the thread (`stop` before drop); the name
            // format has one `%u`, filled with `cpu`.
            let task = unsafe { bindings::kthread_create_on_cpu(Some(thread_fn::<W>), data, cpu, c"partcp/%u".as_ptr().cast()) };
            let task = match kernel::error::from_err_ptr(task) {
                Ok(p) => p,
                Err(e) => {
                    w.exited.store(true, Relaxed);
                    drop(t);
                    return Err(e);
                }
            };
            // SAFETY: A live task we just created; the reference is dropped in `stop`.
            unsafe { bindings::get_task_struct(task) };
            w.task.store(task, Relaxed);
            if let Some(s) = usize::try_from(i).ok().and_then(|i| THREAD_STATS.get(i)) {
                s.cpu.store(i64::from(cpu), Relaxed);
            }
            // Keep the worker before waking the thread so that `drop(t)` stops it.
            if let Err(e) = t.workers.push_within_capacity(w) {
                // Capacity was reserved for `n` workers; unreachable, but stop the thread.
                e.0.stop();
                drop(t);
                return Err(ENOMEM);
            }
            // SAFETY: A freshly created kthread, not yet started.
            unsafe { bindings::wake_up_process(task) };
        }
        Ok(t)
    }

    /// The worker for slot `i`.
    pub(crate) fn get(&self, i: u32) -> Option<Arc<Worker<W>>> {
        self.workers.get(usize::try_from(i).ok()?).cloned()
    }

    /// Stops every thread and discards queued work (idempotent).
    pub(crate) fn stop(&self) {
        for w in self.workers.iter() {
            w.stop();
        }
    }
}

impl<W: WorkItem> Drop for Threads<W> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn histogram(n: usize) {
    let b = match n {
        0 | 1 => Sched::Drain1,
        2..=3 => Sched::Drain2,
        4..=7 => Sched::Drain4,
        8..=15 => Sched::Drain8,
        _ => Sched::Drain16,
    };
    sched_add(Sched::Drains, 1);
    sched_add(b, 1);
}

/// A protocol thread's main loop.
///
/// # Safety
///
/// `data` points to a pinned [`Worker`] that outlives the thread (`Worker::stop` waits
/// for the thread to exit before the worker can be freed).
unsafe extern "C" fn thread_fn<W: WorkItem>(data: *mut c_void) -> c_int {
    // SAFETY: Function precondition.
    let w = unsafe { &*data.cast::<Worker<W>>() };
    // The thread's one context (see `ThreadCtx`).
    let mut ctx = ThreadCtx { worker: w.id() };
    // SAFETY: Only this thread touches `batch` (type invariant of `Worker`).
    let batch = unsafe { &mut *w.batch.get() };
    let stat = usize::try_from(w.idx).ok().and_then(|i| THREAD_STATS.get(i));
    // SAFETY: Called from a kthread.
    while !unsafe { bindings::kthread_should_stop() } {
        {
            let mut q = w.q.lock();
            if q.len >= q.slots.len() {
                // Room is about to appear: wake syscalls waiting for it.
                w.room.notify_all();
            }
            while batch.len() < BATCH {
                let Some(item) = q.pop() else { break };
                if let Err(e) = batch.push_within_capacity(item) {
                    // Cannot happen (capacity BATCH); put it back.
                    let _ = q.push(e.0);
                    break;
                }
            }
        }
        if batch.is_empty() {
            // Sleep protocol: announce, set the task state, re-check under the queue
            // lock, sleep. A producer pushes under the same lock and then reads
            // `sleeping`: either it pushed before our check (we see the work) or our
            // `sleeping` store (fully ordered before the check) is visible to it and it
            // wakes us; a wake-up after `set_current_state` makes `schedule` return.
            w.sleeping.xchg(true, Full);
            // SAFETY: Sets the current task's state; no preconditions.
            unsafe { shim::partcp_set_current_interruptible() };
            let empty = w.q.lock().len == 0;
            // SAFETY: Called from a kthread.
            if empty && !unsafe { bindings::kthread_should_stop() } {
                sched_add(Sched::Sleeps, 1);
                // SAFETY: Process context, no locks held.
                unsafe { bindings::schedule() };
            }
            // SAFETY: As above.
            unsafe { shim::partcp_set_current_running() };
            w.sleeping.store(false, Relaxed);
            continue;
        }
        let n = batch.len();
        histogram(n);
        let t0 = now_ns();
        for item in batch.drain_all() {
            if item.cpu != w.cpu {
                sched_add(Sched::Remote, 1);
            }
            sched_add(Sched::Items, 1);
            item.work.run(&mut ctx);
        }
        if let Some(s) = stat {
            if crate::glue::kernel::stats::enabled() {
                s.busy_ns.add(i64::try_from(now_ns().saturating_sub(t0)).unwrap_or(i64::MAX), Relaxed);
                s.items.add(i64::try_from(n).unwrap_or(0), Relaxed);
                s.batches.add(1, Relaxed);
            }
        }
    }
    0
}

/// KUnit: the protocol threads' bounded work ring (FIFO order, full and empty, wrap
/// around). The ring is generic and never looks inside its items: these carry `()`.
#[kunit_tests(partcp_connp_t_ring)]
mod tests {
    use super::*;

    /// An empty ring of `cap` slots.
    fn ring(cap: usize) -> Result<Ring<()>> {
        let mut slots = KVVec::with_capacity(cap, GFP_KERNEL)?;
        for _ in 0..cap {
            slots.push_within_capacity(None).map_err(|_| ENOMEM)?;
        }
        Ok(Ring { slots, head: 0, len: 0, stopped: false })
    }

    /// An item told apart by its `cpu` field.
    fn item(tag: u32) -> Item<()> {
        Item { work: (), cpu: tag }
    }

    /// The tag of the next item popped, if any.
    fn pop_tag(r: &mut Ring<()>) -> Option<u32> {
        r.pop().map(|i| i.cpu)
    }

    #[test]
    fn fifo_full_empty() -> Result {
        let mut r = ring(4)?;
        assert!(pop_tag(&mut r).is_none());
        for t in 0..4 {
            assert!(r.push(item(t)).is_ok());
        }
        assert!(r.len == 4);
        // Full: the item comes back unchanged, and nothing queued is lost.
        assert!(matches!(r.push(item(99)), Err(Item { cpu: 99, .. })));
        assert!(r.len == 4);
        for t in 0..4 {
            assert!(pop_tag(&mut r) == Some(t));
        }
        assert!(r.len == 0);
        assert!(pop_tag(&mut r).is_none());
        assert!(r.len == 0);
        Ok(())
    }

    #[test]
    fn wrap_around() -> Result {
        let mut r = ring(4)?;
        let (mut next_in, mut next_out) = (0u32, 0u32);
        // Three in, two out, many times: the head goes round the ring repeatedly and
        // the order is kept whatever the fill level.
        for _ in 0..10 {
            while r.len < 4 {
                assert!(r.push(item(next_in)).is_ok());
                next_in += 1;
            }
            assert!(r.push(item(u32::MAX)).is_err());
            for _ in 0..3 {
                assert!(pop_tag(&mut r) == Some(next_out));
                next_out += 1;
            }
            assert!(r.head < 4);
        }
        while let Some(t) = pop_tag(&mut r) {
            assert!(t == next_out);
            next_out += 1;
        }
        assert!(next_out == next_in && r.len == 0);
        Ok(())
    }

    #[test]
    fn one_slot_and_no_slot() -> Result {
        let mut r = ring(1)?;
        for t in 0..5 {
            assert!(r.push(item(t)).is_ok());
            assert!(r.push(item(t + 100)).is_err());
            assert!(pop_tag(&mut r) == Some(t));
            assert!(pop_tag(&mut r).is_none());
        }
        // A ring without slots refuses everything and never divides by zero.
        let mut z = ring(0)?;
        assert!(z.push(item(1)).is_err());
        assert!(pop_tag(&mut z).is_none());
        Ok(())
    }

    #[test]
    fn queue_len_slots() -> Result {
        // A thread's real queue size: exactly `QUEUE_LEN` items fit.
        let mut r = ring(QUEUE_LEN)?;
        let n = u32::try_from(QUEUE_LEN)?;
        for t in 0..n {
            assert!(r.push(item(t)).is_ok());
        }
        assert!(r.push(item(n)).is_err());
        for t in 0..n {
            assert!(pop_tag(&mut r) == Some(t));
        }
        assert!(r.len == 0);
        Ok(())
    }
}
