// SPDX-License-Identifier: GPL-2.0

//! The AF_PARTCP socket family: registration with the socket layer and the
//! `proto_ops` entry points.
//!
//! Every `extern "C"` function here is called by `net/socket.c`. Each one checks its
//! arguments, calls safe code, and turns the result into an errno at this edge.
//!
//! Lifetime: each socket holds a reference on this module twice over (the socket layer
//! takes one for `proto_ops.owner`, `sk_alloc` one for `proto.owner`), so `rmmod` is
//! refused with EBUSY while any AF_PARTCP socket exists, and `Registration::drop` never
//! races with a live socket.

use core::cell::UnsafeCell;
use core::ptr;

use kernel::bindings;
use kernel::error::{from_result, to_result};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::atomic::Relaxed;

use super::shim;
use super::socket::PartcpSock;
use super::stats::SOCKETS;

/// `-errno` for an errno constant from the bindings.
fn err(errno: u32) -> Error {
    // CAST: errno constants are small positive numbers.
    Error::from_errno(-(errno as c_int))
}

/// A kernel table that the socket layer reads through a pointer: written once in
/// [`Registration::new`] before it is published, read-only afterwards.
struct Table<T>(UnsafeCell<T>);

// SAFETY: The inner value is written only by `Registration::new`, before
// `sock_register` publishes it (with release semantics), and only read afterwards.
// Only one `Registration` exists at a time: the module is its only user, and a module
// is loaded at most once.
unsafe impl<T> Sync for Table<T> {}

static FAMILY_OPS: Table<bindings::net_proto_family> = Table(UnsafeCell::new(
    bindings::net_proto_family {
        family: 0,
        create: Some(create),
        owner: ptr::null_mut(),
    },
));

static PROTO_OPS: Table<bindings::proto_ops> = Table(UnsafeCell::new(bindings::proto_ops {
    family: 0,
    owner: ptr::null_mut(),
    release: Some(release),
    bind: Some(bind),
    connect: Some(connect),
    socketpair: Some(socketpair),
    accept: Some(accept),
    getname: Some(getname),
    ioctl: Some(ioctl),
    listen: Some(listen),
    shutdown: Some(shutdown),
    sendmsg: Some(sendmsg),
    recvmsg: Some(recvmsg),
    mmap: Some(mmap),
    // SAFETY: `proto_ops` is a C struct of integers and nullable function pointers, for
    // which all-zero is valid (NULL means "not supported" to the socket layer).
    ..unsafe { core::mem::zeroed() }
}));

/// The registered family; unregistered on drop.
pub(crate) struct Registration {
    family: c_int,
}

