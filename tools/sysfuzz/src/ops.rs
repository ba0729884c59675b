//! One fuzzing thread's calls: random arguments, the raw system call, and what the
//! result must satisfy.
//!
//! Arguments are built in the thread's own buffers (`data`, `aux`) or are bad on
//! purpose: NULL, `(void *)1`, a kernel address, or `k` valid bytes at the end of a
//! page followed by a PROT_NONE page. Bad pointers only ever reach the kernel through
//! `libc::syscall`, never through a Rust reference. A good pointer is never passed
//! with a length larger than its buffer for a call that writes to it.

use std::fmt::Write as _;

use libc::{c_long, c_void};

use crate::peer::{A, B, PARTCP_PORTS, PEER_PORTS};
use crate::pool::{Pick, Pool, SLOTS};
use crate::rng::Rng;
use crate::table::{self, Call};

const BUF: usize = 65536;
const PAGE: usize = 4096;

/// How valid a pointer argument is for the length passed with it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Valid {
    /// Valid for the whole length.
    Yes,
    /// Only a prefix of `k` bytes is valid (guard page after it).
    Prefix(usize),
    /// Not valid at all (NULL, `(void *)1`, kernel address).
    No,
}

/// One system call made, with what is allowed of its result.
pub struct Done {
    pub call: Call,
    pub desc: String,
    pub ret: i64,
    pub errno: i32,
    /// Errnos allowed here beyond [`table::base`].
    pub extra: Vec<i32>,
    /// The pooled descriptor the call used, if any (EBADF/ENOTSOCK are allowed if it
    /// was closed during the call).
    pub target: Option<Pick>,
    /// An invariant broken by a successful result (checked only if `target` was not
    /// closed meanwhile).
    pub problem: Option<String>,
}

impl Done {
    /// The verdict: `Err(why)` if this result is not one Linux TCP would give.
    pub fn check(&self, pool: &Pool) -> Result<(), String> {
        let stale = self.target.is_some_and(|p| !pool.still(p));
        if self.ret < -1 {
            return Err(format!("returned {} (not -1 on error)", self.ret));
        }
        if self.ret == -1 {
            let e = self.errno;
            if table::base(self.call).contains(&e) || self.extra.contains(&e) {
                return Ok(());
            }
            if stale && (e == libc::EBADF || e == libc::ENOTSOCK) {
                return Ok(());
            }
            return Err(format!("unexpected errno {}", table::name(e)));
        }
        match &self.problem {
            Some(p) if !stale => Err(p.clone()),
            _ => Ok(()),
        }
    }
}

/// A system call in progress, as the watchdog reports it.
#[derive(Clone, Copy)]
pub struct InFlight {
    pub nr: c_long,
    pub args: [usize; 6],
}

impl std::fmt::Display for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: &[(c_long, &str)] = &[
            (libc::SYS_socket, "socket"),
            (libc::SYS_bind, "bind"),
            (libc::SYS_listen, "listen"),
            (libc::SYS_accept4, "accept4"),
            (libc::SYS_connect, "connect"),
            (libc::SYS_sendto, "sendto"),
            (libc::SYS_sendmsg, "sendmsg"),
            (libc::SYS_write, "write"),
            (libc::SYS_recvfrom, "recvfrom"),
            (libc::SYS_recvmsg, "recvmsg"),
            (libc::SYS_read, "read"),
            (libc::SYS_shutdown, "shutdown"),
            (libc::SYS_setsockopt, "setsockopt"),
            (libc::SYS_getsockopt, "getsockopt"),
            (libc::SYS_ioctl, "ioctl"),
            (libc::SYS_poll, "poll"),
            (libc::SYS_epoll_ctl, "epoll_ctl"),
            (libc::SYS_epoll_wait, "epoll_wait"),
            (libc::SYS_getsockname, "getsockname"),
            (libc::SYS_getpeername, "getpeername"),
            (libc::SYS_fcntl, "fcntl"),
            (libc::SYS_close, "close"),
            (libc::SYS_dup, "dup"),
        ];
        match NAMES.iter().find(|(n, _)| *n == self.nr) {
            Some((_, name)) => write!(f, "{name}(")?,
            None => write!(f, "syscall{}(", self.nr)?,
        }
        for (i, a) in self.args.iter().enumerate() {
            write!(f, "{}{:#x}", if i > 0 { ", " } else { "" }, a)?;
        }
        write!(f, ")")
    }
}

/// A raw system call: `(return value, errno if it returned -1)`.
fn raw_sys(nr: c_long, a: [usize; 6]) -> (i64, i32) {
    // SAFETY: the fuzzer's whole point is passing arbitrary arguments to the kernel.
    // Pointers are either into this thread's own buffers (valid for the lengths given)
    // or deliberately invalid, which the kernel must reject with EFAULT; nothing in this
    // process is reached through a Rust reference while the kernel may write it.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    let e = if r == -1 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
    (r as i64, e)
}

pub struct Ctx<'a> {
    pub rng: Rng,
    pool: &'a Pool,
    family: i32,
    /// An open non-socket descriptor (/dev/null), never closed during the run.
    nullfd: i32,
    data: Vec<u8>,
    aux: Vec<u8>,
    /// A read-write page followed by a PROT_NONE page.
    guard: usize,
    /// The system call this thread is in, if any (for the watchdog).
    in_flight: &'a std::sync::Mutex<Option<InFlight>>,
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        // SAFETY: unmaps the two pages mapped in `new`.
        unsafe { libc::munmap(self.guard as *mut c_void, 2 * PAGE) };
    }
}

/// The weighted menu of operations.
const MENU: &[(u64, Op)] = &[
    (6, Op::Socket),
    (2, Op::Listener),
    (5, Op::Bind),
    (4, Op::Listen),
    (6, Op::Accept),
    (8, Op::Connect),
    (5, Op::Send),
    (2, Op::Sendto),
    (4, Op::Sendmsg),
    (2, Op::Write),
    (5, Op::Recv),
    (2, Op::Recvfrom),
    (4, Op::Recvmsg),
    (2, Op::Read),
    (3, Op::Shutdown),
    (8, Op::Setsockopt),
    (8, Op::Getsockopt),
    (4, Op::Ioctl),
    (3, Op::Poll),
    (2, Op::Epoll),
    (4, Op::Getname),
    (3, Op::Fcntl),
    (4, Op::Close),
    (2, Op::Dup),
];

