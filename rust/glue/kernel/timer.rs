// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A re-armable kernel timer (`timer_list`) embedded in a connection or listener, and
//! [`HandOff`], the flag of a timer expiry handed to a protocol thread.
//!
//! TCP re-arms its timer from every context (syscalls, NAPI, the timer itself) to the
//! connection's next deadline, like Linux's `sk_reset_timer`. `mod_timer` semantics fit
//! that directly; the `kernel` crate's hrtimer API ties each start to a handle whose drop
//! cancels and waits, which cannot be done from the timer's own callback or under the
//! connection lock. Callbacks run in softirq context.
//!
//! # Invariants
//!
//! The owner calls [`Timer::shutdown`] before the timer's memory is freed, and never from
//! the timer's own callback; after it, the timer neither runs nor can be re-armed.

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Full, Release};
use kernel::types::Opaque;

use crate::glue::kernel::shim;

/// A `timer_list` (at offset 0: callbacks find their owner from it).
#[repr(C)]
#[pin_data]
pub(crate) struct Timer {
    #[pin]
    t: Opaque<bindings::timer_list>,
}

// SAFETY: The timer core synchronizes every operation on a `timer_list` (the timer base
// lock): arming, deleting and running may happen from any context.
unsafe impl Send for Timer {}
// SAFETY: As above.
unsafe impl Sync for Timer {}

impl Timer {
    /// Initializes a timer that calls `f` (which receives a pointer to this timer's
    /// `timer_list`, for `container_of!`).
    pub(crate) fn new(f: unsafe extern "C" fn(*mut bindings::timer_list)) -> impl PinInit<Self> {
        pin_init!(Timer {
            // SAFETY: `slot` is valid for writes while the closure runs; `timer_setup`
            // fully initializes it.
            t <- Opaque::ffi_init(move |slot| unsafe { shim::partcp_timer_init(slot, f) }),
        })
    }

    /// The raw `timer_list`.
    pub(crate) fn as_ptr(&self) -> *mut bindings::timer_list {
        self.t.get()
    }

    /// Fires the callback `usecs` from now (rounded up to a jiffy), replacing any pending
    /// expiry.
    pub(crate) fn arm_usecs(&self, usecs: u64) {
        // SAFETY: The timer was initialized by `new` and is alive (type invariant: it is
        // only freed after `shutdown`, after which re-arming is a no-op).
        unsafe { shim::partcp_timer_arm_usecs(self.as_ptr(), usecs as _) }
    }

    /// Waits for a running callback and disarms the timer for good.
    ///
    /// Must not be called from the timer's own callback (it would wait for itself).
    pub(crate) fn shutdown(&self) {
        // SAFETY: The timer was initialized by `new`.
        unsafe { shim::partcp_timer_shutdown_sync(self.as_ptr()) }
    }
}

/// A timer expiry handed to another context (a ConnP-T protocol thread), at most one at a
/// time per object: [`claim`](HandOff::claim)ed by the timer callback that queues it,
/// [`done`](HandOff::done) by whoever consumes the queued item (after its last use of the
/// object, which the item reaches by raw pointer), waited for by the object's destructor
/// ([`wait_idle`](HandOff::wait_idle)) so that the object outlives the queued item.
#[repr(transparent)]
pub(crate) struct HandOff(Atomic<bool>);

impl HandOff {
    /// Nothing handed off.
    pub(crate) const fn new() -> Self {
        HandOff(Atomic::new(false))
    }

    /// Marks an expiry as handed off; false if one already is (the queued one will see
    /// every due deadline when it runs).
    pub(crate) fn claim(&self) -> bool {
        !self.0.xchg(true, Full)
    }

    /// The queued expiry was consumed (run or discarded): the object may go. The caller
    /// must not use the object afterwards.
    pub(crate) fn done(&self) {
        let key = (self as *const Self).cast::<core::ffi::c_void>();
        self.0.store(false, Release);
        // SAFETY: `partcp_wake_var` only uses the address as a wait-queue key and never
        // dereferences it, so it is fine if the waiter freed the object meanwhile.
        unsafe { shim::partcp_wake_var(key) };
    }

    /// Sleeps until no expiry is handed off. Process context.
    pub(crate) fn wait_idle(&self) {
        if !self.0.load(Acquire) {
            return;
        }
        // SAFETY: `self` is valid for the whole wait; the flag is a one-byte atomic the
        // shim reads with `smp_load_acquire`.
        unsafe { shim::partcp_wait_var_false((self as *const Self).cast_mut().cast()) };
    }
}
