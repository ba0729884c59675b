// SPDX-License-Identifier: GPL-2.0

//! The AF_PARTCP socket family: registration with the socket layer and the
//! `proto_ops` entry points.
//!
//! Every `extern "C"` function here is called by `net/socket.c`. Each one checks its
//! arguments, calls safe code in `socket.rs`, and turns the result into an errno at this
//! edge.
//!
//! Lifetime: each socket holds a reference on this module twice over (the socket layer
//! takes one for `proto_ops.owner`, `sk_alloc` one for `proto.owner`), so `rmmod` is
//! refused while any AF_PARTCP socket is open, and `Registration::drop` never races with
//! a live socket. Connections that outlive their socket (FIN-WAIT, TIME-WAIT) hold no
//! module reference: module exit tears them down (`stack::exit`).

use core::cell::UnsafeCell;
use core::pin::Pin;
use core::ptr;

use kernel::bindings;
use kernel::error::{from_result, to_result};
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice};

use crate::glue::kernel::handles::SockRef;
use crate::glue::kernel::shim;
use crate::glue::entry::socket::{err, PartcpSock, Queued, SockState};
use crate::glue::kernel::stats::{self, Counter};

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
    poll: Some(poll),
    ioctl: Some(ioctl),
    listen: Some(listen),
    shutdown: Some(shutdown),
    setsockopt: Some(setsockopt),
    getsockopt: Some(getsockopt),
    sendmsg: Some(sendmsg),
    recvmsg: Some(recvmsg),
    mmap: Some(mmap),
    set_rcvlowat: Some(set_rcvlowat),
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
            pr_err!("family={} is outside 1..{} (AF_MAX)\n", family, bindings::AF_MAX);
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

/// The family number in use.
fn family() -> c_int {
    // SAFETY: Read-only after registration.
    unsafe { (*FAMILY_OPS.0.get()).family }
}

/// Returns the Rust state of `sock`.
///
/// # Safety
///
/// `sock` must be a live AF_PARTCP socket between `create`/`accept` and `release`.
unsafe fn sock_state<'a>(sock: *mut bindings::socket) -> &'a PartcpSock {
    // SAFETY: By the function's precondition `sock` is live, so `sk` was set by
    // `create`/`accept`, and its private pointer is the pinned `PartcpSock` leaked there
    // (type invariant of `PartcpSock`), freed only by `release`.
    unsafe { &*shim::partcp_sk_priv((*sock).sk).cast::<PartcpSock>() }
}

/// Allocates the `struct sock` and Rust state for `sock`.
///
/// # Safety
///
/// `net` and `sock` must be valid; `sock` must have no `sk` yet.
unsafe fn attach_new_sock(net: *mut bindings::net, sock: *mut bindings::socket, kern: c_int, state: SockState) -> Result<&'static PartcpSock> {
    // SAFETY: By the function's precondition.
    let sk = unsafe { shim::partcp_sk_alloc(net, sock, family(), kern) };
    if sk.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `sk` was just allocated for `sock`, and the `PartcpSock` holding this
    // handle is freed in `release` before the sock is (`partcp_sk_release`).
    let Some(handle) = (unsafe { SockRef::new(sk) }) else {
        return Err(ENOMEM);
    };
    let ps = match PartcpSock::new(handle, state) {
        Ok(ps) => ps,
        Err(e) => {
            // SAFETY: `sk` was just allocated for `sock`; detach and free it.
            unsafe {
                (*sock).sk = ptr::null_mut();
                shim::partcp_sk_release(sk);
            }
            return Err(e);
        }
    };
    // SAFETY: The pinned box is never moved out of: it is turned into a raw pointer,
    // kept by `sk`, and turned back into a pinned box by `release`.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(ps) });
    // SAFETY: `sock` and `sk` are valid; `PROTO_OPS` is initialized before registration.
    unsafe {
        (*sock).state = bindings::socket_state_SS_UNCONNECTED;
        (*sock).ops = PROTO_OPS.0.get();
        // INVARIANT: the `PartcpSock` is owned by `sk` until `release`.
        shim::partcp_sk_set_priv(sk, raw.cast::<c_void>());
    }
    stats::count(Counter::SocketsCreated);
    // SAFETY: Just stored; lives until `release`.
    Ok(unsafe { &*raw })
}

