// SPDX-License-Identifier: GPL-2.0

//! The dispatch layer: "run this work for this connection", from syscall context, NAPI
//! (softirq) context and timer (softirq) context.
//!
//! Every path into the TCP core goes through here, so a parallelization strategy is a
//! choice of *where* this work runs and *which lock* serializes it. This file implements
//! **MsgP**: the context that has the work does it, serialized by the connection's (or
//! listener's) own lock; lookups take the global table lock (see `stack.rs`).
//!
//! After every core call, still under the lock: transmit what the core queued, re-arm the
//! timer to the core's next deadline, and wake the socket's waiters.

use kernel::bindings;
use kernel::prelude::*;
use kernel::rbtree::RBTreeNode;
use kernel::sync::Arc;

use super::clock;
use super::conn::{self, Conn, ConnInner, Listen, Tcp};
use super::kbuf::{ByteRing, RecvRing, SendRing};
use super::rx::{self, RxPayload};
use super::shim;
use super::stack::{Stack, ConnKey};
use super::stats::{self, Counter};
use super::tx;
use crate::connection::{Connection, Endpoint, SegmentAction};
use crate::listener::ListenerAction;
use crate::time::Instant;
use crate::wire::{Ipv4Addr, TcpRepr};

/// Transmits, re-arms and wakes after a core call on `inner`. Returns true if the
/// connection just closed for good and must leave the table.
fn after(conn: &Conn, inner: &mut ConnInner, now: Instant) -> bool {
    let local = inner.tcp.local().addr;
    let remote = inner.tcp.remote().addr;
    while let Some(t) = inner.tcp.poll_transmit(now) {
        tx::send_transmit(conn.net, local, remote, &t, &inner.tcp.send_buffer().0);
    }
    if let Some(d) = inner.tcp.next_deadline() {
        conn.timer.arm_usecs(d.0.saturating_sub(now.0));
    }
    if !inner.sk.is_null() {
        // SAFETY: `sk` is non-null only while its socket is open (cleared under this
        // lock by `release` before the sock is freed).
        unsafe {
            if let (Some(e), false) = (inner.tcp.error(), inner.err_reported) {
                inner.err_reported = true;
                shim::partcp_sk_set_err(inner.sk, e.errno());
            }
            shim::partcp_sk_data_ready(inner.sk);
            if inner.tcp.writable() {
                shim::partcp_sk_write_space(inner.sk);
            }
        }
    }
    if inner.tcp.is_closed() && !inner.unhashed {
        inner.unhashed = true;
        return true;
    }
    false
}

/// Drops the caller's reference, first taking the connection out of the table if it
/// closed.
fn finish(stack: &Stack, conn: Arc<Conn>, closed: bool) {
    if closed {
        if let Some(c) = stack.remove_conn(&conn) {
            conn::release(c);
        }
    }
    conn::release(conn);
}

/// Runs `f` on a connection's core from syscall context, then transmits/re-arms/wakes.
pub(crate) fn with_conn<R>(stack: &Stack, conn: &Arc<Conn>, f: impl FnOnce(&mut ConnInner, Instant) -> R) -> R {
    let now = clock::now();
    let mut g = conn.inner.lock();
    let r = f(&mut g, now);
    let closed = after(conn, &mut g, now);
    drop(g);
    if closed {
        if let Some(c) = stack.remove_conn(conn) {
            conn::release(c);
        }
    }
    r
}

/// A received segment for an existing connection (NAPI context).
pub(crate) fn conn_input(
    stack: &Stack,
    conn: Arc<Conn>,
    net: *mut bindings::net,
    repr: &TcpRepr,
    payload: &RxPayload,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let now = clock::now();
    let mut g = conn.inner.lock();
    let action = g.tcp.on_segment(now, repr, payload);
    let closed = after(&conn, &mut g, now);
    drop(g);
    if action == SegmentAction::Reopen {
        // TIME-WAIT connection and an acceptable new SYN (RFC 9293 3.10.7.4): the old
        // incarnation goes, the listener gets the SYN.
        if let Some(c) = stack.remove_conn(&conn) {
            conn::release(c);
        }
        conn::release(conn);
        let key_net = net as usize;
        if let Some(l) = stack.find_listener(key_net, u32::from_be_bytes(dst.0), repr.dst_port) {
            let _ = listen_input(stack, l, net, repr, payload, src, dst);
        }
        return;
    }
    finish(stack, conn, closed);
}

/// Connection timer expiry (timer softirq).
pub(crate) fn conn_timer(conn: &Conn) {
    let Some(stack) = super::stack::stack() else {
        return;
    };
    let now = clock::now();
    let mut g = conn.inner.lock();
    g.tcp.on_timer(now);
    let closed = after(conn, &mut g, now);
    drop(g);
    if closed {
        if let Some(c) = stack.remove_conn(conn) {
            conn::release(c);
        }
    }
}

