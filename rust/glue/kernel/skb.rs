// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A received TCP segment claimed by partcp, as a handle that owns its skb: the strategy
//! may process it where it arrived or queue it to a protocol thread (ConnP-T), and the
//! skb is freed when the [`RxSeg`] is dropped, after processing. Payload the receive
//! queue keeps stays in the skb it arrived in, behind a counted [`SkbRef`].

use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use kernel::bindings;

use crate::glue::kernel::shim::{self, PartcpRx};
use crate::wire::{Ipv4Addr, TcpRepr};

/// A claimed received segment: owns its skb (freed on drop) and its descriptor.
///
/// # Invariants
///
/// `skb` is exclusively owned (unshared after `partcp_rx_peek`, claimed by
/// `partcp_rx_claim`), its payload is described by `rx`, and nothing else frees it.
pub(crate) struct RxSeg {
    skb: *mut bindings::sk_buff,
    rx: PartcpRx,
    /// The parsed TCP header.
    pub(crate) repr: TcpRepr,
    /// Source and destination addresses.
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    /// The receiving device's namespace (the connection or listener it is for holds a
    /// reference to it).
    pub(crate) net: *mut bindings::net,
}

// SAFETY: The skb is exclusively owned (type invariants) and may be read and freed from
// any context; `rx.net` and `rx.tcp` are plain pointers that are only read.
unsafe impl Send for RxSeg {}

impl RxSeg {
    /// A segment owning `skb`.
    ///
    /// # Safety
    ///
    /// `skb` is exclusively owned by the caller, unshared (`partcp_rx_peek`) and claimed
    /// (`partcp_rx_claim`), with its payload described by `rx`; ownership passes to the
    /// segment.
    pub(crate) unsafe fn new(
        skb: *mut bindings::sk_buff,
        rx: PartcpRx,
        repr: TcpRepr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        net: *mut bindings::net,
    ) -> RxSeg {
        RxSeg { skb, rx, repr, src, dst, net }
    }

    /// The payload, readable while `self` is neither moved nor dropped.
    pub(crate) fn payload(&self) -> RxPayload {
        RxPayload { skb: self.skb, rx: &self.rx }
    }

    /// Gives the skb back to the IP layer's view (undoes the claim) without freeing it.
    pub(crate) fn into_unclaimed(self) -> *mut bindings::sk_buff {
        let s = ManuallyDrop::new(self);
        // SAFETY: The skb is ours and intact (type invariants); ownership passes to the
        // caller, and `ManuallyDrop` keeps `Drop` from freeing it.
        unsafe { shim::partcp_rx_unclaim(s.skb) };
        s.skb
    }
}

impl Drop for RxSeg {
    fn drop(&mut self) {
        // SAFETY: The skb is ours (type invariants) and this is its only release.
        unsafe { bindings::consume_skb(self.skb) };
    }
}

/// The payload of a received segment, still in its skb.
///
/// Borrowed from an [`RxSeg`] that is neither moved nor dropped while it is used (the
/// dispatch layer uses it only inside one core call).
pub(crate) struct RxPayload {
    skb: *mut bindings::sk_buff,
    rx: *const PartcpRx,
}

impl RxPayload {
    /// The skb's true size (data buffer, fragments and `sk_buff`), for memory accounting.
    pub(crate) fn truesize(&self) -> usize {
        // SAFETY: `skb` is valid while the segment is (see the type's doc).
        let t = unsafe { shim::partcp_skb_truesize(self.skb) };
        usize::try_from(t).unwrap_or(usize::MAX)
    }

    /// Where payload byte `off` is in the skb's data (past the TCP header).
    pub(crate) fn data_offset(&self, off: usize) -> usize {
        // SAFETY: `rx` is valid while the segment is (see the type's doc).
        let hlen = unsafe { (*self.rx).tcp_hlen };
        usize::try_from(hlen).unwrap_or(0).saturating_add(off)
    }

    /// A reference to the skb, for a receive queue that keeps the payload where it
    /// arrived. Drops the skb's route and conntrack references first (a queued skb
    /// holds neither, as in Linux's TCP).
    pub(crate) fn keep(&self) -> Option<SkbRef> {
        let skb = NonNull::new(self.skb)?;
        // SAFETY: `skb` is valid (see the type's doc) and owned by the segment, which is
        // processed by one context at a time: nothing else uses its route or conntrack
        // fields. `partcp_rxq_keep` takes one more reference (it returns its argument).
        unsafe { shim::partcp_rxq_keep(skb.as_ptr()) };
        // INVARIANT: A valid skb, with the reference just taken.
        Some(SkbRef(skb))
    }
}

