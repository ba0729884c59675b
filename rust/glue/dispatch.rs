// SPDX-License-Identifier: GPL-2.0

//! Layer: dispatch (between the executors below and the entry points above).
//!
//! "Run this work for this connection", from syscall context, NAPI (softirq) context,
//! timer (softirq) context and protocol threads. Every path into the TCP core goes
//! through here. A parallelization strategy (`strategy/`) is a choice of *where* the work
//! runs and *what* makes it exclusive, and the connection's state can only be reached
//! through that strategy's guard ([`ConnState`]):
//!
//! | strategy | where | exclusion (the only lock on the data path) |
//! |---|---|---|
//! | MsgP | the requesting context | `MsgPCell`, the connection's lock (class `conn`), plus the table lock (class `table`) around each segment's or call's lookup |
//! | ConnP-L | the requesting context | `GroupCell`, the group's lock (class `group`) |
//! | ConnP-T | protocol thread `Conn::home` | `ThreadCell`, opened only with that thread's `ThreadCtx`; the thread's queue lock (class `queue`) to hand work over |
//!
//! Lookups are lock-free (RCU) except MsgP's (`stack.rs`). Listeners are protected by
//! their own lock (class `listener`) under every strategy: that is connection setup.
//!
//! After every core call, still with exclusive access: transmit what the core queued,
//! re-arm the timer to the core's next deadline, and wake the socket's waiters.
//!
//! Callbacks into this layer from below: the timer callbacks (`conn.rs`) and the
//! protocol threads' main loop (`strategy/connp_t.rs`).

use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Full, Relaxed};

use crate::glue::kernel::clock;
use crate::glue::obj::conn::{self, Conn, ConnInner, ConnRef, ConnState, Listen, ListenRef, PollState, Tcp};
use crate::glue::kernel::txq::SendQueue;
use crate::glue::kernel::rxq::RecvQueue;
use crate::glue::entry::rx;
use crate::glue::kernel::handles::SockRef;
use crate::glue::kernel::shim::TxMeta;
use crate::glue::kernel::skb::RxSeg;
use crate::glue::obj::stack::{stack, ConnKey, Stack};
use crate::glue::kernel::stats::{self, Counter};
use crate::glue::obj::work::{BatchReq, CallReq, Reply, Work, Worker};
use crate::glue::strategy::connp_t::{PushError, ThreadCtx, WorkItem};
use crate::glue::strategy::{sched_add, Sched};
use crate::glue::kernel::timer::HandOff;
use crate::glue::kernel::trace;
use crate::glue::entry::tx;
use crate::connection::{Connection, Endpoint, IcmpError, SegmentAction, State};
use crate::listener::ListenerAction;
use crate::seq::SeqNum;
use crate::time::Instant;

/// Transmits, re-arms and wakes after a core call on `inner`. Returns true if the
/// connection just closed for good and must leave the table.
fn after(conn: &Conn, inner: &mut ConnInner, now: Instant) -> bool {
    let local = inner.tcp.local().addr;
    let remote = inner.tcp.remote().addr;
    let mut meta = None;
    while let Some((t, undo)) = inner.tcp.poll_transmit_undoable(now) {
        trace::retransmit(&inner.tcp, &t);
        let m = *meta.get_or_insert_with(|| tx_meta(conn, inner.sk.as_ref()));
        if tx::send_transmit(&conn.net, &mut inner.route, local, remote, &t, inner.tcp.send_buffer(), &m).is_err() {
            // Not built (no memory) or refused by IP (no route, a qdisc drop): not
            // sent, as Linux's tcp_write_xmit stops with SND.NXT unchanged. The core
            // takes the segment back and arms a short retry; polling on here would only
            // fail again.
            inner.tcp.transmit_failed(undo, now);
            break;
        }
    }
    if let Some(d) = inner.tcp.next_deadline() {
        conn.timer.arm_usecs(d.0.saturating_sub(now.0));
    }
    // Before the wake-ups below: a writer (or poller) they wake finds the room, and
    // the readiness, published.
    publish_snd_hint(conn, inner);
    if let Some(sk) = &inner.sk {
        if let (Some(e), false) = (inner.tcp.error(), inner.err_reported) {
            inner.err_reported = true;
            sk.set_err(e.errno());
        }
    }
    // After `sk_err`: a poll that sees the connection closed sees its error too (it
    // reads `sk_err` last, as tcp_poll).
    publish_poll(conn, inner);
    if let Some(sk) = &inner.sk {
        // Wake readers when something readable happened (new bytes, end of stream,
        // close, error, handshake done), once per change, as Linux's sk_data_ready.
        // Writers are woken on a state change, or when acknowledged data made the
        // socket writable again after a writer found no room (tcp_check_space ->
        // sk_stream_write_space: only with SOCK_NOSPACE set, and only once a third of
        // the buffer is free), not for every ACK.
        let t = &inner.tcp;
        let now_ready = conn::Readiness {
            rx: crate::buffer::RecvBuffer::len(t.recv_buffer()),
            tx: crate::buffer::SendBuffer::len(t.send_buffer()),
            flags: u8::from(t.read_closed())
                | u8::from(t.is_closed()) << 1
                | u8::from(t.error().is_some()) << 2
                | u8::from(!matches!(t.state(), State::SynSent | State::SynReceived)) << 3,
        };
        let was = inner.woke;
        if now_ready.rx > was.rx || now_ready.flags != was.flags {
            sk.data_ready();
        }
        let freed = now_ready.tx < was.tx && inner.nospace && t.stream_writeable();
        if freed || (now_ready.flags != was.flags && t.writable()) {
            inner.nospace = false;
            sk.write_space();
        }
        inner.woke = now_ready;
        let snd = crate::buffer::SendBuffer::capacity(inner.tcp.send_buffer());
        let rcv = crate::buffer::RecvBuffer::capacity(inner.tcp.recv_buffer());
        sync_bufs(snd, rcv, &mut inner.shown_bufs, sk);
    }
    if inner.tcp.is_closed() && !inner.unhashed {
        inner.unhashed = true;
        return true;
    }
    false
}

/// `Conn::snd_hint`'s word for `room` (high half, signed) and `unsent` (low 32 bits,
/// in `0..2^31`). Linear: the word of a sum is the (wrapping) sum of the words, so
/// changes to both figures are one atomic addition.
fn hint_word(room: i64, unsent: i64) -> i64 {
    room.wrapping_shl(32).wrapping_add(unsent)
}

/// The `(room, unsent)` of a `Conn::snd_hint` word.
fn hint_figures(w: i64) -> (i64, i64) {
    let room = w >> 32;
    (room, w.wrapping_sub(room.wrapping_shl(32)))
}

