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
//! in software when the device cannot). A connection's segments leave by its cached
//! route with its flow hash (`kernel/route.rs`: no FIB lookup per segment, and the same
//! TX queue for the connection unless XPS maps CPUs to queues); segments of no
//! connection (listener replies, resets) are routed one by one.

use crate::glue::kernel::handles::NetRef;
use crate::glue::kernel::route::{Flow, Route};
use crate::glue::kernel::shim::{self, TxMeta};
use crate::glue::kernel::stats::{self, Counter};
use crate::glue::kernel::trace;
use crate::glue::kernel::txq::SendQueue;
use crate::connection::{Endpoint, Transmit};
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

/// Builds and sends one segment of no connection (a listener's reply, a reset): `repr`'s
/// header and no payload, with `meta`'s IP header fields and skb metadata, routed with a
/// FIB lookup of its own.
pub(crate) fn send(net: &NetRef, src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr, meta: &TxMeta) {
    // Not built (no memory): a listener's SYN-ACK is resent by its timer, a reset of no
    // connection is not resent (Linux neither).
    let _ = xmit(net, None, Segment { src, dst, repr, payload: None, payload_len: 0, gso_size: 0, meta });
}

/// One segment (or GSO super-segment) to send: `repr`'s header followed by
/// `payload_len` bytes of the send queue from the given offset (from SND.UNA), from
/// `src` to `dst`, with the socket options' IP header fields and skb metadata.
struct Segment<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    repr: &'a TcpRepr,
    payload: Option<(&'a SendQueue, usize)>,
    payload_len: usize,
    gso_size: usize,
    meta: &'a TxMeta,
}

/// The addresses and ports of `repr`, sent from `src` to `dst`.
fn flow(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr) -> Flow {
    Flow { saddr: be32(src), daddr: be32(dst), sport: repr.src_port, dport: repr.dst_port }
}

/// Why a segment did not go out: it could not be built, or IP refused it.
pub(crate) struct NotSent;

/// Builds and sends `seg`, along `route` if given. `Err` if it could not be built (no
/// memory for the skb, or the payload did not fit it) or IP refused it (no route, a
/// qdisc drop): nothing left, and the caller may try again. As Linux's
/// `tcp_transmit_skb`, which counts a transmission only when `net_xmit_eval` of
/// `ip_queue_xmit`'s result is 0: congestion notified (`NET_XMIT_CN`) is sent, a drop is
/// not, and `tcp_write_xmit` stops there with SND.NXT unchanged.
fn xmit(net: &NetRef, route: Option<&mut Route>, seg: Segment<'_>) -> Result<(), NotSent> {
    let Segment { src, dst, repr, payload, payload_len, gso_size, meta } = seg;
    let mut hdr = [0u8; MAX_HEADER];
    let hlen = match repr.emit(&mut hdr) {
        Ok(n) => n,
        Err(_) => {
            stats::count(Counter::TxErrors);
            return Err(NotSent);
        }
    };
    // The linear head: the header, and payload bytes only if the segment would need
    // more fragments than an skb has.
    let lin = payload.map_or(0, |(q, off)| q.linear_bytes(off, payload_len));
    if u32::try_from(payload_len).is_err() {
        stats::count(Counter::TxErrors);
        return Err(NotSent);
    }
    let Ok(total32) = u32::try_from(hlen + lin) else {
        stats::count(Counter::TxErrors);
        return Err(NotSent);
    };
    // SAFETY: Plain allocation; may be called from any context (GFP_ATOMIC).
    let skb = unsafe { shim::partcp_tx_alloc(total32) };
    if skb.is_null() {
        stats::count(Counter::TxNoMem);
        return Err(NotSent);
    }
    // SAFETY: `skb` has room for `hlen + lin` bytes (allocated just above); `hdr` holds
    // `hlen` initialized bytes.
    unsafe { shim::partcp_tx_append(skb, hdr.as_ptr().cast(), hlen as u32) };
    if let Some((q, offset)) = payload {
        // SAFETY: `skb` is ours, unshared, from `partcp_tx_alloc`, with linear room for
        // the `lin` bytes `linear_bytes` asked for and no fragments yet.
        if !unsafe { q.append_to_skb(skb, offset, payload_len, lin) } {
            // SAFETY: Ours, never sent.
            unsafe { shim::partcp_kfree_skb(skb) };
            stats::count(Counter::TxErrors);
            return Err(NotSent);
        }
    }
    let gso = if payload_len > gso_size && gso_size > 0 { gso_size } else { 0 };
    trace::segment_send(src, dst, repr, payload_len, gso);
    // CAST: `gso` is at most `payload_len`, which fits a u32 (checked above).
    let r = match route {
        // SAFETY: `skb` is ours, from `partcp_tx_alloc` with the segment in its data;
        // the call consumes it.
        Some(route) => unsafe { route.send(net, flow(src, dst, repr), skb, gso as u32, meta) },
        None => {
            stats::count(Counter::RouteLookups);
            // SAFETY: `net` is a live namespace (the caller holds a reference); `skb`
            // is ours and is consumed by the call; `meta` is read during the call only.
            unsafe { shim::partcp_tx_send(net.as_ptr(), skb, be32(src), be32(dst), gso as u32, meta) }
        }
    };
    if r != 0 {
        stats::count(Counter::TxErrors);
        return Err(NotSent);
    }
    stats::count(Counter::TxSegments);
    Ok(())
}

/// Sends a core [`Transmit`] of a connection along its cached `route`. `Err` if it could
/// not be built or IP refused it: the caller gives it back to the core
/// (`Connection::transmit_failed`).
pub(crate) fn send_transmit(
    net: &NetRef,
    route: &mut Route,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    t: &Transmit,
    queue: &SendQueue,
    meta: &TxMeta,
) -> Result<(), NotSent> {
    let payload = if t.payload_len > 0 { Some((queue, t.payload_offset)) } else { None };
    let seg = Segment { src, dst, repr: &t.repr, payload, payload_len: t.payload_len, gso_size: t.gso_size, meta };
    xmit(net, Some(route), seg)
}

/// A connection accepted a fragmentation-needed error (the core lowered its MSS): the
/// path MTU `mtu` goes into the routing table and `route` is looked up again.
pub(crate) fn pmtu_reduced(net: &NetRef, route: &mut Route, local: Endpoint, remote: Endpoint, mtu: u16) {
    let f = Flow { saddr: be32(local.addr), daddr: be32(remote.addr), sport: local.port, dport: remote.port };
    route.pmtu_reduced(net, f, u32::from(mtu));
}
