//! The Linux TCP peer in `ptcp_b` (198.18.0.2): listeners with different manners, and
//! connections it opens to the partcp listeners the fuzzer may have in `ptcp_a`.
//!
//! | port | behaviour |
//! |---|---|
//! | 7000 | accepts; sends up to 4 KB at once; echoes what it reads; closes on EOF |
//! | 7001 | accepts and closes at once (FIN) |
//! | 7002 | accepts and resets (SO_LINGER 0) |
//! | 7003 | never accepts (backlog 1): connections wait in Linux's accept queue |
//! | 7004 | accepts; sends an urgent byte (MSG_OOB) and data; then as 7000 |
//!
//! Every ~10 ms it also opens a non-blocking connection to 198.18.0.1:7100..7107
//! (partcp listeners, if a fuzzing thread made one there; else Linux refuses it). When
//! stopped it resets every connection (SO_LINGER 0) and closes its listeners, so the
//! partcp side does not wait for FINs that never come.
//!
//! The peer has its own descriptor table (`unshare(CLONE_FILES)`): with a shared one, a
//! fuzzing thread's stale descriptor number (closed by another thread meanwhile) could
//! name a socket the peer has just accepted, and fuzzed calls (F_SETFL 0, shutdown,
//! SO_LINGER, connect AF_UNSPEC) would hit the peer's sockets, e.g. making them blocking
//! so that the peer never stops. The copied table holds only what was open when the peer
//! started, before any fuzzed socket exists; the peer closes all but stdin, stdout and
//! stderr of it, and the whole table goes when its thread ends.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::rng::Rng;

pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The peer's listener ports (see the table above).
pub const PEER_PORTS: std::ops::Range<u16> = 7000..7005;
/// Ports the fuzzer's partcp listeners are likely to use, and the peer connects to.
pub const PARTCP_PORTS: std::ops::Range<u16> = 7100..7108;
const MAX_CONNS: usize = 200;

pub struct Peer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<u64, String>>>,
}

impl Peer {
    /// Starts the peer on a thread in `ptcp_b`; returns once its listeners are bound.
    pub fn start(seed: u64) -> Result<Peer, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let ls = own_fd_table().and_then(|()| crate::env::enter(crate::env::NS_B)).and_then(|()| listeners());
            let ls = match ls {
                Ok(ls) => {
                    let _ = tx.send(Ok(()));
                    ls
                }
                Err(e) => {
                    let _ = tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            run(ls, &s, Rng::new(seed, 0xbeef))
        });
        rx.recv().map_err(|_| "peer thread died".to_string())??;
        Ok(Peer { stop, thread: Some(thread) })
    }

    /// Stops the peer (resetting its connections); returns the connections it handled.
    /// An error if it has not stopped within [`STOP_LIMIT`] (its calls never block).
    pub fn stop(mut self) -> Result<u64, String> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().unwrap();
        let start = std::time::Instant::now();
        while !thread.is_finished() {
            if start.elapsed() > STOP_LIMIT {
                return Err(format!("the Linux peer has not stopped after {} s", STOP_LIMIT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        thread.join().map_err(|_| "peer thread panicked".to_string())?
    }
}

/// How long [`Peer::stop`] waits for the peer's thread.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Gives the calling thread its own descriptor table, keeping only descriptors 0-2 of
/// the copy (see the module comment).
fn own_fd_table() -> Result<(), String> {
    // SAFETY: affects only the calling thread's descriptor table.
    if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
        return Err(format!("peer: unshare(CLONE_FILES): {}", std::io::Error::last_os_error()));
    }
    // SAFETY: closes descriptors of this thread's private copy only; nothing in this
    // thread uses them. Best effort (close_range is Linux 5.9+): the fuzzer starts the
    // peer before it opens any socket anyway.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    Ok(())
}

fn listeners() -> Result<Vec<(u16, TcpListener)>, String> {
    let mut v = Vec::new();
    for port in PEER_PORTS {
        let fd = sock()?;
        let one: libc::c_int = 1;
        let sa = sin(SocketAddrV4::new(B, port));
        // SAFETY: valid option and address buffers of the sizes given.
        let ok = unsafe {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&one as *const i32).cast(), 4) == 0
                && libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), 16) == 0
                && libc::listen(fd, if port == 7003 { 1 } else { 64 }) == 0
        };
        if !ok {
            return Err(format!("peer listener {port}: {}", std::io::Error::last_os_error()));
        }
        use std::os::fd::FromRawFd;
        // SAFETY: `fd` is an open listening socket owned from here on.
        let l = unsafe { TcpListener::from_raw_fd(fd) };
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        v.push((port, l));
    }
    Ok(v)
}

fn sock() -> Result<i32, String> {
    // SAFETY: plain system call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("peer socket: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

pub fn sin(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

fn reset(s: &TcpStream) {
    let l = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `l` is a valid linger structure.
    unsafe {
        libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, (&l as *const libc::linger).cast(), 8)
    };
}

/// A non-blocking connection from the peer to a partcp port in `ptcp_a`.
fn connect_out(port: u16) -> Option<TcpStream> {
    let fd = sock().ok()?;
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` is an open socket owned from here on.
    let s = unsafe { TcpStream::from_raw_fd(fd) };
    s.set_nonblocking(true).ok()?;
    let sa = sin(SocketAddrV4::new(A, port));
    // SAFETY: `sa` is a valid sockaddr_in.
    unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), 16) };
    Some(s)
}

fn run(ls: Vec<(u16, TcpListener)>, stop: &AtomicBool, mut rng: Rng) -> Result<u64, String> {
    let mut conns: std::collections::VecDeque<TcpStream> = Default::default();
    let mut handled = 0u64;
    let mut buf = vec![0u8; 16384];
    while !stop.load(Ordering::Relaxed) {
        for (port, l) in &ls {
            if *port == 7003 {
                continue;
            }
            while let Ok((s, _)) = l.accept() {
                handled += 1;
                let _ = s.set_nonblocking(true);
                match port {
                    7001 => drop(s),
                    7002 => reset(&s),
                    _ => {
                        if *port == 7004 {
                            // SAFETY: sends one byte from a valid buffer.
                            unsafe { libc::send(s.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
                        }
                        let n = rng.below(4096) as usize;
                        rng.fill(&mut buf[..n]);
                        let _ = (&s).write(&buf[..n]);
                        conns.push_back(s);
                    }
                }
            }
        }
        if rng.chance(30) {
            let port = PARTCP_PORTS.start + rng.below((PARTCP_PORTS.end - PARTCP_PORTS.start) as u64) as u16;
            if let Some(s) = connect_out(port) {
                handled += 1;
                conns.push_back(s);
            }
        }
        while conns.len() > MAX_CONNS {
            let s = conns.pop_front().unwrap();
            if rng.chance(50) {
                reset(&s);
            }
        }
        conns.retain(|s| pump(s, &mut buf, &mut rng));
        std::thread::sleep(Duration::from_millis(10));
    }
    for s in &conns {
        reset(s);
    }
    Ok(handled)
}

/// Echoes what `s` has to read; false once it is finished (EOF or error): dropped.
fn pump(mut s: &TcpStream, buf: &mut [u8], rng: &mut Rng) -> bool {
    match s.read(buf) {
        Ok(0) => false,
        Ok(n) => {
            if rng.chance(5) {
                reset(s);
                return false;
            }
            let _ = s.write(&buf[..n]);
            true
        }
        Err(e) => e.kind() == ErrorKind::WouldBlock,
    }
}