impl Registration {
    /// Registers partcp's `struct proto` and the AF_PARTCP family number `family`.
    pub(crate) fn new(module: &'static ThisModule, family: c_int) -> Result<Self> {
        // CAST: AF_MAX is a small constant.
        if family <= 0 || family >= bindings::AF_MAX as c_int {
            pr_err!(
                "family={} is outside 1..{} (AF_MAX)\n",
                family,
                bindings::AF_MAX
            );
            return Err(EINVAL);
        }
        // SAFETY: No AF_PARTCP socket exists yet (the family is not registered) and
        // `create` is not reachable, so nothing reads the tables while they are written.
        unsafe {
            let pf = &mut *FAMILY_OPS.0.get();
            pf.family = family;
            pf.owner = module.as_ptr();
            let ops = &mut *PROTO_OPS.0.get();
            ops.family = family;
            ops.owner = module.as_ptr();
        }
        // SAFETY: Called once at module init; undone in `drop`.
        to_result(unsafe { shim::partcp_proto_register() })?;
        // SAFETY: `FAMILY_OPS` is a static, so it outlives the registration, which is
        // removed in `drop` before the module's memory goes away.
        let ret = unsafe { bindings::sock_register(FAMILY_OPS.0.get()) };
        if ret != 0 {
            if ret == -(bindings::EEXIST as c_int) {
                pr_err!(
                    "address family {} is already registered; load with family=N\n",
                    family
                );
            }
            // SAFETY: Registered just above; no socket can exist.
            unsafe { shim::partcp_proto_unregister() };
            return Err(Error::from_errno(ret));
        }
        Ok(Registration { family })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`. `sock_unregister` waits until no `create` call is
        // running; no socket exists, because each holds a module reference.
        unsafe {
            bindings::sock_unregister(self.family);
            shim::partcp_proto_unregister();
        }
    }
}

/// Returns the Rust state of `sock`.
///
/// # Safety
///
/// `sock` must be a live AF_PARTCP socket between `create` and `release`.
unsafe fn sock_state<'a>(sock: *mut bindings::socket) -> &'a mut PartcpSock {
    // SAFETY: By the function's precondition `sock` is live, so `sk` was set by
    // `create`, and its private pointer is the `KBox<PartcpSock>` leaked there (type
    // invariant of `PartcpSock`). The socket layer serializes calls that use it for now
    // (there is no concurrent state yet).
    unsafe { &mut *shim::partcp_sk_priv((*sock).sk).cast::<PartcpSock>() }
}

/// `net_proto_family.create`: `socket(AF_PARTCP, type, protocol)`.
///
/// # Safety
///
/// Called by `__sock_create` with a freshly allocated `sock` and a live `net`.
unsafe extern "C" fn create(
    net: *mut bindings::net,
    sock: *mut bindings::socket,
    protocol: c_int,
    kern: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: `sock` is valid for the duration of the call (function precondition).
        let ty = unsafe { (*sock).type_ };
        // CAST: SOCK_STREAM and IPPROTO_TCP are small constants.
        if c_int::from(ty) != bindings::sock_type_SOCK_STREAM as c_int {
            SOCKETS.rejected.add(1, Relaxed);
            // As inet_create() for a type it has no protocol switch entry for.
            return Err(err(bindings::ESOCKTNOSUPPORT));
        }
        if protocol != 0 && protocol != bindings::IPPROTO_TCP as c_int {
            SOCKETS.rejected.add(1, Relaxed);
            return Err(err(bindings::EPROTONOSUPPORT));
        }
        let state = PartcpSock::new()?;
        // SAFETY: `net` and `sock` are valid (function precondition); the family
        // number is the one registered.
        let sk = unsafe { shim::partcp_sk_alloc(net, sock, (*FAMILY_OPS.0.get()).family, kern) };
        if sk.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `sock` is valid; `PROTO_OPS` is a static initialized before
        // registration. `sk` was just allocated and is exclusively ours.
        unsafe {
            (*sock).state = bindings::socket_state_SS_UNCONNECTED;
            (*sock).ops = PROTO_OPS.0.get();
            // INVARIANT: the `PartcpSock` is owned by `sk` until `release`.
            shim::partcp_sk_set_priv(sk, KBox::into_raw(state).cast::<c_void>());
        }
        SOCKETS.created.add(1, Relaxed);
        SOCKETS.open.add(1, Relaxed);
        Ok(0)
    })
}

/// `proto_ops.release`: the last `close()` of the socket.
///
/// # Safety
///
/// Called once by the socket layer for a socket `create` succeeded on.
unsafe extern "C" fn release(sock: *mut bindings::socket) -> c_int {
    // SAFETY: `sock` is valid (function precondition).
    let sk = unsafe { (*sock).sk };
    if sk.is_null() {
        return 0;
    }
    // SAFETY: `sk` is ours; its private pointer was set by `create` from
    // `KBox::into_raw` and is reclaimed exactly once, here.
    let state = unsafe { KBox::from_raw(shim::partcp_sk_priv(sk).cast::<PartcpSock>()) };
    pr_debug!("socket {} released\n", state.id);
    drop(state);
    // SAFETY: `sock` and `sk` are valid; after this the socket no longer refers to `sk`,
    // and the socket's reference on `sk` is dropped.
    unsafe {
        shim::partcp_sk_set_priv(sk, ptr::null_mut());
        (*sock).sk = ptr::null_mut();
        shim::partcp_sk_release(sk);
    }
    SOCKETS.open.add(-1, Relaxed);
    0
}

/// Defines a `proto_ops` entry point that is not implemented yet and answers as the
/// kernel's `sock_no_*` helpers do.
macro_rules! unsupported_op {
    ($name:ident, $errno:expr, ($($arg:ident: $ty:ty),*)) => {
        /// Not supported yet: returns the errno the kernel's `sock_no_*` helper would.
        ///
        /// # Safety
        ///
        /// Called by the socket layer with valid arguments.
        unsafe extern "C" fn $name(sock: *mut bindings::socket, $($arg: $ty),*) -> c_int {
            // SAFETY: `sock` is live between `create` and `release` (function precondition).
            let _ = unsafe { sock_state(sock) };
            $(let _ = $arg;)*
            -($errno as c_int)
        }
    };
}

unsupported_op!(bind, bindings::EOPNOTSUPP, (a: *mut bindings::sockaddr_unsized, l: c_int));
unsupported_op!(connect, bindings::EOPNOTSUPP, (a: *mut bindings::sockaddr_unsized, l: c_int, f: c_int));
unsupported_op!(getname, bindings::EOPNOTSUPP, (a: *mut bindings::sockaddr, p: c_int));
unsupported_op!(ioctl, bindings::EOPNOTSUPP, (c: kernel::ffi::c_uint, a: kernel::ffi::c_ulong));
unsupported_op!(listen, bindings::EOPNOTSUPP, (b: c_int));
unsupported_op!(shutdown, bindings::EOPNOTSUPP, (h: c_int));
unsupported_op!(sendmsg, bindings::EOPNOTSUPP, (m: *mut bindings::msghdr, l: usize));
unsupported_op!(recvmsg, bindings::EOPNOTSUPP, (m: *mut bindings::msghdr, l: usize, f: c_int));
unsupported_op!(accept, bindings::EOPNOTSUPP, (n: *mut bindings::socket, a: *mut bindings::proto_accept_arg));

/// `socketpair()` is not defined for TCP sockets.
///
/// # Safety
///
/// Called by the socket layer with two valid sockets.
unsafe extern "C" fn socketpair(_a: *mut bindings::socket, _b: *mut bindings::socket) -> c_int {
    -(bindings::EOPNOTSUPP as c_int)
}

/// `mmap()` on a TCP socket: not supported (Linux TCP supports only zerocopy receive).
///
/// # Safety
///
/// Called by the socket layer with valid arguments.
unsafe extern "C" fn mmap(
    _file: *mut bindings::file,
    _sock: *mut bindings::socket,
    _vma: *mut bindings::vm_area_struct,
) -> c_int {
    -(bindings::ENODEV as c_int)
}
