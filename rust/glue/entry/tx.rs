// SPDX-License-Identifier: GPL-2.0

//! Layer: entry points (the transmit side).
//!
//! Transmit: TCP segments from the core become skbs routed through the kernel's IPv4
//! routing and neighbour tables of the connection's namespace (`ip_local_out`).
//!
//! Headers are emitted by the core's wire code into a small linear head; the payload is
//! attached as fragments referencing the send queue's pages (no copy, see `txq.rs`).
//! The C shim adds the IPv4 header, sets up
//! checksum offload (`CHECKSUM_PARTIAL`) and GSO for super-segments (the stack segments
//! in software when the device cannot). The TX queue is chosen per connection: skbs carry
//! no socket, so `netdev_pick_tx` uses the flow hash of the 4-tuple (or the sending CPU's
//! queue when XPS is configured).

use crate::glue::kernel::handles::NetRef;
use crate::glue::kernel::shim::{self, TxMeta};
use crate::glue::kernel::stats::{self, Counter};
use crate::glue::kernel::trace;
use crate::glue::kernel::txq::SendQueue;
use crate::connection::Transmit;
use crate::wire::{Ipv4Addr, TcpRepr};

/// Network-order `__be32` of an address.
pub(crate) fn be32(a: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.0)
}

/// Address from a network-order `__be32`.
pub(crate) fn from_be32(v: u32) -> Ipv4Addr {
    Ipv4Addr(v.to_ne_bytes())
}

/// Largest header the core emits: 20 bytes plus 40 of options.
const MAX_HEADER: usize = 60;

/// Builds and sends one segment (or GSO super-segment): `repr`'s header followed by
/// `payload_len` bytes of the send queue starting at the given offset (from SND.UNA),
/// with `meta`'s IP header fields and skb metadata.
#[allow(clippy::too_many_arguments)]
pub(crate) fn send(
    net: &NetRef,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    repr: &TcpRepr,
    payload: Option<(&SendQueue, usize)>,
    payload_len: usize,
    gso_size: usize,
    meta: &TxMeta,
) {
    let mut hdr = [0u8; MAX_HEADER];
    let hlen = match repr.emit(&mut hdr) {
        Ok(n) => n,
        Err(_) => {
            stats::count(Counter::TxErrors);
            return;
        }
    };
    // The linear head: the header, and payload bytes only if the segment would need
    // more fragments than an skb has.
    let lin = payload.map_or(0, |(q, off)| q.linear_bytes(off, payload_len));
    let Ok(total32) = u32::try_from(hlen + lin) else {
        stats::count(Counter::TxErrors);
        return;
    };
    // SAFETY: Plain allocation; may be called from any context (GFP_ATOMIC).
    let skb = unsafe { shim::partcp_tx_alloc(total32) };
    if skb.is_null() {
        stats::count(Counter::TxNoMem);
        return;
    }
    // SAFETY: `skb` has room for `hlen + lin` bytes (allocated just above); `hdr` holds
    // `hlen` initialized bytes.
    unsafe { shim::partcp_tx_append(skb, hdr.as_ptr().cast(), hlen as u32) };
    if let Some((q, offset)) = payload {
        // SAFETY: `skb` is ours, unshared, from `partcp_tx_alloc`, with linear room for
        // the `lin` bytes `linear_bytes` asked for and no fragments yet.
        if !unsafe { q.append_to_skb(skb, offset, payload_len) } {
            // SAFETY: Ours, never sent.
            unsafe { shim::partcp_kfree_skb(skb) };
            stats::count(Counter::TxErrors);
            return;
        }
    }
    let gso = if payload_len > gso_size && gso_size > 0 { gso_size } else { 0 };
    trace::segment_send(src, dst, repr, payload_len, gso);
    // SAFETY: `net` is a live namespace (the connection holds a reference); `skb` is
    // ours and is consumed by the call; `meta` is read during the call only.
    let r = unsafe {
        shim::partcp_tx_send(net.as_ptr(), skb, be32(src), be32(dst), gso as u32, meta)
    };
    if r < 0 {
        stats::count(Counter::TxErrors);
    } else {
        stats::count(Counter::TxSegments);
    }
}

/// Sends a core [`Transmit`] of a connection.
pub(crate) fn send_transmit(
    net: &NetRef,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    t: &Transmit,
    queue: &SendQueue,
    meta: &TxMeta,
) {
    let payload = if t.payload_len > 0 { Some((queue, t.payload_offset)) } else { None };
    send(net, src, dst, &t.repr, payload, t.payload_len, t.gso_size, meta);
}
