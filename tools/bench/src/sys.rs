//! Thin wrappers over the libc calls the benchmark uses (sockets, epoll, affinity).

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::RawFd;

/// `Err(last OS error)` if `r` is negative.
pub fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The address family AF_PARTCP is registered as (from sysfs).
pub fn partcp_family() -> io::Result<libc::c_int> {
    let s = std::fs::read_to_string("/sys/module/partcp/parameters/family")?;
    s.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad family file"))
}

/// A non-blocking stream socket of `family` (AF_INET or AF_PARTCP's number).
pub fn stream_socket(family: libc::c_int) -> io::Result<RawFd> {
    // SAFETY: plain system call with integer arguments.
    check(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })
}

pub fn close(fd: RawFd) {
    // SAFETY: `fd` is owned by the caller, who does not use it again.
    unsafe { libc::close(fd) };
}

/// Sets an integer socket option; the error is returned for the caller to ignore or not.
pub fn setsockopt_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: `v` lives across the call and its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    })
    .map(|_| ())
}

/// The pending error of a socket (SO_ERROR), 0 if none.
pub fn so_error(fd: RawFd) -> i32 {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of their sizes.
    let r = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut v as *mut _ as *mut libc::c_void, &mut len)
    };
    if r < 0 {
        io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
    } else {
        v
    }
}

/// Where a stream socket connects or binds: an IPv4 address (AF_INET and AF_PARTCP) or
/// a filesystem path (AF_UNIX, the benchmark's copy-only floor).
#[derive(Clone, Debug)]
pub enum Addr {
    Inet(SocketAddrV4),
    Unix(std::path::PathBuf),
}

/// A socket address of either kind, with its length.
enum RawAddr {
    Inet(libc::sockaddr_in),
    Unix(libc::sockaddr_un),
}

impl RawAddr {
    fn new(a: &Addr) -> io::Result<RawAddr> {
        match a {
            Addr::Inet(a) => Ok(RawAddr::Inet(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                sin_zero: [0; 8],
            })),
            Addr::Unix(p) => {
                use std::os::unix::ffi::OsStrExt;
                // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
                let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
                sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
                let b = p.as_os_str().as_bytes();
                // One byte stays zero: the path's terminator.
                if b.is_empty() || b.len() >= sa.sun_path.len() || b.contains(&0) {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad AF_UNIX path"));
                }
                for (d, &c) in sa.sun_path.iter_mut().zip(b) {
                    *d = c as libc::c_char;
                }
                Ok(RawAddr::Unix(sa))
            }
        }
    }

    fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            RawAddr::Inet(sa) => {
                (sa as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
            }
            RawAddr::Unix(sa) => {
                (sa as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t)
            }
        }
    }
}

/// Starts a non-blocking connect: `Ok(true)` connected, `Ok(false)` in progress.
pub fn connect(fd: RawFd, a: &Addr) -> io::Result<bool> {
    let sa = RawAddr::new(a)?;
    let (p, len) = sa.as_ptr();
    // SAFETY: `p` points to a socket address of `len` bytes that lives across the call.
    let r = unsafe { libc::connect(fd, p, len) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(false)
    } else {
        Err(e)
    }
}

pub fn bind(fd: RawFd, a: &Addr) -> io::Result<()> {
    let sa = RawAddr::new(a)?;
    let (p, len) = sa.as_ptr();
    // SAFETY: as in `connect`.
    check(unsafe { libc::bind(fd, p, len) }).map(|_| ())
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: plain system call.
    check(unsafe { libc::listen(fd, backlog) }).map(|_| ())
}

/// Non-blocking accept; `Ok(None)` when nothing is pending.
pub fn accept(fd: RawFd) -> io::Result<Option<RawFd>> {
    // SAFETY: null address pointers are allowed.
    let r = unsafe {
        libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    };
    if r >= 0 {
        return Ok(Some(r));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ECONNABORTED) | Some(libc::EINTR) => Ok(None),
        _ => Err(e),
    }
}

/// Result of a non-blocking read or write.
pub enum Io {
    Done(usize),
    WouldBlock,
    Eof,
    Err,
}

pub fn write(fd: RawFd, buf: &[u8]) -> Io {
    // SAFETY: `buf` is valid for reads of its length.
    let r = unsafe { libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL) };
    io_result(r)
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> Io {
    // SAFETY: `buf` is valid for writes of its length.
    let r = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
    if r == 0 {
        return Io::Eof;
    }
    io_result(r)
}

fn io_result(r: isize) -> Io {
    if r >= 0 {
        return Io::Done(r as usize);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Io::WouldBlock,
        _ => Io::Err,
    }
}

/// An epoll instance; closed on drop.
pub struct Epoll(RawFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain system call.
        check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map(Epoll)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is valid for the call.
        check(unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) }).map(|_| ())
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn del(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits up to `timeout_ms`; returns `(events, token)` pairs in `out`.
    pub fn wait(&self, out: &mut Vec<(u32, u64)>, timeout_ms: i32) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 256];
        // SAFETY: `evs` is valid for writes of 256 entries.
        let n = unsafe { libc::epoll_wait(self.0, evs.as_mut_ptr(), evs.len() as i32, timeout_ms) };
        out.clear();
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) { Ok(()) } else { Err(e) };
        }
        out.extend(evs[..n as usize].iter().map(|e| (e.events, e.u64)));
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// Pins the calling thread to `cpu` (best effort).
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: `set` is a plain bitmap initialised by CPU_ZERO/CPU_SET.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Online CPUs.
pub fn online_cpus() -> usize {
    // SAFETY: plain library call.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        1
    }
}

/// Raises the open-file limit to the hard limit (many connections).
pub fn raise_nofile() {
    // SAFETY: `rl` is valid for reads and writes.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// `strerror`-like short name for an errno, for report lines (no spaces).
pub fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "ECONNREFUSED".into(),
        Some(libc::ETIMEDOUT) => "ETIMEDOUT".into(),
        Some(libc::ECONNRESET) => "ECONNRESET".into(),
        Some(libc::EPIPE) => "EPIPE".into(),
        Some(libc::EAFNOSUPPORT) => "EAFNOSUPPORT".into(),
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL".into(),
        Some(libc::EMFILE) => "EMFILE".into(),
        Some(libc::ENOBUFS) => "ENOBUFS".into(),
        Some(libc::ENOMEM) => "ENOMEM".into(),
        Some(n) => format!("errno{n}"),
        None => e.to_string().replace(' ', "_"),
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it creates
/// later), so that [`wait_signal`] receives them instead of their default action.
pub fn block_term_signals() -> libc::sigset_t {
    // SAFETY: `set` is initialised by sigemptyset before use; the calls only read and
    // write it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for one of the signals in `set` (blocked by [`block_term_signals`]).
pub fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is an initialised signal set and `sig` is valid for writes.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

/// How many of `fds` have an event among `events` (or an error or hang-up) right now.
pub fn poll_now(fds: &[RawFd], events: libc::c_short) -> io::Result<usize> {
    let mut p: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events, revents: 0 }).collect();
    // SAFETY: `p` is valid for reads and writes of its length.
    check(unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, 0) }).map(|n| n as usize)
}
