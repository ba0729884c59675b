// SPDX-License-Identifier: GPL-2.0

//! Layer: objects.
//!
//! Connections and listeners as kernel objects: the TCP core's per-connection value
//! behind its strategy's guard, with a timer, a namespace reference, a node of the
//! RCU connection table and a deferred-free work item.
//!
//! # Lifetime
//!
//! A [`Conn`] is reference counted (`Arc`). References are held by the connection table
//! while the connection is live (released a grace period after removal, see
//! `rcu_table.rs`), by its socket (if any) until `close()`, by a listener's accept
//! queue, and briefly by whoever is processing it. Its timer callback holds no
//! reference: the final drop always happens in process context (see [`release`]), and
//! [`Conn`]'s destructor shuts the timer down before the memory goes away.
//!
//! A connection holds a reference on its network namespace, so an orphaned connection
//! (closed by the application, still in FIN-WAIT or TIME-WAIT) can transmit until it
//! dies.

use core::mem::ManuallyDrop;

use kernel::alloc::Box;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::Atomic;
use kernel::sync::Arc;
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};

use crate::glue::kernel::handles::{NetRef, SockRef};
use crate::glue::kernel::rxq::RecvQueue;
use crate::glue::kernel::txq::SendQueue;
use crate::glue::kernel::lock::{lock_class, new_bh_lock, BhLock};
use crate::glue::kernel::mem::StateAlloc;
use crate::glue::kernel::side::KernelSide;
use crate::glue::kernel::rcu_table::{HashNode, Hashed};
use crate::glue::kernel::route::Route;
pub(crate) use crate::glue::kernel::shim::TxMeta;
use crate::glue::obj::stack::{ConnKey, ListenKey};
use crate::glue::strategy::connp_l::GroupCell;
use crate::glue::obj::work::{Work as ThreadWork, Worker};
use crate::glue::strategy::connp_t::ThreadCell;
use crate::glue::strategy::msgp::{self, MsgPCell};
use crate::glue::strategy::{Kind, LiveToken};
use crate::glue::kernel::timer::{HandOff, Timer};
use crate::connection::{Connection, State};
use crate::listener::Listener;

lock_class!(ListenLockClass, "listener");

/// The TCP core's connection type in the kernel, its side structures in `KBox`es
/// (`kernel/side.rs`).
pub(crate) type Tcp = Connection<SendQueue, RecvQueue, KernelSide>;

/// A connection's or listener's [`TxMeta`], written by its socket's `setsockopt`
/// (any context may read it, so each field is its own atomic: a transmit racing with
/// a change sees the old or the new value of each).
pub(crate) struct TxOpts {
    tos: Atomic<u32>,
    ttl: Atomic<i32>,
    priority: Atomic<u32>,
    mark: Atomic<u32>,
}

impl TxOpts {
    pub(crate) fn new() -> Self {
        let d = TxMeta::DEFAULT;
        TxOpts {
            tos: Atomic::new(u32::from(d.tos)),
            ttl: Atomic::new(d.ttl),
            priority: Atomic::new(d.priority),
            mark: Atomic::new(d.mark),
        }
    }

    pub(crate) fn get(&self) -> TxMeta {
        use kernel::sync::atomic::Relaxed;
        TxMeta {
            // CAST: only a u8 is stored.
            tos: self.tos.load(Relaxed) as u8,
            ttl: self.ttl.load(Relaxed),
            priority: self.priority.load(Relaxed),
            mark: self.mark.load(Relaxed),
        }
    }

    pub(crate) fn set(&self, m: TxMeta) {
        use kernel::sync::atomic::Relaxed;
        self.tos.store(u32::from(m.tos), Relaxed);
        self.ttl.store(m.ttl, Relaxed);
        self.priority.store(m.priority, Relaxed);
        self.mark.store(m.mark, Relaxed);
    }
}