/// `net_proto_family.create`: `socket(AF_PARTCP, type, protocol)`.
///
/// # Safety
///
/// Called by `__sock_create` with a freshly allocated `sock` and a live `net`.
unsafe extern "C" fn create(net: *mut bindings::net, sock: *mut bindings::socket, protocol: c_int, kern: c_int) -> c_int {
    from_result(|| {
        // SAFETY: `sock` is valid for the duration of the call (function precondition).
        let ty = unsafe { (*sock).type_ };
        // CAST: SOCK_STREAM and IPPROTO_TCP are small constants.
        if c_int::from(ty) != bindings::sock_type_SOCK_STREAM as c_int {
            stats::count(Counter::SocketsRejected);
            // As inet_create() for a type it has no protocol switch entry for.
            return Err(err(bindings::ESOCKTNOSUPPORT));
        }
        if protocol != 0 && protocol != bindings::IPPROTO_TCP as c_int {
            stats::count(Counter::SocketsRejected);
            return Err(err(bindings::EPROTONOSUPPORT));
        }
        // SAFETY: By this function's precondition.
        unsafe { attach_new_sock(net, sock, kern, SockState::Unconnected { bound: None }) }?;
        Ok(0)
    })
}

/// `proto_ops.release`: the last `close()` of the socket.
///
/// # Safety
///
/// Called once by the socket layer for a socket `create`/`accept` succeeded on.
unsafe extern "C" fn release(sock: *mut bindings::socket) -> c_int {
    // SAFETY: `sock` is valid (function precondition).
    let sk = unsafe { (*sock).sk };
    if sk.is_null() {
        return 0;
    }
    // SAFETY: `sk` is ours; its private pointer was set from `KBox::into_raw` of a pinned
    // box and is reclaimed exactly once, here.
    let ps = unsafe { Pin::new_unchecked(KBox::from_raw(shim::partcp_sk_priv(sk).cast::<PartcpSock>())) };
    // SAFETY: `sk` is live.
    let linger_zero = unsafe { shim::partcp_sock_linger_zero(sk) };
    ps.close(linger_zero);
    drop(ps);
    // SAFETY: `sock` and `sk` are valid; after this the socket no longer refers to `sk`,
    // and the socket's reference on `sk` is dropped.
    unsafe {
        shim::partcp_sk_set_priv(sk, ptr::null_mut());
        (*sock).sk = ptr::null_mut();
        shim::partcp_sk_release(sk);
    }
    stats::count(Counter::SocketsReleased);
    0
}

/// Reads a `sockaddr` of `len` bytes the socket layer copied into kernel memory.
///
/// # Safety
///
/// `addr` must be valid for reads of `len` bytes.
unsafe fn addr_bytes<'a>(addr: *const c_void, len: c_int) -> Result<&'a [u8]> {
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    if addr.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: By the function's precondition.
    Ok(unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len) })
}

/// `bind()`.
///
/// # Safety
///
/// Called by the socket layer with a live socket and a kernel copy of the address.
unsafe extern "C" fn bind(sock: *mut bindings::socket, addr: *mut bindings::sockaddr_unsized, len: c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let (ps, raw) = unsafe { (sock_state(sock), addr_bytes(addr.cast(), len)?) };
        ps.bind(raw)?;
        Ok(0)
    })
}

/// `connect()`.
///
/// # Safety
///
/// As `bind`.
unsafe extern "C" fn connect(sock: *mut bindings::socket, addr: *mut bindings::sockaddr_unsized, len: c_int, flags: c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let (ps, raw) = unsafe { (sock_state(sock), addr_bytes(addr.cast(), len)?) };
        // SAFETY: `sock` is live.
        let connecting = unsafe { (*sock).state } == bindings::socket_state_SS_CONNECTING;
        // CAST: O_NONBLOCK is a small flag.
        let r = ps.connect(raw, flags & bindings::O_NONBLOCK as c_int != 0, connecting);
        let new_state = match &r {
            Ok(()) => bindings::socket_state_SS_CONNECTED,
            Err(e) if *e == err(bindings::EINPROGRESS) || *e == err(bindings::EALREADY) => bindings::socket_state_SS_CONNECTING,
            Err(_) => bindings::socket_state_SS_UNCONNECTED,
        };
        // SAFETY: `sock` is live.
        unsafe { (*sock).state = new_state };
        r?;
        Ok(0)
    })
}