/// A counted reference to an skb whose data is only read: received payload a receive
/// queue keeps for the reader, or a queue's own compact skb for small pieces.
///
/// # Invariants
///
/// `self.0` is a valid skb on which this value holds one reference. Its data bytes
/// already written are never changed while it is referenced; only a sole holder appends
/// past the end ([`SkbRef::append`]).
pub(crate) struct SkbRef(NonNull<bindings::sk_buff>);

// SAFETY: An skb reference may be used and released from any context.
unsafe impl Send for SkbRef {}

impl SkbRef {
    /// A new compact skb with room for `len` bytes (atomic allocation), or `None`.
    pub(crate) fn alloc(len: usize) -> Option<SkbRef> {
        let len = u32::try_from(len).ok()?;
        // SAFETY: Allocates; no preconditions.
        let skb = unsafe { shim::partcp_rxq_alloc(len) };
        // INVARIANT: A fresh skb, whose one reference is ours.
        NonNull::new(skb).map(SkbRef)
    }

    /// The skb's true size, for memory accounting.
    pub(crate) fn truesize(&self) -> usize {
        // SAFETY: Valid (type invariants).
        let t = unsafe { shim::partcp_skb_truesize(self.0.as_ptr()) };
        usize::try_from(t).unwrap_or(usize::MAX)
    }

    /// Another reference to the same skb.
    pub(crate) fn clone_ref(&self) -> SkbRef {
        // SAFETY: Valid, and we hold a reference (type invariants), so it cannot go away
        // while `skb_get` takes another (it returns its argument).
        unsafe { shim::partcp_skb_get(self.0.as_ptr()) };
        // INVARIANT: The same skb, with the reference just taken.
        SkbRef(self.0)
    }

    /// Appends payload bytes `off..off + len` of `from` to this skb's data, if no one
    /// else references it, its data ends at `end` and it has the room. False otherwise
    /// (nothing changed).
    pub(crate) fn append(&self, end: usize, from: &RxPayload, off: usize, len: usize) -> bool {
        let (Ok(end), Ok(off), Ok(len)) = (u32::try_from(end), u32::try_from(off), u32::try_from(len)) else {
            return false;
        };
        // SAFETY: Valid (type invariants); the shim appends only if the skb is not shared
        // (so no reader sees its length change) and has the tailroom; `from` is valid
        // while the segment it was borrowed from is, and the range is inside its payload
        // (`skb_copy_bits` checks it anyway).
        unsafe { shim::partcp_rxq_append(self.0.as_ptr(), end, from.skb, from.rx, off, len) == 0 }
    }

    /// Copies data bytes `off..off + len` to the user's iterator. False on a fault (the
    /// iterator may have advanced over part of the range).
    pub(crate) fn copy_to_iter(&self, off: usize, len: usize, dst: &mut kernel::iov::IovIterDest<'_>) -> bool {
        let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(len)) else {
            return false;
        };
        // SAFETY: Valid (type invariants); `dst` is a live destination iterator;
        // `skb_copy_datagram_iter` checks the range against the skb.
        unsafe { shim::partcp_rxq_copy_to_iter(self.0.as_ptr(), off, dst.as_raw(), len) == 0 }
    }

    /// Copies data bytes `off..off + dst.len()` into `dst`. False if out of range.
    pub(crate) fn copy_bits(&self, off: usize, dst: &mut [u8]) -> bool {
        let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(dst.len())) else {
            return false;
        };
        // SAFETY: Valid (type invariants); `dst` is valid for `len` bytes, and
        // `skb_copy_bits` checks the range against the skb.
        unsafe { shim::partcp_rxq_copy_bits(self.0.as_ptr(), off, dst.as_mut_ptr().cast(), len) == 0 }
    }
}

/// A payload in an skb of its own, as a received segment's with a TCP header of length
/// 0: for tests of code that takes received payload.
pub(crate) struct TestPayload {
    skb: SkbRef,
    rx: PartcpRx,
}

impl TestPayload {
    /// `bytes` in a fresh skb with at least `room` bytes of data room.
    pub(crate) fn new(bytes: &[u8], room: usize) -> Option<TestPayload> {
        let skb = SkbRef::alloc(room.max(bytes.len()))?;
        let len = u32::try_from(bytes.len()).ok()?;
        // SAFETY: A fresh skb, referenced only by us, with room for `len` bytes; `bytes`
        // is valid for `len` bytes.
        unsafe { shim::partcp_tx_append(skb.0.as_ptr(), bytes.as_ptr().cast(), len) };
        Some(TestPayload { skb, rx: PartcpRx::new() })
    }

    /// The payload, borrowed from `self`.
    pub(crate) fn payload(&self) -> RxPayload {
        RxPayload { skb: self.skb.0.as_ptr(), rx: &self.rx }
    }
}

impl Drop for SkbRef {
    fn drop(&mut self) {
        // SAFETY: We hold one reference (type invariants); this releases it.
        unsafe { bindings::consume_skb(self.0.as_ptr()) };
    }
}