/// A connection's protocol state: reachable only through its strategy's guard
/// ([`ConnState`]).
pub(crate) struct ConnInner {
    /// The protocol state machine.
    pub(crate) tcp: Tcp,
    /// The socket to wake, or `None` once the application closed it (or before accept).
    pub(crate) sk: Option<SockRef>,
    /// Removed from the connection table (set once, under the table lock too).
    pub(crate) unhashed: bool,
    /// The connection's error was copied to the socket's `sk_err` (SO_ERROR).
    pub(crate) err_reported: bool,
    /// What readers and writers were last told (see `dispatch::after`): wakeups are
    /// edge-driven, as Linux's, so edge-triggered epoll reports each change once.
    pub(crate) woke: Readiness,
    /// A writer found the send buffer without room, or poll reported the socket not
    /// writable (Linux's `SOCK_NOSPACE`): the next time acknowledged data makes it
    /// writable again, writers are woken, once.
    pub(crate) nospace: bool,
    /// The cached route and flow hash its segments leave with (`kernel/route.rs`).
    pub(crate) route: Route,
    /// The send and receive buffer capacities the socket's `sk_sndbuf`/`sk_rcvbuf` were
    /// last raised for (`dispatch::after`; buffer autotuning).
    pub(crate) shown_bufs: (usize, usize),
    /// The send queue's free bytes and unsent bytes as `Conn::snd_hint` last accounted
    /// for them (under ConnP-T less (free) and plus (unsent) the bytes of asynchronous
    /// sends the thread has consumed since; `dispatch::publish_snd_hint`).
    pub(crate) snd_pub: (i64, i64),
}

/// The readiness a socket's waiters were last woken for.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Readiness {
    /// Readable bytes.
    pub(crate) rx: usize,
    /// Bytes held in the send ring.
    pub(crate) tx: usize,
    /// Read side closed, connection closed, error pending, established.
    pub(crate) flags: u8,
}

/// The connection's half of `poll()` (Linux's `tcp_poll`), as the last piece of work
/// on it left it: published in [`Conn::poll_word`] so that `poll()` and epoll read it
/// without the connection's guard (under MsgP a table lookup and two locks, under
/// ConnP-T a round trip to the protocol thread), as `tcp_poll` reads the socket
/// without its lock.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct PollState {
    /// Readable bytes (at most `u32::MAX`).
    pub(crate) rx: u32,
    /// Less than an MSS free in the receive buffer: readable below SO_RCVLOWAT
    /// (`tcp_epollin_ready`).
    pub(crate) rx_full: bool,
    /// Closed or TIME-WAIT.
    pub(crate) closed: bool,
    /// The peer will send nothing more (`Connection::read_closed`).
    pub(crate) read_closed: bool,
    /// SYN-SENT or SYN-RECEIVED: neither readable nor writable yet.
    pub(crate) handshake: bool,
    /// The application may queue data, room permitting (`Connection::send_open`);
    /// the room is `Conn::snd_hint`'s.
    pub(crate) send_open: bool,
}

impl PollState {
    /// The state of connection `t`.
    pub(crate) fn of(t: &Tcp) -> Self {
        let rb = t.recv_buffer();
        let rx = crate::buffer::RecvBuffer::len(rb);
        let free = crate::buffer::RecvBuffer::capacity(rb).saturating_sub(rx);
        PollState {
            rx: u32::try_from(rx).unwrap_or(u32::MAX),
            rx_full: free < t.max_segment_size(),
            closed: t.is_closed() || t.state() == State::TimeWait,
            read_closed: t.read_closed(),
            handshake: matches!(t.state(), State::SynSent | State::SynReceived),
            send_open: t.send_open(),
        }
    }

    /// As one word: the readable bytes in the low 32 bits, the flags above.
    pub(crate) fn word(self) -> u64 {
        let flags = u64::from(self.rx_full)
            | u64::from(self.closed) << 1
            | u64::from(self.read_closed) << 2
            | u64::from(self.handshake) << 3
            | u64::from(self.send_open) << 4;
        u64::from(self.rx) | flags << 32
    }

    /// The state a [`PollState::word`] holds.
    pub(crate) fn from_word(w: u64) -> Self {
        let flag = |bit: u32| (w >> (32 + bit)) & 1 == 1;
        PollState {
            // CAST: the low 32 bits.
            rx: w as u32,
            rx_full: flag(0),
            closed: flag(1),
            read_closed: flag(2),
            handshake: flag(3),
            send_open: flag(4),
        }
    }
}