/// A byte count as the hint counts it (at most `i32::MAX`, like the figures).
fn hint_clamp(n: usize) -> i64 {
    i64::try_from(n.min(0x7fff_ffff)).unwrap_or(0)
}

/// Brings `Conn::snd_hint` up to date with the send queue after a piece of work on the
/// connection (exclusive access to `inner`), under every strategy: `sendmsg()` reads
/// the room there instead of taking the guard to look. Adds the change in the queue's
/// free and unsent bytes since the last publication (`ConnInner::snd_pub`) to the
/// word, with one atomic addition, so that ConnP-T writers' concurrent reservations
/// are kept: the word's room stays `free - reserved` and its unsent count `unsent +
/// reserved`, where `reserved` is what writers reserved and the thread has not yet
/// consumed (nothing, under MsgP and ConnP-L). Then publishes whether the connection
/// can take data (`Conn::snd_open`). Before the wake-ups of `after`: a writer they
/// wake finds the room published.
fn publish_snd_hint(conn: &Conn, inner: &mut ConnInner) {
    let t = &inner.tcp;
    // The room sendmsg's own wait condition reads.
    let free = hint_clamp(t.send_buffer().free());
    let unsent = hint_clamp(t.notsent_bytes());
    let (pf, pu) = inner.snd_pub;
    if (free, unsent) != (pf, pu) {
        conn.snd_hint.add(hint_word(free - pf, unsent - pu), Relaxed);
        inner.snd_pub = (free, unsent);
    }
    let cap = hint_clamp(crate::buffer::SendBuffer::capacity(t.send_buffer()));
    if conn.snd_cap.load(Relaxed) != cap {
        conn.snd_cap.store(cap, Relaxed);
    }
    conn.snd_open.store(t.writable() && t.error().is_none(), Relaxed);
}

/// Publishes the connection's [`PollState`] for `poll()` (`Conn::poll_word`) after a
/// piece of work on it (exclusive access to `inner`), then takes in a wake-up request
/// `poll()` made without the guard (`Conn::nospace_req`, Linux's `SOCK_NOSPACE` set by
/// `tcp_poll`): the word's exchange is a full barrier, so either that `poll()`, which
/// sets the request before it reads the word again, sees the room this work made, or
/// the request is seen here and the wake-up of `after` goes out.
fn publish_poll(conn: &Conn, inner: &mut ConnInner) {
    conn.poll_word.xchg(PollState::of(&inner.tcp).word(), Full);
    if conn.nospace_req.load(Relaxed) && conn.nospace_req.xchg(false, Relaxed) {
        inner.nospace = true;
        inner.tcp.note_nospace();
    }
}

/// What `poll()` reads of a connection without its guard: its [`PollState`] and its
/// send room, as the last piece of work on it published them.
struct PollView {
    /// The published state.
    state: PollState,
    /// Free bytes in the send queue (under ConnP-T less those writers reserved).
    room: i64,
    /// Unsent bytes (under ConnP-T with those writers reserved).
    unsent: i64,
    /// The send queue's capacity.
    cap: i64,
}

impl PollView {
    /// EPOLLOUT by the room (`__sk_stream_is_writeable(sk, 1)`): some room, at least
    /// half the queued bytes free (a third of the buffer, `sk_stream_min_wspace`, as
    /// `Connection::stream_writeable`), and with TCP_NOTSENT_LOWAT `lowat` the unsent
    /// bytes below half of it. Bytes ConnP-T writers reserved count as queued, as Linux
    /// counts what `sendmsg` accepted.
    fn writeable(&self, lowat: usize) -> bool {
        let queued = self.cap - self.room;
        self.state.send_open
            && self.room > 0
            && self.room >= queued / 2
            && self.unsent.saturating_mul(2) < hint_clamp(lowat)
    }
}

/// `poll()` on a connection: its [`PollState`] and whether it is writable by its room
/// ([`PollView::writeable`] for TCP_NOTSENT_LOWAT limit `lowat`). Unless `shut` (the
/// socket cannot send anyway), a connection found not writable is asked to wake
/// writers when room appears (Linux's `SOCK_NOSPACE`), once established.
///
/// MsgP and ConnP-L: without the connection's guard, from what the last piece of work
/// published, as `tcp_poll` reads the socket without its lock; a segment that reached
/// the stack before the call was processed in that context (NAPI), so its effect is
/// seen. ConnP-T: a request like any other, run on the connection's thread (the
/// organization's definition), after the segments and asynchronous sends handed to it
/// before the call: it sees them as Linux's poll sees a segment that arrived before it.
/// ENODEV if that thread has stopped.
pub(crate) fn poll(conn: &ConnRef, lowat: usize, shut: bool) -> Result<(PollState, bool)> {
    if matches!(conn.state, ConnState::ConnPT(_)) {
        return read(conn, |inner| {
            let t = &inner.tcp;
            let state = PollState::of(t);
            let writeable = t.stream_writeable() && t.notsent_bytes().saturating_mul(2) < lowat;
            if !writeable && !shut && !state.closed && !state.handshake {
                inner.nospace = true;
                inner.tcp.note_nospace();
            }
            (state, writeable)
        });
    }
    let v = poll_view(conn);
    if v.writeable(lowat) || shut || v.state.closed || v.state.handshake {
        return Ok((v.state, v.writeable(lowat)));
    }
    // As tcp_poll: ask for a wake-up when room appears, then look again: room made
    // meanwhile is seen here, or the work that made it sees the request and wakes.
    let v = poll_nospace(conn);
    Ok((v.state, v.writeable(lowat)))
}

/// The connection's [`PollView`].
fn poll_view(conn: &Conn) -> PollView {
    let (room, unsent) = hint_figures(conn.snd_hint.load(Relaxed));
    PollView {
        // Acquire: `sk_err`, read after this by `poll()`, is at least as new as the
        // word (`after` sets it before publishing).
        state: PollState::from_word(conn.poll_word.load(Acquire)),
        room,
        unsent,
        cap: conn.snd_cap.load(Relaxed),
    }
}

/// `poll()` found the socket not writable: asks the next piece of work on the
/// connection to wake writers when room appears ([`publish_poll`]), then reads the
/// connection again (room published meanwhile is seen here).
fn poll_nospace(conn: &Conn) -> PollView {
    conn.nospace_req.xchg(true, Full);
    poll_view(conn)
}

