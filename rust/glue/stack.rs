// SPDX-License-Identifier: GPL-2.0

//! The stack's global state: the connection and listener tables (MsgP: one global
//! table lock), the ephemeral port allocator, secrets, and the reap workqueue.
//!
//! Lock order: a connection or listener lock may be held while taking the table lock,
//! never the reverse.
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
use kernel::rbtree::{RBTree, RBTreeNode};
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::Arc;
use kernel::workqueue::Queue;

use super::conn::{Conn, Listen};
use super::lock::{lock_class, new_bh_lock, BhLock};
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

/// A listener's identity: namespace, port, local address (0 for INADDR_ANY).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct ListenKey {
    pub(crate) net: usize,
    pub(crate) lport: u16,
    pub(crate) laddr: u32,
}

/// The tables.
pub(crate) struct Tables {
    pub(crate) conns: RBTree<ConnKey, Arc<Conn>>,
    pub(crate) listeners: RBTree<ListenKey, Arc<Listen>>,
}

/// Global state.
#[pin_data]
pub(crate) struct Stack {
    #[pin]
    pub(crate) tables: BhLock<Tables, TableLockClass>,
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
    let s = KBox::pin_init(
        pin_init!(Stack {
            tables <- new_bh_lock!(Tables { conns: RBTree::new(), listeners: RBTree::new() }, c"Stack::tables"),
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

/// Tears down every connection and listener still in the tables, drains the reap
/// queue, and frees the stack. Called at unload after the receive hooks and the socket
/// family are gone, so nothing else touches the stack.
pub(crate) fn exit() {
    let Some(s) = stack() else { return };
    loop {
        // Take entries out one at a time; drop them outside the lock (their destructors
        // wait for timers).
        let (c, l) = {
            let mut t = s.tables.lock();
            let c = t.conns.cursor_front_mut().map(|cur| cur.remove_current().1);
            let l = t.listeners.cursor_front_mut().map(|cur| cur.remove_current().1);
            (c, l)
        };
        if c.is_none() && l.is_none() {
            break;
        }
        if let Some(node) = c {
            let (_, conn) = node.to_key_value();
            conn.timer.shutdown();
            drop(conn);
        }
        if let Some(node) = l {
            let (_, l) = node.to_key_value();
            l.timer.shutdown();
            drop(l);
        }
    }
    // SAFETY: Allocated in `init`; destroy_workqueue drains pending reaps first.
    unsafe { bindings::destroy_workqueue(s.reap_wq) };
    // SAFETY: Module exit; no reader remains (see `Global`).
    unsafe { *GLOBAL.0.get() = None };
}

impl Stack {
    /// Looks up a connection.
    pub(crate) fn find_conn(&self, key: &ConnKey) -> Option<Arc<Conn>> {
        self.tables.lock().conns.get(key).cloned()
    }

    /// Looks up the listener for a segment to `laddr:lport` (exact address first, then
    /// INADDR_ANY).
    pub(crate) fn find_listener(&self, net: usize, laddr: u32, lport: u16) -> Option<Arc<Listen>> {
        let t = self.tables.lock();
        t.listeners
            .get(&ListenKey { net, lport, laddr })
            .or_else(|| t.listeners.get(&ListenKey { net, lport, laddr: 0 }))
            .cloned()
    }

    /// Inserts a connection unless its 4-tuple is taken (EADDRINUSE). The node is
    /// allocated by the caller, so this never allocates and works in any context; on
    /// failure the node comes back to be dropped outside the lock.
    pub(crate) fn insert_conn(
        &self,
        node: RBTreeNode<ConnKey, Arc<Conn>>,
        key: ConnKey,
    ) -> core::result::Result<(), RBTreeNode<ConnKey, Arc<Conn>>> {
        let mut t = self.tables.lock();
        if t.conns.get(&key).is_some() {
            return Err(node);
        }
        t.conns.insert(node);
        Ok(())
    }

    /// Removes a connection from the table if `conn` is the one there.
    pub(crate) fn remove_conn(&self, conn: &Conn) -> Option<Arc<Conn>> {
        let mut t = self.tables.lock();
        match t.conns.get(&conn.key) {
            Some(c) if core::ptr::eq(&**c, conn) => t.conns.remove(&conn.key),
            _ => None,
        }
    }

    /// Whether any connection uses `laddr:lport` in `net` (for bind conflicts).
    pub(crate) fn port_in_use(&self, net: usize, laddr: u32, lport: u16) -> bool {
        let t = self.tables.lock();
        if t.listeners.get(&ListenKey { net, lport, laddr }).is_some()
            || t.listeners.get(&ListenKey { net, lport, laddr: 0 }).is_some()
        {
            return true;
        }
        if laddr == 0 {
            if t.listeners.iter().any(|(k, _)| k.net == net && k.lport == lport) {
                return true;
            }
        }
        t.conns
            .iter()
            .any(|(k, _)| k.net == net && k.lport == lport && (laddr == 0 || k.laddr == laddr))
    }

    /// Whether a connection made by a socket without SO_REUSEADDR uses `laddr:lport`
    /// (such connections, TIME-WAIT included, block even an SO_REUSEADDR bind).
    pub(crate) fn port_used_without_reuse(&self, net: usize, laddr: u32, lport: u16) -> bool {
        let t = self.tables.lock();
        t.conns.iter().any(|(k, c)| {
            k.net == net && k.lport == lport && (laddr == 0 || k.laddr == laddr) && !c.reuse.load(Relaxed)
        })
    }

    /// The next candidate ephemeral port.
    pub(crate) fn next_ephemeral(&self) -> u16 {
        let span = u32::from(self.port_hi - self.port_lo) + 1;
        let n = self.next_port.fetch_add(1, Relaxed);
        // CAST: the result is at most port_hi.
        (u32::from(self.port_lo) + n % span) as u16
    }
}