/// A connection's state behind the guard of the strategy it was created under: the
/// only way to reach a [`ConnInner`].
///
/// The state (about 1.7 KB, most of it the TCP core's) is a separate allocation under
/// every strategy, so that a [`Conn`] stays small (a few hundred bytes), from a slab
/// cache of its own ([`StateAlloc`], objects of [`STATE_LAYOUT`]): from kmalloc it
/// would take a whole 2 KB bucket.
pub(crate) enum ConnState {
    /// MsgP: a per-connection lock that owns the state.
    MsgP(MsgPCell<ConnInner>),
    /// ConnP-L: locked by the connection's group lock.
    ConnPL(GroupCell<Box<ConnInner, StateAlloc>>),
    /// ConnP-T: opened only on the connection's protocol thread.
    ConnPT(ThreadCell<Box<ConnInner, StateAlloc>, ThreadWork>),
}

/// Size and alignment of the connection-state cache's objects: the largest state
/// allocation of any strategy (MsgP's lock with the state, or the state alone).
pub(crate) const STATE_LAYOUT: (usize, usize) = {
    let (lock_size, lock_align) = msgp::cell_layout::<ConnInner>();
    let (size, align) = (core::mem::size_of::<ConnInner>(), core::mem::align_of::<ConnInner>());
    (if lock_size > size { lock_size } else { size }, if lock_align > align { lock_align } else { align })
};

impl ConnState {
    /// The state `inner` under the active strategy's guard for the slot `home`.
    fn new(live: &LiveToken, home: u32, inner: ConnInner, flags: kernel::alloc::Flags) -> Result<ConnState> {
        let s = live.strategy().ok_or(EAGAIN)?;
        Ok(match s.cfg.kind {
            Kind::MsgP => ConnState::MsgP(MsgPCell::new(inner, flags)?),
            Kind::ConnPL => ConnState::ConnPL(GroupCell::new(s.groups.get(home).ok_or(EINVAL)?, Box::new(inner, flags)?)),
            Kind::ConnPT => ConnState::ConnPT(ThreadCell::new(s.threads.get(home).ok_or(EINVAL)?, Box::new(inner, flags)?)),
        })
    }

    /// The strategy.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            ConnState::MsgP(_) => Kind::MsgP,
            ConnState::ConnPL(_) => Kind::ConnPL,
            ConnState::ConnPT(_) => Kind::ConnPT,
        }
    }

    /// ConnP-T: the owning protocol thread.
    pub(crate) fn worker(&self) -> Option<&Worker> {
        match self {
            ConnState::ConnPT(c) => Some(c.worker()),
            _ => None,
        }
    }
}

// An established connection's `Conn` and its `Arc` count (the count, 4 bytes, padded
// to the `Conn`'s alignment) stay within one kmalloc-256 object: idle memory per
// connection is a goal (Documentation/evaluation.md), and a field that pushed it into
// kmalloc-512 would cost every connection 256 bytes.
kernel::static_assert!(core::mem::size_of::<Conn>() + core::mem::align_of::<Conn>() <= 256);