/// Sends what the listener queued and re-arms its timer. Called under its lock.
fn listen_after(l: &Listen, inner: &mut conn::ListenInner, now: Instant) {
    while let Some(t) = inner.core.poll_transmit(now) {
        // Source address 0: the route lookup picks it (wildcard listeners).
        let src = inner.core.local().addr;
        tx::send(l.net, src, t.remote.addr, &t.repr, None, 0, 0);
    }
    if let Some(d) = inner.core.next_deadline() {
        l.timer.arm_usecs(d.0.saturating_sub(now.0));
    }
}

/// Listener timer expiry: SYN-ACK retransmissions.
pub(crate) fn listen_timer(l: &Listen) {
    let now = clock::now();
    let mut g = l.inner.lock();
    if g.closed {
        return;
    }
    g.core.on_timer(now);
    listen_after(l, &mut g, now);
}

/// A segment for a listener (NAPI context). Returns false if the segment is not ours
/// after all (a non-SYN the listener does not recognize: it may belong to a Linux TCP
/// connection on the same port) and must be passed on.
pub(crate) fn listen_input(
    stack: &Stack,
    l: Arc<Listen>,
    net: *mut bindings::net,
    repr: &TcpRepr,
    payload: &RxPayload,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> bool {
    let now = clock::now();
    let syn = rx::is_syn(repr);
    let remote = Endpoint { addr: src, port: repr.src_port };
    let (action, cfg, sndbuf, rcvbuf) = {
        let mut g = l.inner.lock();
        if g.closed {
            drop(g);
            conn::release_listen(l);
            return syn;
        }
        let a = g.core.on_segment(now, remote, repr);
        let cfg = g.core.config().conn;
        let bufs = (g.sndbuf, g.rcvbuf);
        if let ListenerAction::Reply(r) = a {
            if syn {
                tx::send(l.net, dst, src, &r, None, 0, 0);
            }
        }
        listen_after(&l, &mut g, now);
        (a, cfg, bufs.0, bufs.1)
    };
    let hs = match action {
        ListenerAction::Established(hs) => hs,
        _ => {
            conn::release_listen(l);
            return syn;
        }
    };
    let mut hs = hs;
    // A wildcard listener learns its address from the segment.
    hs.local.addr = dst;
    // Allocate outside every lock (atomic: this is softirq context).
    let built = (|| -> Result<(Arc<Conn>, RBTreeNode<ConnKey, Arc<Conn>>)> {
        let send = SendRing(ByteRing::new(sndbuf, GFP_ATOMIC | __GFP_NOWARN)?);
        let recv = RecvRing(ByteRing::new(rcvbuf, GFP_ATOMIC | __GFP_NOWARN)?);
        let tcp: Tcp = Connection::accept(cfg, &hs, send, recv, now);
        let key = ConnKey {
            net: net as usize,
            laddr: u32::from_be_bytes(dst.0),
            lport: repr.dst_port,
            raddr: u32::from_be_bytes(src.0),
            rport: repr.src_port,
        };
        let c = Conn::new(key, net, tcp, core::ptr::null_mut(), GFP_ATOMIC)?;
        let node = RBTreeNode::new(key, c.clone(), GFP_ATOMIC)?;
        Ok((c, node))
    })();
    let (c, node) = match built {
        Ok(v) => v,
        Err(_) => {
            stats::count(Counter::AcceptNoMem);
            l.inner.lock().core.accepted();
            conn::release_listen(l);
            return true;
        }
    };
    stats::count(Counter::ConnsCreated);
    if let Err(node) = stack.insert_conn(node, c.key) {
        drop(node);
        l.inner.lock().core.accepted();
        conn::release(c);
        conn::release_listen(l);
        return true;
    }
    {
        let mut g = l.inner.lock();
        let ok = !g.closed && g.accept_q.push_within_capacity(c.clone()).is_ok();
        if ok {
            if !g.sk.is_null() {
                // SAFETY: `sk` is valid while the listener is not closed (cleared under
                // this lock by `release`).
                unsafe { shim::partcp_sk_data_ready(g.sk) };
            }
        } else {
            stats::count(Counter::AcceptOverflow);
            g.core.accepted();
        }
        drop(g);
        if !ok {
            with_conn(stack, &c, |inner, now| inner.tcp.abort(now));
        }
    }
    conn::release_listen(l);
    // The handshake-completing ACK may carry data: the new connection processes it.
    conn_input(stack, c, net, repr, payload, src, dst);
    true
}