/// `listen()`.
///
/// # Safety
///
/// Called by the socket layer with a live socket.
unsafe extern "C" fn listen(sock: *mut bindings::socket, backlog: c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        unsafe { sock_state(sock) }.listen(backlog)?;
        Ok(0)
    })
}

/// `accept()`/`accept4()`.
///
/// # Safety
///
/// Called by the socket layer with the live listening socket, a new socket without a
/// sock, and its `proto_accept_arg`.
unsafe extern "C" fn accept(sock: *mut bindings::socket, newsock: *mut bindings::socket, arg: *mut bindings::proto_accept_arg) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let ps = unsafe { sock_state(sock) };
        // SAFETY: `arg` is valid.
        let flags = unsafe { shim::partcp_accept_flags(arg) };
        // CAST: O_NONBLOCK is a small flag.
        let c = ps.accept(flags & bindings::O_NONBLOCK as c_int != 0)?;
        let net = ps.sk.net_ptr();
        // SAFETY: `net` is the live listening socket's namespace; `newsock` is valid
        // and empty.
        let newps = match unsafe { attach_new_sock(net, newsock, 0, SockState::Unconnected { bound: None }) } {
            Ok(p) => p,
            Err(e) => {
                let _ = crate::glue::dispatch::with_conn(&c, |inner, now| inner.tcp.abort(now));
                drop(c);
                return Err(e);
            }
        };
        newps.inherit(ps);
        newps.attach(c);
        // SAFETY: `newsock` is valid.
        unsafe { (*newsock).state = bindings::socket_state_SS_CONNECTED };
        Ok(0)
    })
}

/// `getsockname()`/`getpeername()`: returns the address length.
///
/// # Safety
///
/// Called by the socket layer with a live socket and room for a `sockaddr_storage`.
unsafe extern "C" fn getname(sock: *mut bindings::socket, addr: *mut bindings::sockaddr, peer: c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let sin = unsafe { sock_state(sock) }.name(peer != 0)?;
        // SAFETY: `addr` has room for a `sockaddr_storage`, larger than `sockaddr_in`.
        unsafe { ptr::write_unaligned(addr.cast::<bindings::sockaddr_in>(), sin) };
        // CAST: the size of sockaddr_in is 16.
        Ok(core::mem::size_of::<bindings::sockaddr_in>() as c_int)
    })
}

/// `poll()`.
///
/// # Safety
///
/// Called by the socket layer with a live socket and valid file/poll table.
unsafe extern "C" fn poll(file: *mut bindings::file, sock: *mut bindings::socket, wait: *mut bindings::poll_table_struct) -> bindings::__poll_t {
    // SAFETY: By the function's precondition.
    let ps = unsafe { sock_state(sock) };
    // SAFETY: `file` and `wait` are valid; the wait queue is the sock's, alive while the
    // file is open (poll_wait registers on it; the socket core removes entries).
    unsafe { bindings::poll_wait(file, shim::partcp_sk_sleep(ps.sk.as_ptr()), wait) };
    // As `sock_poll_wait`: the waiter's registration is ordered before the reads of the
    // state below (paired with the barrier in the wake-up's `wq_has_sleeper`): poll reads
    // what the connection's last piece of work published without its guard, so either
    // it sees that work's effect or that work sees the waiter and wakes it.
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
    ps.poll_mask()
}

