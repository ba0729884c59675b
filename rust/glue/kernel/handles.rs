// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! Typed handles over the raw kernel objects partcp keeps pointers to, so that no safe
//! function above this layer takes a raw `*mut net` or `*mut sock`:
//!
//! - [`NetRef`]: a counted network-namespace reference (`get_net` when made or cloned,
//!   `put_net` when dropped), held by every connection and listener so that an orphaned
//!   connection can still transmit in its namespace.
//! - [`SockRef`]: a partcp socket's `struct sock`: the socket's own handle (for the
//!   socket calls) and the copies its connection or listener holds while the socket is
//!   open, to wake its waiters and report errors.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_void};
use kernel::prelude::*;
use kernel::task::MAX_SCHEDULE_TIMEOUT;

use crate::glue::kernel::shim;

/// A counted reference to a network namespace.
///
/// # Invariants
///
/// `self.0` is a namespace on which this value holds one reference.
pub(crate) struct NetRef(NonNull<bindings::net>);

// SAFETY: A namespace reference may be used and dropped from any context.
unsafe impl Send for NetRef {}
// SAFETY: Shared access only reads the pointer.
unsafe impl Sync for NetRef {}

impl NetRef {
    /// Takes a reference on `net`.
    ///
    /// # Safety
    ///
    /// `net` is a live namespace for the duration of the call (the caller holds a
    /// reference, or an object that does: a socket, a received skb's device).
    pub(crate) unsafe fn get(net: *mut bindings::net) -> Option<NetRef> {
        // SAFETY: `net` is live (function precondition); `get_net` returns it.
        NonNull::new(unsafe { shim::partcp_get_net(net) }).map(NetRef)
    }

    /// The namespace, for kernel calls (valid while `self` lives).
    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }

    /// The namespace's identity in partcp's table keys.
    pub(crate) fn id(&self) -> usize {
        self.0.as_ptr() as usize
    }
}

impl Clone for NetRef {
    fn clone(&self) -> Self {
        // SAFETY: `self` holds a reference, so the namespace is live.
        unsafe { shim::partcp_get_net(self.0.as_ptr()) };
        NetRef(self.0)
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: The reference this value holds (type invariants).
        unsafe { shim::partcp_put_net(self.0.as_ptr()) };
    }
}

/// A partcp socket's `struct sock`, valid while the socket is open.
///
/// # Invariants
///
/// `self.0` is a live partcp sock; whoever made this value (`PartcpSock`) makes sure it
/// is dropped before the sock is released (`close` clears it under the connection's or
/// listener's exclusion).
pub(crate) struct SockRef(NonNull<bindings::sock>);

// SAFETY: The wake-up and error helpers may be called from any context.
unsafe impl Send for SockRef {}
// SAFETY: As above.
unsafe impl Sync for SockRef {}

impl SockRef {
    /// A handle on `sk`.
    ///
    /// # Safety
    ///
    /// `sk` is a live partcp sock, and the handle is dropped before the sock is released.
    pub(crate) unsafe fn new(sk: *mut bindings::sock) -> Option<SockRef> {
        NonNull::new(sk).map(SockRef)
    }

    /// Another handle on the same sock, for the socket's connection or listener.
    ///
    /// # Safety
    ///
    /// The copy is dropped before the sock is released (as `new`).
    pub(crate) unsafe fn dup(&self) -> SockRef {
        SockRef(self.0)
    }

