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

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use kernel::alloc::{flags, AllocError, Allocator, Flags, NumaNode};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::c_long;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

use crate::connection::SndBufAuto;
use crate::glue::kernel::shim;
use crate::glue::kernel::side;

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

/// Object size of the connection-state cache (0 while it does not exist).
static STATE_SIZE: Atomic<usize> = Atomic::new(0);
/// Alignment of its objects.
static STATE_ALIGN: Atomic<usize> = Atomic::new(0);

/// The allocator of connection states (`obj/conn.rs`, `ConnState`): a slab cache of its
/// own whose objects have exactly the state's size, as Linux's `tcp_sock`s come from the
/// "TCP" cache. From kmalloc the state (about 1.7 KB) would take a whole 2 KB bucket.
///
/// Only allocations that fit the cache's object ([`state_cache_create`]) succeed; an
/// allocation is never resized. Zero-sized allocations are refused (no user needs one).
pub(crate) struct StateAlloc;

/// The raw GFP bits of `f`: the union of the named flag sets it contains. Every `Flags`
/// partcp passes is such a union (`GFP_KERNEL`, `GFP_ATOMIC`, `| __GFP_NOWARN`...), so
/// this is exact for them (`Flags::as_raw` is private to the `kernel` crate).
fn gfp(f: Flags) -> bindings::gfp_t {
    [
        (flags::GFP_KERNEL, bindings::GFP_KERNEL),
        (flags::GFP_KERNEL_ACCOUNT, bindings::GFP_KERNEL_ACCOUNT),
        (flags::GFP_ATOMIC, bindings::GFP_ATOMIC),
        (flags::GFP_NOWAIT, bindings::GFP_NOWAIT),
        (flags::__GFP_NOWARN, bindings::__GFP_NOWARN),
        (flags::__GFP_ZERO, bindings::__GFP_ZERO),
        (flags::__GFP_HIGHMEM, bindings::__GFP_HIGHMEM),
    ]
    .into_iter()
    .filter(|&(named, _)| f.contains(named))
    .fold(0, |raw, (_, bits)| raw | bits)
}

// SAFETY: Memory comes from `kmem_cache_alloc` on the state cache and stays valid until
// `free`/`realloc` gives it back with `kmem_cache_free` (the cache outlives every state:
// it is destroyed after `stack::exit`, which waits for the last connection). Every
// pointer returned is aligned to at least 8 (`ARCH_SLAB_MINALIGN`) and to the cache's
// alignment, which `realloc` checks covers the layout; sizes are checked likewise.
unsafe impl Allocator for StateAlloc {
    const MIN_ALIGN: usize = 8;

    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
        _nid: NumaNode,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let old = ptr.filter(|_| old_layout.size() != 0);
        if let Some(p) = old {
            if layout.size() != 0 {
                // No resizing: the existing object stays valid.
                return Err(AllocError);
            }
            // SAFETY: By the caller's contract `p` is a live allocation of this
            // allocator, i.e. an object of the state cache, not used again.
            unsafe { shim::partcp_state_free(p.as_ptr().cast()) };
            return Ok(NonNull::slice_from_raw_parts(NonNull::dangling(), 0));
        }
        if layout.size() == 0 || layout.size() > STATE_SIZE.load(Relaxed) || layout.align() > STATE_ALIGN.load(Relaxed)
        {
            return Err(AllocError);
        }
        // SAFETY: Plain allocation; returns NULL on failure or without the cache.
        let p = unsafe { shim::partcp_state_alloc(gfp(flags)) };
        let p = NonNull::new(p.cast::<u8>()).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }
}

/// Creates the cache of connection states, objects of `size` bytes aligned to `align`.
pub(crate) fn state_cache_create(size: usize, align: usize) -> Result {
    let align = align.max(StateAlloc::MIN_ALIGN);
    // SAFETY: Called once at module init, before any connection exists.
    to_result(unsafe { shim::partcp_state_cache_create(size, align) })?;
    STATE_ALIGN.store(align, Relaxed);
    STATE_SIZE.store(size, Relaxed);
    Ok(())
}

/// Destroys the cache of connection states: at module exit, after the last connection
/// was freed (a leaked state makes `kmem_cache_destroy` complain).
pub(crate) fn state_cache_destroy() {
    STATE_SIZE.store(0, Relaxed);
    // SAFETY: No state is allocated any more (see above); also fine if the cache was
    // never created.
    unsafe { shim::partcp_state_cache_destroy() };
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
        writeln!(f, "tcp_mem {} {} {}", low / page, pressure / page, high / page)?;
        let (objects, bytes) = side::held();
        writeln!(f, "side_objects {objects}")?;
        writeln!(f, "side_bytes {bytes}")?;
        write!(f, "side_alloc_failures {}", side::failures())
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
