//! `libpartcp_preload.so`: runs an unmodified program's IPv4 TCP sockets over partcp.
//!
//! ```sh
//! LD_PRELOAD=tools/target/release/libpartcp_preload.so iperf3 -s -4
//! ```
//!
//! The library interposes the C library's socket calls (the real ones are found with
//! `dlsym(RTLD_NEXT, ...)`): `socket(AF_INET, SOCK_STREAM, 0 | IPPROTO_TCP)` creates an
//! AF_PARTCP socket instead, every other socket is left alone. partcp takes and returns
//! `sockaddr_in` addresses itself, so addresses need no translation; what the shim
//! translates is what would otherwise give the substitution away (SO_DOMAIN) and the
//! options partcp does not implement that programs commonly set (`sockopt.rs`).
//! Which descriptors are partcp sockets is kept in a lock-free table (`fds.rs`).
//!
//! With `PARTCP_PORTS`/`PARTCP_ADDRS` set, sockets start as Linux TCP sockets and are
//! switched to partcp at the first `bind`/`connect` whose address matches (`switch`).
//! When partcp is not loaded the shim says so once on stderr and uses Linux TCP, or
//! fails with EAFNOSUPPORT under `PARTCP_REQUIRED=1`. See README.md.
//!
//! Nothing here may panic (an unwinding panic out of an `extern "C"` function aborts
//! the program): errors are errno values.

mod config;
mod fds;
mod real;
mod sockopt;

use std::net::Ipv4Addr;

use libc::{c_int, c_uint, c_ulong, c_void, sockaddr, sockaddr_in, socklen_t};

use fds::Kind;
use real::{errno, set_errno};

/// Whether `socket(domain, ty, protocol)` asks for an IPv4 TCP socket.
fn is_inet_tcp(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    domain == libc::AF_INET
        && ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) == libc::SOCK_STREAM
        && (protocol == 0 || protocol == libc::IPPROTO_TCP)
}

/// partcp's family, or why there is none: `Err(None)` falls back to Linux TCP,
/// `Err(Some(EAFNOSUPPORT))` fails (`PARTCP_REQUIRED=1`).
fn partcp_family() -> Result<c_int, Option<c_int>> {
    config::family().ok_or(if config::get().required { Some(libc::EAFNOSUPPORT) } else { None })
}

/// Opens an AF_PARTCP stream socket with `ty`'s flags; errors as [`partcp_family`],
/// and `Err(Some(errno))` for any other failure of socket(2).
fn open_partcp(ty: c_int) -> Result<c_int, Option<c_int>> {
    let fam = partcp_family()?;
    // SAFETY: plain socket(2) call.
    let fd = unsafe { real::socket(fam, ty, 0) };
    if fd >= 0 {
        return Ok(fd);
    }
    match errno() {
        // The module went away after the family was read.
        libc::EAFNOSUPPORT => {
            config::absent();
            partcp_family()
        }
        e => Err(Some(e)),
    }
}

/// Interposed socket(2).
///
/// # Safety
///
/// As socket(2) (no pointers).
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if is_inet_tcp(domain, ty, protocol) && !config::get().selective() {
        match open_partcp(ty) {
            Ok(fd) => {
                fds::set(fd, Kind::Partcp);
                return fd;
            }
            Err(Some(e)) => {
                set_errno(e);
                return -1;
            }
            Err(None) => {}
        }
    }
    // SAFETY: the caller's arguments, unchanged.
    let fd = unsafe { real::socket(domain, ty, protocol) };
    if fd >= 0 {
        let candidate = is_inet_tcp(domain, ty, protocol) && config::get().selective();
        fds::set(fd, if candidate { Kind::Candidate } else { Kind::Other });
    }
    fd
}

/// Whether `fd` is a partcp socket standing in for an AF_INET one.
fn is_partcp(fd: c_int) -> bool {
    if fds::tracked(fd) {
        return fds::get(fd) == Kind::Partcp;
    }
    // Beyond the table: ask the socket.
    let fam = config::family_quiet();
    fam.is_some() && real::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).ok() == fam
}

/// The IPv4 address in `addr`, if it is one.
///
/// # Safety
///
/// `addr` points to `len` readable bytes (or is null).
unsafe fn inet_addr(addr: *const sockaddr, len: socklen_t) -> Option<(Ipv4Addr, u16)> {
    if addr.is_null() || (len as usize) < std::mem::size_of::<sockaddr_in>() {
        return None;
    }
    // SAFETY: `len` bytes are readable and cover a sockaddr_in; it may be unaligned.
    let sin = unsafe { addr.cast::<sockaddr_in>().read_unaligned() };
    (c_int::from(sin.sin_family) == libc::AF_INET)
        .then(|| (Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port)))
}

