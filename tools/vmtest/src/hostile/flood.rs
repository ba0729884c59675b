//! Floods and memory bounds: a SYN flood from spoofed sources, a peer that never
//! reads, a peer that never acknowledges, and 16384 idle connections.

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::cases::partcp_listener;
use super::craft::{Seg, SYN};
use super::link::{Link, RawConn};
use super::{conn_stat, live_conns, slab_kb};
use crate::net::{self, in_ns, raw, wait_until, Family, Ns};
use crate::{ensure, sys, TestResult};

pub const TESTS: &[super::Timed] = &[
    ("syn_flood", Duration::from_secs(60), syn_flood),
    ("peer_never_reads", Duration::from_secs(40), peer_never_reads),
    ("peer_never_acks", Duration::from_secs(40), peer_never_acks),
    // Seconds on the default kernel; about two minutes on the debug kernel (its checkers
    // slow connection setup and teardown several times over).
    ("idle_16384", Duration::from_secs(300), idle_connections),
];

/// A xorshift generator: the floods' addresses, ports and sequence numbers.
pub struct Rng(pub u32);

impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// SYNs sent by the flood.
const FLOOD_SYNS: u32 = 5000;

/// 5000 SYNs from random addresses of 198.19.0.0/16 and random ports (routed back via
/// the hostile peer's link, so partcp's SYN-ACKs leave the host and go nowhere) while a
/// Linux client connects and exchanges data: the legitimate connection must complete
/// (SYN cookies once the SYN queue is full), no connection object may be created for
/// a spoofed SYN, and slab memory must stay bounded.
fn syn_flood() -> TestResult {
    let (l, addr) = partcp_listener()?;
    let (conns0, slab0) = (live_conns()?, slab_kb()?);
    let done = AtomicBool::new(false);
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        let flood = sc.spawn(|| -> TestResult {
            let link = Link::open()?;
            let mut rng = Rng(0x1234_5678);
            for _ in 0..FLOOD_SYNS {
                let r = rng.next();
                let src = Ipv4Addr::new(198, 19, (r >> 8) as u8, r as u8);
                let mut s =
                    Seg::new((src, 1024 + (r >> 16) as u16 % 60000), (*addr.ip(), addr.port()), rng.next(), 0, SYN);
                s.options = vec![2, 4, 0x05, 0xb4];
                link.send(&s.packet())?;
            }
            done.store(true, Ordering::Relaxed);
            Ok(())
        });
        std::thread::sleep(Duration::from_millis(50));
        let legit = (|| {
            let peer = net::peer_connect(addr)?;
            let app = net::accept(&l)?;
            net::pass(&peer, &app, b"legit during the flood")?;
            ensure!(!done.load(Ordering::Relaxed), "note: the flood ended before the legitimate connection");
            Ok(())
        })();
        let f = flood.join().map_err(|_| "flood thread panicked".to_string())?;
        f?;
        legit.or_else(|e: String| {
            if e.starts_with("note:") {
                {
                    println!("# {e}");
                    Ok(())
                }
            } else {
                Err(e)
            }
        })
    })?;
    let took = t0.elapsed();
    let syns = conn_stat(addr.port(), None, "syns_in")?;
    let cookies = conn_stat(addr.port(), None, "syncookies_sent")?;
    let (conns, slab) = (live_conns()? - conns0, slab_kb()? - slab0);
    println!("# syn_flood: {FLOOD_SYNS} SYNs in {took:?}; listener saw {syns}, sent {cookies} cookies; conns +{conns}, slab {slab:+} KB");
    ensure!(syns >= u64::from(FLOOD_SYNS) / 2, "listener counted {syns} SYNs of {FLOOD_SYNS}");
    ensure!(cookies > 0, "no SYN cookies sent");
    ensure!(conns <= 2, "{conns} connection objects more after the flood");
    ensure!(slab < (16 << 10) * slab_factor(), "slab grew by {slab} KB");
    Ok(())
}

/// Writes without blocking until the send buffer stays full for `settle`; returns the
/// bytes accepted.
fn fill(s: &TcpStream, settle: Duration) -> Result<usize, String> {
    raw::set_nonblocking(s, true)?;
    let chunk = vec![0x5au8; 65536];
    let (mut total, mut last) = (0usize, Instant::now());
    while last.elapsed() < settle {
        match raw::send(s, &chunk, libc::MSG_NOSIGNAL) {
            Ok(n) => {
                total += n;
                last = Instant::now();
                ensure!(total < 256 << 20, "partcp accepted {total} bytes");
            }
            Err(libc::EAGAIN) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("send: {}", sys::errname(e))),
        }
    }
    Ok(total)
}

/// The SO_SNDBUF the flood tests set: partcp's send buffer holds the doubled value,
/// as getsockopt reports it.
const SNDBUF: i32 = 65536;

