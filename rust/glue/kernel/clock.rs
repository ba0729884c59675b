// SPDX-License-Identifier: GPL-2.0

//! The clock the glue feeds the TCP core: CLOCK_MONOTONIC in microseconds.

use kernel::bindings;

use crate::time::Instant;

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions and may be called from any context.
    let t = unsafe { bindings::ktime_get() };
    // CAST: monotonic time is never negative.
    t as u64
}

/// Monotonic time as the core's [`Instant`].
pub(crate) fn now() -> Instant {
    Instant(now_ns() / 1000)
}