/// The room a writer with TCP_NOTSENT_LOWAT limit `lowat` could take now, as the last
/// piece of work on the connection published it (`Conn::snd_hint`), 0 if none or if
/// the connection could not take data then. Under ConnP-T what [`send_async`] could
/// reserve, and a wait's condition: true room appeared (the thread publishes before it
/// wakes writers, `after`); under MsgP and ConnP-L what `sendmsg()` copies without
/// first taking the guard to look (the append, under it, takes what fits).
pub(crate) fn send_room(conn: &Conn, lowat: usize) -> usize {
    if !conn.snd_open.load(Relaxed) {
        return 0;
    }
    let (room, unsent) = hint_figures(conn.snd_hint.load(Relaxed));
    usize::try_from(room.min(hint_clamp(lowat) - unsent)).unwrap_or(0)
}

/// ConnP-T `sendmsg()` without waiting for the thread: if the connection can take data
/// and `Conn::snd_hint` shows room (for a writer with TCP_NOTSENT_LOWAT limit
/// `lowat`), reserves up to `want` bytes of it, copies that many from `src` once into
/// the task's page fragment, and queues the bytes to the connection's thread, which
/// appends them to the send queue ([`Work::Send`]). Returns the bytes queued, 0 if there
/// was no room (or the connection cannot take data now, as far as the thread last
/// published): then the caller takes the blocking path, which decides and reports.
/// EFAULT if nothing could be copied, ENOMEM if no page could be had. Process context;
/// the caller holds the socket's writer lock, so it is the connection's only writer.
pub(crate) fn send_async(
    conn: &ConnRef,
    src: &mut kernel::iov::IovIterSource<'_>,
    want: usize,
    lowat: usize,
    start: bool,
    more: bool,
) -> Result<usize> {
    let Some(w) = conn.state.worker() else { return Ok(0) };
    if !conn.snd_open.load(Relaxed) {
        return Ok(0);
    }
    let lowat = hint_clamp(lowat);
    let want = hint_clamp(want);
    // Reserve: the room less what the thread has yet to consume, and the unsent bytes
    // plus it, change together in one compare-and-exchange against the thread's
    // additions.
    let mut cur = conn.snd_hint.load(Relaxed);
    let r = loop {
        let (room, unsent) = hint_figures(cur);
        let r = room.min(lowat - unsent).min(want);
        if r <= 0 {
            return Ok(0);
        }
        match conn.snd_hint.cmpxchg(cur, cur.wrapping_add(hint_word(-r, r)), Relaxed) {
            Ok(_) => break r,
            Err(now) => cur = now,
        }
    };
    let give_back = |n: i64| {
        if n > 0 {
            conn.snd_hint.add(hint_word(n, -n), Relaxed);
        }
    };
    // The one copy, with no lock held, as on the blocking path.
    let chunk = match crate::glue::kernel::txq::Chunk::from_iter(usize::try_from(r).unwrap_or(0), src) {
        Ok(Some(c)) => c,
        Ok(None) => {
            give_back(r);
            return Err(EFAULT);
        }
        Err(e) => {
            give_back(r);
            return Err(e);
        }
    };
    let n = crate::glue::kernel::frontvec::Span::len(&chunk);
    // A short copy (a fault part-way) keeps only what it copied reserved.
    give_back(r - hint_clamp(n));
    let mut work = Work::Send(conn.clone(), crate::glue::obj::work::AsyncSend { chunk, start, more });
    loop {
        match w.push(work, Sched::HandoffsCall) {
            Ok(()) => break,
            Err(PushError::Full(back)) => {
                // Queue full: wait for the thread to take a batch, then queue again (the
                // reservation is kept; nothing of this writer is queued meanwhile, so the
                // order holds).
                sched_add(Sched::CallRetries, 1);
                w.wait_for_room();
                work = back;
            }
            Err(PushError::Stopped(back)) => {
                // The thread is stopping (unload, which no socket call overlaps).
                drop(back);
                kernel::pr_warn_once!("partcp: a socket call found its protocol thread stopped\n");
                return Err(ENODEV);
            }
        }
    }
    sched_add(Sched::AsyncSends, 1);
    Ok(n)
}

/// Runs an asynchronous send on the connection's thread: appends the bytes (the room
/// was reserved for them) and transmits, as the blocking path's append; or, if the
/// connection can no longer take data (an error pending, reset, closed, FIN queued),
/// drops them, leaving the error to the next call.
fn send_async_run(stack: &Stack, ctx: &mut ThreadCtx, c: ConnRef, s: crate::glue::obj::work::AsyncSend) {
    let now = clock::now();
    let n = crate::glue::kernel::frontvec::Span::len(&s.chunk);
    let mut chunk = Some(s.chunk);
    let closed = exclusive(Some(ctx), &c, |inner| {
        // The reservation is consumed now, whatever happens to the bytes: the room the
        // hint shows stays `free - reserved` (see `publish_snd_hint`).
        let k = hint_clamp(n);
        inner.snd_pub.0 -= k;
        inner.snd_pub.1 += k;
        let t = &mut inner.tcp;
        let mut queued = 0;
        // As the blocking path's append (`socket.rs`), but without taking the pending
        // error: it stays for the next call to report.
        if t.error().is_none() && matches!(t.state(), State::Established | State::CloseWait) {
            t.set_more(s.more);
            // May sleep (a kthread with no lock held): the bytes were promised.
            let append = |q: &mut SendQueue| chunk.take().map_or(0, |ch| q.append_gfp(ch, GFP_KERNEL));
            let r = if s.start { t.send_with(append) } else { t.send_continued_with(append) };
            queued = r.unwrap_or(0);
        }
        if queued < n {
            sched_add(Sched::AsyncSendDrops, 1);
            if queued > 0 || t.error().is_none() && matches!(t.state(), State::Established | State::CloseWait) {
                // Part of the stream lost (the index could not grow even with
                // GFP_KERNEL; the room was reserved): the connection cannot go on
                // without a hole in it. Reset it and report ENOMEM.
                t.abort(now);
                if let Some(sk) = &inner.sk {
                    sk.set_err(ENOMEM.to_errno().wrapping_neg());
                }
            }
        }
        after(&c, inner, now)
    });
    drop(chunk);
    if closed == Some(true) {
        unhash(stack, &c);
    }
    drop(c);
}

/// Buffer autotuning grew the send (`snd`) or receive (`rcv`) buffer past what the
/// socket shows (`shown`): raise `sk_sndbuf` to the send payload capacity and
/// `sk_rcvbuf` to twice the receive one (`crate::connection::autotune` says why),
/// unless the user set them.
fn sync_bufs(snd: usize, rcv: usize, shown: &mut (usize, usize), sk: &SockRef) {
    if (snd, rcv) != *shown {
        *shown = (snd, rcv);
        sk.grow_bufs(snd, rcv);
    }
}