/// `ioctl()`: the commands of Linux's `tcp_ioctl`: FIONREAD/SIOCINQ,
/// TIOCOUTQ/SIOCOUTQ, SIOCOUTQNSD and SIOCATMARK; the receive timestamps (partcp keeps
/// none, so ENOENT, as `sock_gettstamp` for a TCP socket).
///
/// # Safety
///
/// Called by the socket layer with a live socket; `arg` is a user pointer.
unsafe extern "C" fn ioctl(sock: *mut bindings::socket, cmd: c_uint, arg: c_ulong) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let ps = unsafe { sock_state(sock) };
        let v = match cmd {
            bindings::FIONREAD => ps.queued(Queued::Readable)?,
            bindings::TIOCOUTQ => ps.queued(Queued::NotAcked)?,
            bindings::SIOCOUTQNSD => ps.queued(Queued::NotSent)?,
            // No urgent data is ever marked (MSG_OOB data is sent in line).
            bindings::SIOCATMARK => 0,
            bindings::SIOCGSTAMP_OLD | bindings::SIOCGSTAMPNS_OLD => return Err(ENOENT),
            // As inet_ioctl: unknown commands fall through to the generic handlers.
            _ => return Err(ENOIOCTLCMD),
        };
        // CAST: a user address.
        UserSlice::new(UserPtr::from_addr(arg as usize), 4).writer().write_slice(&v.to_ne_bytes())?;
        Ok(0)
    })
}

/// `shutdown()`; `how` is SHUT_RD/SHUT_WR/SHUT_RDWR.
///
/// # Safety
///
/// Called by the socket layer with a live socket.
unsafe extern "C" fn shutdown(sock: *mut bindings::socket, how: c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        unsafe { sock_state(sock) }.shutdown(how)?;
        Ok(0)
    })
}

/// Reads an `int` option value from a `sockptr_t`.
fn sockptr_int(optval: bindings::sockptr_t, optlen: c_uint) -> Result<c_int> {
    if (optlen as usize) < core::mem::size_of::<c_int>() {
        return Err(EINVAL);
    }
    let mut b = [0u8; 4];
    sockptr_bytes(optval, &mut b)?;
    Ok(c_int::from_ne_bytes(b))
}

// include/uapi/linux/tcp.h and include/uapi/linux/in.h.
const TCP_NODELAY: c_int = 1;
const TCP_MAXSEG: c_int = 2;
const TCP_CORK: c_int = 3;
const TCP_KEEPIDLE: c_int = 4;
const TCP_KEEPINTVL: c_int = 5;
const TCP_KEEPCNT: c_int = 6;
const TCP_SYNCNT: c_int = 7;
const TCP_LINGER2: c_int = 8;
const TCP_DEFER_ACCEPT: c_int = 9;
const TCP_WINDOW_CLAMP: c_int = 10;
const TCP_INFO: c_int = 11;
const TCP_QUICKACK: c_int = 12;
const TCP_CONGESTION: c_int = 13;
const TCP_USER_TIMEOUT: c_int = 18;
const TCP_NOTSENT_LOWAT: c_int = 25;
const TCP_INQ: c_int = 36;
/// The control message TCP_INQ adds to recvmsg (`TCP_CM_INQ`).
const TCP_CM_INQ: c_int = TCP_INQ;
const SOL_IP: c_int = 0;
const IP_TOS: c_int = 1;
const IP_TTL: c_int = 2;
/// `TCP_CA_NAME_MAX`.
const TCP_CA_NAME_MAX: usize = 16;

/// An IP-level option's int as `do_ip_setsockopt` reads it: an int if `optlen` holds
/// one, else one unsigned byte, else (optlen 0) 0.
fn sockptr_ip_int(optval: bindings::sockptr_t, optlen: c_uint) -> Result<c_int> {
    if optlen as usize >= core::mem::size_of::<c_int>() {
        return sockptr_int(optval, optlen);
    }
    if optlen == 0 {
        return Ok(0);
    }
    let mut b = [0u8; 1];
    sockptr_bytes(optval, &mut b)?;
    Ok(c_int::from(b[0]))
}

