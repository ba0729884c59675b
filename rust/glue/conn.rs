// SPDX-License-Identifier: GPL-2.0

//! Connections and listeners as kernel objects: the TCP core's per-connection value
//! behind its lock, with a timer, a namespace reference and a deferred-free work item.
//!
//! # Lifetime
//!
//! A [`Conn`] is reference counted (`Arc`). References are held by the connection table
//! while the connection is live, by its socket (if any) until `close()`, by a
//! listener's accept queue, and briefly by whoever is processing it. Its timer callback
//! holds no reference: it runs only while the table (or a socket) still holds one,
//! because the final drop always happens in process context (see [`release`]), and
//! [`Conn`]'s destructor shuts the timer down before the memory goes away.
//!
//! A connection holds a reference on its network namespace, so an orphaned connection
//! (closed by the application, still in FIN-WAIT or TIME-WAIT) can transmit until it
//! dies.

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};

use super::kbuf::{RecvRing, SendRing};
use super::lock::{lock_class, new_bh_lock, BhLock};
use super::shim;
use super::stack::{ConnKey, ListenKey};
use super::timer::Timer;
use crate::connection::Connection;
use crate::listener::Listener;

lock_class!(ConnLockClass, "conn");
lock_class!(ListenLockClass, "listener");

/// The TCP core's connection type in the kernel.
pub(crate) type Tcp = Connection<SendRing, RecvRing>;

/// The state protected by a connection's lock.
pub(crate) struct ConnInner {
    /// The protocol state machine.
    pub(crate) tcp: Tcp,
    /// The socket to wake, or null once the application closed it (or before accept).
    pub(crate) sk: *mut bindings::sock,
    /// Removed from the connection table (set once, under the table lock too).
    pub(crate) unhashed: bool,
    /// The connection's error was copied to the socket's `sk_err` (SO_ERROR).
    pub(crate) err_reported: bool,
}

// SAFETY: `sk` is only dereferenced under the connection lock, while the socket is
// alive: `release` clears it under the same lock before freeing the sock.
unsafe impl Send for ConnInner {}

/// A connection.
#[pin_data(PinnedDrop)]
pub(crate) struct Conn {
    /// Namespace and 4-tuple; immutable.
    pub(crate) key: ConnKey,
    /// The namespace, referenced for the connection's lifetime.
    pub(crate) net: *mut bindings::net,
    /// Protocol state.
    #[pin]
    pub(crate) inner: BhLock<ConnInner, ConnLockClass>,
    /// Retransmission, delayed-ACK, persist, keepalive and TIME-WAIT timer.
    #[pin]
    pub(crate) timer: Timer,
    /// Deferred final release, in process context.
    #[pin]
    reap: Work<Conn>,
}

// SAFETY: `net` is a counted reference to a namespace, usable from any context; all
// mutable state is behind `inner`'s lock.
unsafe impl Send for Conn {}
// SAFETY: As above.
unsafe impl Sync for Conn {}

impl_has_work! {
    impl HasWork<Self> for Conn { self.reap }
}

impl WorkItem for Conn {
    type Pointer = Arc<Conn>;

    fn run(this: Arc<Conn>) {
        // Dropping the reference here, in process context, may run the destructor,
        // which waits for the timer.
        drop(this);
    }
}

impl Conn {
    /// A connection in namespace `net` (a reference is taken).
    pub(crate) fn new(key: ConnKey, net: *mut bindings::net, tcp: Tcp, sk: *mut bindings::sock, flags: kernel::alloc::Flags) -> Result<Arc<Conn>> {
        // SAFETY: `net` is a live namespace (the caller's socket or received packet
        // holds it); the reference taken here is dropped in `PinnedDrop`.
        let net = unsafe { shim::partcp_get_net(net) };
        let conn = Arc::pin_init(
            pin_init!(Conn {
                key,
                net,
                inner <- new_bh_lock!(ConnInner { tcp, sk, unhashed: false, err_reported: false }, c"Conn::inner"),
                timer <- Timer::new(conn_timer),
                reap <- new_work!("Conn::reap"),
            }),
            flags,
        );
        if conn.is_err() {
            // SAFETY: Taken above; the connection was never built.
            unsafe { shim::partcp_put_net(net) };
        }
        conn
    }
}

#[pinned_drop]
impl PinnedDrop for Conn {
    fn drop(self: Pin<&mut Self>) {
        // Never runs in the timer's callback: the callback holds no reference, and final
        // drops from softirq context go through `release`.
        self.timer.shutdown();
        // SAFETY: Taken in `new`.
        unsafe { shim::partcp_put_net(self.net) };
        super::stats::count(super::stats::Counter::ConnsFreed);
    }
}