/// Before `bind`/`connect` of a candidate socket to `addr`: switches it to partcp if
/// the address matches the selection. `Err(errno)` fails the call.
///
/// # Safety
///
/// As [`inet_addr`].
unsafe fn before_bind_connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> Result<(), c_int> {
    if fds::get(fd) != Kind::Candidate {
        return Ok(());
    }
    // SAFETY: by this function's contract.
    match unsafe { inet_addr(addr, len) } {
        Some((a, port)) if config::get().matches(a, port) => switch(fd),
        _ => Ok(()),
    }
}

/// Replaces the AF_INET socket `fd` by a partcp socket under the same number: a new
/// partcp socket gets the old one's O_NONBLOCK, FD_CLOEXEC and the options the program
/// set (`sockopt::carry`), is `dup3`ed over `fd`, and is bound to the old one's local
/// address if the program had bound it.
fn switch(fd: c_int) -> Result<(), c_int> {
    let saved = errno();
    let stream = real::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) == Ok(libc::AF_INET)
        && real::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_STREAM);
    if !stream {
        // A stale entry: the descriptor is something else now.
        fds::set(fd, Kind::Other);
        set_errno(saved);
        return Ok(());
    }
    let (status, fdflags) = (real::fcntl_get(fd, libc::F_GETFL), real::fcntl_get(fd, libc::F_GETFD));
    let nonblock = if status >= 0 && status & libc::O_NONBLOCK != 0 { libc::SOCK_NONBLOCK } else { 0 };
    let new = match open_partcp(libc::SOCK_STREAM | libc::SOCK_CLOEXEC | nonblock) {
        Ok(new) => new,
        Err(None) => {
            fds::set(fd, Kind::Other);
            set_errno(saved);
            return Ok(());
        }
        Err(Some(e)) => return Err(e),
    };
    sockopt::carry(fd, new);
    // SAFETY: an all-zero sockaddr_in is valid.
    let mut local: sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<sockaddr_in>() as socklen_t;
    // SAFETY: `local` and `len` are valid for writes of the sizes given.
    let named = unsafe { real::getsockname(fd, (&raw mut local).cast(), &mut len) } == 0;
    let bound = named && (local.sin_port != 0 || local.sin_addr.s_addr != 0);
    let cloexec = if fdflags >= 0 && fdflags & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
    // SAFETY: both descriptors are open; dup3 closes the old socket under `fd`.
    let r = unsafe { real::dup3(new, fd, cloexec) };
    let e = errno();
    // SAFETY: `new` is this function's own descriptor.
    unsafe { real::close(new) };
    if r < 0 {
        return Err(e);
    }
    fds::set(fd, Kind::Partcp);
    // SAFETY: `local` is a valid sockaddr_in of `len` bytes.
    if bound && unsafe { real::bind(fd, (&raw const local).cast(), len) } < 0 {
        return Err(errno());
    }
    set_errno(saved);
    Ok(())
}

/// Interposed bind(2): may switch a candidate socket to partcp first.
///
/// # Safety
///
/// As bind(2).
#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { switched_then(fd, addr, len, real::bind) }
}

/// Interposed connect(2): may switch a candidate socket to partcp first.
///
/// # Safety
///
/// As connect(2).
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { switched_then(fd, addr, len, real::connect) }
}

/// [`before_bind_connect`], then `call` (the real bind or connect) unless it failed.
///
/// # Safety
///
/// As bind(2).
unsafe fn switched_then(
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
    call: unsafe fn(c_int, *const sockaddr, socklen_t) -> c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    if let Err(e) = unsafe { before_bind_connect(fd, addr, len) } {
        set_errno(e);
        return -1;
    }
    // SAFETY: the caller's arguments.
    unsafe { call(fd, addr, len) }
}

/// Records an accepted descriptor: partcp if its listener is.
fn accepted(listener: c_int, fd: c_int) -> c_int {
    if fd >= 0 {
        fds::set(fd, if is_partcp(listener) { Kind::Partcp } else { Kind::Other });
    }
    fd
}

/// Interposed accept(2).
///
/// # Safety
///
/// As accept(2).
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's arguments.
    accepted(fd, unsafe { real::accept(fd, addr, len) })
}

/// Interposed accept4(2).
///
/// # Safety
///
/// As accept4(2).
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments.
    accepted(fd, unsafe { real::accept4(fd, addr, len, flags) })
}

/// Interposed getsockopt(2): SO_DOMAIN of a partcp socket reads AF_INET.
///
/// # Safety
///
/// As getsockopt(2).
#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments.
    let r = unsafe { real::getsockopt(fd, level, name, val, len) };
    if !is_partcp(fd) {
        return r;
    }
    if r == 0 {
        if level == libc::SOL_SOCKET && name == libc::SO_DOMAIN && !val.is_null() && !len.is_null() {
            // SAFETY: getsockopt succeeded, so `*len` bytes at `val` were written; the
            // kernel writes SO_DOMAIN as an int, cut to the caller's length.
            let n = unsafe { *len } as usize;
            // SAFETY: as above; the caller's buffer may be unaligned.
            if n >= std::mem::size_of::<c_int>()
                && Some(unsafe { val.cast::<c_int>().read_unaligned() }) == config::family_quiet()
            {
                // SAFETY: as above.
                unsafe { val.cast::<c_int>().write_unaligned(libc::AF_INET) };
            }
        }
        return 0;
    }
    // Every option partcp refuses to read, it does not have: its error stands.
    r
}