/// A connection.
#[pin_data(PinnedDrop)]
pub(crate) struct Conn {
    /// Namespace and 4-tuple; immutable.
    pub(crate) key: ConnKey,
    /// The namespace, referenced for the connection's lifetime.
    pub(crate) net: NetRef,
    /// Its group (ConnP-L) or thread (ConnP-T): the keyed hash of the 4-tuple.
    pub(crate) home: u32,
    /// Keeps the strategy from being switched while the connection exists (see
    /// `strategy/mod.rs`).
    pub(crate) live: LiveToken,
    /// Protocol state, behind its strategy's guard.
    pub(crate) state: ConnState,
    /// Node of the connection table (`stack.rs`), keyed by namespace and 4-tuple.
    pub(crate) hnode: HashNode,
    /// The socket that made it had SO_REUSEADDR (for `bind()` conflicts with its
    /// TIME-WAIT remains, as Linux).
    pub(crate) reuse: Atomic<bool>,
    /// What its segments carry in the IP header and skb (its socket's options; a
    /// listener's for an accepted connection until `accept`).
    pub(crate) tx: TxOpts,
    /// ConnP-T: a timer expiry is queued to the protocol thread (the destructor waits
    /// for it to be consumed).
    pub(crate) timer_queued: HandOff,
    /// The send room as the last piece of work on the connection left it, read by
    /// `sendmsg()` without the connection's guard (every strategy). High 32 bits
    /// (signed): the send queue's free bytes, under ConnP-T less the bytes reserved by
    /// writers and not yet consumed by the thread; low 32 bits: the queue's unsent
    /// bytes plus those reserved bytes (for TCP_NOTSENT_LOWAT). ConnP-T's writers
    /// reserve with a compare-and-exchange (`dispatch::send_async`); every piece of
    /// work adds what changed (`dispatch::publish_snd_hint`), never overwriting, so a
    /// reservation is never lost. See Documentation/strategies.md.
    pub(crate) snd_hint: Atomic<i64>,
    /// The connection can take data now (established or CLOSE-WAIT, no FIN queued, no
    /// error pending), as the last piece of work published it with `snd_hint`.
    pub(crate) snd_open: Atomic<bool>,
    /// [`PollState::word`] of the connection as the last piece of work on it left it
    /// (`dispatch::publish_poll`); `poll()` reads it without the guard.
    pub(crate) poll_word: Atomic<u64>,
    /// The send queue's capacity as `snd_hint` was last published with (for
    /// `poll()`'s writability rule; at most `i32::MAX`).
    pub(crate) snd_cap: Atomic<i64>,
    /// `poll()` found the socket not writable and asks for a wake-up when room appears
    /// (Linux sets `SOCK_NOSPACE` in `tcp_poll` without the socket lock): the next
    /// piece of work that publishes `poll_word` folds it into `ConnInner::nospace`.
    pub(crate) nospace_req: Atomic<bool>,
    /// Retransmission, delayed-ACK, persist, keepalive and TIME-WAIT timer.
    #[pin]
    pub(crate) timer: Timer,
    /// Deferred final release, in process context.
    #[pin]
    reap: Work<Conn>,
}


impl_has_work! {
    impl HasWork<Self> for Conn { self.reap }
}

// SAFETY: `node` returns the `hnode` field, at `offset_of!(Conn, hnode)`.
unsafe impl Hashed for Conn {
    fn node(&self) -> &HashNode {
        &self.hnode
    }

    const NODE_OFFSET: usize = core::mem::offset_of!(Conn, hnode);

    fn release(this: Arc<Self>) {
        drop(Ref::new(this));
    }
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
    ///
    /// EAGAIN while a strategy switch is in progress.
    pub(crate) fn new(key: ConnKey, net: NetRef, tcp: Tcp, sk: Option<SockRef>, flags: kernel::alloc::Flags) -> Result<ConnRef> {
        let live = LiveToken::acquire()?;
        let home = live.strategy().ok_or(EAGAIN)?.slot(key.laddr, key.lport, key.raddr, key.rport);
        let shown_bufs = (crate::buffer::SendBuffer::capacity(tcp.send_buffer()), crate::buffer::RecvBuffer::capacity(tcp.recv_buffer()));
        let poll = PollState::of(&tcp).word();
        let inner =
            ConnInner { tcp, sk, unhashed: false, err_reported: false, woke: Readiness::default(), nospace: false, route: Route::new(), shown_bufs, snd_pub: (0, 0) };
        let state = ConnState::new(&live, home, inner, flags)?;
        let conn = Arc::pin_init(
            pin_init!(Conn {
                key,
                net,
                home,
                live,
                state,
                hnode: HashNode::new(key.words()),
                timer_queued: HandOff::new(),
                snd_hint: Atomic::new(0),
                snd_open: Atomic::new(false),
                poll_word: Atomic::new(poll),
                snd_cap: Atomic::new(0),
                nospace_req: Atomic::new(false),
                reuse: Atomic::new(false),
                tx: TxOpts::new(),
                timer <- Timer::new(conn_timer),
                reap <- new_work!("Conn::reap"),
            }),
            flags,
        );
        // Counted where it is built, as `ConnsFreed` is where it is dropped, so the two
        // agree even when a later step fails and drops the new connection.
        if conn.is_ok() {
            crate::glue::kernel::stats::count(crate::glue::kernel::stats::Counter::ConnsCreated);
        }
        conn.map(Ref::new)
    }
}

