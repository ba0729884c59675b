//! The calls the fuzzer makes and, for each, the errnos Linux TCP may return for it:
//! any other errno from an AF_PARTCP socket is a failure. The sets were checked by
//! running the fuzzer against Linux TCP itself (`--inet`): every errno seen there must
//! be listed (a missing one is a bug in this table, not in partcp).
//!
//! Extra errnos allowed only in context are added per call instance: EFAULT when a
//! pointer argument was bad, EBADF/ENOTSOCK when the descriptor was bad on purpose or
//! was closed by another thread during the call, EBADF for setsockopt options whose
//! value is a descriptor (SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_EBPF), and the TCP Fast
//! Open errnos when `send*` had MSG_FASTOPEN.

use libc::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Call {
    Socket,
    Bind,
    Listen,
    Accept,
    Connect,
    Send,
    Sendto,
    Sendmsg,
    Write,
    Recv,
    Recvfrom,
    Recvmsg,
    Read,
    Shutdown,
    Setsockopt,
    Getsockopt,
    Ioctl,
    Poll,
    EpollCtl,
    EpollWait,
    Getsockname,
    Getpeername,
    Fcntl,
    Close,
    Dup,
}

pub const N_CALLS: usize = Call::Dup as usize + 1;

/// The errnos always allowed for `call`.
pub fn base(call: Call) -> &'static [i32] {
    use Call::*;
    match call {
        Socket => &[ESOCKTNOSUPPORT, EPROTONOSUPPORT, EINVAL, EPROTOTYPE, EMFILE],
        Bind => &[EINVAL, EAFNOSUPPORT, EADDRINUSE, EADDRNOTAVAIL, EACCES],
        Listen => &[EINVAL, EADDRINUSE],
        Accept => &[EAGAIN, EINVAL, ECONNABORTED, EMFILE],
        Connect => &[
            EINPROGRESS,
            EALREADY,
            EISCONN,
            EINVAL,
            EAFNOSUPPORT,
            EADDRNOTAVAIL,
            EADDRINUSE,
            EACCES,
            ECONNREFUSED,
            ECONNRESET,
            ETIMEDOUT,
            EHOSTUNREACH,
            ENETUNREACH,
            // After shutdown(SHUT_WR); a connection aborted by connect(AF_UNSPEC); a
            // socket bound to a device (SO_BINDTODEVICE) that does not route there.
            EPIPE,
            ECONNABORTED,
            ENODEV,
        ],
        Send | Sendto | Sendmsg | Write => &[
            EPIPE,
            ENOTCONN,
            EAGAIN,
            EINVAL,
            EMSGSIZE,
            EOPNOTSUPP,
            ECONNREFUSED,
            ECONNRESET,
            ETIMEDOUT,
            EHOSTUNREACH,
            ENETUNREACH,
            ECONNABORTED,
        ],
        Recv | Recvfrom | Recvmsg | Read => &[
            EAGAIN,
            ENOTCONN,
            EINVAL,
            EMSGSIZE,
            ECONNREFUSED,
            ECONNRESET,
            ETIMEDOUT,
            EHOSTUNREACH,
            ENETUNREACH,
            EPIPE,
            ECONNABORTED,
            // A socket in TCP_REPAIR mode (root may set it), read without MSG_PEEK.
            EPERM,
        ],
        Shutdown => &[ENOTCONN, EINVAL],
        Setsockopt => &[
            ENOPROTOOPT,
            EINVAL,
            EPERM,
            ENOENT,
            ENODEV,
            EOPNOTSUPP,
            EDOM,
            ERANGE,
            EBUSY,
            EEXIST,
            EISCONN,
            ENOTCONN,
            ENOBUFS,
        ],
        Getsockopt => &[ENOPROTOOPT, EINVAL, ENOTCONN, ERANGE, ENODATA, EOPNOTSUPP, ENOENT, EPERM, ENODEV],
        Ioctl => &[EINVAL, ENOTTY, ENOENT, ENOTCONN, ENODEV, EOPNOTSUPP, EPERM],
        Poll => &[EINVAL],
        EpollCtl => &[EINVAL, EPERM, EEXIST, ELOOP],
        EpollWait => &[EINVAL],
        Getsockname => &[EINVAL],
        Getpeername => &[ENOTCONN, EINVAL],
        Fcntl => &[EINVAL, EMFILE],
        Close => &[],
        Dup => &[EMFILE],
    }
}

/// Extra errnos of `send*` with MSG_FASTOPEN (Linux then connects with TFO).
pub const FASTOPEN: &[i32] = &[EINPROGRESS, EALREADY, EISCONN, EDESTADDRREQ, EADDRNOTAVAIL, EAFNOSUPPORT];

/// A short name for an errno (for histograms and messages).
pub fn name(e: i32) -> String {
    const NAMES: &[(i32, &str)] = &[
        (EPERM, "EPERM"),
        (ENOENT, "ENOENT"),
        (EINTR, "EINTR"),
        (EIO, "EIO"),
        (EBADF, "EBADF"),
        (EAGAIN, "EAGAIN"),
        (ENOMEM, "ENOMEM"),
        (EACCES, "EACCES"),
        (EFAULT, "EFAULT"),
        (EBUSY, "EBUSY"),
        (EEXIST, "EEXIST"),
        (ENODEV, "ENODEV"),
        (EINVAL, "EINVAL"),
        (EMFILE, "EMFILE"),
        (ENOTTY, "ENOTTY"),
        (EPIPE, "EPIPE"),
        (EDOM, "EDOM"),
        (ERANGE, "ERANGE"),
        (ENOSYS, "ENOSYS"),
        (ELOOP, "ELOOP"),
        (ENODATA, "ENODATA"),
        (ENOTSOCK, "ENOTSOCK"),
        (EDESTADDRREQ, "EDESTADDRREQ"),
        (EMSGSIZE, "EMSGSIZE"),
        (EPROTO, "EPROTO"),
        (EPROTOTYPE, "EPROTOTYPE"),
        (ENOPROTOOPT, "ENOPROTOOPT"),
        (EPROTONOSUPPORT, "EPROTONOSUPPORT"),
        (ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
        (EOPNOTSUPP, "EOPNOTSUPP"),
        (EAFNOSUPPORT, "EAFNOSUPPORT"),
        (EADDRINUSE, "EADDRINUSE"),
        (EADDRNOTAVAIL, "EADDRNOTAVAIL"),
        (ENETUNREACH, "ENETUNREACH"),
        (ECONNABORTED, "ECONNABORTED"),
        (ECONNRESET, "ECONNRESET"),
        (ENOBUFS, "ENOBUFS"),
        (EISCONN, "EISCONN"),
        (ENOTCONN, "ENOTCONN"),
        (ETIMEDOUT, "ETIMEDOUT"),
        (ECONNREFUSED, "ECONNREFUSED"),
        (EHOSTUNREACH, "EHOSTUNREACH"),
        (EALREADY, "EALREADY"),
        (EINPROGRESS, "EINPROGRESS"),
    ];
    match NAMES.iter().find(|(n, _)| *n == e) {
        Some((_, s)) => s.to_string(),
        None => format!("errno{e}"),
    }
}
