// SPDX-License-Identifier: GPL-2.0

//! Layer: objects.
//!
//! The stack's global state: the connection and listener tables, the ephemeral port
//! allocator, secrets, and the reap workqueue.
//!
//! # Tables and locks
//!
//! Both tables are RCU hash tables (`rcu_table.rs`): a received segment finds its
//! connection or listener with no lock, as Linux's `__inet_lookup_established`. Writers
//! (connect, accept, listen, close, TIME-WAIT expiry, unload) take the global table
//! lock (class `table`), which also keeps the per-port use counts behind the port
//! bitmap the receive path checks first (`partcp_port_set`). MsgP, whose definition is
//! a global table lock around every lookup, takes it in [`Stack::lookup`] too; ConnP-L
//! and ConnP-T never take it on the data path.
//!
//! Lock order: a connection's, group's or listener's lock may be held while taking the
//! table lock, never the reverse.
//!
//! Coexistence with Linux TCP on the same addresses: partcp claims only segments that
//! match one of its connections (exact 4-tuple in the socket's namespace), SYNs to one of
//! its listeners, and handshake-completing ACKs its listeners recognize. Everything else
//! goes to Linux. Ephemeral ports come from `port_lo..=port_hi` (default 61000-65535),
//! outside Linux's default `ip_local_port_range` (32768-60999), so a partcp connect never
//! takes a 4-tuple a Linux connection could be using.

use core::cell::UnsafeCell;

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::rcu;
use kernel::workqueue::Queue;

use crate::glue::obj::conn::{Conn, ConnRef, Listen, ListenRef, Ref};
use crate::glue::kernel::lock::{lock_class, new_bh_lock, BhLock};
use crate::glue::kernel::rcu_table::RcuTable;
use crate::glue::kernel::shim;
use crate::glue::strategy::{self, Kind};
use crate::isn::IsnSecret;
use crate::syncookie::CookieSecret;

lock_class!(TableLockClass, "table");

/// A connection's identity: its namespace and 4-tuple (addresses in host order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct ConnKey {
    pub(crate) net: usize,
    pub(crate) laddr: u32,
    pub(crate) lport: u16,
    pub(crate) raddr: u32,
    pub(crate) rport: u16,
}

impl ConnKey {
    /// The key as the table hashes and compares it.
    pub(crate) fn words(&self) -> [u64; 3] {
        // CAST: a pointer-sized value widens losslessly to u64 on every Linux target.
        [self.net as u64, u64::from(self.laddr) << 32 | u64::from(self.raddr), u64::from(self.lport) << 16 | u64::from(self.rport)]
    }
}

/// A listener's identity: namespace, port, local address (0 for INADDR_ANY).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct ListenKey {
    pub(crate) net: usize,
    pub(crate) lport: u16,
    pub(crate) laddr: u32,
}

impl ListenKey {
    /// The key as the table hashes and compares it.
    pub(crate) fn words(&self) -> [u64; 3] {
        // CAST: as `ConnKey::words`.
        [self.net as u64, u64::from(self.laddr), u64::from(self.lport)]
    }
}

/// What the table lock protects besides the tables' links: how many connections and
/// listeners use each local port (any namespace, any address), behind the receive
/// path's port bitmap. Only [`init`] creates one; a `&mut Writer` is the proof, for
/// [`RcuTable`], that the table lock is held.
pub(crate) struct Writer {
    port_uses: KVVec<u32>,
}

impl Writer {
    fn port_use(&mut self, port: u16) {
        if let Some(n) = self.port_uses.get_mut(usize::from(port)) {
            *n = n.saturating_add(1);
            if *n == 1 {
                // SAFETY: Table lock held (`&mut self`): the bitmap's only writer.
                unsafe { shim::partcp_port_set(port) };
            }
        }
    }

    fn port_unuse(&mut self, port: u16) {
        if let Some(n) = self.port_uses.get_mut(usize::from(port)) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // SAFETY: As in `port_use`.
                unsafe { shim::partcp_port_clear(port) };
            }
        }
    }

    fn port_used(&self, port: u16) -> bool {
        self.port_uses.get(usize::from(port)).is_some_and(|n| *n != 0)
    }
}

