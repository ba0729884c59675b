//! The socket calls whose errno a test checks, as `Result<_, errno>`, on anything with a
//! raw descriptor (`Fd`, `TcpStream`, `TcpListener`); and the checks on their results.

use std::fmt::Debug;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::sys::{self, errname, Fd};
use crate::TestResult;

/// `Ok(r)` for a non-negative return value, else the errno.
fn cvt(r: isize) -> Result<usize, i32> {
    if r < 0 {
        Err(sys::errno())
    } else {
        Ok(r as usize)
    }
}

/// Maps an errno result to a message naming the call.
pub fn check<T>(what: &str, r: Result<T, i32>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {}", errname(e)))
}

/// Fails unless `r` is the error `want`.
pub fn expect_err<T: Debug>(what: &str, r: Result<T, i32>, want: i32) -> TestResult {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what}: {}, want {}", errname(e), errname(want))),
        Ok(v) => Err(format!("{what}: succeeded ({v:?}), want {}", errname(want))),
    }
}

/// A `sockaddr_in` for `a`.
pub fn sin(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

const SIN_LEN: libc::socklen_t = size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// bind(2) with an explicit address structure and length.
pub fn bind_sin(fd: &impl AsRawFd, sa: &libc::sockaddr_in, len: libc::socklen_t) -> Result<(), i32> {
    // SAFETY: `sa` is valid for reads of `len` <= sizeof(sockaddr_in) bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (sa as *const libc::sockaddr_in).cast(), len) } as isize).map(drop)
}

pub fn bind(fd: &impl AsRawFd, a: SocketAddrV4) -> Result<(), i32> {
    bind_sin(fd, &sin(a), SIN_LEN)
}

/// connect(2) with an explicit address structure and length.
pub fn connect_sin(fd: &impl AsRawFd, sa: &libc::sockaddr_in, len: libc::socklen_t) -> Result<(), i32> {
    // SAFETY: as for `bind_sin`.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), (sa as *const libc::sockaddr_in).cast(), len) } as isize).map(drop)
}

pub fn connect(fd: &impl AsRawFd, a: SocketAddrV4) -> Result<(), i32> {
    connect_sin(fd, &sin(a), SIN_LEN)
}

pub fn listen(fd: &impl AsRawFd, backlog: i32) -> Result<(), i32> {
    // SAFETY: plain system call.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) } as isize).map(drop)
}

/// accept4(2); returns the new socket and the peer address it reported.
pub fn accept4(fd: &impl AsRawFd, flags: i32) -> Result<(Fd, SocketAddrV4), i32> {
    // SAFETY: an all-zero sockaddr_in is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    // SAFETY: `sa` and `len` are valid for writes.
    let r = unsafe { libc::accept4(fd.as_raw_fd(), (&mut sa as *mut libc::sockaddr_in).cast(), &mut len, flags) };
    cvt(r as isize).map(|fd| (Fd(fd as i32), addr_of(&sa)))
}

/// An address as the kernel reported it: family, length and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    pub family: i32,
    pub len: u32,
    pub addr: SocketAddrV4,
}

impl Name {
    /// Fails unless this is an AF_INET name of full length equal to `want`.
    pub fn expect(&self, what: &str, want: SocketAddrV4) -> TestResult {
        if self.family != libc::AF_INET || self.len != SIN_LEN || self.addr != want {
            return Err(format!("{what}: {self:?}, want AF_INET len {SIN_LEN} {want}"));
        }
        Ok(())
    }
}

fn addr_of(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)), u16::from_be(sa.sin_port))
}

type NameFn = unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32;

fn name_with(f: NameFn, fd: &impl AsRawFd) -> Result<Name, i32> {
    // SAFETY: an all-zero sockaddr_in is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    // SAFETY: `sa` and `len` are valid for writes.
    let r = unsafe { f(fd.as_raw_fd(), (&mut sa as *mut libc::sockaddr_in).cast(), &mut len) };
    cvt(r as isize).map(|_| Name { family: sa.sin_family as i32, len, addr: addr_of(&sa) })
}

pub fn sockname(fd: &impl AsRawFd) -> Result<Name, i32> {
    name_with(libc::getsockname, fd)
}

pub fn peername(fd: &impl AsRawFd) -> Result<Name, i32> {
    name_with(libc::getpeername, fd)
}

pub fn send(fd: &impl AsRawFd, buf: &[u8], flags: i32) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for reads of its length.
    cvt(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) })
}

