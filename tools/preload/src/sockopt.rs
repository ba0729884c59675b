//! Socket options across the boundary: the options partcp does not implement that
//! the shim accepts anyway, and the options carried over when a socket is switched to
//! partcp at `bind`/`connect`.
//!
//! The shim asks partcp first; only an option partcp refuses to set (ENOPROTOOPT, or
//! EOPNOTSUPP from the socket core) is looked up here, so an option partcp implements
//! later passes straight through. Reads are never answered here: partcp's answer (or
//! error) stands. The per-option decisions and their reasons are in README.md.

use libc::{c_int, socklen_t};

use crate::real::{self, errno, set_errno};

const TCP_CORK: c_int = 3;
const TCP_SYNCNT: c_int = 7;
const TCP_LINGER2: c_int = 8;
const TCP_DEFER_ACCEPT: c_int = 9;
const TCP_WINDOW_CLAMP: c_int = 10;
const TCP_CONGESTION: c_int = 13;
const TCP_FASTOPEN: c_int = 23;
const TCP_NOTSENT_LOWAT: c_int = 25;
const TCP_FASTOPEN_CONNECT: c_int = 30;
const TCP_INQ: c_int = 36;
const IP_TOS: c_int = 1;
const IP_TTL: c_int = 2;
const IP_BIND_ADDRESS_NO_PORT: c_int = 24;

/// What to answer a `setsockopt` that partcp refused with `err`: `Some(result)` to
/// answer it here, `None` to pass partcp's error on.
pub fn set_refused(level: c_int, name: c_int, len: socklen_t, err: c_int) -> Option<Result<(), c_int>> {
    let int_ok = || if (len as usize) < std::mem::size_of::<c_int>() { Err(libc::EINVAL) } else { Ok(()) };
    match (level, name, err) {
        // TCP Fast Open is opportunistic: without it, a server accepts and a client
        // connects with an ordinary handshake.
        (libc::SOL_TCP, TCP_FASTOPEN | TCP_FASTOPEN_CONNECT, libc::ENOPROTOOPT) => Some(int_ok()),
        (libc::SOL_IP, IP_BIND_ADDRESS_NO_PORT, libc::ENOPROTOOPT) => Some(int_ok()),
        // A single listener that sets it "just in case" works; a second listener on the
        // same port still fails, at bind().
        (libc::SOL_SOCKET, libc::SO_REUSEPORT, libc::EOPNOTSUPP) => Some(int_ok()),
        _ => None,
    }
}

/// The options carried from an AF_INET socket to the partcp socket that replaces it.
/// Buffer sizes are halved when set again: the kernel doubles the value it is given
/// and reports the doubled value.
const CARRIED: &[(c_int, c_int)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_SNDBUF),
    (libc::SOL_SOCKET, libc::SO_RCVBUF),
    (libc::SOL_SOCKET, libc::SO_LINGER),
    (libc::SOL_SOCKET, libc::SO_RCVTIMEO),
    (libc::SOL_SOCKET, libc::SO_SNDTIMEO),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
    (libc::SOL_SOCKET, libc::SO_MARK),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT),
    (libc::SOL_TCP, libc::TCP_NODELAY),
    (libc::SOL_TCP, libc::TCP_MAXSEG),
    (libc::SOL_TCP, libc::TCP_KEEPIDLE),
    (libc::SOL_TCP, libc::TCP_KEEPINTVL),
    (libc::SOL_TCP, libc::TCP_KEEPCNT),
    (libc::SOL_TCP, libc::TCP_USER_TIMEOUT),
    (libc::SOL_TCP, TCP_CORK),
    (libc::SOL_TCP, TCP_SYNCNT),
    (libc::SOL_TCP, TCP_LINGER2),
    (libc::SOL_TCP, TCP_WINDOW_CLAMP),
    (libc::SOL_TCP, TCP_DEFER_ACCEPT),
    (libc::SOL_TCP, TCP_NOTSENT_LOWAT),
    (libc::SOL_TCP, TCP_INQ),
    (libc::SOL_TCP, TCP_CONGESTION),
    (libc::SOL_IP, IP_TOS),
    (libc::SOL_IP, IP_TTL),
];

/// Reads an option of up to 16 bytes (an int, `struct linger`, `struct timeval`).
fn get_raw(fd: c_int, level: c_int, name: c_int) -> Option<([u8; 16], socklen_t)> {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as socklen_t;
    // SAFETY: `buf` and `len` are valid for writes of the sizes given.
    let r = unsafe { real::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    (r == 0).then_some((buf, len))
}

/// Sets on `to` every carried option whose value on `from` differs from a fresh
/// AF_INET TCP socket's, i.e. the options the program set. Best effort: an option
/// partcp refuses is left at partcp's default. `errno` is preserved.
pub fn carry(from: c_int, to: c_int) {
    let saved = errno();
    // SAFETY: plain socket(2) call.
    let fresh = unsafe { real::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    for &(level, name) in CARRIED {
        let Some((mut v, len)) = get_raw(from, level, name) else { continue };
        if fresh >= 0 && get_raw(fresh, level, name) == Some((v, len)) {
            continue;
        }
        if level == libc::SOL_SOCKET && (name == libc::SO_SNDBUF || name == libc::SO_RCVBUF) {
            let half = i32::from_ne_bytes([v[0], v[1], v[2], v[3]]) / 2;
            v[..4].copy_from_slice(&half.to_ne_bytes());
        }
        // SAFETY: `v` holds `len` <= 16 readable bytes.
        unsafe { real::setsockopt(to, level, name, v.as_ptr().cast(), len) };
    }
    if fresh >= 0 {
        // SAFETY: `fresh` is this function's own descriptor.
        unsafe { real::close(fresh) };
    }
    set_errno(saved);
}