/// Copies `buf.len()` bytes (the caller checked `optlen`) from a sockptr.
fn sockptr_bytes(optval: bindings::sockptr_t, buf: &mut [u8]) -> Result {
    if optval.is_kernel() {
        // SAFETY: A kernel sockptr points to at least `optlen >= buf.len()` readable
        // bytes.
        unsafe { ptr::copy_nonoverlapping(optval.__bindgen_anon_1.kernel.cast::<u8>(), buf.as_mut_ptr(), buf.len()) };
    } else {
        // SAFETY: Reading the union's user member of a user sockptr.
        let user = unsafe { optval.__bindgen_anon_1.user };
        UserSlice::new(UserPtr::from_ptr(user), buf.len()).reader().read_slice(buf)?;
    }
    Ok(())
}

/// `setsockopt(SOL_IP)`: IP_TOS and IP_TTL; other IP options ENOPROTOOPT (the IPv4
/// options partcp does not implement).
fn set_ip_option(ps: &PartcpSock, optname: c_int, optval: bindings::sockptr_t, optlen: c_uint) -> Result {
    match optname {
        IP_TOS => ps.set_tos(sockptr_ip_int(optval, optlen)?),
        IP_TTL => {
            if optlen < 1 {
                return Err(EINVAL);
            }
            ps.set_ttl(sockptr_ip_int(optval, optlen)?)?
        }
        _ => return Err(err(bindings::ENOPROTOOPT)),
    }
    Ok(())
}

/// `getsockopt(SOL_IP)`, written as `do_ip_getsockopt`'s `copyval`: one byte if the
/// caller's length is below an int and the value fits, else up to an int.
fn get_ip_option(ps: &PartcpSock, optname: c_int, optval: *mut c_char, optlen: *mut c_int, len: c_int) -> Result {
    let val = match optname {
        IP_TOS => ps.tos(),
        IP_TTL => ps.ttl(),
        _ => return Err(err(bindings::ENOPROTOOPT)),
    };
    let (bytes, n) = if (1..4).contains(&len) && (0..=255).contains(&val) {
        // CAST: checked to fit a byte.
        ([val as u8, 0, 0, 0], 1)
    } else {
        // CAST: non-negative (checked by the caller), at most 4.
        (val.to_ne_bytes(), (len as usize).min(4))
    };
    UserSlice::new(UserPtr::from_ptr(optval.cast()), n).writer().write_slice(&bytes[..n])?;
    // CAST: at most 4.
    UserSlice::new(UserPtr::from_ptr(optlen.cast()), 4).writer().write_slice(&(n as c_int).to_ne_bytes())?;
    Ok(())
}

/// `setsockopt()` for levels other than SOL_SOCKET (which the socket core handles).
///
/// # Safety
///
/// Called by the socket layer with a live socket.
unsafe extern "C" fn setsockopt(sock: *mut bindings::socket, level: c_int, optname: c_int, optval: bindings::sockptr_t, optlen: c_uint) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let ps = unsafe { sock_state(sock) };
        if level == SOL_IP {
            set_ip_option(ps, optname, optval, optlen)?;
            return Ok(0);
        }
        // CAST: SOL_TCP is a small constant.
        if level != bindings::SOL_TCP as c_int {
            return Err(err(bindings::ENOPROTOOPT));
        }
        // As do_tcp_setsockopt: the string option first, then every other takes an int.
        if optname == TCP_CONGESTION {
            if optlen < 1 {
                return Err(EINVAL);
            }
            let mut name = [0u8; TCP_CA_NAME_MAX - 1];
            let n = (optlen as usize).min(name.len());
            sockptr_bytes(optval, &mut name[..n])?;
            ps.set_congestion(&name[..n])?;
            return Ok(0);
        }
        match optname {
            TCP_NODELAY => ps.set_nodelay(sockptr_int(optval, optlen)? != 0),
            TCP_CORK => ps.set_cork(sockptr_int(optval, optlen)? != 0),
            TCP_SYNCNT => ps.set_syncnt(sockptr_int(optval, optlen)?)?,
            TCP_LINGER2 => ps.set_linger2(sockptr_int(optval, optlen)?),
            TCP_WINDOW_CLAMP => ps.set_window_clamp(sockptr_int(optval, optlen)?)?,
            TCP_DEFER_ACCEPT => ps.set_defer_accept(sockptr_int(optval, optlen)?),
            TCP_QUICKACK => ps.set_quickack(sockptr_int(optval, optlen)?),
            TCP_NOTSENT_LOWAT => ps.set_notsent_lowat(sockptr_int(optval, optlen)?),
            TCP_INQ => ps.set_inq(sockptr_int(optval, optlen)?)?,
            TCP_MAXSEG => ps.set_maxseg(sockptr_int(optval, optlen)?)?,
            TCP_KEEPIDLE => ps.set_keep(0, sockptr_int(optval, optlen)?)?,
            TCP_KEEPINTVL => ps.set_keep(1, sockptr_int(optval, optlen)?)?,
            TCP_KEEPCNT => ps.set_keep(2, sockptr_int(optval, optlen)?)?,
            TCP_USER_TIMEOUT => ps.set_user_timeout(sockptr_int(optval, optlen)?)?,
            _ => return Err(err(bindings::ENOPROTOOPT)),
        }
        Ok(0)
    })
}

