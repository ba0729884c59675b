// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A received TCP segment claimed by partcp, as a handle that owns its skb: the strategy
//! may process it where it arrived or queue it to a protocol thread (ConnP-T), and the
//! skb is freed when the [`RxSeg`] is dropped, after processing.

use core::mem::ManuallyDrop;

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
    /// Copies payload bytes `off..off + dst.len()` into `dst`.
    pub(crate) fn copy_to(&self, off: usize, dst: &mut [u8]) {
        let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(dst.len())) else {
            return;
        };
        // SAFETY: `skb` and `rx` are valid while the `RxSeg` this was borrowed from is
        // alive and unmoved (see the type's doc); the core only asks for ranges inside
        // the payload, and `dst` is valid for `len` bytes.
        unsafe { shim::partcp_rx_copy(self.skb, self.rx, off, dst.as_mut_ptr().cast(), len) };
    }
}