/// The connection table: 2^14 buckets (Linux sizes its established hash from memory;
/// this covers the 16384-connection tests at about one connection a bucket).
const CONN_BUCKETS_ORDER: u32 = 14;
/// The listener table: 2^8 buckets.
const LISTEN_BUCKETS_ORDER: u32 = 8;

/// What a received segment's lookup found.
pub(crate) enum Found {
    Conn(ConnRef),
    Listener(ListenRef),
    Nothing,
}

/// Global state.
#[pin_data]
pub(crate) struct Stack {
    /// The table lock: writers of both tables; MsgP's lookups.
    #[pin]
    pub(crate) table: BhLock<Writer, TableLockClass>,
    conns: RcuTable<Conn, Writer>,
    listeners: RcuTable<Listen, Writer>,
    pub(crate) isn_secret: IsnSecret,
    pub(crate) cookie_secret: CookieSecret,
    /// Next ephemeral port to try (an index into the range).
    next_port: Atomic<u32>,
    pub(crate) port_lo: u16,
    pub(crate) port_hi: u16,
    /// Our own workqueue for deferred frees, destroyed (drained) at unload.
    reap_wq: *mut bindings::workqueue_struct,
}

// SAFETY: `reap_wq` is a workqueue pointer valid until `Stack` is dropped; workqueues are
// usable from any thread. Everything else is `Sync` or behind a lock.
unsafe impl Send for Stack {}
// SAFETY: As above.
unsafe impl Sync for Stack {}

/// Holder of the global `Stack`, written at load before any user and freed at unload
/// after every user is gone.
struct Global(UnsafeCell<Option<Pin<KBox<Stack>>>>);

// SAFETY: Written only in `init`/`exit`, when no other context can read it (the family,
// the rx handlers and every timer are registered after `init` and gone before `exit`).
unsafe impl Sync for Global {}

static GLOBAL: Global = Global(UnsafeCell::new(None));

/// The stack: `Some` between [`init`] and [`exit`], which is whenever any socket,
/// handler or timer can run; callers treat `None` as "not loaded" and back off.
pub(crate) fn stack() -> Option<&'static Stack> {
    // SAFETY: See `Global`: writes happen only when no reader can exist.
    unsafe { &*GLOBAL.0.get() }.as_deref()
}

impl Stack {
    /// The reap workqueue.
    pub(crate) fn reap_queue(&self) -> &Queue {
        // SAFETY: `reap_wq` is valid while the stack exists.
        unsafe { Queue::from_raw(self.reap_wq) }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // SAFETY: `b` is valid for writes of `N` bytes.
    unsafe { bindings::get_random_bytes(b.as_mut_ptr().cast(), N) };
    b
}

/// Creates the global stack.
pub(crate) fn init(port_lo: u16, port_hi: u16) -> Result {
    // SAFETY: The name is a NUL-terminated string; the flags are valid.
    let wq = unsafe {
        bindings::alloc_workqueue_noprof(c"partcp_reap".as_ptr().cast(), bindings::wq_flags_WQ_UNBOUND, 0)
    };
    if wq.is_null() {
        return Err(ENOMEM);
    }
    let seed = u32::from_ne_bytes(random_bytes());
    let tables = (|| -> Result<_> {
        let mut port_uses = KVVec::with_capacity(65536, GFP_KERNEL)?;
        port_uses.resize(65536, 0, GFP_KERNEL)?;
        Ok((Writer { port_uses }, RcuTable::new(CONN_BUCKETS_ORDER, seed)?, RcuTable::new(LISTEN_BUCKETS_ORDER, seed)?))
    })();
    let (writer, conns, listeners) = match tables {
        Ok(t) => t,
        Err(e) => {
            // SAFETY: Allocated above, unused.
            unsafe { bindings::destroy_workqueue(wq) };
            return Err(e);
        }
    };
    let s = KBox::pin_init(
        pin_init!(Stack {
            table <- new_bh_lock!(writer, c"Stack::table"),
            conns,
            listeners,
            isn_secret: IsnSecret(random_bytes()),
            cookie_secret: CookieSecret(random_bytes()),
            next_port: Atomic::new(u32::from_ne_bytes(random_bytes())),
            port_lo,
            port_hi,
            reap_wq: wq,
        }),
        GFP_KERNEL,
    );
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            // SAFETY: Allocated above, unused.
            unsafe { bindings::destroy_workqueue(wq) };
            return Err(e);
        }
    };
    // SAFETY: Module init; no reader exists yet (see `Global`).
    unsafe { *GLOBAL.0.get() = Some(s) };
    Ok(())
}