    /// The raw sock (for the socket layer's own calls, such as `poll_wait`).
    pub(crate) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.as_ptr()
    }

    /// A counted reference to the socket's namespace.
    pub(crate) fn net(&self) -> Option<NetRef> {
        // SAFETY: Live (type invariants); a live socket holds its namespace, so it is
        // live for `NetRef::get`.
        unsafe { NetRef::get(shim::partcp_sock_net(self.0.as_ptr())) }
    }

    /// The namespace, for kernel calls made while the socket is open.
    pub(crate) fn net_ptr(&self) -> *mut bindings::net {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_net(self.0.as_ptr()) }
    }

    /// SO_KEEPALIVE.
    pub(crate) fn keepalive(&self) -> bool {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_keepalive(self.0.as_ptr()) }
    }

    /// SO_RCVLOWAT (`sk_rcvlowat`, at least 1).
    pub(crate) fn rcvlowat(&self) -> usize {
        // SAFETY: Live (type invariants).
        let v = unsafe { shim::partcp_sock_rcvlowat(self.0.as_ptr()) };
        usize::try_from(v).unwrap_or(1).max(1)
    }

    /// Sets SO_RCVLOWAT (`sk_rcvlowat`).
    pub(crate) fn set_rcvlowat(&self, v: c_int) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_set_rcvlowat(self.0.as_ptr(), v) };
    }

    /// The namespace's `ip_default_ttl`.
    pub(crate) fn default_ttl(&self) -> c_int {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_default_ttl(self.0.as_ptr()) }
    }

    /// SO_PRIORITY and SO_MARK (`sk_priority`, `sk_mark`).
    pub(crate) fn priority_mark(&self) -> (u32, u32) {
        let (mut priority, mut mark) = (0, 0);
        // SAFETY: Live (type invariants); the out pointers are valid for writes.
        unsafe { shim::partcp_sock_priority_mark(self.0.as_ptr(), &mut priority, &mut mark) };
        (priority, mark)
    }

    /// Sets SO_PRIORITY and SO_MARK (an accepted socket inherits its listener's).
    pub(crate) fn set_priority_mark(&self, priority: u32, mark: u32) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_set_priority_mark(self.0.as_ptr(), priority, mark) };
    }

    /// Sets `sk_priority` from a TOS byte, as `IP_TOS` does (`rt_tos2priority`).
    pub(crate) fn set_tos_priority(&self, tos: u8) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_set_tos_priority(self.0.as_ptr(), tos) };
    }

    /// SO_REUSEADDR.
    pub(crate) fn reuse(&self) -> bool {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_reuse(self.0.as_ptr()) }
    }

    /// `sk_sndbuf` and `sk_rcvbuf`, and whether the user set each (SO_SNDBUF/SO_RCVBUF).
    pub(crate) fn bufs(&self) -> (c_int, c_int, bool, bool) {
        let sk = self.0.as_ptr();
        // SAFETY: Live (type invariants).
        unsafe {
            (
                shim::partcp_sock_sndbuf(sk),
                shim::partcp_sock_rcvbuf(sk),
                shim::partcp_sock_buf_locked(sk, true),
                shim::partcp_sock_buf_locked(sk, false),
            )
        }
    }

    /// The payload capacities the user fixed with SO_SNDBUF / SO_RCVBUF, `None` for a
    /// buffer left to autotuning: see [`BufShown`] for how they relate to `sk_sndbuf`
    /// and `sk_rcvbuf`.
    pub(crate) fn locked_payload(&self) -> (Option<usize>, Option<usize>) {
        let (snd, rcv, snd_locked, rcv_locked) = self.bufs();
        let (snd, rcv) = (BufShown { snd, rcv }).payload();
        (snd_locked.then_some(snd), rcv_locked.then_some(rcv))
    }

    /// Shows buffers of `snd` and `rcv` payload bytes in `sk_sndbuf` and `sk_rcvbuf`.
    pub(crate) fn set_bufs(&self, snd: usize, rcv: usize) {
        let b = BufShown::of_payload(snd, rcv);
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_set_bufs(self.0.as_ptr(), b.snd, b.rcv) };
    }

    /// Raises `sk_sndbuf` and `sk_rcvbuf` to show buffers of `snd` and `rcv` payload
    /// bytes where that is larger and the user did not set them (buffer autotuning:
    /// `getsockopt(SO_SNDBUF/SO_RCVBUF)` reports the grown sizes, as Linux's).
    pub(crate) fn grow_bufs(&self, snd: usize, rcv: usize) {
        let b = BufShown::of_payload(snd, rcv);
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sock_grow_bufs(self.0.as_ptr(), b.snd, b.rcv) };
    }

    /// The receive (`rcv`) or send timeout, 0 for a nonblocking call.
    pub(crate) fn timeo(&self, rcv: bool, nonblock: bool) -> c_long {
        // SAFETY: Live (type invariants).
        unsafe {
            if rcv {
                shim::partcp_sock_rcvtimeo(self.0.as_ptr(), nonblock)
            } else {
                shim::partcp_sock_sndtimeo(self.0.as_ptr(), nonblock)
            }
        }
    }

    /// Sets `sk_state` (the socket core reports SO_ACCEPTCONN from it).
    pub(crate) fn set_state(&self, state: c_int) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sk_set_state(self.0.as_ptr(), state) };
    }

    /// The pending error (`sk_err`).
    pub(crate) fn err(&self) -> c_int {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sk_err(self.0.as_ptr()) }
    }

    /// Clears the pending error (a call just reported it).
    pub(crate) fn clear_err(&self) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sk_clear_err(self.0.as_ptr()) };
    }

    /// Blocks on the socket's wait queue until `cond` returns `Some`, the timeout
    /// expires (EAGAIN) or a signal arrives (ERESTARTSYS/EINTR, as `sock_intr_errno`),
    /// as `sk_wait_event` with `wait_woken`.
    pub(crate) fn wait<R>(&self, timeo: &mut c_long, mut cond: impl FnMut() -> Option<Result<R>>) -> Result<R> {
        if let Some(r) = cond() {
            return r;
        }
        if *timeo == 0 {
            return Err(EAGAIN);
        }
        // SAFETY: An all-zero wait_queue_entry is a valid starting point; it is fully set
        // up below before use (DEFINE_WAIT_FUNC).
        let mut wait: bindings::wait_queue_entry = unsafe { core::mem::zeroed() };
        wait.private = kernel::current!().as_ptr().cast::<c_void>();
        wait.func = Some(bindings::woken_wake_function);
        let entry = &raw mut wait.entry;
        // SAFETY: INIT_LIST_HEAD: an empty list points to itself.
        unsafe {
            (*entry).next = entry;
            (*entry).prev = entry;
        }
        // SAFETY: The sock is live (type invariants); its wait queue head outlives this
        // call; `wait` stays in place until removed below.
        let wq = unsafe { shim::partcp_sk_sleep(self.0.as_ptr()) };
        // SAFETY: As above.
        unsafe { bindings::add_wait_queue(wq, &mut wait) };
        let r = loop {
            if let Some(r) = cond() {
                break r;
            }
            if *timeo == 0 {
                break Err(EAGAIN);
            }
            if kernel::current!().signal_pending() {
                break Err(if *timeo == MAX_SCHEDULE_TIMEOUT { ERESTARTSYS } else { EINTR });
            }
            // SAFETY: `wait` is on the queue and initialized.
            *timeo = unsafe { bindings::wait_woken(&mut wait, bindings::TASK_INTERRUPTIBLE, *timeo) };
        };
        // SAFETY: Added above.
        unsafe { bindings::remove_wait_queue(wq, &mut wait) };
        r
    }

    /// Wakes readers (`sk_data_ready`).
    pub(crate) fn data_ready(&self) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sk_data_ready(self.0.as_ptr()) };
    }

    /// Wakes writers (`sk_write_space`).
    pub(crate) fn write_space(&self) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sk_write_space(self.0.as_ptr()) };
    }

    /// Records a pending error (SO_ERROR) and reports it to waiters.
    pub(crate) fn set_err(&self, errno: c_int) {
        // SAFETY: Live (type invariants).
        unsafe { shim::partcp_sk_set_err(self.0.as_ptr(), errno) };
    }
}