/// What `conn`'s segments carry (`TxMeta`): its socket's IP_TOS/IP_TTL (kept in
/// `conn.tx` by `setsockopt`) and SO_PRIORITY/SO_MARK, read from the socket while it is
/// open (the socket core sets them without telling the protocol) and kept for the
/// orphan's last segments, as Linux's orphaned sock keeps its fields.
fn tx_meta(conn: &Conn, sk: Option<&SockRef>) -> TxMeta {
    let mut m = conn.tx.get();
    if let Some(sk) = sk {
        let (priority, mark) = sk.priority_mark();
        if (priority, mark) != (m.priority, m.mark) {
            m.priority = priority;
            m.mark = mark;
            conn.tx.set(m);
        }
    }
    m
}

/// Takes a closed connection out of the table.
fn unhash(stack: &Stack, conn: &Conn) {
    stack.remove_conn(conn);
}

/// Runs `f` with exclusive access to `conn`'s state in the calling context, if the
/// strategy allows it here: always under MsgP and ConnP-L (taking the connection's or
/// group's lock: exactly one lock per piece of work), under ConnP-T only on the owning
/// thread (`ctx`). `None`: the work must be handed off to the owning thread.
fn exclusive<R>(ctx: Option<&mut ThreadCtx>, conn: &Conn, f: impl FnOnce(&mut ConnInner) -> R) -> Option<R> {
    let inline = ctx.is_none();
    // Every core call runs here: a change of TCP state is traced once, afterwards.
    let f = |inner: &mut ConnInner| {
        let old = inner.tcp.state();
        let r = f(inner);
        trace::set_state(&inner.tcp, old);
        r
    };
    let r = match &conn.state {
        ConnState::MsgP(c) => Some(c.with(f)),
        ConnState::ConnPL(c) => Some(c.with(|b| f(b))),
        ConnState::ConnPT(c) => ctx.and_then(|ctx| c.get_mut(ctx)).map(|b| f(b)),
    };
    if inline && r.is_some() {
        sched_add(Sched::Inline, 1);
    }
    r
}

/// A monomorphic trampoline that runs a syscall's closure on a protocol thread.
///
/// # Safety
///
/// `data` must be the `&mut B` that [`call`] put in the request, still borrowed by the
/// sleeping caller.
unsafe fn trampoline<B: FnMut(&mut ConnInner, Instant)>(data: *mut (), inner: &mut ConnInner, now: Instant) {
    // SAFETY: Function precondition: `data` is an exclusive borrow of a `B`.
    let b = unsafe { &mut *data.cast::<B>() };
    b(inner, now)
}

/// Runs `body` on `conn`'s protocol thread `w` and sleeps (uninterruptibly) until it
/// has. Returns false if the thread stopped before running it.
fn call<B: FnMut(&mut ConnInner, Instant) + Send>(w: &Worker, conn: &Conn, body: &mut B, then_after: Option<ConnRef>) -> bool {
    pin_init::stack_pin_init!(let req = pin_init!(CallReq {
        conn,
        data: (body as *mut B).cast::<()>(),
        run: trampoline::<B>,
        then_after: core::cell::Cell::new(then_after),
        reply <- Reply::new(),
    }));
    let p: *const CallReq = &*req;
    if !push_request(w, Work::Call(p)) {
        return false;
    }
    // The wait is uninterruptible and has no timeout, so this frame — `req`, `body` and
    // everything `body` borrows — outlives the thread's use of them: the thread touches
    // the request last in `CallReq::complete`. This is what makes handing a borrowed,
    // non-'static closure to another thread sound; `B: Send` makes running it there sound.
    req.reply.wait()
}

/// Queues a request whose caller will sleep until it is answered, waiting for room
/// while the queue is full. False if the thread is stopping (the request was not
/// queued).
fn push_request(w: &Worker, mut work: Work) -> bool {
    loop {
        match w.push(work, Sched::HandoffsCall) {
            Ok(()) => return true,
            Err(PushError::Full(back)) => {
                sched_add(Sched::CallRetries, 1);
                w.wait_for_room();
                work = back;
            }
            Err(PushError::Stopped(_)) => return false,
        }
    }
}

/// Runs `f` on `conn` from a context that may sleep (a syscall), wherever the strategy
/// says, and waits for it. With `with_after`, transmits/re-arms/wakes afterwards.
/// ENODEV only if the connection's protocol thread has stopped (the module is being
/// unloaded, which no socket call can overlap: a broken invariant, warned about).
fn run_sync<R: Send>(conn: &Conn, with_after: bool, f: impl FnOnce(&mut ConnInner, Instant) -> R + Send) -> Result<R> {
    run_sync_then(conn, with_after, None, f)
}

/// [`run_sync`]; under ConnP-T with `then_after` (the connection's reference), the
/// thread signals the caller once `f` has run and then transmits/re-arms/wakes on its
/// own, publishing the send room (`Conn::snd_hint`) before signalling.
fn run_sync_then<R: Send>(
    conn: &Conn,
    with_after: bool,
    then_after: Option<ConnRef>,
    f: impl FnOnce(&mut ConnInner, Instant) -> R + Send,
) -> Result<R> {
    let mut f = Some(f);
    let mut out: Option<R> = None;
    let mut closed = false;
    if let Some(s) = stack() {
        s.msgp_call_lookup(conn);
    }
    {
        let mut body = |inner: &mut ConnInner, now: Instant| {
            if let Some(f) = f.take() {
                out = Some(f(inner, now));
                if with_after {
                    closed = after(conn, inner, now);
                }
            }
        };
        let now = clock::now();
        if exclusive(None, conn, |inner| body(inner, now)).is_none() {
            if let Some(w) = conn.state.worker() {
                match then_after {
                    Some(keep) => {
                        // `after` runs on the thread once the caller is signalled.
                        let mut only = |inner: &mut ConnInner, now: Instant| {
                            if let Some(f) = f.take() {
                                out = Some(f(inner, now));
                                publish_snd_hint(conn, inner);
                            }
                        };
                        call(w, conn, &mut only, Some(keep));
                    }
                    None => {
                        call(w, conn, &mut body, None);
                    }
                }
            }
        }
    }
    if closed {
        if let Some(s) = stack() {
            unhash(s, conn);
        }
    }
    out.ok_or_else(|| {
        kernel::pr_warn_once!("partcp: a socket call found its protocol thread stopped\n");
        ENODEV
    })
}

/// Runs `f` on a connection's core from syscall context, then transmits/re-arms/wakes.
/// Under ConnP-T `f` runs on the connection's protocol thread while the caller sleeps.
pub(crate) fn with_conn<R: Send>(conn: &ConnRef, f: impl FnOnce(&mut ConnInner, Instant) -> R + Send) -> Result<R> {
    run_sync(conn, true, f)
}

