// SPDX-License-Identifier: GPL-2.0

//! A re-armable kernel timer (`timer_list`) embedded in a connection or listener.
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
use kernel::types::Opaque;

use super::shim;

/// A `timer_list` (at offset 0: callbacks find their owner from it).
#[repr(C)]
#[pin_data]
pub(crate) struct Timer {
    #[pin]
    t: Opaque<bindings::timer_list>,
}

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
