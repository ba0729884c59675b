// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! Typed handles over the raw kernel objects partcp keeps pointers to, so that no safe
//! function above this layer takes a raw `*mut net` or `*mut sock`:
//!
//! - [`NetRef`]: a counted network-namespace reference (`get_net` when made or cloned,
//!   `put_net` when dropped), held by every connection and listener so that an orphaned
//!   connection can still transmit in its namespace.
//! - [`SockRef`]: a partcp socket's `struct sock`, held by its connection or listener
//!   while the socket is open, to wake its waiters and report errors.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::ffi::c_int;

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