#[derive(Clone, Copy)]
enum Op {
    Socket,
    Listener,
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
    Epoll,
    Getname,
    Fcntl,
    Close,
    Dup,
}

const SEND_FLAGS: &[i32] = &[
    0,
    libc::MSG_DONTWAIT,
    libc::MSG_NOSIGNAL,
    libc::MSG_MORE,
    libc::MSG_OOB,
    libc::MSG_EOR,
    libc::MSG_DONTWAIT | libc::MSG_OOB,
    libc::MSG_FASTOPEN,
    libc::MSG_ZEROCOPY,
    libc::MSG_CONFIRM,
];
const RECV_FLAGS: &[i32] = &[
    0,
    libc::MSG_PEEK,
    libc::MSG_WAITALL,
    libc::MSG_DONTWAIT,
    libc::MSG_OOB,
    libc::MSG_TRUNC,
    libc::MSG_PEEK | libc::MSG_DONTWAIT,
    libc::MSG_WAITALL | libc::MSG_PEEK,
    libc::MSG_TRUNC | libc::MSG_DONTWAIT,
    libc::MSG_OOB | libc::MSG_PEEK,
    libc::MSG_ERRQUEUE,
    libc::MSG_CMSG_CLOEXEC,
];

impl<'a> Ctx<'a> {
    pub fn new(
        rng: Rng,
        pool: &'a Pool,
        family: i32,
        nullfd: i32,
        in_flight: &'a std::sync::Mutex<Option<InFlight>>,
    ) -> Result<Ctx<'a>, String> {
        // SAFETY: an anonymous private mapping of two pages, owned by this `Ctx`.
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if m == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: the second page of the mapping just made.
        if unsafe { libc::mprotect((m as usize + PAGE) as *mut c_void, PAGE, libc::PROT_NONE) } != 0 {
            return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
        }
        Ok(Ctx { rng, pool, family, nullfd, data: vec![0; BUF], aux: vec![0; BUF], guard: m as usize, in_flight })
    }

    /// A fuzzed system call, recorded as in flight while it runs.
    fn sys(&self, nr: c_long, a: [usize; 6]) -> (i64, i32) {
        *self.in_flight.lock().unwrap() = Some(InFlight { nr, args: a });
        let r = raw_sys(nr, a);
        *self.in_flight.lock().unwrap() = None;
        r
    }

    /// Runs one random operation; returns the calls it made.
    pub fn step(&mut self) -> Vec<Done> {
        let total: u64 = MENU.iter().map(|m| m.0).sum();
        let mut r = self.rng.below(total);
        let mut op = Op::Socket;
        for &(w, o) in MENU {
            if r < w {
                op = o;
                break;
            }
            r -= w;
        }
        match op {
            Op::Socket => vec![self.socket()],
            Op::Listener => self.listener(),
            Op::Bind => vec![self.bind()],
            Op::Listen => vec![self.listen()],
            Op::Accept => vec![self.accept()],
            Op::Connect => vec![self.connect()],
            Op::Send => vec![self.send(Call::Send)],
            Op::Sendto => vec![self.send(Call::Sendto)],
            Op::Write => vec![self.send(Call::Write)],
            Op::Sendmsg => vec![self.msg(Call::Sendmsg)],
            Op::Recv => vec![self.recv(Call::Recv)],
            Op::Recvfrom => vec![self.recv(Call::Recvfrom)],
            Op::Read => vec![self.recv(Call::Read)],
            Op::Recvmsg => vec![self.msg(Call::Recvmsg)],
            Op::Shutdown => vec![self.shutdown()],
            Op::Setsockopt => vec![self.setsockopt()],
            Op::Getsockopt => vec![self.getsockopt()],
            Op::Ioctl => vec![self.ioctl()],
            Op::Poll => vec![self.poll()],
            Op::Epoll => self.epoll(),
            Op::Getname => vec![self.getname()],
            Op::Fcntl => vec![self.fcntl()],
            Op::Close => vec![self.close()],
            Op::Dup => vec![self.dup()],
        }
    }

    // ---- arguments ----

    /// A descriptor to operate on: usually a pooled socket, sometimes a bad one.
    fn target(&mut self) -> (i32, Option<Pick>, Vec<i32>) {
        if !self.rng.chance(6) {
            let start = self.rng.below(SLOTS as u64) as usize;
            for k in 0..SLOTS {
                if let Some(p) = self.pool.get(start + k) {
                    return (p.fd, Some(p), Vec::new());
                }
            }
        }
        let fd = self.rng.pick(&[-1, 1_000_000, self.nullfd]);
        (fd, None, vec![libc::EBADF, libc::ENOTSOCK])
    }

    /// A pointer for `len` bytes: `good` most of the time (only if `good_ok`: the
    /// buffer holds `len` bytes), else bad in one of several ways.
    fn ptr(&mut self, good: usize, len: usize, good_ok: bool) -> (usize, Valid) {
        if good_ok && !self.rng.chance(12) {
            return (good, Valid::Yes);
        }
        match self.rng.below(4) {
            0 => (0, Valid::No),
            1 => (1, Valid::No),
            2 => (0xffff_8880_0000_0000, Valid::No),
            _ => {
                let k = self.rng.pick(&[0usize, 1, 3, 4, 8, 15, 16, 100, PAGE]);
                let v = if k >= len { Valid::Yes } else { Valid::Prefix(k) };
                (self.guard + PAGE - k, v)
            }
        }
    }

    /// Copies `v` to `p` if `p` points into the guard mapping's readable page (as much
    /// of `v` as fits before the PROT_NONE page). Done for every argument the kernel
    /// reads, so that it reads the value built (and sanitized, and described) rather than
    /// stale bytes there: a stale length behind a length pointer would make an EFAULT
    /// the checks do not expect; a stale timeval or linger time would block for long.
    fn mirror(&self, p: usize, v: &[u8]) {
        if p < self.guard || p >= self.guard + PAGE {
            return;
        }
        let n = v.len().min(self.guard + PAGE - p);
        // SAFETY: `p..p + n` lies in the read-write page this `Ctx` mapped, which no Rust
        // reference covers.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p as *mut u8, n) };
    }

    fn efault(v: Valid, extra: &mut Vec<i32>) {
        if v != Valid::Yes {
            extra.push(libc::EFAULT);
        }
    }

    fn data_ptr(&mut self) -> usize {
        self.data.as_mut_ptr() as usize
    }

    fn aux_ptr(&mut self, off: usize) -> usize {
        self.aux.as_mut_ptr() as usize + off
    }

    /// A length for a data buffer: a good pointer's length fits the buffer.
    fn data_len(&mut self) -> usize {
        match self.rng.below(10) {
            0 => 0,
            1 => 1,
            2..=5 => 1 + self.rng.below(2048) as usize,
            _ => 1 + self.rng.below(BUF as u64) as usize,
        }
    }

    /// A data buffer argument: `(pointer, length, validity)`; huge lengths only with
    /// pointers that fault before the buffer's end.
    fn data_arg(&mut self) -> (usize, usize, Valid) {
        let good = self.data_ptr();
        if self.rng.chance(4) {
            let len = self.rng.pick(&[BUF + 1, 1 << 20, 1 << 40, usize::MAX >> 1]);
            let (p, v) = self.ptr(good, len, false);
            return (p, len, v);
        }
        let len = self.data_len();
        let (p, v) = self.ptr(good, len, true);
        (p, len, v)
    }

    /// A `sockaddr` in `aux[0..]`: `(pointer, length, description, validity)`.
    fn sockaddr(&mut self, bind: bool) -> (usize, usize, String, Valid) {
        let ips: &[[u8; 4]] = if bind {
            &[
                A.octets(),
                A.octets(),
                [0, 0, 0, 0],
                [0, 0, 0, 0],
                [127, 0, 0, 1],
                B.octets(),
                [224, 0, 0, 1],
                [198, 18, 0, 255],
            ]
        } else {
            &[
                B.octets(),
                B.octets(),
                B.octets(),
                A.octets(),
                [127, 0, 0, 1],
                [0, 0, 0, 0],
                [198, 18, 0, 99],
                [198, 18, 0, 98],
                [10, 9, 9, 9],
                [255, 255, 255, 255],
                [224, 0, 0, 1],
            ]
        };
        let ip = self.rng.pick(ips);
        let port: u16 = match self.rng.below(10) {
            0..=3 if !bind => PEER_PORTS.start + self.rng.below(5) as u16,
            0..=4 => PARTCP_PORTS.start + self.rng.below(8) as u16,
            5 | 6 => 0,
            7 => 1,
            _ => self.rng.u32() as u16,
        };
        let fam: u16 = match self.rng.below(20) {
            0 => libc::AF_UNSPEC as u16,
            1 => libc::AF_INET6 as u16,
            2 => self.family as u16,
            3 => self.rng.u32() as u16,
            _ => libc::AF_INET as u16,
        };
        let garbage = self.rng.chance(5);
        let mut raw = [0u8; 128];
        if garbage {
            self.rng.fill(&mut raw);
        }
        raw[0..2].copy_from_slice(&fam.to_ne_bytes());
        raw[2..4].copy_from_slice(&port.to_be_bytes());
        raw[4..8].copy_from_slice(&ip);
        self.aux[..128].copy_from_slice(&raw);
        let len = if self.rng.chance(80) {
            16
        } else {
            self.rng.pick(&[0usize, 1, 2, 8, 15, 17, 28, 110, 128, 129, u32::MAX as usize, 0x7fff_ffff])
        };
        let good = self.aux_ptr(0);
        let (p, v) = self.ptr(good, len.min(128), true);
        self.mirror(p, &raw);
        let desc = format!(
            "{{fam={fam} {}.{}.{}.{}:{port}{}}} len={len} @{}",
            ip[0],
            ip[1],
            ip[2],
            ip[3],
            if garbage { " +garbage" } else { "" },
            ptr_name(p, good)
        );
        (p, len, desc, v)
    }

    fn send_flags(&mut self) -> i32 {
        if self.rng.chance(15) {
            return self.rng.u32() as i32;
        }
        self.rng.pick(SEND_FLAGS)
    }

    fn recv_flags(&mut self) -> i32 {
        if self.rng.chance(10) {
            return self.rng.u32() as i32;
        }
        self.rng.pick(RECV_FLAGS)
    }

    /// Takes a new descriptor into the pool, after giving it bounded timeouts (so every
    /// blocking call on it returns) and checking it is a stream socket of the family
    /// under test. `None` or a problem.
    fn adopt(&mut self, fd: i32, target_stale: bool) -> Option<String> {
        let dom = getsockopt_int(fd, libc::SO_DOMAIN);
        let ty = getsockopt_int(fd, libc::SO_TYPE);
        if dom != Some(self.family) || ty != Some(libc::SOCK_STREAM) {
            close(fd);
            if target_stale {
                return None;
            }
            return Some(format!("new descriptor {fd} has SO_DOMAIN {dom:?} SO_TYPE {ty:?}"));
        }
        for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
            let ms = 20 + self.rng.below(900) as i64;
            let tv = libc::timeval { tv_sec: 0, tv_usec: ms * 1000 };
            // SAFETY: `tv` is a valid timeval for the length given.
            let r = unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, opt, (&tv as *const libc::timeval).cast(), 16) };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                close(fd);
                return Some(format!("setting a timeout on new descriptor {fd}: {e}"));
            }
        }
        let hint = self.rng.below(SLOTS as u64) as usize;
        if !self.pool.put(fd, hint) {
            close(fd);
        }
        None
    }

    // ---- calls ----

    fn socket(&mut self) -> Done {
        let mut ty = libc::SOCK_STREAM;
        if self.rng.chance(50) {
            ty |= libc::SOCK_NONBLOCK;
        }
        if self.rng.chance(50) {
            ty |= libc::SOCK_CLOEXEC;
        }
        // Other types of AF_INET are other protocols (UDP, raw IP): not fuzzed.
        if self.family != libc::AF_INET && self.rng.chance(5) {
            ty = {
                let r = self.rng.u32() as i32;
                self.rng.pick(&[libc::SOCK_DGRAM, libc::SOCK_RAW, libc::SOCK_SEQPACKET, 11, r])
            };
        }
        let proto = if self.rng.chance(5) {
            {
                let r = self.rng.u32() as i32;
                self.rng.pick(&[1, 17, 255, -1, r])
            }
        } else {
            self.rng.pick(&[0, 6])
        };
        let desc = format!("socket({}, {ty:#x}, {proto})", self.family);
        let (ret, errno) = self.sys(libc::SYS_socket, [self.family as usize, ty as usize, proto as usize, 0, 0, 0]);
        let problem = if ret >= 0 { self.adopt(ret as i32, false) } else { None };
        Done { call: Call::Socket, desc, ret, errno, extra: Vec::new(), target: None, problem }
    }

    /// socket + bind to a partcp port the Linux peer connects to + listen (each call
    /// checked), so that accept() has connections to take.
    fn listener(&mut self) -> Vec<Done> {
        let (fd, errno) = self.sys(libc::SYS_socket, [self.family as usize, libc::SOCK_STREAM as usize, 0, 0, 0, 0]);
        let desc = format!("socket({}, SOCK_STREAM, 0)", self.family);
        let mut v =
            vec![Done { call: Call::Socket, desc, ret: fd, errno, extra: Vec::new(), target: None, problem: None }];
        if fd < 0 {
            return v;
        }
        let fd = fd as i32;
        let port = PARTCP_PORTS.start + self.rng.below(8) as u16;
        let ip = if self.rng.chance(50) { A } else { std::net::Ipv4Addr::UNSPECIFIED };
        let sa = crate::peer::sin(std::net::SocketAddrV4::new(ip, port));
        // `sa` lives until the call returns.
        let (ret, errno) =
            self.sys(libc::SYS_bind, [fd as usize, (&sa as *const libc::sockaddr_in) as usize, 16, 0, 0, 0]);
        v.push(Done {
            call: Call::Bind,
            desc: format!("bind({fd}, {ip}:{port})"),
            ret,
            errno,
            extra: Vec::new(),
            target: None,
            problem: None,
        });
        let backlog = self.rng.pick(&[1, 8, 128]);
        let (ret, errno) = self.sys(libc::SYS_listen, [fd as usize, backlog, 0, 0, 0, 0]);
        v.push(Done {
            call: Call::Listen,
            desc: format!("listen({fd}, {backlog})"),
            ret,
            errno,
            extra: Vec::new(),
            target: None,
            problem: None,
        });
        if let Some(p) = self.adopt(fd, false) {
            v[0].problem = Some(p);
        }
        v
    }

    fn bind(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        let (p, len, a, v) = self.sockaddr(true);
        Self::efault(v, &mut extra);
        let desc = format!("bind({fd}, {a})");
        let (ret, errno) = self.sys(libc::SYS_bind, [fd as usize, p, len, 0, 0, 0]);
        Done { call: Call::Bind, desc, ret, errno, extra, target, problem: None }
    }

    fn listen(&mut self) -> Done {
        let (fd, target, extra) = self.target();
        let backlog = {
            let r = self.rng.u32() as i32;
            self.rng.pick(&[0, 1, 5, 128, -1, i32::MAX, r])
        };
        let desc = format!("listen({fd}, {backlog})");
        let (ret, errno) = self.sys(libc::SYS_listen, [fd as usize, backlog as usize, 0, 0, 0, 0]);
        Done { call: Call::Listen, desc, ret, errno, extra, target, problem: None }
    }

    fn accept(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        let flags = if self.rng.chance(90) {
            self.rng.pick(&[0, libc::SOCK_NONBLOCK, libc::SOCK_CLOEXEC, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC])
        } else {
            self.rng.u32() as i32
        };
        let (addr, lenp, inlen, desc_args) = self.name_args(&mut extra);
        let desc = format!("accept4({fd}, {desc_args}, {flags:#x})");
        let (ret, errno) = self.sys(libc::SYS_accept4, [fd as usize, addr, lenp, flags as usize, 0, 0]);
        let mut problem = None;
        if ret >= 0 {
            let stale = target.is_some_and(|p| !self.pool.still(p));
            problem = self.check_name(addr, lenp, inlen).err();
            if let Some(p) = self.adopt(ret as i32, stale) {
                problem = Some(p);
            }
        }
        Done { call: Call::Accept, desc, ret, errno, extra, target, problem }
    }

    fn connect(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        let (p, len, a, v) = self.sockaddr(false);
        Self::efault(v, &mut extra);
        let desc = format!("connect({fd}, {a})");
        let (ret, errno) = self.sys(libc::SYS_connect, [fd as usize, p, len, 0, 0, 0]);
        Done { call: Call::Connect, desc, ret, errno, extra, target, problem: None }
    }

    fn send(&mut self, call: Call) -> Done {
        let (fd, target, mut extra) = self.target();
        let (p, len, v) = self.data_arg();
        Self::efault(v, &mut extra);
        let flags = self.send_flags();
        if flags & libc::MSG_FASTOPEN != 0 {
            extra.extend_from_slice(table::FASTOPEN);
        }
        let (desc, (ret, errno)) = match call {
            Call::Write => (
                format!("write({fd}, {}, {len})", ptr_name(p, self.data_ptr())),
                self.sys(libc::SYS_write, [fd as usize, p, len, 0, 0, 0]),
            ),
            Call::Sendto => {
                let (ap, alen, a, av) = self.sockaddr(false);
                Self::efault(av, &mut extra);
                extra.extend_from_slice(&[libc::EISCONN, libc::EAFNOSUPPORT]);
                let d = format!("sendto({fd}, {}, {len}, {flags:#x}, {a})", ptr_name(p, self.data_ptr()));
                (d, self.sys(libc::SYS_sendto, [fd as usize, p, len, flags as usize, ap, alen]))
            }
            _ => (
                format!("send({fd}, {}, {len}, {flags:#x})", ptr_name(p, self.data_ptr())),
                self.sys(libc::SYS_sendto, [fd as usize, p, len, flags as usize, 0, 0]),
            ),
        };
        let problem = if target.is_some() { data_problem(ret, len, v, false) } else { None };
        Done { call, desc, ret, errno, extra, target, problem }
    }

    fn recv(&mut self, call: Call) -> Done {
        let (fd, target, mut extra) = self.target();
        let (p, len, v) = self.data_arg();
        Self::efault(v, &mut extra);
        let flags = self.recv_flags();
        let (desc, (ret, errno)) = match call {
            Call::Read => (
                format!("read({fd}, {}, {len})", ptr_name(p, self.data_ptr())),
                self.sys(libc::SYS_read, [fd as usize, p, len, 0, 0, 0]),
            ),
            Call::Recvfrom => {
                let (ap, lp, _, a) = self.name_args(&mut extra);
                let d = format!("recvfrom({fd}, {}, {len}, {flags:#x}, {a})", ptr_name(p, self.data_ptr()));
                (d, self.sys(libc::SYS_recvfrom, [fd as usize, p, len, flags as usize, ap, lp]))
            }
            _ => (
                format!("recv({fd}, {}, {len}, {flags:#x})", ptr_name(p, self.data_ptr())),
                self.sys(libc::SYS_recvfrom, [fd as usize, p, len, flags as usize, 0, 0]),
            ),
        };
        let trunc = call != Call::Read && flags & libc::MSG_TRUNC != 0;
        let mut problem = if target.is_some() { data_problem(ret, len, v, trunc) } else { None };
        if call != Call::Read && flags & libc::MSG_OOB != 0 && ret > 1 && target.is_some() {
            // Urgent data is one byte at most (tcp_recv_urg); the stream is not OOB.
            problem = Some(format!("MSG_OOB returned {ret} bytes"));
        }
        Done { call, desc, ret, errno, extra, target, problem }
    }

    /// sendmsg/recvmsg with a random `msghdr`: name, 0-5 iovecs (some bad), control
    /// data (garbage when sending), flags.
    fn msg(&mut self, call: Call) -> Done {
        let (fd, target, mut extra) = self.target();
        let send = call == Call::Sendmsg;
        // Layout in aux: [0..128) name, [1024..1024+16*8) iovecs, [2048..6144) control,
        // [8192..8192+56) the msghdr.
        let (name, namelen) = if send && self.rng.chance(20) {
            let (p, l, _, v) = self.sockaddr(false);
            Self::efault(v, &mut extra);
            extra.extend_from_slice(&[libc::EISCONN, libc::EAFNOSUPPORT]);
            (p, l)
        } else if !send && self.rng.chance(20) {
            (self.aux_ptr(0), 16)
        } else {
            (0, 0)
        };
        let niov = self.rng.below(6) as usize;
        let mut total = 0usize;
        let mut valid = Valid::Yes;
        let base = self.data_ptr();
        let mut iovs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; 8];
        let mut left = BUF;
        for iov in iovs.iter_mut().take(niov) {
            let len = self.rng.below(left as u64 + 1) as usize;
            let (p, v) = self.ptr(base + (BUF - left), len, true);
            left -= len;
            if v != Valid::Yes {
                valid = Valid::No;
            }
            *iov = libc::iovec { iov_base: p as *mut c_void, iov_len: len };
            total += len;
        }
        let iov_at = self.aux_ptr(1024);
        // SAFETY: `aux` holds 16 * 8 bytes at offset 1024 and `iovs` is 8 iovecs.
        unsafe { std::ptr::copy_nonoverlapping(iovs.as_ptr(), iov_at as *mut libc::iovec, 8) };
        let iovlen = if self.rng.chance(5) { self.rng.pick(&[1025usize, usize::MAX, 1 << 31]) } else { niov };
        let iov_ptr = if self.rng.chance(5) { self.rng.pick(&[0usize, 1]) } else { iov_at };
        if iovlen != niov || iov_ptr != iov_at {
            extra.extend_from_slice(&[libc::EFAULT, libc::EMSGSIZE, libc::EINVAL, libc::ENOMEM]);
            valid = Valid::No;
        }
        Self::efault(valid, &mut extra);
        let ctl = self.aux_ptr(2048);
        let (control, controllen) = match self.rng.below(10) {
            0 | 1 => {
                if send {
                    let n = self.rng.below(256) as usize;
                    let mut g = vec![0u8; n];
                    self.rng.fill(&mut g);
                    self.aux[2048..2048 + n].copy_from_slice(&g);
                }
                (ctl, self.rng.below(4096) as usize)
            }
            2 => {
                extra.extend_from_slice(&[libc::EFAULT, libc::ENOBUFS, libc::EINVAL, libc::ENOMEM]);
                (self.rng.pick(&[0usize, 1, ctl]), self.rng.pick(&[1usize << 20, u32::MAX as usize, 64]))
            }
            _ => (0, 0),
        };
        if send && controllen > 0 {
            extra.extend_from_slice(&[libc::EINVAL, libc::ENOBUFS, libc::ENOMEM]);
        }
        let mflags = self.rng.u32() as i32;
        let mh = libc::msghdr {
            msg_name: name as *mut c_void,
            msg_namelen: namelen as u32,
            msg_iov: iov_ptr as *mut libc::iovec,
            msg_iovlen: iovlen,
            msg_control: control as *mut c_void,
            msg_controllen: controllen,
            msg_flags: mflags,
        };
        let mh_at = self.aux_ptr(8192);
        // SAFETY: `aux` has room for a msghdr at offset 8192.
        unsafe { std::ptr::write_unaligned(mh_at as *mut libc::msghdr, mh) };
        let mh_ptr = if self.rng.chance(3) {
            extra.push(libc::EFAULT);
            self.rng.pick(&[0usize, 1, self.guard + PAGE - 8])
        } else {
            mh_at
        };
        let flags = if send { self.send_flags() } else { self.recv_flags() };
        if send && flags & libc::MSG_FASTOPEN != 0 {
            extra.extend_from_slice(table::FASTOPEN);
        }
        let desc = format!(
            "{}({fd}, {{name={namelen} iov={niov}/{iovlen}@{} total={total} ctl={controllen}}}@{}, {flags:#x})",
            if send { "sendmsg" } else { "recvmsg" },
            ptr_name(iov_ptr, iov_at),
            ptr_name(mh_ptr, mh_at)
        );
        let nr = if send { libc::SYS_sendmsg } else { libc::SYS_recvmsg };
        let (ret, errno) = self.sys(nr, [fd as usize, mh_ptr, flags as usize, 0, 0, 0]);
        let trunc = !send && flags & libc::MSG_TRUNC != 0;
        let problem =
            if target.is_some() && valid == Valid::Yes { data_problem(ret, total, valid, trunc) } else { None };
        Done { call, desc, ret, errno, extra, target, problem }
    }

    fn shutdown(&mut self) -> Done {
        let (fd, target, extra) = self.target();
        let how = if self.rng.chance(85) {
            self.rng.below(3) as i32
        } else {
            {
                let r = self.rng.u32() as i32;
                self.rng.pick(&[-1, 3, 1000, r])
            }
        };
        let desc = format!("shutdown({fd}, {how})");
        let (ret, errno) = self.sys(libc::SYS_shutdown, [fd as usize, how as usize, 0, 0, 0, 0]);
        Done { call: Call::Shutdown, desc, ret, errno, extra, target, problem: None }
    }

    fn level_name(&mut self) -> (i32, i32) {
        let level = match self.rng.below(20) {
            0 => libc::IPPROTO_IP,
            1 => self.rng.u32() as i32,
            2..=10 => libc::SOL_SOCKET,
            _ => libc::IPPROTO_TCP,
        };
        let name = match self.rng.below(20) {
            0 => {
                let r = self.rng.u32() as i32;
                self.rng.pick(&[-1, 1000, i32::MAX, r])
            }
            1..=5 => self.rng.pick(&[1, 2, 4, 5, 6, 11, 18, 7, 8, 9, 13, 20, 21, 38, 39, 3, 15]),
            _ => self.rng.below(if level == libc::SOL_SOCKET { 82 } else { 45 }) as i32,
        };
        (level, name)
    }

    fn setsockopt(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        let (level, name) = self.level_name();
        let len = if self.rng.chance(10) {
            self.rng.pick(&[u32::MAX as usize, 0x7fff_ffff, 1 << 20])
        } else {
            {
                let r = 1 + self.rng.below(64) as usize;
                self.rng.pick(&[0usize, 1, 2, 3, 4, 4, 4, 8, 8, 16, 16, 24, 32, 64, 104, r])
            }
        };
        let mut v = [0u8; 64];
        self.rng.fill(&mut v);
        let int = {
            let r = self.rng.u32() as i32;
            self.rng.pick(&[0i32, 1, 1, -1, 2, 100, 1000, 65535, i32::MAX, i32::MIN, r])
        };
        v[..4].copy_from_slice(&int.to_ne_bytes());
        self.sanitize_opt(level, name, &mut v);
        self.aux[..64].copy_from_slice(&v);
        let good = self.aux_ptr(0);
        let (p, valid) = self.ptr(good, len.min(64), true);
        // Not stale guard-page bytes: a zero timeval is no timeout at all.
        self.mirror(p, &v);
        Self::efault(valid, &mut extra);
        // Longer than the value buffer, or a value holding a user pointer (a BPF
        // program: SO_ATTACH_FILTER, SO_ATTACH_REUSEPORT_CBPF), which is garbage here.
        if len > 64 || (level == libc::SOL_SOCKET && matches!(name, 26 | 51)) {
            extra.push(libc::EFAULT);
        }
        // A value that is a descriptor (a BPF program: SO_ATTACH_BPF,
        // SO_ATTACH_REUSEPORT_EBPF): EBADF if it is not open. No other option of the levels
        // fuzzed gives EBADF on a TCP socket (checked on Linux 6.18). Known difference:
        // SO_DEVMEM_DONTNEED (80, devmem TCP) is answered by the socket core, which gives
        // EBADF for any socket that is not Linux's TCP (`sk_is_tcp`), partcp's included.
        if level == libc::SOL_SOCKET && (matches!(name, 50 | 52) || (name == 80 && self.family != libc::AF_INET)) {
            extra.push(libc::EBADF);
        }
        if level == libc::IPPROTO_IP {
            match name {
                // IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP: Linux 6.18 refuses multicast
                // membership on a connection-oriented socket with EPROTO.
                35 | 36 => extra.push(libc::EPROTO),
                // IP_IPSEC_POLICY, IP_XFRM_POLICY: EMSGSIZE for a length of 0 or above a
                // page (xfrm_user_policy).
                16 | 17 => extra.push(libc::EMSGSIZE),
                _ => {}
            }
        }
        let desc = format!("setsockopt({fd}, {level}, {name}, {int}@{}, {len})", ptr_name(p, good));
        let (ret, errno) = self.sys(libc::SYS_setsockopt, [fd as usize, level as usize, name as usize, p, len, 0]);
        Done { call: Call::Setsockopt, desc, ret, errno, extra, target, problem: None }
    }

    /// Keeps option values that would make a call block without bound (or signal
    /// other processes) out of the run: receive/send timeouts stay below 1 s and
    /// non-zero, linger times at most 2 s.
    fn sanitize_opt(&mut self, level: i32, name: i32, v: &mut [u8; 64]) {
        if level != libc::SOL_SOCKET {
            return;
        }
        match name {
            libc::SO_RCVTIMEO | libc::SO_SNDTIMEO | 66 | 67 => {
                let sec: i64 = self.rng.pick(&[-1, 0, 0, 0]);
                let usec: i64 = self.rng.pick(&[1, 1000, 500_000, 999_999, 1_000_000, -1]);
                v[..8].copy_from_slice(&sec.to_ne_bytes());
                v[8..16].copy_from_slice(&usec.to_ne_bytes());
            }
            libc::SO_LINGER => {
                let l: i32 = self.rng.pick(&[0, 1, 2]);
                v[4..8].copy_from_slice(&l.to_ne_bytes());
            }
            _ => {}
        }
    }

    fn getsockopt(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        let (level, name) = self.level_name();
        let inlen: i32 = self.rng.pick(&[0, 1, 4, 4, 4, 8, 16, 64, 104, 232, 512, -1, i32::MIN, 0x7fff_ffff]);
        self.aux[4096..4100].copy_from_slice(&inlen.to_ne_bytes());
        let lgood = self.aux_ptr(4096);
        let (lp, lv) = self.ptr(lgood, 4, true);
        self.mirror(lp, &inlen.to_ne_bytes());
        Self::efault(lv, &mut extra);
        let good = self.aux_ptr(0);
        // The kernel writes at most `inlen` bytes (and at most what the option has).
        let (p, valid) = self.ptr(good, inlen.max(0) as usize, true);
        Self::efault(valid, &mut extra);
        let desc =
            format!("getsockopt({fd}, {level}, {name}, @{}, {inlen}@{})", ptr_name(p, good), ptr_name(lp, lgood));
        let (ret, errno) = self.sys(libc::SYS_getsockopt, [fd as usize, level as usize, name as usize, p, lp, 0]);
        let mut problem = None;
        if ret == 0 && lp == lgood && target.is_some() {
            let out = i32::from_ne_bytes(self.aux[4096..4100].try_into().unwrap());
            if out < 0 || (inlen >= 0 && out > inlen) {
                problem = Some(format!("optlen {inlen} came back as {out}"));
            }
        }
        Done { call: Call::Getsockopt, desc, ret, errno, extra, target, problem }
    }

    fn ioctl(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        const KNOWN: &[u64] = &[0x541b, 0x5411, 0x894b, 0x8905, 0x8906, 0x8907, 0x5421, 0x5452, 0x5451, 0x5450];
        let cmd = if self.rng.chance(75) {
            self.rng.pick(KNOWN)
        } else {
            // Random commands, but none of the socket-configuration ones (type 0x89:
            // interfaces, routes, ARP; 0x8b: wireless) nor tty ones (0x54): as root
            // they could reconfigure the test network.
            loop {
                let c = self.rng.u32() as u64;
                if !matches!((c >> 8) & 0xff, 0x89 | 0x8b | 0x54) {
                    break c;
                }
            }
        };
        self.aux[..8].copy_from_slice(&self.rng.below(2).to_ne_bytes());
        let good = self.aux_ptr(0);
        let (p, v) = self.ptr(good, 16, true);
        self.mirror(p, &self.aux[..8]);
        Self::efault(v, &mut extra);
        if !KNOWN.contains(&cmd) {
            extra.push(libc::EFAULT);
        }
        let desc = format!("ioctl({fd}, {cmd:#x}, {})", ptr_name(p, good));
        let (ret, errno) = self.sys(libc::SYS_ioctl, [fd as usize, cmd as usize, p, 0, 0, 0]);
        let mut problem = None;
        if ret == 0 && p == good && (cmd == 0x541b || cmd == 0x5411) {
            let n = i32::from_ne_bytes(self.aux[..4].try_into().unwrap());
            if n < 0 {
                problem = Some(format!("queue length {n}"));
            }
        }
        Done { call: Call::Ioctl, desc, ret, errno, extra, target, problem }
    }

    fn poll(&mut self) -> Done {
        let n = 1 + self.rng.below(4) as usize;
        let mut targets = Vec::new();
        let mut fds = Vec::new();
        for _ in 0..n {
            let (fd, t, _) = self.target();
            let events = if self.rng.chance(50) { libc::POLLIN | libc::POLLOUT } else { self.rng.u32() as i16 };
            fds.push(libc::pollfd { fd, events, revents: 0 });
            targets.push(t);
        }
        let at = self.aux_ptr(0);
        // SAFETY: `aux` has room for 4 pollfds.
        unsafe { std::ptr::copy_nonoverlapping(fds.as_ptr(), at as *mut libc::pollfd, n) };
        let mut extra = Vec::new();
        let (p, v) = self.ptr(at, n * 8, true);
        self.mirror(p, &self.aux[..n * 8]);
        Self::efault(v, &mut extra);
        let timeout = self.rng.below(30) as usize;
        let desc = format!("poll({:?}, {n}, {timeout})", fds.iter().map(|f| (f.fd, f.events)).collect::<Vec<_>>());
        let (ret, errno) = self.sys(libc::SYS_poll, [p, n, timeout, 0, 0, 0]);
        let mut problem = None;
        if ret > n as i64 {
            problem = Some(format!("{ret} ready of {n}"));
        } else if ret >= 0 && v == Valid::Yes {
            // SAFETY: the kernel wrote `n` pollfds back at `at`.
            let out: Vec<libc::pollfd> =
                (0..n).map(|i| unsafe { std::ptr::read_unaligned((at as *const libc::pollfd).add(i)) }).collect();
            for (i, f) in out.iter().enumerate() {
                let allowed = fds[i].events | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
                let live = targets[i].is_some_and(|t| self.pool.still(t));
                if f.revents & !allowed != 0 || (live && f.revents & libc::POLLNVAL != 0) {
                    problem = Some(format!("fd {} events {:#x}: revents {:#x}", f.fd, fds[i].events, f.revents));
                }
            }
        }
        Done { call: Call::Poll, desc, ret, errno, extra, target: None, problem }
    }

    fn epoll(&mut self) -> Vec<Done> {
        // SAFETY: plain system call.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Vec::new();
        }
        let mut v = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let (fd, target, mut extra) = self.target();
            let events = (if self.rng.chance(60) {
                self.rng.pick(&[
                    libc::EPOLLIN,
                    libc::EPOLLOUT,
                    libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET,
                    libc::EPOLLIN | libc::EPOLLONESHOT,
                    libc::EPOLLIN | libc::EPOLLEXCLUSIVE,
                    libc::EPOLLRDHUP | libc::EPOLLPRI,
                ])
            } else {
                self.rng.u32() as i32
            }) as u32;
            let ev = libc::epoll_event { events, u64: fd as u64 };
            let at = self.aux_ptr(0);
            // SAFETY: `aux` has room for an epoll_event.
            unsafe { std::ptr::write_unaligned(at as *mut libc::epoll_event, ev) };
            extra.push(libc::EPERM);
            let desc = format!("epoll_ctl({ep}, ADD, {fd}, {events:#x})");
            let (ret, errno) =
                self.sys(libc::SYS_epoll_ctl, [ep as usize, libc::EPOLL_CTL_ADD as usize, fd as usize, at, 0, 0]);
            v.push(Done { call: Call::EpollCtl, desc, ret, errno, extra, target, problem: None });
        }
        let max = if self.rng.chance(90) { 1 + self.rng.below(16) as i32 } else { self.rng.pick(&[0, -1, i32::MAX]) };
        let good = self.aux_ptr(0);
        let (p, valid) = self.ptr(good, 12 * max.max(0) as usize, max > 0 && max <= 16);
        let mut extra = Vec::new();
        Self::efault(valid, &mut extra);
        let timeout = self.rng.below(20) as usize;
        let desc = format!("epoll_wait({ep}, {}, {max}, {timeout})", ptr_name(p, good));
        let (ret, errno) = self.sys(libc::SYS_epoll_wait, [ep as usize, p, max as usize, timeout, 0, 0]);
        let problem = (ret > max.max(0) as i64).then(|| format!("{ret} events for maxevents {max}"));
        v.push(Done { call: Call::EpollWait, desc, ret, errno, extra, target: None, problem });
        close(ep);
        v
    }

    /// Address arguments of accept4/getsockname/getpeername/recvfrom in `aux`:
    /// `(addr, addrlen pointer, *addrlen, description)`.
    fn name_args(&mut self, extra: &mut Vec<i32>) -> (usize, usize, i32, String) {
        if self.rng.chance(25) {
            return (0, 0, 0, "NULL, NULL".into());
        }
        let inlen: i32 = self.rng.pick(&[16, 16, 16, 128, 0, 4, 15, 17, -1, i32::MIN]);
        self.aux[4096..4100].copy_from_slice(&inlen.to_ne_bytes());
        let lgood = self.aux_ptr(4096);
        let (lp, lv) = self.ptr(lgood, 4, true);
        self.mirror(lp, &inlen.to_ne_bytes());
        let agood = self.aux_ptr(0);
        let (ap, av) = self.ptr(agood, inlen.clamp(0, 128) as usize, true);
        Self::efault(lv, extra);
        Self::efault(av, extra);
        let mut d = String::new();
        let _ = write!(d, "{}, {inlen}@{}", ptr_name(ap, agood), ptr_name(lp, lgood));
        (ap, lp, inlen, d)
    }

    /// After a successful accept4/getsockname/getpeername with good pointers and room
    /// for a `sockaddr_in`: the name is AF_INET, 16 bytes.
    fn check_name(&self, ap: usize, lp: usize, inlen: i32) -> Result<(), String> {
        if ap != self.aux.as_ptr() as usize || lp != self.aux.as_ptr() as usize + 4096 || inlen < 16 {
            return Ok(());
        }
        let out = i32::from_ne_bytes(self.aux[4096..4100].try_into().unwrap());
        let fam = u16::from_ne_bytes([self.aux[0], self.aux[1]]);
        if out != 16 || fam != libc::AF_INET as u16 {
            return Err(format!("name of length {out}, family {fam}"));
        }
        Ok(())
    }

    fn getname(&mut self) -> Done {
        let (fd, target, mut extra) = self.target();
        let peer = self.rng.chance(50);
        let (ap, lp, inlen, a) = self.name_args(&mut extra);
        if ap == 0 && lp == 0 {
            extra.push(libc::EFAULT);
        }
        let (call, nr, n) = if peer {
            (Call::Getpeername, libc::SYS_getpeername, "getpeername")
        } else {
            (Call::Getsockname, libc::SYS_getsockname, "getsockname")
        };
        let desc = format!("{n}({fd}, {a})");
        let (ret, errno) = self.sys(nr, [fd as usize, ap, lp, 0, 0, 0]);
        let problem = if ret == 0 { self.check_name(ap, lp, inlen).err() } else { None };
        Done { call, desc, ret, errno, extra, target, problem }
    }

    fn fcntl(&mut self) -> Done {
        let (fd, target, extra) = self.target();
        let (cmd, arg) = match self.rng.below(8) {
            0 => (libc::F_GETFL, 0),
            1 | 2 => (libc::F_SETFL, {
                let r = self.rng.u32() as i32 & !libc::O_ASYNC;
                self.rng.pick(&[0, libc::O_NONBLOCK, libc::O_ASYNC, libc::O_NONBLOCK | libc::O_APPEND, r])
            }),
            3 => (libc::F_GETFD, 0),
            4 => (libc::F_SETFD, self.rng.pick(&[0, libc::FD_CLOEXEC])),
            5 => (libc::F_DUPFD_CLOEXEC, self.rng.pick(&[0, 100, 1 << 30, -1])),
            6 => (libc::F_GETOWN, 0),
            _ => (self.rng.pick(&[9999, -1, 0x7fff_ffff]), 0),
        };
        let desc = format!("fcntl({fd}, {cmd}, {arg:#x})");
        let (ret, errno) = self.sys(libc::SYS_fcntl, [fd as usize, cmd as usize, arg as usize, 0, 0, 0]);
        let mut problem = None;
        if cmd == libc::F_DUPFD_CLOEXEC && ret >= 0 {
            let stale = target.is_none() || target.is_some_and(|p| !self.pool.still(p));
            problem = self.adopt(ret as i32, stale);
        }
        Done { call: Call::Fcntl, desc, ret, errno, extra, target, problem }
    }

    fn close(&mut self) -> Done {
        let start = self.rng.below(SLOTS as u64) as usize;
        for k in 0..SLOTS {
            if let Some(p) = self.pool.get(start + k) {
                if let Some(fd) = self.pool.take(p) {
                    let desc = format!("close({fd})");
                    let (ret, errno) = self.sys(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
                    return Done {
                        call: Call::Close,
                        desc,
                        ret,
                        errno,
                        extra: Vec::new(),
                        target: None,
                        problem: None,
                    };
                }
            }
        }
        let desc = "close(-1)".to_string();
        let (ret, errno) = self.sys(libc::SYS_close, [usize::MAX, 0, 0, 0, 0, 0]);
        Done { call: Call::Close, desc, ret, errno, extra: vec![libc::EBADF], target: None, problem: None }
    }

    fn dup(&mut self) -> Done {
        let (fd, target, extra) = self.target();
        let desc = format!("dup({fd})");
        let (ret, errno) = self.sys(libc::SYS_dup, [fd as usize, 0, 0, 0, 0, 0]);
        let mut problem = None;
        if ret >= 0 {
            let stale = target.is_none() || target.is_some_and(|p| !self.pool.still(p));
            problem = self.adopt(ret as i32, stale);
        }
        Done { call: Call::Dup, desc, ret, errno, extra, target, problem }
    }
}