pub fn recv(fd: &impl AsRawFd, buf: &mut [u8], flags: i32) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for writes of its length.
    cvt(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// write(2), for the plain-write paths (SIGPIPE on write is not optional).
pub fn write(fd: &impl AsRawFd, buf: &[u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for reads of its length.
    cvt(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

pub fn shutdown(fd: &impl AsRawFd, how: i32) -> Result<(), i32> {
    // SAFETY: plain system call.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) } as isize).map(drop)
}

/// poll(2) on one descriptor: the returned events (0 on timeout).
pub fn poll1(fd: &impl AsRawFd, events: i16, timeout_ms: i32) -> Result<i16, i32> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    // SAFETY: `p` is one valid pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, timeout_ms) } as isize).map(|_| p.revents)
}

/// An `int`-valued ioctl (FIONREAD, TIOCOUTQ).
pub fn ioctl_int(fd: &impl AsRawFd, req: libc::c_ulong) -> Result<i32, i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: the request writes one int into `v`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, &mut v) } as isize).map(|_| v)
}

/// getsockopt(2) into a plain-data `T`; returns the value and the length written.
pub fn getsockopt<T: Copy>(fd: &impl AsRawFd, level: i32, name: i32) -> Result<(T, usize), i32> {
    // SAFETY: only used with plain-data option structures, for which zero is valid.
    let mut v: T = unsafe { std::mem::zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given.
    let r = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&mut v as *mut T).cast(), &mut len) };
    cvt(r as isize).map(|_| (v, len as usize))
}

/// setsockopt(2) from a plain-data `T`.
pub fn setsockopt<T: Copy>(fd: &impl AsRawFd, level: i32, name: i32, v: &T) -> Result<(), i32> {
    let len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is valid for reads of `len` bytes.
    cvt(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (v as *const T).cast(), len) } as isize).map(drop)
}

/// SO_RCVTIMEO or SO_SNDTIMEO.
pub fn set_timeo(fd: &impl AsRawFd, name: i32, d: Duration) -> TestResult {
    let tv = libc::timeval { tv_sec: d.as_secs() as libc::time_t, tv_usec: d.subsec_micros() as libc::suseconds_t };
    check("setsockopt SO_*TIMEO", setsockopt(fd, libc::SOL_SOCKET, name, &tv))
}

/// SO_LINGER.
pub fn set_linger(fd: &impl AsRawFd, on: bool, secs: i32) -> TestResult {
    let l = libc::linger { l_onoff: on as i32, l_linger: secs };
    check("setsockopt SO_LINGER", setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &l))
}

/// TCP_INFO.
pub fn tcp_info(fd: &impl AsRawFd) -> Result<libc::tcp_info, String> {
    check("getsockopt TCP_INFO", getsockopt::<libc::tcp_info>(fd, libc::IPPROTO_TCP, libc::TCP_INFO)).map(|(v, _)| v)
}

/// An int option, with the call named in the error.
pub fn get_int(fd: &impl AsRawFd, level: i32, name: i32, what: &str) -> Result<i32, String> {
    check(&format!("getsockopt {what}"), sys::getsockopt_int(fd, level, name))
}

/// Sets an int option, with the call named in the error.
pub fn set_int(fd: &impl AsRawFd, level: i32, name: i32, v: i32, what: &str) -> TestResult {
    check(&format!("setsockopt {what}={v}"), sys::setsockopt_int(fd, level, name, v))
}

/// O_NONBLOCK on or off.
pub fn set_nonblocking(fd: &impl AsRawFd, on: bool) -> TestResult {
    // SAFETY: fcntl on an open descriptor.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    let fl = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
    // SAFETY: as above.
    ensure_ok(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl) }, "fcntl F_SETFL")
}

/// Whether O_NONBLOCK and FD_CLOEXEC are set.
pub fn fd_flags(fd: &impl AsRawFd) -> (bool, bool) {
    // SAFETY: fcntl on an open descriptor.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    let fdfl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    (fl & libc::O_NONBLOCK != 0, fdfl & libc::FD_CLOEXEC != 0)
}

fn ensure_ok(r: i32, what: &str) -> TestResult {
    if r < 0 {
        Err(format!("{what}: {}", errname(sys::errno())))
    } else {
        Ok(())
    }
}

/// Symbolic poll/epoll event bits, for messages.
pub fn events(ev: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (libc::EPOLLIN as u32, "IN"),
        (libc::EPOLLPRI as u32, "PRI"),
        (libc::EPOLLOUT as u32, "OUT"),
        (libc::EPOLLERR as u32, "ERR"),
        (libc::EPOLLHUP as u32, "HUP"),
        (libc::EPOLLRDNORM as u32, "RDNORM"),
        (libc::EPOLLRDBAND as u32, "RDBAND"),
        (libc::EPOLLWRNORM as u32, "WRNORM"),
        (libc::EPOLLWRBAND as u32, "WRBAND"),
        (libc::EPOLLRDHUP as u32, "RDHUP"),
    ];
    let names: Vec<&str> = NAMES.iter().filter(|(b, _)| ev & b != 0).map(|(_, n)| *n).collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}
