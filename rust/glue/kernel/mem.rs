// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! The module's memory account, as Linux's `tcp_memory_allocated`: every receive queue
//! charges the true size of the skbs it holds, every send queue the payload bytes it
//! references, and the total is compared with `tcp_mem` (pages; one global triple, as
//! Linux's `sk_prot_mem_limits` reads it, whatever the namespace):
//!
//! - above `tcp_mem[1]` the module is under pressure until the total falls below
//!   `tcp_mem[0]` (Linux `tcp_enter_memory_pressure` / `sk_leave_memory_pressure`):
//!   buffers stop growing ([`under_pressure`]);
//! - above `tcp_mem[2]` receive queues refuse out-of-order text ([`over_limit`]; the core
//!   then treats it as lost). In-order text is never refused, as in `kernel/rxq.rs`.
//!
//! Queues charge the shared counter in quanta ([`Charge`]), as Linux's sockets keep a
//! forward allocation: the counter is touched about once per [`QUANTUM`] bytes queued
//! or released, not once per skb, and an empty queue holds nothing.

use core::fmt;

use kernel::ffi::c_long;
use kernel::sync::atomic::{Atomic, Relaxed};

use crate::connection::SndBufAuto;
use crate::glue::kernel::shim;

/// Unit of a queue's reservation in the shared counter.
pub(crate) const QUANTUM: usize = 64 * 1024;

/// Bytes reserved by all queues.
static ALLOCATED: Atomic<usize> = Atomic::new(0);
/// Under memory pressure (entered above `tcp_mem[1]`, left below `tcp_mem[0]`).
static PRESSURE: Atomic<bool> = Atomic::new(false);

/// A queue's reservation in the module's account: it covers at least what the queue
/// holds, in whole quanta, and is released when dropped.
///
/// # Invariants
///
/// `held` bytes of [`ALLOCATED`] belong to this value.
pub(crate) struct Charge {
    held: usize,
}

impl Charge {
    /// Nothing reserved.
    pub(crate) const fn new() -> Self {
        Charge { held: 0 }
    }

    /// Makes the reservation cover `used` bytes: it grows to `used` rounded up to a
    /// quantum when `used` passes it, and gives back the excess once two quanta are
    /// unused or the queue is empty.
    pub(crate) fn cover(&mut self, used: usize) {
        let want = used.div_ceil(QUANTUM).saturating_mul(QUANTUM);
        if want > self.held {
            ALLOCATED.fetch_add(want - self.held, Relaxed);
            // INVARIANT: what was just added is ours.
            self.held = want;
        } else if self.held - want >= 2 * QUANTUM || (used == 0 && self.held > 0) {
            ALLOCATED.fetch_sub(self.held - want, Relaxed);
            // INVARIANT: what was just subtracted was ours.
            self.held = want;
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.held > 0 {
            ALLOCATED.fetch_sub(self.held, Relaxed);
        }
    }
}

/// Bytes charged by all queues now.
pub(crate) fn allocated() -> usize {
    ALLOCATED.load(Relaxed)
}

/// `tcp_mem` in bytes.
fn limits() -> [usize; 3] {
    let mut pages: [c_long; 3] = [0; 3];
    // SAFETY: `pages` is valid for writing three longs.
    unsafe { shim::partcp_tcp_mem(pages.as_mut_ptr()) };
    pages.map(|p| usize::try_from(p).unwrap_or(0).saturating_mul(kernel::page::PAGE_SIZE))
}

/// Whether the module is under memory pressure (see the module documentation); also
/// enters or leaves it.
pub(crate) fn under_pressure() -> bool {
    let [low, pressure, _] = limits();
    let now = allocated();
    if now > pressure {
        PRESSURE.store(true, Relaxed);
    } else if now < low {
        PRESSURE.store(false, Relaxed);
    }
    PRESSURE.load(Relaxed)
}

/// Whether the total is above `tcp_mem[2]`.
pub(crate) fn over_limit() -> bool {
    allocated() > limits()[2]
}

/// The per-segment memory Linux's `tcp_sndbuf_expand` counts beyond the payload, for
/// the core's send buffer autotuning (its `max` is the caller's to set).
pub(crate) fn seg_mem() -> SndBufAuto {
    let (mut head, mut skb) = (0, 0);
    // SAFETY: Both pointers are valid for writing.
    unsafe { shim::partcp_seg_mem(&mut head, &mut skb) };
    // CAST: u32 to usize does not truncate on the targets partcp builds for.
    SndBufAuto { max: 0, seg_head: head as usize, seg_skb: skb as usize }
}

/// Contents of the `memory` debugfs file.
pub(crate) struct MemoryView;

impl fmt::Debug for MemoryView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [low, pressure, high] = limits();
        let page = kernel::page::PAGE_SIZE;
        writeln!(f, "allocated_bytes {}", allocated())?;
        writeln!(f, "allocated_pages {}", allocated().div_ceil(page))?;
        writeln!(f, "pressure {}", u8::from(under_pressure()))?;
        write!(f, "tcp_mem {} {} {}", low / page, pressure / page, high / page)
    }
}

/// KUnit: reservations in quanta, released when unused and when dropped.
#[kernel::prelude::kunit_tests(partcp_mem)]
mod tests {
    use super::*;

    #[test]
    fn charges_follow_use_in_quanta() {
        let base = allocated();
        let mut c = Charge::new();
        c.cover(1);
        assert!(c.held == QUANTUM);
        c.cover(QUANTUM);
        assert!(c.held == QUANTUM);
        c.cover(3 * QUANTUM + 1);
        assert!(c.held == 4 * QUANTUM);
        // One quantum unused: kept (no counter traffic for small swings).
        c.cover(3 * QUANTUM - 1);
        assert!(c.held == 4 * QUANTUM);
        // Two unused: given back down to what is used.
        c.cover(QUANTUM + 5);
        assert!(c.held == 2 * QUANTUM);
        // Empty: nothing held.
        c.cover(0);
        assert!(c.held == 0);
        c.cover(10);
        let d = Charge::new();
        drop(d);
        drop(c);
        // Other tests' and connections' charges may move the total meanwhile only if
        // queues are in use; KUnit runs at load, before any socket exists.
        assert!(allocated() == base);
    }
}
