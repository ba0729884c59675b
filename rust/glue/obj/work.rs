// SPDX-License-Identifier: GPL-2.0

//! Layer: objects.
//!
//! The work a ConnP-T protocol thread is given: each kind names the object it is for
//! (a connection, a listener, a syscall's waiting request) and what happened to it.
//! The executor (`strategy/connp_t.rs`) is generic over [`WorkItem`](connp_t::WorkItem) and never looks
//! inside; `dispatch.rs` implements how each kind runs and is cancelled.

use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::Completion;

use crate::connection::IcmpError;
use crate::glue::kernel::skb::RxSeg;
use crate::glue::kernel::txq::Chunk;
use crate::glue::obj::conn::{Conn, ConnInner, ConnRef, Listen, ListenRef};
use crate::glue::strategy::connp_t;
use crate::seq::SeqNum;
use crate::time::Instant;

/// A protocol thread running partcp's [`Work`].
pub(crate) type Worker = connp_t::Worker<Work>;

/// The protocol threads of a ConnP-T strategy.
pub(crate) type Threads = connp_t::Threads<Work>;

/// How a request's caller learns that the thread ran it, or discarded it: the caller
/// sleeps on `done`; the thread sets `ran` and then completes `done`, its last access.
#[pin_data]
pub(crate) struct Reply {
    ran: Atomic<bool>,
    #[pin]
    done: Completion,
}

impl Reply {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self { ran: Atomic::new(false), done <- Completion::new() })
    }

    /// Sleeps, uninterruptibly and without a timeout, until the thread answered;
    /// whether it ran the request.
    pub(crate) fn wait(&self) -> bool {
        self.done.wait_for_completion();
        self.ran.load(Relaxed)
    }

    /// Answers the waiting caller. The request must not be touched afterwards.
    ///
    /// # Safety
    ///
    /// `this` points to a live reply, and this is the only answer to it.
    unsafe fn answer(this: *const Reply, ran: bool) {
        // SAFETY: Live (caller); the caller waits for `done` before the frame holding
        // the reply goes away, and `complete_all` is the last access.
        unsafe {
            (*this).ran.store(ran, Relaxed);
            (*this).done.complete_all();
        }
    }
}

/// A syscall's request: run `run(data, inner, now)` on the owning thread, then answer
/// `reply`.
///
/// Lives in the sleeping caller's stack frame; the caller does not return before the
/// reply (it waits uninterruptibly), so the thread may use every field until then.
#[pin_data]
pub(crate) struct CallReq {
    pub(crate) conn: *const Conn,
    pub(crate) data: *mut (),
    pub(crate) run: unsafe fn(*mut (), &mut ConnInner, Instant),
    /// A request whose transmit/re-arm/wake step (`dispatch::after`) the thread runs
    /// after answering, holding this reference for it. Taken by the thread before the
    /// answer (the caller, asleep until then, does not touch it meanwhile); the caller's
    /// frame drops it if the request is discarded instead.
    pub(crate) then_after: core::cell::Cell<Option<ConnRef>>,
    #[pin]
    pub(crate) reply: Reply,
}

impl CallReq {
    /// Answers the waiting caller (`ran`: the thread ran the request). The request must
    /// not be touched afterwards.
    ///
    /// # Safety
    ///
    /// `this` points to a live request, and this is the only answer to it.
    pub(crate) unsafe fn complete(this: *const CallReq, ran: bool) {
        // SAFETY: Function precondition; the reply is a field of the live request.
        unsafe { Reply::answer(&raw const (*this).reply, ran) }
    }
}

/// A syscall's request to run `run(data, ctx)` on a protocol thread, with that thread's
/// context, so that it can open several of the thread's connections in one hand-off
/// (`dispatch::read_each`); then answer `reply`. Lives in the sleeping caller's frame
/// under the same rules as [`CallReq`].
#[pin_data]
pub(crate) struct BatchReq {
    pub(crate) data: *mut (),
    pub(crate) run: unsafe fn(*mut (), &mut connp_t::ThreadCtx),
    #[pin]
    pub(crate) reply: Reply,
}

impl BatchReq {
    /// As [`CallReq::complete`].
    ///
    /// # Safety
    ///
    /// `this` points to a live request, and this is the only answer to it.
    pub(crate) unsafe fn complete(this: *const BatchReq, ran: bool) {
        // SAFETY: Function precondition; the reply is a field of the live request.
        unsafe { Reply::answer(&raw const (*this).reply, ran) }
    }
}

/// Work for a protocol thread.
pub(crate) enum Work {
    /// A received segment for a connection (from NAPI, or from thread 0 after a
    /// handshake).
    Seg(ConnRef, RxSeg),
    /// A segment for a listener (thread 0).
    ListenSeg(ListenRef, RxSeg),
    /// The connection's timer expired. A raw pointer: the timer callback holds no
    /// reference. The connection's destructor waits until `Conn::timer_queued` is clear,
    /// which the consumer of this item does last.
    Timer(*const Conn),
    /// A listener's timer expired (thread 0). A raw pointer, as `Timer`: the listener's
    /// destructor waits until `Listen::timer_queued` is clear.
    ListenTimer(*const Listen),
    /// Abort a connection that no one will accept (accept queue overflow).
    Abort(ConnRef),
    /// An ICMP error quoting the connection's segment with this sequence number (from
    /// NAPI: the rx_handler of the device the message arrived on).
    Icmp(ConnRef, SeqNum, IcmpError),
    /// A syscall's request (see [`CallReq`]).
    Call(*const CallReq),
    /// A syscall's request for several of the thread's connections (see [`BatchReq`]).
    Batch(*const BatchReq),
    /// `sendmsg()`'s bytes, appended without the caller waiting (see [`AsyncSend`]).
    Send(ConnRef, AsyncSend),
}

/// ConnP-T: bytes `sendmsg()` copied once, into page fragments it owns (the send
/// queue's own representation, [`Chunk`]), within send-buffer room it reserved in
/// `Conn::snd_hint`; the connection's thread appends them to the send queue without
/// copying again. The writer returned as soon as this was queued: if the thread finds
/// the connection unable to take them (an error, reset, closed), it drops them and the
/// error is reported by the next call, as Linux reports an asynchronous error.
pub(crate) struct AsyncSend {
    /// The bytes (a page reference).
    pub(crate) chunk: Chunk,
    /// The first chunk of its `sendmsg()` call (the delivery-rate app-limited check runs
    /// once per call, at its start: `Connection::send_with`).
    pub(crate) start: bool,
    /// The call had MSG_MORE.
    pub(crate) more: bool,
}

// SAFETY: Every variant is owned data (`Arc`s, an exclusively owned skb) or a pointer
// whose referent outlives the item (see `Work::Timer`, `CallReq`), usable from any
// thread.
unsafe impl Send for Work {}