/// Tears down every connection and listener still in the tables, waits for the
/// tables' deferred releases, drains the reap queue, and frees the stack. Called at
/// unload after the receive hooks and the socket family are gone (and the protocol
/// threads stopped), so nothing else touches the stack.
pub(crate) fn exit() {
    let Some(s) = stack() else { return };
    // Batches of objects, removed under the table lock; their timers are shut down
    // outside it (that waits for a running callback). The batch memory is allocated
    // before the lock; without memory, one object at a time.
    let mut conns = KVec::<ConnRef>::with_capacity(256, GFP_KERNEL).unwrap_or_default();
    let mut listeners = KVec::<ListenRef>::with_capacity(64, GFP_KERNEL).unwrap_or_default();
    loop {
        let (c, l) = {
            let mut w = s.table.lock();
            let mut one_c: Option<ConnRef> = None;
            s.conns.for_each(&mut *w, |o| {
                if let Err(e) = conns.push_within_capacity(Ref::new(o.into())) {
                    one_c.get_or_insert(e.0);
                }
            });
            let mut one_l: Option<ListenRef> = None;
            s.listeners.for_each(&mut *w, |o| {
                if let Err(e) = listeners.push_within_capacity(Ref::new(o.into())) {
                    one_l.get_or_insert(e.0);
                }
            });
            for c in Iterator::chain(conns.iter(), one_c.iter()) {
                if s.conns.remove(&mut *w, c) {
                    w.port_unuse(c.key.lport);
                }
            }
            for l in Iterator::chain(listeners.iter(), one_l.iter()) {
                if s.listeners.remove(&mut *w, l) {
                    w.port_unuse(l.key.lport);
                }
            }
            (one_c, one_l)
        };
        if conns.is_empty() && listeners.is_empty() && c.is_none() && l.is_none() {
            break;
        }
        for conn in Iterator::chain(conns.drain_all(), c) {
            conn.timer.shutdown();
            drop(conn);
        }
        for l in Iterator::chain(listeners.drain_all(), l) {
            l.timer.shutdown();
            drop(l);
        }
    }
    // The tables' references go in RCU callbacks, which queue the last ones to the reap
    // queue: wait for every callback, then drain the queue.
    rcu::rcu_barrier();
    // SAFETY: Allocated in `init`; destroy_workqueue drains pending reaps first.
    unsafe { bindings::destroy_workqueue(s.reap_wq) };
    // SAFETY: Module exit; no reader remains (see `Global`).
    unsafe { *GLOBAL.0.get() = None };
}

impl Stack {
    /// Runs a lookup `f`: under MsgP inside the table lock (the strategy's global lock
    /// around every lookup), elsewhere with no lock (RCU).
    fn lookup<R>(&self, f: impl FnOnce(&rcu::Guard) -> R) -> R {
        let rcu = rcu::read_lock();
        if strategy::active().kind == Kind::MsgP {
            let _g = self.table.lock();
            f(&rcu)
        } else {
            f(&rcu)
        }
    }

    /// The connection for a received segment's 4-tuple, or else the listener for its
    /// destination (exact address first, then INADDR_ANY); `listener` false skips the
    /// listener lookup.
    pub(crate) fn find(&self, key: &ConnKey, listener: bool) -> Found {
        self.lookup(|rcu| {
            if let Some(c) = self.conns.find(rcu, &key.words()) {
                return Found::Conn(Ref::new(c));
            }
            if listener {
                if let Some(l) = self.find_listener_rcu(rcu, key.net, key.laddr, key.lport) {
                    return Found::Listener(l);
                }
            }
            Found::Nothing
        })
    }

    /// Whether a connection has this 4-tuple (setup paths: connect).
    pub(crate) fn has_conn(&self, key: &ConnKey) -> bool {
        self.conns.contains(&key.words())
    }

    /// Looks up a connection.
    pub(crate) fn find_conn(&self, key: &ConnKey) -> Option<ConnRef> {
        self.lookup(|rcu| self.conns.find(rcu, &key.words()).map(Ref::new))
    }