/// `getsockopt()` for levels other than SOL_SOCKET.
///
/// # Safety
///
/// Called by the socket layer with a live socket; `optval`/`optlen` are user pointers.
unsafe extern "C" fn getsockopt(sock: *mut bindings::socket, level: c_int, optname: c_int, optval: *mut c_char, optlen: *mut c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let ps = unsafe { sock_state(sock) };
        // CAST: SOL_TCP is a small constant.
        if level != bindings::SOL_TCP as c_int && level != SOL_IP {
            return Err(err(bindings::ENOPROTOOPT));
        }
        let mut lenbuf = [0u8; 4];
        UserSlice::new(UserPtr::from_ptr(optlen.cast()), 4).reader().read_slice(&mut lenbuf)?;
        let len = c_int::from_ne_bytes(lenbuf);
        if len < 0 {
            return Err(EINVAL);
        }
        if level == SOL_IP {
            get_ip_option(ps, optname, optval, optlen, len)?;
            return Ok(0);
        }
        // CAST: checked non-negative.
        let len = len as usize;
        let info;
        let int;
        let name;
        let data: &[u8] = match optname {
            TCP_NODELAY => {
                int = c_int::from(ps.nodelay()).to_ne_bytes();
                &int
            }
            TCP_MAXSEG => {
                int = ps.maxseg().to_ne_bytes();
                &int
            }
            TCP_INFO => {
                info = ps.tcp_info();
                &info
            }
            TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT => {
                // CAST: the option numbers are 4, 5, 6.
                int = ps.keep((optname - TCP_KEEPIDLE) as u8).to_ne_bytes();
                &int
            }
            TCP_USER_TIMEOUT => {
                int = ps.user_timeout().to_ne_bytes();
                &int
            }
            TCP_CORK | TCP_QUICKACK | TCP_INQ => {
                let on = match optname {
                    TCP_CORK => ps.cork(),
                    TCP_QUICKACK => ps.quickack(),
                    _ => ps.inq(),
                };
                int = c_int::from(on).to_ne_bytes();
                &int
            }
            TCP_SYNCNT => {
                int = ps.syncnt().to_ne_bytes();
                &int
            }
            TCP_LINGER2 => {
                int = ps.linger2().to_ne_bytes();
                &int
            }
            TCP_WINDOW_CLAMP => {
                int = ps.window_clamp().to_ne_bytes();
                &int
            }
            TCP_DEFER_ACCEPT => {
                int = ps.defer_accept().to_ne_bytes();
                &int
            }
            TCP_NOTSENT_LOWAT => {
                int = ps.notsent_lowat().to_ne_bytes();
                &int
            }
            // As Linux: up to TCP_CA_NAME_MAX bytes of the name, NUL-padded.
            TCP_CONGESTION => {
                name = ps.congestion();
                &name
            }
            _ => return Err(err(bindings::ENOPROTOOPT)),
        };
        let n = len.min(data.len());
        UserSlice::new(UserPtr::from_ptr(optval.cast()), n).writer().write_slice(&data[..n])?;
        // CAST: at most TCP_INFO_LEN.
        UserSlice::new(UserPtr::from_ptr(optlen.cast()), 4).writer().write_slice(&(n as c_int).to_ne_bytes())?;
        Ok(0)
    })
}