/// Interposed setsockopt(2): options partcp refuses may be accepted by
/// `sockopt::set_refused`.
///
/// # Safety
///
/// As setsockopt(2).
#[no_mangle]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    // SAFETY: the caller's arguments.
    let r = unsafe { real::setsockopt(fd, level, name, val, len) };
    if r == 0 || !is_partcp(fd) {
        return r;
    }
    let e = errno();
    match sockopt::set_refused(level, name, len, e) {
        Some(Ok(())) => 0,
        Some(Err(e2)) => {
            set_errno(e2);
            -1
        }
        None => {
            set_errno(e);
            -1
        }
    }
}

/// After a descriptor was copied from `old` to `new` (a result of -1 is a failure).
fn copied(old: c_int, new: c_int) -> c_int {
    if new >= 0 && new != old {
        // A candidate's copy is a candidate too: the switch replaces one descriptor,
        // and each copy is checked again at its own bind/connect.
        let kind = if fds::tracked(old) {
            fds::get(old)
        } else if is_partcp(old) {
            Kind::Partcp
        } else {
            Kind::Other
        };
        fds::set(new, kind);
    }
    new
}

/// Interposed dup(2).
///
/// # Safety
///
/// As dup(2).
#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: the caller's arguments.
    copied(fd, unsafe { real::dup(fd) })
}

/// Interposed dup2(2).
///
/// # Safety
///
/// As dup2(2).
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: the caller's arguments.
    copied(old, unsafe { real::dup2(old, new) })
}

/// Interposed dup3(2).
///
/// # Safety
///
/// As dup3(2).
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments.
    copied(old, unsafe { real::dup3(old, new, flags) })
}

/// fcntl, tracking F_DUPFD and F_DUPFD_CLOEXEC.
///
/// # Safety
///
/// As fcntl(2).
unsafe fn fcntl_common(which: real::Fcntl, fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: the caller's arguments.
    let r = unsafe { real::fcntl(which, fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        copied(fd, r)
    } else {
        r
    }
}

/// Interposed fcntl(2). C declares it variadic; the third argument, when there is one,
/// is an integer or a pointer, which the x86-64 and AArch64 C conventions pass in the
/// same register as a fixed `unsigned long` argument, so it is received as one and
/// passed on unchanged (a command without one gets whatever the register held, which
/// it ignores).
///
/// # Safety
///
/// As fcntl(2).
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { fcntl_common(real::Fcntl::Plain, fd, cmd, arg) }
}

/// Interposed fcntl64 (the same function under the name large-file builds call).
///
/// # Safety
///
/// As fcntl(2).
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { fcntl_common(real::Fcntl::Large, fd, cmd, arg) }
}

/// Interposed close(2). The entry is cleared first: once the number is free, another
/// thread may get it for a new socket and mark it.
///
/// # Safety
///
/// As close(2).
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    fds::set(fd, Kind::Other);
    // SAFETY: the caller's arguments.
    unsafe { real::close(fd) }
}

/// Interposed close_range(2).
///
/// # Safety
///
/// As close_range(2).
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    // CLOSE_RANGE_CLOEXEC only marks the descriptors close-on-exec.
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 && first <= last {
        fds::clear_range(first as usize, last as usize);
    }
    // SAFETY: the caller's arguments.
    unsafe { real::close_range(first, last, flags) }
}

/// Interposed closefrom(3).
///
/// # Safety
///
/// As closefrom(3).
#[no_mangle]
pub unsafe extern "C" fn closefrom(low: c_int) {
    if let Ok(low) = usize::try_from(low) {
        fds::clear_range(low, usize::MAX);
    }
    if !real::closefrom(low) {
        // No closefrom in this C library: close what close_range covers.
        // SAFETY: closes descriptors, as the caller asked. CAST: `low` >= 0 checked by
        // the kernel; a negative value fails with EINVAL.
        unsafe { real::close_range(low as c_uint, c_uint::MAX, 0) };
    }
}

/// At load: stream sockets inherited across exec whose SO_DOMAIN is partcp's family
/// (a preloaded parent's partcp sockets) are marked, so that they keep reading as
/// AF_INET. The family is read (quietly) only if such a socket exists.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<c_int> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    for fd in fds {
        if real::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE) != Ok(libc::SOCK_STREAM) {
            continue;
        }
        let Ok(domain) = real::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) else { continue };
        // Read the family only if an inherited stream socket could be partcp's.
        if ![libc::AF_INET, libc::AF_INET6, libc::AF_UNIX].contains(&domain) && config::family_quiet() == Some(domain) {
            fds::set(fd, Kind::Partcp);
        }
    }
    set_errno(0);
}