    /// Looks up the listener for a segment to `laddr:lport`.
    pub(crate) fn find_listener(&self, net: usize, laddr: u32, lport: u16) -> Option<ListenRef> {
        self.lookup(|rcu| self.find_listener_rcu(rcu, net, laddr, lport))
    }

    fn find_listener_rcu(&self, rcu: &rcu::Guard, net: usize, laddr: u32, lport: u16) -> Option<ListenRef> {
        self.listeners
            .find(rcu, &ListenKey { net, lport, laddr }.words())
            .or_else(|| self.listeners.find(rcu, &ListenKey { net, lport, laddr: 0 }.words()))
            .map(Ref::new)
    }

    /// MsgP's table-lock acquisition for a call on a connection the caller already
    /// holds (the paper's FreeBSD organization looks the connection up under the global
    /// lock on every call); a no-op under the other strategies.
    pub(crate) fn msgp_call_lookup(&self, conn: &Conn) {
        if conn.state.kind() == Kind::MsgP {
            let _g = self.table.lock();
            let _ = conn.hnode.is_hashed();
        }
    }

    /// Inserts a connection unless its 4-tuple is taken (EADDRINUSE: the connection
    /// comes back to be released by the caller). Never allocates: any context.
    pub(crate) fn insert_conn(&self, c: ConnRef) -> core::result::Result<(), ConnRef> {
        let port = c.key.lport;
        let c = c.into_arc();
        let mut w = self.table.lock();
        self.conns.insert(&mut *w, c).map_err(Ref::new)?;
        w.port_use(port);
        Ok(())
    }

    /// Removes a connection from the table (its reference goes after a grace period).
    pub(crate) fn remove_conn(&self, conn: &Conn) {
        let mut w = self.table.lock();
        if self.conns.remove(&mut *w, conn) {
            w.port_unuse(conn.key.lport);
        }
    }

    /// Inserts a listener unless its key is taken.
    pub(crate) fn insert_listener(&self, l: ListenRef) -> core::result::Result<(), ListenRef> {
        let port = l.key.lport;
        let l = l.into_arc();
        let mut w = self.table.lock();
        self.listeners.insert(&mut *w, l).map_err(Ref::new)?;
        w.port_use(port);
        Ok(())
    }

    /// Removes a listener from the table.
    pub(crate) fn remove_listener(&self, l: &Listen) {
        let mut w = self.table.lock();
        if self.listeners.remove(&mut *w, l) {
            w.port_unuse(l.key.lport);
        }
    }

    /// Number of connections in the table.
    pub(crate) fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Counted references to the connections (as many as `out` has room for), in table order.
    pub(crate) fn conns(&self, out: &mut KVec<ConnRef>) {
        let mut w = self.table.lock();
        self.conns.for_each(&mut *w, |c| {
            let _ = out.push_within_capacity(Ref::new(c.into()));
        });
    }

    /// Counted references to the listeners (as many as `out` has room for).
    pub(crate) fn listeners(&self, out: &mut KVec<ListenRef>) {
        let mut w = self.table.lock();
        self.listeners.for_each(&mut *w, |l| {
            let _ = out.push_within_capacity(Ref::new(l.into()));
        });
    }

    /// Number of listeners in the table.
    pub(crate) fn listener_count(&self) -> usize {
        self.listeners.len()
    }

    /// Whether any connection uses `laddr:lport` in `net` (for bind conflicts).
    pub(crate) fn port_in_use(&self, net: usize, laddr: u32, lport: u16) -> bool {
        let mut w = self.table.lock();
        if !w.port_used(lport) {
            return false;
        }
        let mut used = false;
        self.listeners.for_each(&mut *w, |l| {
            let k = &l.key;
            used |= k.net == net && k.lport == lport && (laddr == 0 || k.laddr == 0 || k.laddr == laddr);
        });
        self.conns.for_each(&mut *w, |c| {
            let k = &c.key;
            used |= k.net == net && k.lport == lport && (laddr == 0 || k.laddr == laddr);
        });
        used
    }