/// [`with_conn`] for `sendmsg()`'s append: under ConnP-T the caller is signalled as soon
/// as `f` has run, and the thread transmits (and wakes, re-arms) afterwards, while the
/// caller copies its next chunk, instead of keeping the caller asleep through the
/// transmit and whatever the device runs inline (veth: the peer's receive softirq).
/// MsgP and ConnP-L: [`with_conn`].
pub(crate) fn with_conn_send<R: Send>(conn: &ConnRef, f: impl FnOnce(&mut ConnInner, Instant) -> R + Send) -> Result<R> {
    let keep = matches!(conn.state, ConnState::ConnPT(_)).then(|| conn.clone());
    run_sync_then(conn, true, keep, f)
}

/// How many connections [`read_each`] reads per round: the size of its results buffer.
const READ_BATCH: usize = 128;
kernel::static_assert!(READ_BATCH <= 256);

/// A monomorphic trampoline that runs [`on_thread`]'s closure with the thread's context.
///
/// # Safety
///
/// `data` must be the `&mut B` that [`on_thread`] put in the request, still borrowed by
/// the sleeping caller.
unsafe fn batch_trampoline<B: FnMut(&mut ThreadCtx)>(data: *mut (), ctx: &mut ThreadCtx) {
    // SAFETY: Function precondition: `data` is an exclusive borrow of a `B`.
    let b = unsafe { &mut *data.cast::<B>() };
    b(ctx)
}

/// Runs `body` on protocol thread `w` with its context and sleeps (uninterruptibly)
/// until it has. Returns false if the thread stopped before running it.
fn on_thread<B: FnMut(&mut ThreadCtx) + Send>(w: &Worker, body: &mut B) -> bool {
    pin_init::stack_pin_init!(let req = pin_init!(BatchReq {
        data: (body as *mut B).cast::<()>(),
        run: batch_trampoline::<B>,
        reply <- Reply::new(),
    }));
    let p: *const BatchReq = &*req;
    if !push_request(w, Work::Batch(p)) {
        return false;
    }
    // As in `call`: the uninterruptible wait keeps this frame, and everything `body`
    // borrows, alive until the thread's last use of the request (`complete`); `B: Send`
    // makes running `body` there sound.
    req.reply.wait()
}

/// Reads every connection of `conns` with `f` under its strategy's exclusion, as
/// [`read`] does one, and hands the results to `out` in order, in the calling context
/// (process context); a connection whose protocol thread has stopped is skipped. Under
/// ConnP-T the connections of one thread are read back to back on it, one hand-off per
/// thread and round of [`READ_BATCH`] connections instead of one per connection (the
/// debugfs files listing every connection: 16384 busy ones took minutes one by one).
pub(crate) fn read_each<R: Send>(conns: &[ConnRef], f: impl Fn(&mut ConnInner) -> R + Sync, mut out: impl FnMut(&ConnRef, R)) {
    let Ok(mut results) = KVec::<Option<R>>::with_capacity(READ_BATCH, GFP_KERNEL) else {
        // No memory for the buffer: one by one.
        for c in conns {
            if let Ok(r) = read(c, &f) {
                out(c, r);
            }
        }
        return;
    };
    for chunk in conns.chunks(READ_BATCH) {
        results.clear();
        for _ in chunk {
            // Within the capacity (READ_BATCH, the chunks' largest size).
            let _ = results.push_within_capacity(None);
        }
        // The chunk's indices grouped by protocol thread (one sort, no allocation): each
        // run of one thread is read in one hand-off, connections without a thread
        // (MsgP, ConnP-L) one by one in this context.
        let owner = |c: &ConnRef| c.state.worker().map_or(0, |w| core::ptr::from_ref(w) as usize);
        let mut order = [0u8; READ_BATCH];
        // CAST: a chunk has at most READ_BATCH (128) connections.
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i as u8);
        let order = &mut order[..chunk.len()];
        order.sort_unstable_by_key(|&i| owner(&chunk[usize::from(i)]));
        for run in order.chunk_by(|&a, &b| owner(&chunk[usize::from(a)]) == owner(&chunk[usize::from(b)])) {
            let Some(w) = run.first().and_then(|&i| chunk[usize::from(i)].state.worker()) else {
                for &i in run {
                    let i = usize::from(i);
                    if let (Ok(r), Some(slot)) = (read(&chunk[i], &f), results.get_mut(i)) {
                        *slot = Some(r);
                    }
                }
                continue;
            };
            let slots = &mut results[..];
            let f = &f;
            let mut body = |ctx: &mut ThreadCtx| {
                for &i in run {
                    let i = usize::from(i);
                    if let (Some(c), Some(slot)) = (chunk.get(i), slots.get_mut(i)) {
                        *slot = exclusive(Some(&mut *ctx), c, |inner| f(inner));
                    }
                }
            };
            on_thread(w, &mut body);
        }
        for (c, r) in chunk.iter().zip(results.drain_all()) {
            if let Some(r) = r {
                out(c, r);
            }
        }
    }
}

/// Reads (or takes errors from) a connection's state from syscall context, without the
/// transmit/re-arm/wake step. Under ConnP-T this is a round trip to the protocol thread.
pub(crate) fn read<R: Send>(conn: &ConnRef, f: impl FnOnce(&mut ConnInner) -> R + Send) -> Result<R> {
    run_sync(conn, false, |inner, _| f(inner))
}

/// A received segment for an existing connection (NAPI context or a protocol thread).
/// Consumes the segment.
pub(crate) fn conn_input(stack: &Stack, conn: ConnRef, seg: RxSeg) {
    input(stack, None, conn, seg)
}

fn input(stack: &Stack, mut ctx: Option<&mut ThreadCtx>, conn: ConnRef, seg: RxSeg) {
    let now = clock::now();
    let r = exclusive(ctx.as_deref_mut(), &conn, |inner| {
        let action = inner.tcp.on_segment(now, &seg.repr, &seg.payload());
        (action, after(&conn, inner, now))
    });
    let Some((action, closed)) = r else {
        // ConnP-T, not the owner: hand the segment (and the skb) to the owning thread.
        if let Some(w) = conn.state.worker() {
            hand_off(w, Work::Seg(conn.clone(), seg), Sched::HandoffsSeg);
        }
        drop(conn);
        return;
    };
    if closed {
        unhash(stack, &conn);
    }
    if action == SegmentAction::Reopen {
        // TIME-WAIT connection and an acceptable new SYN (RFC 9293 3.10.7.4): the old
        // incarnation goes, the listener gets the SYN.
        unhash(stack, &conn);
        drop(conn);
        let laddr = u32::from_be_bytes(seg.dst.0);
        if let Some(l) = stack.find_listener(seg.net as usize, laddr, seg.repr.dst_port) {
            drop(listen_input(stack, l, seg));
        }
        return;
    }
    drop(seg);
    drop(conn);
}

