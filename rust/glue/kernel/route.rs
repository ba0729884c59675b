// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A connection's route, cached as Linux's TCP caches it in `sk_dst_cache`: one FIB
//! lookup when the connection first sends, then the same `dst_entry` for every segment,
//! checked with `dst_check` before each use. The check fails once the route is stale:
//! a change of the namespace's routes or rules bumps its route generation
//! (`rt_cache_flush`), a new path MTU or redirect for the next hop marks its cached
//! routes obsolete, a device going away kills the routes through it. The next send then
//! looks the route up again. A fragmentation-needed error the connection accepted is
//! recorded in the routing table ([`Route::pmtu_reduced`], as `inet_csk_update_pmtu`),
//! so later connections start from the lower path MTU too.
//!
//! The connection also draws its flow hash once (`sk_txhash`, as `net_tx_rndhash`):
//! every skb carries it as an L4 hash, so the device's TX queue (`netdev_pick_tx`
//! hashes it unless XPS maps the sending CPU) and the receiver's RPS CPU stay the
//! connection's without dissecting each skb.
//!
//! The route is looked up with the socket's SO_MARK, and again when the mark changes
//! (as `sock_set_mark` resets `sk_dst_cache`).
//!
//! Lookups are counted (`stats` `route_lookups`, and `route_refreshes` for cached routes
//! found stale), so a test can check that a bulk transfer does a constant number of them.

use kernel::bindings;
use kernel::ffi::c_int;

use crate::glue::kernel::handles::NetRef;
use crate::glue::kernel::shim::{self, TxMeta};
use crate::glue::kernel::stats::{self, Counter};

/// One connection's cached route and flow hash. Used only under the connection's
/// exclusion (it lives in the connection's state).
///
/// # Invariants
///
/// `dst` is null or a `dst_entry` on which this value holds one reference; `hash` is
/// not zero.
pub(crate) struct Route {
    dst: *mut bindings::dst_entry,
    hash: u32,
    /// The SO_MARK `dst` was looked up with.
    mark: u32,
}

// SAFETY: A counted `dst_entry` reference may be used and released from any context.
unsafe impl Send for Route {}
// SAFETY: Shared access reads nothing (every method takes `&mut self`).
unsafe impl Sync for Route {}

/// The endpoints of a connection's segments (addresses in network order, ports in
/// host order).
#[derive(Clone, Copy)]
pub(crate) struct Flow {
    pub(crate) saddr: u32,
    pub(crate) daddr: u32,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
}

impl Route {
    /// No route yet, and a fresh random flow hash.
    pub(crate) fn new() -> Route {
        // SAFETY: No preconditions.
        let h = unsafe { bindings::get_random_u32() };
        // INVARIANT: no reference held; the hash is not zero (as `net_tx_rndhash`).
        Route { dst: core::ptr::null_mut(), hash: if h == 0 { 1 } else { h }, mark: 0 }
    }

    /// The route for `flow` in `net` with SO_MARK `mark`: the cached one if it was
    /// looked up with that mark and `dst_check` still accepts it, else a new lookup
    /// (cached). Null if the destination is unroutable.
    fn dst(&mut self, net: &NetRef, flow: Flow, mark: u32) -> *mut bindings::dst_entry {
        if !self.dst.is_null() && self.mark != mark {
            stats::count(Counter::RouteRefreshes);
            self.forget();
        }
        if !self.dst.is_null() {
            // SAFETY: `self.dst` is a counted reference (type invariants).
            if unsafe { shim::partcp_dst_valid(self.dst) } {
                return self.dst;
            }
            stats::count(Counter::RouteRefreshes);
            self.forget();
        }
        stats::count(Counter::RouteLookups);
        // SAFETY: `net` is a live namespace (the reference `NetRef` holds).
        let dst = unsafe { shim::partcp_route_lookup(net.as_ptr(), flow.saddr, flow.daddr, flow.sport, flow.dport, mark) };
        // INVARIANT: the lookup returned a counted reference, now ours (or null).
        self.dst = dst;
        self.mark = mark;
        dst
    }

    /// Drops the cached route: the next send looks it up.
    pub(crate) fn forget(&mut self) {
        let dst = core::mem::replace(&mut self.dst, core::ptr::null_mut());
        if !dst.is_null() {
            // SAFETY: The reference this value held (type invariants); it no longer
            // points at it.
            unsafe { shim::partcp_dst_release(dst) };
        }
    }

    /// The connection accepted a fragmentation-needed error with next-hop MTU `mtu`:
    /// records it in `net`'s routing table for `flow`'s path and drops the cached
    /// route, so the next segment leaves by a route that knows the new MTU.
    pub(crate) fn pmtu_reduced(&mut self, net: &NetRef, flow: Flow, mtu: u32) {
        stats::count(Counter::RouteLookups);
        // SAFETY: `net` is live (the reference `NetRef` holds); the call allocates
        // atomically and may run in any context.
        unsafe { shim::partcp_route_update_pmtu(net.as_ptr(), flow.saddr, flow.daddr, mtu) };
        self.forget();
    }

    /// Sends `skb` (a TCP segment, data at the TCP header) along the connection's
    /// route, with its flow hash and the socket options in `meta`. Returns 0 if it went
    /// out (`net_xmit_eval` of `ip_local_out`'s result), `NET_XMIT_DROP` or a negative
    /// errno if not, `-EHOSTUNREACH` (the skb freed) if there is no route.
    ///
    /// # Safety
    ///
    /// `skb` is an skb the caller owns, from `partcp_tx_alloc` with the segment in its
    /// data and room for the IPv4 header in its headroom; it is consumed.
    pub(crate) unsafe fn send(
        &mut self,
        net: &NetRef,
        flow: Flow,
        skb: *mut bindings::sk_buff,
        gso_size: u32,
        meta: &TxMeta,
    ) -> c_int {
        let dst = self.dst(net, flow, meta.mark);
        if dst.is_null() {
            // SAFETY: The caller gave us `skb`.
            unsafe { shim::partcp_kfree_skb(skb) };
            return -(bindings::EHOSTUNREACH as c_int);
        }
        // SAFETY: `skb` is ours to consume (function precondition); `dst` is the
        // reference this value holds, alive for the call (no per-skb reference is
        // taken: see the shim); `net` is live; `meta` is read during the call only.
        unsafe { shim::partcp_tx_send_dst(net.as_ptr(), skb, dst, flow.saddr, flow.daddr, gso_size, self.hash, meta) }
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        self.forget();
    }
}