/// Drops a reference to `conn` from any context: if it is the last, the destructor is
/// deferred to process context (it waits for the timer).
pub(crate) fn release(conn: Arc<Conn>) {
    if let Some(last) = Arc::into_unique_or_drop(conn) {
        let last: Arc<Conn> = last.into();
        // If the work is already queued, that queued reference is not the last one and
        // dropping `last` here is fine.
        if let Some(s) = super::stack::stack() {
            let _ = s.reap_queue().enqueue(last);
        }
    }
}

/// Timer callback (softirq).
///
/// # Safety
///
/// Called by the timer core with the `timer_list` embedded in a live [`Conn`].
unsafe extern "C" fn conn_timer(t: *mut bindings::timer_list) {
    // SAFETY: `t` is the `timer_list` inside `Timer` inside `Conn::timer` (it was
    // initialized there), and the `Conn` is alive while its timer can run (module-level
    // lifetime rules above).
    let conn = unsafe { &*container_of_timer::<Conn>(t, core::mem::offset_of!(Conn, timer)) };
    super::dispatch::conn_timer(conn);
}

/// The state protected by a listener's lock.
pub(crate) struct ListenInner {
    /// The protocol state.
    pub(crate) core: Listener<128>,
    /// Established connections waiting for `accept()`; capacity reserved at `listen()`,
    /// so pushing never allocates.
    pub(crate) accept_q: KVec<Arc<Conn>>,
    /// The listening socket (valid while `closed` is false).
    pub(crate) sk: *mut bindings::sock,
    /// Send and receive buffer sizes for accepted connections.
    pub(crate) sndbuf: usize,
    pub(crate) rcvbuf: usize,
    /// The socket was closed: drop everything that arrives.
    pub(crate) closed: bool,
}

// SAFETY: `sk` is only used under the listener lock while `closed` is false.
unsafe impl Send for ListenInner {}

/// A listener.
#[pin_data(PinnedDrop)]
pub(crate) struct Listen {
    pub(crate) key: ListenKey,
    pub(crate) net: *mut bindings::net,
    #[pin]
    pub(crate) inner: BhLock<ListenInner, ListenLockClass>,
    #[pin]
    pub(crate) timer: Timer,
    #[pin]
    reap: Work<Listen>,
}

// SAFETY: As for `Conn`.
unsafe impl Send for Listen {}
// SAFETY: As for `Conn`.
unsafe impl Sync for Listen {}

impl_has_work! {
    impl HasWork<Self> for Listen { self.reap }
}

impl WorkItem for Listen {
    type Pointer = Arc<Listen>;

    fn run(this: Arc<Listen>) {
        drop(this);
    }
}

impl Listen {
    /// A listener in `net` (a reference is taken).
    pub(crate) fn new(key: ListenKey, net: *mut bindings::net, inner: ListenInner) -> Result<Arc<Listen>> {
        // SAFETY: `net` is the live namespace of the listening socket.
        let net = unsafe { shim::partcp_get_net(net) };
        let l = Arc::pin_init(
            pin_init!(Listen {
                key,
                net,
                inner <- new_bh_lock!(inner, c"Listen::inner"),
                timer <- Timer::new(listen_timer),
                reap <- new_work!("Listen::reap"),
            }),
            GFP_KERNEL,
        );
        if l.is_err() {
            // SAFETY: Taken above.
            unsafe { shim::partcp_put_net(net) };
        }
        l
    }
}

#[pinned_drop]
impl PinnedDrop for Listen {
    fn drop(self: Pin<&mut Self>) {
        self.timer.shutdown();
        // SAFETY: Taken in `new`.
        unsafe { shim::partcp_put_net(self.net) };
    }
}

/// Drops a listener reference from any context (as [`release`]).
pub(crate) fn release_listen(l: Arc<Listen>) {
    if let Some(last) = Arc::into_unique_or_drop(l) {
        let last: Arc<Listen> = last.into();
        if let Some(s) = super::stack::stack() {
            let _ = s.reap_queue().enqueue(last);
        }
    }
}

/// Listener timer callback (softirq): SYN-ACK retransmissions.
///
/// # Safety
///
/// Called by the timer core with the `timer_list` embedded in a live [`Listen`].
unsafe extern "C" fn listen_timer(t: *mut bindings::timer_list) {
    // SAFETY: As in `conn_timer`.
    let l = unsafe { &*container_of_timer::<Listen>(t, core::mem::offset_of!(Listen, timer)) };
    super::dispatch::listen_timer(l);
}

/// The object whose `Timer` field at `offset` contains `t`.
///
/// # Safety
///
/// `t` must point to the `timer_list` of a `Timer` at byte offset `offset` in a `T`.
unsafe fn container_of_timer<T>(t: *mut bindings::timer_list, offset: usize) -> *const T {
    // `Timer` has the `timer_list` as its only field, so its address is the Timer's.
    // SAFETY: By the function's precondition the subtraction stays within the `T`.
    unsafe { t.cast::<u8>().sub(offset).cast::<T>() }
}