/// An ICMP error quoting one of `conn`'s segments (NAPI context): the core decides
/// (RFC 5927 4.1 sequence check; fails a connection attempt, else records a soft error),
/// then `after` sets the socket's error and wakes its waiters (a blocked `connect()`).
/// Under ConnP-T the error goes to the connection's thread like any other work.
pub(crate) fn conn_icmp(stack: &Stack, conn: ConnRef, seq: SeqNum, icmp: IcmpError) {
    icmp_input(stack, None, conn, seq, icmp)
}

fn icmp_input(stack: &Stack, ctx: Option<&mut ThreadCtx>, conn: ConnRef, seq: SeqNum, icmp: IcmpError) {
    let now = clock::now();
    let closed = exclusive(ctx, &conn, |inner| {
        if let (true, IcmpError::FragmentationNeeded(mtu)) = (inner.tcp.on_icmp_error(now, seq, icmp), icmp) {
            tx::pmtu_reduced(&conn.net, &mut inner.route, inner.tcp.local(), inner.tcp.remote(), mtu);
        }
        after(&conn, inner, now)
    });
    match closed {
        Some(closed) => {
            if closed {
                unhash(stack, &conn);
            }
        }
        None => {
            if let Some(w) = conn.state.worker() {
                hand_off(w, Work::Icmp(conn.clone(), seq, icmp), Sched::HandoffsOther);
            }
        }
    }
    drop(conn);
}

/// Connection timer expiry (timer softirq).
pub(crate) fn conn_timer(conn: &Conn) {
    if timer_run(None, conn) {
        return;
    }
    // ConnP-T: hand the expiry to the owning thread. One queued expiry at a time: the
    // thread handles every due deadline when it runs.
    if let Some(w) = conn.state.worker() {
        hand_off_timer(w, &conn.timer_queued, &conn.timer, Work::Timer(conn));
    }
}

/// Queues a timer expiry (`work`, which refers to its object by raw pointer) to `w`,
/// at most one at a time per object (`queued`, cleared by whoever consumes the item).
/// A full queue re-arms `timer` for the next jiffy; a stopping thread (unload) drops
/// the expiry, the object being torn down.
fn hand_off_timer(w: &Worker, queued: &HandOff, timer: &crate::glue::kernel::timer::Timer, work: Work) {
    if !queued.claim() {
        return;
    }
    match w.push(work, Sched::HandoffsTimer) {
        Ok(()) => {}
        Err(PushError::Full(_)) => {
            queued.done();
            sched_add(Sched::TimerRetries, 1);
            timer.arm_usecs(1);
        }
        Err(PushError::Stopped(_)) => queued.done(),
    }
}

/// Runs a timer expiry here if the strategy allows; false if it must be handed off.
fn timer_run(ctx: Option<&mut ThreadCtx>, conn: &Conn) -> bool {
    let now = clock::now();
    let closed = exclusive(ctx, conn, |inner| {
        let expired = inner.tcp.stats().rto_expirations;
        inner.tcp.on_timer(now);
        trace::rto_expire(&inner.tcp, expired);
        after(conn, inner, now)
    });
    match closed {
        Some(closed) => {
            if closed {
                if let Some(s) = stack() {
                    unhash(s, conn);
                }
            }
            true
        }
        None => false,
    }
}

/// Aborts a connection no one will accept, wherever the strategy runs its work.
fn abort(stack: &Stack, ctx: Option<&mut ThreadCtx>, c: ConnRef) {
    let now = clock::now();
    let closed = exclusive(ctx, &c, |inner| {
        inner.tcp.abort(now);
        after(&c, inner, now)
    });
    match closed {
        Some(closed) => {
            if closed {
                unhash(stack, &c);
            }
        }
        None => {
            if let Some(w) = c.state.worker() {
                hand_off(w, Work::Abort(c.clone()), Sched::HandoffsOther);
            }
        }
    }
    drop(c);
}

impl WorkItem for Work {
    fn run(self, ctx: &mut ThreadCtx) {
        thread_work(ctx, self);
    }

    fn cancel(self) {
        discard(self);
    }
}

/// Work a protocol thread took from its queue.
fn thread_work(ctx: &mut ThreadCtx, work: Work) {
    let Some(stack) = stack() else {
        discard(work);
        return;
    };
    match work {
        Work::Seg(conn, seg) => input(stack, Some(ctx), conn, seg),
        Work::ListenSeg(l, seg) => {
            if let Some(seg) = listen_process(stack, Some(&mut *ctx), l, seg) {
                // Not a segment the listener knows. Under ConnP-T the usual reason is
                // that it was classified before this thread created the connection (the
                // peer's first data right after its handshake ACK): look again.
                let key = ConnKey {
                    net: seg.net as usize,
                    laddr: u32::from_be_bytes(seg.dst.0),
                    lport: seg.repr.dst_port,
                    raddr: u32::from_be_bytes(seg.src.0),
                    rport: seg.repr.src_port,
                };
                match stack.find_conn(&key) {
                    Some(c) => input(stack, Some(ctx), c, seg),
                    None => {
                        // It may belong to a Linux TCP connection on the same port, but
                        // can no longer be passed back to Linux.
                        stats::count(Counter::RxListenerDropped);
                        drop(seg);
                    }
                }
            }
        }
        Work::Timer(p) => {
            // SAFETY: The connection's destructor waits for `timer_queued` to clear,
            // which happens below, after the last use of `conn`.
            let conn = unsafe { &*p };
            let _ = timer_run(Some(ctx), conn);
            conn.timer_queued.done();
        }
        Work::ListenTimer(p) => {
            // SAFETY: The listener's destructor waits for `timer_queued` to clear, which
            // happens below, after the last use of `l`.
            let l = unsafe { &*p };
            listen_timer_run(l);
            l.timer_queued.done();
        }
        Work::Abort(c) => abort(stack, Some(ctx), c),
        Work::Icmp(c, seq, icmp) => icmp_input(stack, Some(ctx), c, seq, icmp),
        Work::Send(c, s) => send_async_run(stack, ctx, c, s),
        Work::Batch(req) => {
            // SAFETY: The caller sleeps in `on_thread` until `complete` below; until then
            // the request and everything its closure borrows are alive, and `data`/`run`
            // were built together for that closure.
            unsafe { ((*req).run)((*req).data, ctx) };
            // SAFETY: Last access to the request.
            unsafe { BatchReq::complete(req, true) };
        }
        Work::Call(req) => {
            // SAFETY: The caller sleeps in `call` until `complete` below; until then the
            // request and the connection it borrows are alive.
            let r = unsafe { &*req };
            // SAFETY: As above.
            let conn = unsafe { &*r.conn };
            let now = clock::now();
            // The caller's frame keeps the request alive until `complete`; the
            // reference for the deferred `after` moves to this thread first.
            let keep = r.then_after.take();
            let ran = exclusive(Some(ctx), conn, |inner| {
                // SAFETY: `data`/`run` were built together by `call` for this closure.
                unsafe { (r.run)(r.data, inner, now) };
            });
            // SAFETY: Last access to the request.
            unsafe { CallReq::complete(req, ran.is_some()) };
            if let (Some(c), Some(())) = (keep, ran) {
                // Still the owning thread: the transmit/re-arm/wake step the caller
                // did not wait for.
                if exclusive(Some(ctx), &c, |inner| after(&c, inner, now)) == Some(true) {
                    unhash(stack, &c);
                }
            }
        }
    }
}