#[pinned_drop]
impl PinnedDrop for Conn {
    fn drop(self: Pin<&mut Self>) {
        // Never runs in the timer's callback: the callback holds no reference, and final
        // drops happen in process context (`Ref`).
        self.timer.shutdown();
        // ConnP-T: a timer expiry handed to the protocol thread uses this connection
        // through a raw pointer until it clears the flag. Process context (see above).
        self.timer_queued.wait_idle();
        crate::glue::kernel::stats::count(crate::glue::kernel::stats::Counter::ConnsFreed);
    }
}

/// An object whose destructor must run in process context (it waits for its timer),
/// freed through the stack's reap workqueue.
pub(crate) trait Reaped: Send + Sync + Sized + 'static {
    /// Queues the last reference to the reap workqueue.
    fn reap(last: Arc<Self>);
}

/// A counted reference to a connection or listener that may be dropped in any context:
/// if it is the last, the destructor is deferred to process context ([`Reaped`]).
pub(crate) struct Ref<T: Reaped>(ManuallyDrop<Arc<T>>);

/// A reference to a connection.
pub(crate) type ConnRef = Ref<Conn>;
/// A reference to a listener.
pub(crate) type ListenRef = Ref<Listen>;

impl<T: Reaped> Ref<T> {
    /// Wraps a counted reference.
    pub(crate) fn new(a: Arc<T>) -> Self {
        Ref(ManuallyDrop::new(a))
    }

    /// The counted reference, for a table to keep (it drops it through [`Reaped`] too).
    pub(crate) fn into_arc(self) -> Arc<T> {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never dropped, so the reference is taken out exactly once.
        unsafe { ManuallyDrop::take(&mut me.0) }
    }

    /// Whether `a` and `b` are the same object.
    pub(crate) fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T: Reaped> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref::new(Arc::clone(&self.0))
    }
}

impl<T: Reaped> core::ops::Deref for Ref<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Reaped> Drop for Ref<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and the field is not used after it.
        let a = unsafe { ManuallyDrop::take(&mut self.0) };
        if let Some(last) = Arc::into_unique_or_drop(a) {
            T::reap(last.into());
        }
    }
}