/// A partcp client sends to a Linux server that never reads: partcp may hold at most
/// its send buffer (what the application wrote minus what sits in the peer's receive
/// queue), and memory stays bounded.
fn peer_never_reads() -> TestResult {
    let (pl, paddr) = net::peer_listener()?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let fd = fam.bounded_socket(Ns::A)?;
    raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SNDBUF, "SO_SNDBUF")?;
    raw::check("connect", raw::connect(&fd, paddr))?;
    let app = net::stream(fd);
    let peer = net::accept(&pl)?;
    let (conns0, slab0) = (live_conns()?, slab_kb()?);
    let wrote = fill(&app, Duration::from_millis(1500))?;
    let queued = raw::ioctl_int(&peer, libc::FIONREAD).map_err(sys::errname)? as usize;
    let sndbuf = raw::get_int(&app, libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF")? as usize;
    let (conns, slab) = (live_conns()? - conns0, slab_kb()? - slab0);
    println!("# peer_never_reads: wrote {wrote}, peer queued {queued}, SO_SNDBUF {sndbuf}, slab {slab:+} KB");
    ensure!(wrote >= queued && wrote - queued <= sndbuf, "partcp holds {} bytes, SO_SNDBUF {sndbuf}", wrote - queued);
    ensure!(conns == 0, "connections changed by {conns}");
    // The peer's queue (Linux memory, up to its rcvbuf) plus partcp's fixed rings.
    ensure!(slab < (24 << 10) * slab_factor(), "slab grew by {slab} KB");
    raw::set_linger(&app, true, 0)?;
    Ok(())
}

/// A peer that completes the handshake and never acknowledges data: partcp may accept
/// at most its send buffer from the application, retransmits, and memory stays
/// bounded.
fn peer_never_acks() -> TestResult {
    let link = Link::open()?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let addr = SocketAddrV4::new(net::A, net::next_port());
    let l = in_ns(Ns::A, || {
        let fd = fam.socket(0)?;
        raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SNDBUF, "SO_SNDBUF")?;
        raw::check("bind", raw::bind(&fd, addr))?;
        raw::check("listen", raw::listen(&fd, 16))?;
        Ok(net::listener(fd))
    })?;
    let (c, _) = RawConn::connect(&link, addr, &[])?;
    let app = net::accept(&l)?;
    let (conns0, slab0) = (live_conns()?, slab_kb()?);
    let wrote = fill(&app, Duration::from_millis(1000))?;
    let sndbuf = raw::get_int(&app, libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF")? as usize;
    // Count what partcp sends for a while: the first flight, then retransmissions.
    let (mut segs, mut retrans, mut top) = (0, 0, c.rcv_nxt);
    let end = Instant::now() + Duration::from_secs(3);
    while let Some(r) = link.recv(end.saturating_duration_since(Instant::now()), |r| c.ours(r) && r.payload_len > 0) {
        segs += 1;
        if r.seq.wrapping_sub(top) as i32 >= 0 {
            top = r.seq.wrapping_add(r.payload_len as u32);
        } else {
            retrans += 1;
        }
    }
    let (conns, slab) = (live_conns()? - conns0, slab_kb()? - slab0);
    println!(
        "# peer_never_acks: wrote {wrote}, SO_SNDBUF {sndbuf}, {segs} segments ({retrans} retransmitted), {} bytes sent, slab {slab:+} KB",
        top.wrapping_sub(c.rcv_nxt)
    );
    ensure!(wrote > 0 && wrote <= sndbuf, "partcp accepted {wrote} bytes, SO_SNDBUF {sndbuf}");
    ensure!(retrans > 0, "no retransmission in 3 s");
    ensure!(conns == 0, "connections changed by {conns}");
    ensure!(slab < (8 << 10) * slab_factor(), "slab grew by {slab} KB");
    Ok(())
}

/// Raises RLIMIT_NOFILE to `n`.
fn raise_nofile(n: u64) -> TestResult {
    let r = libc::rlimit { rlim_cur: n, rlim_max: n };
    // SAFETY: `r` is a valid rlimit.
    ensure!(
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0,
        "setrlimit NOFILE {n}: {}",
        sys::errname(sys::errno())
    );
    Ok(())
}

/// Idle connections for the idle test.
const IDLE: usize = 16384;

