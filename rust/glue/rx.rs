// SPDX-License-Identifier: GPL-2.0

//! Receive: the `rx_handler` partcp installs on every network device runs inside the
//! driver's NAPI poll (softirq). It claims IPv4 TCP segments that belong to partcp
//! connections or listeners and passes everything else on untouched, so Linux's own stack
//! keeps working on the same interface.
//!
//! GRO-merged and non-linear skbs are handled by copying payload with `skb_copy_bits`
//! straight into the connection's receive ring; checksums are validated per `ip_summed`
//! (the shim follows `tcp_v4_rcv`).

use kernel::bindings;
use kernel::ffi::c_uint;

use super::shim::{self, PartcpRx, RX_HANDLER_CONSUMED, RX_HANDLER_PASS};
use super::stack::{stack, ConnKey};
use super::stats::{self, Counter};
use super::tx::from_be32;
use crate::wire::{TcpFlags, TcpPacket, TcpRepr};

/// The payload of a received segment, still in its skb.
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
        // SAFETY: `skb` and `rx` are valid for the duration of the receive call that
        // created this value; the core only asks for ranges inside the payload, and
        // `dst` is valid for `len` bytes.
        unsafe { shim::partcp_rx_copy(self.skb, self.rx, off, dst.as_mut_ptr().cast(), len) };
    }
}

/// The rx_handler.
///
/// # Safety
///
/// Called by `__netif_receive_skb_core` under RCU in softirq context with a valid skb.
pub(crate) unsafe extern "C" fn rx_handler(pskb: *mut *mut bindings::sk_buff) -> c_uint {
    let Some(stack) = stack() else {
        return RX_HANDLER_PASS;
    };
    let mut rx = PartcpRx::new();
    // SAFETY: `pskb` is valid (function precondition); `rx` is valid for writes.
    match unsafe { shim::partcp_rx_peek(pskb, &mut rx) } {
        0 => {}
        1 => return RX_HANDLER_PASS,
        _ => return RX_HANDLER_CONSUMED,
    }
    // SAFETY: `partcp_rx_peek` returned 0, so `*pskb` is a valid, unshared skb whose
    // TCP header (`tcp_hlen` bytes at `tcp`) is in the linear area.
    let skb = unsafe { *pskb };
    // SAFETY: As above.
    let hdr = unsafe { core::slice::from_raw_parts(rx.tcp, rx.tcp_hlen as usize) };
    let src = from_be32(rx.saddr);
    let dst = from_be32(rx.daddr);
    let repr = TcpPacket::new_checked(hdr).and_then(|p| TcpRepr::parse(&p, src, dst, false));
    let mut repr = match repr {
        Ok(r) => r,
        // Not well-formed TCP: Linux's stack decides (it may belong to Linux).
        Err(_) => return RX_HANDLER_PASS,
    };
    repr.payload_len = rx.payload_len as usize;
    let net = rx.net as usize;
    let key = ConnKey {
        net,
        laddr: u32::from_be_bytes(dst.0),
        lport: repr.dst_port,
        raddr: u32::from_be_bytes(src.0),
        rport: repr.src_port,
    };

    let conn = stack.find_conn(&key);
    let listener = if conn.is_none() {
        stack.find_listener(net, key.laddr, key.lport)
    } else {
        None
    };
    if conn.is_none() && listener.is_none() {
        return RX_HANDLER_PASS;
    }
    // Ours from here on: validate the checksum before the protocol sees the segment.
    // SAFETY: `skb` and `rx` are valid; `partcp_rx_peek` accepted the skb.
    if unsafe { shim::partcp_rx_claim(skb, &rx) } != 0 {
        stats::count(Counter::RxChecksumErrors);
        // SAFETY: The skb is ours to free.
        unsafe { shim::partcp_kfree_skb(skb) };
        drop_refs(conn, listener);
        return RX_HANDLER_CONSUMED;
    }
    stats::count(Counter::RxSegments);
    if rx.gso_segs > 1 {
        stats::count(Counter::RxGroMerged);
    }
    let payload = RxPayload { skb, rx: &rx };
    let consumed = if let Some(conn) = conn {
        super::dispatch::conn_input(stack, conn, rx.net, &repr, &payload, src, dst);
        true
    } else if let Some(l) = listener {
        super::dispatch::listen_input(stack, l, rx.net, &repr, &payload, src, dst)
    } else {
        false
    };
    if !consumed {
        // A non-SYN segment for a listener port that the listener does not know: it
        // may belong to a Linux TCP connection on the same port. Hand it back.
        stats::count(Counter::RxPassed);
        // The claim moved `data` to the TCP header; restore the IP header view.
        // SAFETY: `skb` is still ours and intact.
        unsafe { shim::partcp_rx_unclaim(skb) };
        return RX_HANDLER_PASS;
    }
    // SAFETY: The payload has been copied; the skb is ours to free.
    unsafe { bindings::consume_skb(skb) };
    RX_HANDLER_CONSUMED
}

fn drop_refs(c: Option<kernel::sync::Arc<super::conn::Conn>>, l: Option<kernel::sync::Arc<super::conn::Listen>>) {
    if let Some(c) = c {
        super::conn::release(c);
    }
    if let Some(l) = l {
        super::conn::release_listen(l);
    }
}

/// Whether a segment is a plain SYN (a connection request).
pub(crate) fn is_syn(repr: &TcpRepr) -> bool {
    repr.flags.contains(TcpFlags::SYN) && !repr.flags.contains(TcpFlags::ACK)
}