impl Reaped for Conn {
    fn reap(last: Arc<Self>) {
        // Never fails: the work item holds a reference while queued, so it cannot be
        // queued while this one is the last.
        if let Some(s) = crate::glue::obj::stack::stack() {
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
    crate::glue::dispatch::conn_timer(conn);
}

/// Half-open connections a listener keeps before answering with SYN cookies. The
/// listener state lives on the stack while it is built, so this stays small (about
/// 50 bytes an entry).
pub(crate) const SYN_QUEUE: usize = 32;

/// The state protected by a listener's lock.
pub(crate) struct ListenInner {
    /// The protocol state.
    pub(crate) core: Listener<SYN_QUEUE>,
    /// Established connections waiting for `accept()`; capacity reserved at `listen()`,
    /// so pushing never allocates.
    pub(crate) accept_q: KVec<ConnRef>,
    /// The listening socket (`None` once closed).
    pub(crate) sk: Option<SockRef>,
    /// Send and receive buffer sizes for accepted connections.
    pub(crate) sndbuf: usize,
    pub(crate) rcvbuf: usize,
    /// The socket was closed: drop everything that arrives.
    pub(crate) closed: bool,
    /// The listening socket set TCP_CONGESTION: its connections keep that algorithm
    /// instead of taking the namespace's at the handshake (`tcp_ca_openreq_child`).
    pub(crate) ca_set: bool,
}


/// A listener. Its state is protected by its own lock under every strategy.
#[pin_data(PinnedDrop)]
pub(crate) struct Listen {
    pub(crate) key: ListenKey,
    pub(crate) net: NetRef,
    /// ConnP-T: protocol thread 0, which does all listener work.
    pub(crate) thread0: Option<Arc<Worker>>,
    /// Keeps the strategy from being switched while the listener exists.
    pub(crate) live: LiveToken,
    /// Node of the listener table (`stack.rs`), keyed by namespace, port and address.
    pub(crate) hnode: HashNode,
    /// The listening socket had SO_REUSEADDR; its connections inherit it.
    pub(crate) reuse: Atomic<bool>,
    /// What its SYN-ACKs carry; its connections inherit it (Linux `sk_clone_lock`).
    pub(crate) tx: TxOpts,
    /// ConnP-T: an expiry of `timer` is queued to protocol thread 0 (as
    /// [`Conn::timer_queued`]).
    pub(crate) timer_queued: HandOff,
    #[pin]
    pub(crate) inner: BhLock<ListenInner, ListenLockClass>,
    #[pin]
    pub(crate) timer: Timer,
    #[pin]
    reap: Work<Listen>,
}


impl_has_work! {
    impl HasWork<Self> for Listen { self.reap }
}

// SAFETY: `node` returns the `hnode` field, at `offset_of!(Listen, hnode)`.
unsafe impl Hashed for Listen {
    fn node(&self) -> &HashNode {
        &self.hnode
    }

    const NODE_OFFSET: usize = core::mem::offset_of!(Listen, hnode);

    fn release(this: Arc<Self>) {
        drop(Ref::new(this));
    }
}

impl WorkItem for Listen {
    type Pointer = Arc<Listen>;

    fn run(this: Arc<Listen>) {
        drop(this);
    }
}

impl Listen {
    /// A listener in `net` (a reference is taken).
    ///
    /// EAGAIN while a strategy switch is in progress.
    pub(crate) fn new(key: ListenKey, net: NetRef, inner: ListenInner) -> Result<ListenRef> {
        let live = LiveToken::acquire()?;
        let s = live.strategy().ok_or(EAGAIN)?;
        let thread0 = if s.cfg.kind == Kind::ConnPT { Some(s.threads.get(0).ok_or(EINVAL)?) } else { None };
        Arc::pin_init(
            pin_init!(Listen {
                key,
                net,
                thread0,
                live,
                hnode: HashNode::new(key.words()),
                reuse: Atomic::new(false),
                tx: TxOpts::new(),
                timer_queued: HandOff::new(),
                inner <- new_bh_lock!(inner, c"Listen::inner"),
                timer <- Timer::new(listen_timer),
                reap <- new_work!("Listen::reap"),
            }),
            GFP_KERNEL,
        )
        .map(Ref::new)
    }
}

#[pinned_drop]
impl PinnedDrop for Listen {
    fn drop(self: Pin<&mut Self>) {
        // Process context, as for `Conn` (`Ref`).
        self.timer.shutdown();
        self.timer_queued.wait_idle();
    }
}

impl Reaped for Listen {
    fn reap(last: Arc<Self>) {
        // As for `Conn`.
        if let Some(s) = crate::glue::obj::stack::stack() {
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
    crate::glue::dispatch::listen_timer(l);
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

/// KUnit: `PollState` survives its word (what `poll()` reads is what the last piece of
/// work published), for every flag combination and the extremes of the readable count.
#[kunit_tests(partcp_poll_state)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trip() -> Result {
        for bits in 0u32..32 {
            for &rx in &[0u32, 1, 4096, 0x7fff_ffff, u32::MAX] {
                let p = PollState {
                    rx,
                    rx_full: bits & 1 != 0,
                    closed: bits & 2 != 0,
                    read_closed: bits & 4 != 0,
                    handshake: bits & 8 != 0,
                    send_open: bits & 16 != 0,
                };
                assert!(PollState::from_word(p.word()) == p);
                // The readable count never spills into the flags.
                assert!(p.word() >> 32 == u64::from(bits));
            }
        }
        Ok(())
    }
}