    /// Whether a connection made by a socket without SO_REUSEADDR uses `laddr:lport`
    /// (such connections, TIME-WAIT included, block even an SO_REUSEADDR bind).
    pub(crate) fn port_used_without_reuse(&self, net: usize, laddr: u32, lport: u16) -> bool {
        let mut w = self.table.lock();
        if !w.port_used(lport) {
            return false;
        }
        let mut used = false;
        self.conns.for_each(&mut *w, |c| {
            let k = &c.key;
            used |= k.net == net && k.lport == lport && (laddr == 0 || k.laddr == laddr) && !c.reuse.load(Relaxed);
        });
        used
    }

    /// The next candidate ephemeral port.
    pub(crate) fn next_ephemeral(&self) -> u16 {
        let span = u32::from(self.port_hi - self.port_lo) + 1;
        let n = self.next_port.fetch_add(1, Relaxed);
        // CAST: the result is at most port_hi.
        (u32::from(self.port_lo) + n % span) as u16
    }
}

/// KUnit: the per-port use counts behind the receive path's port bitmap, and the
/// ephemeral port sequence.
///
/// The counts are checked on a private [`Writer`], whose transitions also set and clear
/// the (module-wide) bitmap bit of the port used: port 9 (discard), which no partcp
/// object uses while the tests run (at module load, before any socket exists).
#[kunit_tests(partcp_ports)]
mod tests {
    use super::*;

    const PORT: u16 = 9;

    fn writer() -> Result<Writer> {
        let mut port_uses = KVVec::with_capacity(65536, GFP_KERNEL)?;
        port_uses.resize(65536, 0, GFP_KERNEL)?;
        Ok(Writer { port_uses })
    }

    fn uses(w: &Writer, port: u16) -> u32 {
        w.port_uses.get(usize::from(port)).copied().unwrap_or(u32::MAX)
    }

    #[test]
    fn port_use_counts() -> Result {
        let mut w = writer()?;
        assert!(!w.port_used(PORT));
        // A connection and a listener on the same port: two uses.
        w.port_use(PORT);
        w.port_use(PORT);
        assert!(w.port_used(PORT) && uses(&w, PORT) == 2);
        // Other ports are not affected.
        assert!(!w.port_used(PORT - 1) && !w.port_used(PORT + 1));
        w.port_unuse(PORT);
        assert!(w.port_used(PORT) && uses(&w, PORT) == 1);
        w.port_unuse(PORT);
        assert!(!w.port_used(PORT) && uses(&w, PORT) == 0);
        // An unbalanced release stays at zero.
        w.port_unuse(PORT);
        assert!(!w.port_used(PORT) && uses(&w, PORT) == 0);
        Ok(())
    }

    #[test]
    fn port_use_edges() -> Result {
        let mut w = writer()?;
        for p in [0u16, 1, 65534, 65535] {
            assert!(!w.port_used(p));
        }
        w.port_use(65535);
        assert!(w.port_used(65535) && !w.port_used(65534));
        w.port_unuse(65535);
        assert!(!w.port_used(65535));
        // The count saturates rather than wrapping to "unused".
        if let Some(n) = w.port_uses.get_mut(usize::from(PORT)) {
            *n = u32::MAX;
        }
        w.port_use(PORT);
        assert!(w.port_used(PORT) && uses(&w, PORT) == u32::MAX);
        // Back to one use, then none, through the real transitions (clears the bit).
        if let Some(n) = w.port_uses.get_mut(usize::from(PORT)) {
            *n = 1;
        }
        w.port_unuse(PORT);
        assert!(!w.port_used(PORT));
        Ok(())
    }

    #[test]
    fn ephemeral_ports_cover_range() -> Result {
        // The loaded stack's allocator: two turns stay in `port_lo..=port_hi` and visit
        // every port of it (one turn does, unless the counter wraps around 2^32 in it).
        let Some(s) = stack() else {
            assert!(false);
            return Ok(());
        };
        let (lo, hi) = (s.port_lo, s.port_hi);
        assert!(lo <= hi);
        let span = usize::from(hi - lo) + 1;
        let mut seen = KVVec::with_capacity(span, GFP_KERNEL)?;
        seen.resize(span, false, GFP_KERNEL)?;
        for _ in 0..2 * span {
            let p = s.next_ephemeral();
            assert!(p >= lo && p <= hi);
            if let Some(b) = seen.get_mut(usize::from(p - lo)) {
                *b = true;
            }
        }
        assert!(seen.iter().all(|b| *b));
        Ok(())
    }
}