/// What `sk_sndbuf` and `sk_rcvbuf` show for buffers of a given payload capacity, the
/// one place partcp converts between the two (`crate::connection::autotune` in the core
/// says why): all of the send figure is payload, as Linux's page-fragment skbs are
/// charged little more than their bytes; half of the receive figure is, as the socket
/// core doubles SO_RCVBUF for skb overhead and Linux's window is half of `sk_rcvbuf`
/// (`tcp_adv_win_scale` 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufShown {
    /// `sk_sndbuf`.
    pub(crate) snd: c_int,
    /// `sk_rcvbuf`.
    pub(crate) rcv: c_int,
}

impl BufShown {
    /// The figures shown for `snd` and `rcv` payload bytes (saturating at `INT_MAX`).
    pub(crate) fn of_payload(snd: usize, rcv: usize) -> Self {
        let int = |n: usize| c_int::try_from(n).unwrap_or(c_int::MAX);
        Self { snd: int(snd), rcv: int(rcv.saturating_mul(2)) }
    }

    /// The payload capacities these figures stand for (negative figures count as 0).
    pub(crate) fn payload(self) -> (usize, usize) {
        let size = |n: c_int| usize::try_from(n).unwrap_or(0);
        (size(self.snd), size(self.rcv) / 2)
    }
}