/// Queues asynchronous `work` to `w`. If it does not fit, a segment is dropped and
/// counted (TCP recovers), other work is discarded.
fn hand_off(w: &Worker, work: Work, kind: Sched) {
    match w.push(work, kind) {
        Ok(()) => {}
        Err(PushError::Full(work)) => {
            if matches!(work, Work::Seg(..) | Work::ListenSeg(..)) {
                sched_add(Sched::Overflows, 1);
            }
            discard(work);
        }
        Err(PushError::Stopped(work)) => discard(work),
    }
}

/// Disposes of work that will not run (queue full or thread stopping). Never touches
/// connection state.
fn discard(work: Work) {
    match work {
        Work::Seg(c, seg) => {
            drop(seg);
            drop(c);
        }
        Work::ListenSeg(l, seg) => {
            drop(seg);
            drop(l);
        }
        Work::Timer(p) => {
            // SAFETY: As in `thread_work`: alive until the flag clears.
            unsafe { (*p).timer_queued.done() };
        }
        Work::ListenTimer(p) => {
            // SAFETY: As in `thread_work`: alive until the flag clears.
            unsafe { (*p).timer_queued.done() };
        }
        Work::Abort(c) | Work::Icmp(c, ..) => drop(c),
        // The bytes (a page reference) go; the connection is being torn down.
        Work::Send(c, s) => {
            drop(s);
            drop(c);
        }
        // SAFETY: The caller sleeps until completion; `ran = false` tells it.
        Work::Call(req) => unsafe { CallReq::complete(req, false) },
        // SAFETY: As above.
        Work::Batch(req) => unsafe { BatchReq::complete(req, false) },
    }
}

/// Sends what the listener queued and re-arms its timer. Called under its lock.
fn listen_after(l: &Listen, inner: &mut conn::ListenInner, now: Instant) {
    let mut meta = None;
    while let Some(t) = inner.core.poll_transmit(now) {
        // Source address 0: the route lookup picks it (wildcard listeners).
        let src = inner.core.local().addr;
        trace::retransmit_synack(src, t.remote, &t.repr);
        let m = *meta.get_or_insert_with(|| listen_tx_meta(l, inner));
        tx::send(&l.net, src, t.remote.addr, &t.repr, &m);
    }
    if let Some(d) = inner.core.next_deadline() {
        l.timer.arm_usecs(d.0.saturating_sub(now.0));
    }
}

/// What a listener's SYN-ACKs carry: its socket's options (Linux `tcp_v4_send_synack`
/// takes the listener's TOS, TTL, priority and mark).
fn listen_tx_meta(l: &Listen, inner: &conn::ListenInner) -> TxMeta {
    let mut m = l.tx.get();
    if let Some(sk) = &inner.sk {
        (m.priority, m.mark) = sk.priority_mark();
        l.tx.set(m);
    }
    m
}

/// Listener timer expiry (timer softirq): SYN-ACK retransmissions. Under ConnP-T the
/// expiry is handed to protocol thread 0, which owns every piece of listener work (as
/// the listener's segments); elsewhere it runs here. Listener state is protected by the
/// listener's own lock under every strategy (`accept()` takes it too).
pub(crate) fn listen_timer(l: &Listen) {
    match &l.thread0 {
        // One queued expiry at a time: the thread handles every due deadline.
        Some(w) => hand_off_timer(w, &l.timer_queued, &l.timer, Work::ListenTimer(l)),
        None => listen_timer_run(l),
    }
}

/// Runs a listener timer expiry in this context.
fn listen_timer_run(l: &Listen) {
    let now = clock::now();
    let mut g = l.inner.lock();
    if g.closed {
        return;
    }
    g.core.on_timer(now);
    listen_after(l, &mut g, now);
}

/// A segment for a listener (NAPI context). Returns the segment if it is not ours after
/// all (a non-SYN the listener does not recognize: it may belong to a Linux TCP
/// connection on the same port) and must be passed on. Under ConnP-T the segment goes
/// to protocol thread 0 (the 4-tuple is not a connection's yet) and is always consumed.
pub(crate) fn listen_input(stack: &Stack, l: ListenRef, seg: RxSeg) -> Option<RxSeg> {
    match l.thread0.clone() {
        Some(w) => {
            hand_off(&w, Work::ListenSeg(l.clone(), seg), Sched::HandoffsSeg);
            drop(l);
            None
        }
        None => listen_process(stack, None, l, seg),
    }
}