/// 16384 Linux clients connect to one partcp listener (4 KB rings), stay idle, and are
/// torn down by aborting partcp's side: every connection must be established, partcp's
/// memory per connection bounded, and every connection object freed afterwards.
fn idle_connections() -> TestResult {
    raise_nofile(2 * IDLE as u64 + 4096)?;
    // Above every fixed and test port (the fuzzer's peers, `net::next_port`), so a
    // client port never blocks a later listener.
    let _range = PortRange::widen("32768 65000")?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let addr = SocketAddrV4::new(net::A, net::next_port());
    let l = in_ns(Ns::A, || {
        let fd = fam.socket(0)?;
        raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 4096, "SO_SNDBUF")?;
        raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 4096, "SO_RCVBUF")?;
        raw::check("bind", raw::bind(&fd, addr))?;
        raw::check("listen", raw::listen(&fd, 4096))?;
        Ok(net::listener(fd))
    })?;
    raw::set_nonblocking(&l, true)?;
    let (conns0, slab0) = (live_conns()?, slab_kb()?);
    let t0 = Instant::now();
    let accepted_n = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut accepted = Vec::with_capacity(IDLE);
    let clients = std::thread::scope(|sc| {
        let clients = sc.spawn(|| {
            in_ns(Ns::B, || {
                let mut v = Vec::with_capacity(IDLE);
                while v.len() < IDLE && !failed.load(Ordering::Relaxed) {
                    // (A connection may be accepted before its fd is pushed.)
                    if v.len().saturating_sub(accepted_n.load(Ordering::Relaxed)) >= 256 {
                        std::thread::sleep(Duration::from_micros(500));
                        continue;
                    }
                    let fd = Family::Inet.socket(libc::SOCK_NONBLOCK)?;
                    match raw::connect(&fd, addr) {
                        Ok(()) | Err(libc::EINPROGRESS) => v.push(fd),
                        Err(e) => return Err(format!("connect #{}: {}", v.len(), sys::errname(e))),
                    }
                }
                Ok(v)
            })
        });
        let r = (|| {
            let window = crate::scaled(Duration::from_secs(100));
            let end = Instant::now() + window;
            while accepted.len() < IDLE {
                ensure!(Instant::now() < end, "accepted {} of {IDLE} in {window:?}", accepted.len());
                if raw::poll1(&l, libc::POLLIN, 1000).unwrap_or(0) & libc::POLLIN == 0 {
                    continue;
                }
                while let Ok((fd, _)) = raw::accept4(&l, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
                    accepted.push(fd);
                    accepted_n.store(accepted.len(), Ordering::Relaxed);
                    if accepted.len() % 4096 == 0 {
                        println!("# idle_16384: {} accepted after {:?}", accepted.len(), t0.elapsed());
                    }
                }
            }
            Ok(())
        })();
        if r.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        let c = clients.join().map_err(|_| "client thread panicked".to_string())?;
        r.and(c)
    })?;
    let setup = t0.elapsed();
    let (conns, slab) = (live_conns()? - conns0, slab_kb()? - slab0);
    println!(
        "# idle_16384: {IDLE} connections in {setup:?}; conns +{conns}, slab {slab:+} KB ({} B per connection pair)",
        slab * 1024 / IDLE as i64
    );
    let checked = (|| {
        // Connections of earlier tests (`conns0` were live) may end meanwhile (TIME-WAIT
        // expiring), which lowers the difference by as many.
        ensure!(
            conns >= IDLE as i64 - conns0,
            "{conns} more live connection objects for {IDLE} connections ({conns0} before)"
        );
        let budget = (IDLE as i64) * 48 * slab_factor();
        ensure!(slab < budget, "slab grew by {slab} KB (budget {budget} KB)");
        Ok(())
    })();
    // Teardown, whatever the checks said: abort partcp's side (RST; no TIME-WAIT
    // anywhere), then close the clients.
    for fd in accepted.drain(..) {
        raw::set_linger(&fd, true, 0)?;
        drop(fd);
    }
    drop(clients);
    drop(l);
    println!("# idle_16384: closed after {:?}", t0.elapsed());
    wait_until("every idle connection freed", Duration::from_secs(30), || Ok(live_conns()? <= conns0))?;
    checked
}

/// `ptcp_b`'s `ip_local_port_range`, changed for the lifetime of the guard and restored
/// when it is dropped, whichever way the test ends.
struct PortRange(String);

const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

impl PortRange {
    fn widen(range: &str) -> Result<PortRange, String> {
        in_ns(Ns::B, || {
            let old = std::fs::read_to_string(PORT_RANGE).map_err(|e| format!("port range: {e}"))?;
            std::fs::write(PORT_RANGE, range).map_err(|e| format!("port range: {e}"))?;
            Ok(PortRange(old.split_whitespace().collect::<Vec<_>>().join(" ")))
        })
    }
}

impl Drop for PortRange {
    fn drop(&mut self) {
        let r = in_ns(Ns::B, || std::fs::write(PORT_RANGE, &self.0).map_err(|e| e.to_string()));
        if let Err(e) = r {
            println!("# idle_16384: restoring ip_local_port_range {:?}: {e}", self.0);
        }
    }
}

/// How much more slab the same objects take on this kernel: 4 on the debug flavour
/// (SLUB red zones and tracking with `slub_debug`, kmemleak's metadata per object),
/// else 1. Memory budgets are multiplied by it.
fn slab_factor() -> i64 {
    let debug = std::fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.contains("slub_debug"))
        || std::path::Path::new("/sys/kernel/debug/kmemleak").exists();
    if debug {
        4
    } else {
        1
    }
}