/// Invariants of a data transfer result: never more than asked, and never bytes from
/// (or into) memory the pointer did not cover.
fn data_problem(ret: i64, len: usize, v: Valid, trunc: bool) -> Option<String> {
    if ret <= 0 {
        return None;
    }
    let n = ret as usize;
    if n > len {
        return Some(format!("transferred {n} bytes of {len}"));
    }
    if trunc {
        return None;
    }
    match v {
        Valid::No => Some(format!("transferred {n} bytes through an invalid pointer")),
        Valid::Prefix(k) if n > k => Some(format!("transferred {n} bytes through a pointer valid for {k}")),
        _ => None,
    }
}

fn ptr_name(p: usize, good: usize) -> String {
    match p {
        0 => "NULL".into(),
        1 => "(void*)1".into(),
        0xffff_8880_0000_0000 => "kernel".into(),
        _ if p == good => "buf".into(),
        _ => format!("guard-{}", (PAGE - (p & (PAGE - 1))) % PAGE),
    }
}

fn getsockopt_int(fd: i32, name: i32) -> Option<i32> {
    let mut v: i32 = 0;
    let mut len: libc::socklen_t = 4;
    // SAFETY: `v` and `len` are valid for writes.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, name, (&mut v as *mut i32).cast(), &mut len) };
    (r == 0).then_some(v)
}

pub fn close(fd: i32) {
    // SAFETY: closes a descriptor this thread owns.
    unsafe { libc::close(fd) };
}