/// Processes a listener segment in this context (see [`listen_input`]).
fn listen_process(stack: &Stack, mut ctx: Option<&mut ThreadCtx>, l: ListenRef, seg: RxSeg) -> Option<RxSeg> {
    let now = clock::now();
    let syn = rx::is_syn(&seg.repr);
    let (src, dst) = (seg.src, seg.dst);
    let remote = Endpoint { addr: src, port: seg.repr.src_port };
    let (action, cfg, sndbuf, rcvbuf, ca_set) = {
        let mut g = l.inner.lock();
        if g.closed {
            drop(g);
            drop(l);
            return if syn { None } else { Some(seg) };
        }
        let a = g.core.on_segment(now, remote, &seg.repr);
        let cfg = g.core.config().conn;
        let bufs = (g.sndbuf, g.rcvbuf);
        if let ListenerAction::Reply(r) = a {
            if syn {
                let m = listen_tx_meta(&l, &g);
                tx::send(&l.net, dst, src, &r, &m);
            }
        }
        listen_after(&l, &mut g, now);
        (a, cfg, bufs.0, bufs.1, g.ca_set)
    };
    let mut hs = match action {
        ListenerAction::Established(hs) => hs,
        ListenerAction::Consumed => {
            drop(l);
            return None;
        }
        _ => {
            drop(l);
            return if syn { None } else { Some(seg) };
        }
    };
    // A wildcard listener learns its address from the segment.
    hs.local.addr = dst;
    // Linux tcp_ca_openreq_child: the namespace's congestion control as it is now, not
    // the listener's, unless the listener set TCP_CONGESTION.
    let mut cfg = cfg;
    if !ca_set {
        l.net.tcp_sysctls().apply_accept(&mut cfg);
    }
    // Allocate outside every lock (atomic: this may be softirq context). A connection
    // that fails here was never shared: its last reference is dropped through
    // `ConnRef`, whose drop defers the destructor to process context.
    let built = (|| -> Result<ConnRef> {
        let send = SendQueue::new(sndbuf);
        let recv = RecvQueue::new(rcvbuf);
        let tcp: Tcp = Connection::accept(cfg, &hs, send, recv, now);
        trace::set_state(&tcp, State::SynReceived);
        // The listener's namespace is the segment's (it was found by it).
        let net = l.net.clone();
        let key = ConnKey {
            net: net.id(),
            laddr: u32::from_be_bytes(dst.0),
            lport: seg.repr.dst_port,
            raddr: u32::from_be_bytes(src.0),
            rport: seg.repr.src_port,
        };
        let c = Conn::new(key, net, tcp, None, GFP_ATOMIC)?;
        c.reuse.store(l.reuse.load(Relaxed), Relaxed);
        c.tx.set(l.tx.get());
        Ok(c)
    })();
    let c = match built {
        Ok(c) => c,
        Err(_) => {
            stats::count(Counter::AcceptNoMem);
            l.inner.lock().core.accepted();
            drop(l);
            return None;
        }
    };
    if let Err(dup) = stack.insert_conn(c.clone()) {
        l.inner.lock().core.accepted();
        drop(dup);
        drop(c);
        drop(l);
        return None;
    }
    {
        let mut g = l.inner.lock();
        let ok = !g.closed && g.accept_q.push_within_capacity(c.clone()).is_ok();
        if ok {
            if let Some(sk) = &g.sk {
                sk.data_ready();
            }
        } else {
            stats::count(Counter::AcceptOverflow);
            g.core.accepted();
        }
        drop(g);
        if !ok {
            abort(stack, ctx.as_deref_mut(), c.clone());
        }
    }
    drop(l);
    // The handshake-completing ACK may carry data: the new connection processes it
    // (under ConnP-T on its own thread: a hand-off unless that is this thread).
    input(stack, ctx, c, seg);
    None
}

/// KUnit: the arithmetic of `Conn::snd_hint` (ConnP-T's send reservations): the word is
/// linear in its two figures; and a model connection (a writer reserving and giving
/// back, the thread appending, transmitting, freeing acknowledged bytes and
/// publishing, in a pseudo-random order of whole steps) keeps the word at `(free -
/// reserved, unsent + reserved)`, so every reserved item fits the queue whole.
#[kunit_tests(partcp_snd_hint)]
mod tests {
    use super::*;

    #[test]
    fn word_is_linear() -> Result {
        for &(r, u) in &[(0i64, 0i64), (1, 0), (0, 1), (0x7fff_ffff, 0x7fff_ffff), (-5, 7), (12345, 0x7fff_fffe)] {
            assert!(hint_figures(hint_word(r, u)) == (r, u));
            for &(dr, du) in &[(-1i64, 1i64), (3, -3), (-r, 1), (100, 0), (-100, -1)] {
                let (r2, u2) = (r + dr, u + du);
                // The word's domain: room a signed 32-bit value, unsent in 0..2^31.
                if !(0..0x8000_0000).contains(&u2) || !(-0x8000_0000..0x8000_0000).contains(&r2) {
                    continue;
                }
                let w = hint_word(r, u).wrapping_add(hint_word(dr, du));
                assert!(hint_figures(w) == (r2, u2));
            }
        }
        Ok(())
    }

    #[test]
    fn reservations_are_kept() -> Result {
        const CAP: i64 = 65536;
        let word = Atomic::new(0i64);
        // The queue: bytes held and bytes never sent; the thread's `snd_pub`; the
        // reserved items queued to the thread (oldest at `head`).
        let (mut len, mut unsent) = (0i64, 0i64);
        let mut snd_pub = (0i64, 0i64);
        let mut items: KVec<i64> = KVec::new();
        let mut head = 0usize;
        let publish = |snd_pub: &mut (i64, i64), len: i64, unsent: i64| {
            word.add(hint_word(CAP - len - snd_pub.0, unsent - snd_pub.1), Relaxed);
            *snd_pub = (CAP - len, unsent);
        };
        publish(&mut snd_pub, len, unsent);
        let mut x: u32 = 12345;
        for _ in 0..20000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let reserved: i64 = items.iter().skip(head).sum();
            let (room, u) = hint_figures(word.load(Relaxed));
            assert!(room == CAP - len - reserved && u == unsent + reserved);
            assert!(room >= 0);
            match (x >> 16) % 4 {
                // The writer reserves (a short copy gives part back) and queues an item.
                0 | 1 => {
                    let r = room.min(i64::from((x >> 3) % 20000 + 1));
                    if r > 0 {
                        let cur = word.load(Relaxed);
                        assert!(word.cmpxchg(cur, cur.wrapping_add(hint_word(-r, r)), Relaxed).is_ok());
                        let used = if x & 1 == 0 { r } else { r / 2 };
                        if r > used {
                            word.add(hint_word(r - used, used - r), Relaxed);
                        }
                        if used > 0 {
                            items.push(used, GFP_KERNEL)?;
                        }
                    }
                }
                // The thread runs the oldest item: it fits whole.
                2 => {
                    if let Some(&k) = items.get(head) {
                        head += 1;
                        snd_pub.0 -= k;
                        snd_pub.1 += k;
                        assert!(k <= CAP - len);
                        len += k;
                        unsent += k;
                        publish(&mut snd_pub, len, unsent);
                    }
                }
                // The thread transmits, and acknowledgements free sent bytes.
                _ => {
                    unsent -= unsent.min(i64::from(x % 30000));
                    len -= (len - unsent).min(i64::from((x >> 5) % 30000));
                    publish(&mut snd_pub, len, unsent);
                }
            }
        }
        Ok(())
    }
}