/// `sendmsg()`.
///
/// # Safety
///
/// Called by the socket layer with a live socket and a valid `msghdr`.
unsafe extern "C" fn sendmsg(sock: *mut bindings::socket, m: *mut bindings::msghdr, len: usize) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let ps = unsafe { sock_state(sock) };
        // SAFETY: `m` is valid; its iterator is used for this call only.
        let (iter, flags) = unsafe { (&raw mut (*m).msg_iter, (*m).msg_flags) };
        // CAST: flags are a bit set.
        let n = ps.send(iter, len, flags as u32)?;
        Ok(c_int::try_from(n).unwrap_or(c_int::MAX))
    })
}

/// `recvmsg()`.
///
/// # Safety
///
/// Called by the socket layer with a live socket and a valid `msghdr`.
unsafe extern "C" fn recvmsg(sock: *mut bindings::socket, m: *mut bindings::msghdr, len: usize, flags: c_int) -> c_int {
    from_result(|| {
        // SAFETY: By the function's precondition.
        let ps = unsafe { sock_state(sock) };
        // SAFETY: `m` is valid; its iterator is used for this call only.
        let iter = unsafe { &raw mut (*m).msg_iter };
        // CAST: flags are a bit set.
        let n = ps.recv(iter, len, flags as u32)?;
        // TCP_INQ: tcp_recvmsg adds the bytes left to read after a successful read.
        if let Some(mut inq) = ps.inq_hint() {
            // CAST: SOL_TCP is a small constant; the payload is one int.
            let (level, size) = (bindings::SOL_TCP as c_int, core::mem::size_of::<c_int>() as c_int);
            // SAFETY: `m` is the call's valid msghdr; put_cmsg copies `size` bytes from
            // `inq` (or sets MSG_CTRUNC if the caller's buffer is too small).
            unsafe { bindings::put_cmsg(m, level, TCP_CM_INQ, size, (&raw mut inq).cast()) };
        }
        Ok(c_int::try_from(n).unwrap_or(c_int::MAX))
    })
}

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
unsafe extern "C" fn mmap(_file: *mut bindings::file, _sock: *mut bindings::socket, _vma: *mut bindings::vm_area_struct) -> c_int {
    -(bindings::ENODEV as c_int)
}

/// `proto_ops.set_rcvlowat`: SO_RCVLOWAT, capped as Linux's `tcp_set_rcvlowat` (half
/// the receive buffer if SO_RCVBUF set it, else half of `tcp_rmem[2]`; 0 is 1), then
/// readers are woken in case the data already there now suffices.
///
/// # Safety
///
/// Called by `sock_setsockopt` with a live partcp sock (its socket is open).
unsafe extern "C" fn set_rcvlowat(sk: *mut bindings::sock, val: c_int) -> c_int {
    // SAFETY: `sk` belongs to an open socket, so its private pointer is the live
    // `PartcpSock` (set before the socket is reachable from user space).
    let p = unsafe { shim::partcp_sk_priv(sk) }.cast::<PartcpSock>();
    if p.is_null() {
        return -(bindings::EINVAL as c_int);
    }
    // SAFETY: As above; the socket layer calls setsockopt between create and release.
    unsafe { &*p }.set_rcvlowat(val);
    0
}

/// `struct proto.keepalive`: the socket core calls it when SO_KEEPALIVE changes.
///
/// # Safety
///
/// Called by `sock_setsockopt` with a live partcp sock (its socket is open).
#[no_mangle]
pub(crate) unsafe extern "C" fn partcp_rust_keepalive(sk: *mut bindings::sock, valbool: c_int) {
    // SAFETY: `sk` belongs to an open socket, so its private pointer is the live
    // `PartcpSock` (or null during creation).
    let p = unsafe { shim::partcp_sk_priv(sk) }.cast::<PartcpSock>();
    if p.is_null() {
        return;
    }
    // SAFETY: As above; the socket layer calls setsockopt between create and release.
    // The core sets SOCK_KEEPOPEN only after this call, so use `valbool`.
    unsafe { &*p }.set_keepalive(valbool != 0);
}
