//! Many connections at once: an epoll echo server of the family under test (in
//! `ptcp_a`) and 1000 Linux TCP clients (in `ptcp_b`), all connected at the same time,
//! each sending a distinct message and checking its echo.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use super::poll::Epoll;
use super::raw::{self, check};
use super::{enter, guarded, Family, Ns, Table, IO_TIMEOUT};
use crate::sys::errname;
use crate::{ensure, TestResult};

pub const TESTS: Table =
    &[("epoll_echo_1000_connections", echo_1000), ("debugfs_lists_every_connection", debugfs_lists)];

const CONNS: usize = 1000;
const CLIENT_THREADS: usize = 4;
const LISTENER: u64 = u64::MAX;

/// Raises the soft (and if needed the hard) RLIMIT_NOFILE to at least `n`.
pub fn raise_nofile(n: u64) -> TestResult {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is valid for writes.
    ensure!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0, "getrlimit");
    if r.rlim_cur >= n {
        return Ok(());
    }
    r.rlim_cur = n;
    r.rlim_max = r.rlim_max.max(n);
    // SAFETY: `r` is a valid rlimit.
    ensure!(
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0,
        "setrlimit(RLIMIT_NOFILE, {n}): {}",
        errname(crate::sys::errno())
    );
    Ok(())
}

fn message(i: usize) -> Vec<u8> {
    format!("connection {i:04} says hello {:08x}\n", i.wrapping_mul(2_654_435_761)).into_bytes()
}

fn echo_1000(fam: Family) -> TestResult {
    raise_nofile(3 * CONNS as u64 + 256)?;
    let addr = SocketAddrV4::new(super::A, super::next_port());
    let l = super::in_ns(Ns::A, || {
        let fd = fam.socket(libc::SOCK_NONBLOCK)?;
        check("bind", raw::bind(&fd, addr))?;
        check("listen", raw::listen(&fd, 1024))?;
        Ok(super::listener(fd))
    })?;
    let clients_done = AtomicBool::new(false);
    let barrier = Barrier::new(CLIENT_THREADS);
    std::thread::scope(|s| {
        let server = s.spawn(|| serve(&l, CONNS, &clients_done));
        let clients: Vec<_> = (0..CLIENT_THREADS)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || client(addr, t, barrier))
            })
            .collect();
        let mut errors = Vec::new();
        for c in clients {
            if let Err(e) = c.join().unwrap_or_else(|_| Err("client thread panicked".into())) {
                errors.push(e);
            }
        }
        clients_done.store(true, Ordering::SeqCst);
        let served = server.join().unwrap_or_else(|_| Err("server panicked".into()));
        ensure!(errors.is_empty(), "clients: {}", errors.join("; "));
        let n = served.map_err(|e| format!("server: {e}"))?;
        ensure!(n == CONNS, "server saw {n} connections, want {CONNS}");
        Ok(())
    })
}

/// Connections of [`debugfs_lists`]: more than one round of the glue's batched reads
/// (`dispatch::read_each`, 128), spread over every protocol thread under ConnP-T.
const LISTED: usize = 300;

/// partcp: with `LISTED` established connections accepted by a partcp listener, the
/// debugfs `connections` and `conn_stats` files list each of them exactly once (the
/// first as ESTABLISHED with a congestion window, the second with a value for every
/// counter of its header). Linux TCP: not applicable.
fn debugfs_lists(fam: Family) -> TestResult {
    if !matches!(fam, Family::Partcp(_)) {
        return Ok(());
    }
    raise_nofile(2 * LISTED as u64 + 256)?;
    let addr = SocketAddrV4::new(super::A, super::next_port());
    let l = super::in_ns(Ns::A, || {
        let fd = fam.socket(0)?;
        check("bind", raw::bind(&fd, addr))?;
        check("listen", raw::listen(&fd, 1024))?;
        Ok(super::listener(fd))
    })?;
    let clients = super::in_ns(Ns::B, || {
        (0..LISTED)
            .map(|i| TcpStream::connect_timeout(&addr.into(), IO_TIMEOUT).map_err(|e| format!("connect {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut accepted = Vec::with_capacity(LISTED);
    let mut want = HashMap::new();
    for i in 0..LISTED {
        let (s, peer) = l.accept().map_err(|e| format!("accept {i}: {e}"))?;
        accepted.push(s);
        want.insert(format!("{addr} {peer}"), 0usize);
    }
    let read = |file: &str| crate::sys::read_trimmed(&format!("/sys/kernel/debug/partcp/{file}"));
    // `connections`: local remote state cwnd srtt_us owner home.
    let text = read("connections")?;
    let mut lines = text.lines();
    let header = lines.next().map_or(0, |h| h.split_whitespace().count());
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(f.len() == header, "connections: {line:?} has {} fields, the header names {header}", f.len());
        let Some(n) = f.get(..2).and_then(|k| want.get_mut(&k.join(" "))) else { continue };
        *n += 1;
        ensure!(f.get(2) == Some(&"Established"), "connections: {line:?}, want Established");
        ensure!(f.get(3).and_then(|c| c.parse::<u32>().ok()).is_some_and(|c| c > 0), "connections: {line:?}: no cwnd");
    }
    let missing: Vec<_> = want.iter().filter(|(_, &n)| n != 1).collect();
    ensure!(
        missing.is_empty(),
        "connections: {} of {LISTED} not listed once, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    // `conn_stats`: a header naming the counters, then one row per connection.
    let text = read("conn_stats")?;
    let mut lines = text.lines();
    let columns = lines.next().map_or(0, |h| h.split_whitespace().count());
    ensure!(columns > 2, "conn_stats header has {columns} columns");
    want.values_mut().for_each(|n| *n = 0);
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(n) = f.get(..2).and_then(|k| want.get_mut(&k.join(" "))) else { continue };
        *n += 1;
        ensure!(f.len() == columns, "conn_stats: {} values for {columns} columns: {line:?}", f.len());
        ensure!(f[2..].iter().all(|v| v.parse::<u64>().is_ok()), "conn_stats: {line:?}");
    }
    let missing: Vec<_> = want.iter().filter(|(_, &n)| n != 1).collect();
    ensure!(
        missing.is_empty(),
        "conn_stats: {} of {LISTED} not listed once, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    drop(clients);
    drop(accepted);
    Ok(())
}

/// One client thread: its share of the connections, all held open until every thread
/// has connected, then one message and its echo each.
fn client(addr: SocketAddrV4, t: usize, barrier: &Barrier) -> TestResult {
    enter(Ns::B)?;
    let ids: Vec<usize> = (t..CONNS).step_by(CLIENT_THREADS).collect();
    let mut conns = Vec::with_capacity(ids.len());
    let mut failed = None;
    for &i in &ids {
        match TcpStream::connect_timeout(&addr.into(), IO_TIMEOUT) {
            Ok(c) => conns.push(guarded(c)?),
            Err(e) => {
                failed = Some(format!("connect {i}: {e}"));
                break;
            }
        }
    }
    // Every thread reaches the barrier, whatever happened, so that none waits forever.
    barrier.wait();
    if let Some(e) = failed {
        return Err(e);
    }
    for (c, &i) in conns.iter_mut().zip(&ids) {
        c.write_all(&message(i)).map_err(|e| format!("write {i}: {e}"))?;
    }
    for (c, &i) in conns.iter_mut().zip(&ids) {
        let want = message(i);
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).map_err(|e| format!("echo {i}: {e}"))?;
        ensure!(got == want, "echo {i}: {:?}", String::from_utf8_lossy(&got));
    }
    Ok(())
}

/// The epoll echo server: accepts, echoes, closes on EOF; returns how many connections
/// it served once `n` have been closed by their clients, or 5 s (times `--time-scale`) after the clients are
/// done.
fn serve(l: &TcpListener, n: usize, clients_done: &AtomicBool) -> Result<usize, String> {
    let ep = Epoll::new()?;
    ep.add(l, libc::EPOLLIN as u32, LISTENER)?;
    let mut conns: HashMap<u64, (TcpStream, Vec<u8>)> = HashMap::new();
    let (mut accepted, mut closed) = (0, 0);
    let mut deadline = None;
    let mut buf = [0u8; 4096];
    while closed < n {
        if deadline.is_none() && clients_done.load(Ordering::SeqCst) {
            deadline = Some(Instant::now() + crate::scaled(Duration::from_secs(5)));
        }
        ensure!(
            deadline.is_none_or(|d| Instant::now() < d),
            "{accepted} accepted, {closed} closed {:?} after the clients finished",
            crate::scaled(Duration::from_secs(5))
        );
        for (token, ev) in ep.wait(256, 1000)? {
            if token == LISTENER {
                loop {
                    match raw::accept4(l, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
                        Ok((fd, _)) => {
                            let s = super::stream(fd);
                            let t = s.as_raw_fd() as u64;
                            ep.add(&s, (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, t)?;
                            conns.insert(t, (s, Vec::new()));
                            accepted += 1;
                        }
                        Err(libc::EAGAIN) => break,
                        Err(e) => return Err(format!("accept: {}", errname(e))),
                    }
                }
                continue;
            }
            let Some((s, pending)) = conns.get_mut(&token) else { continue };
            let mut eof = ev & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(k) => pending.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
            while !pending.is_empty() {
                match s.write(pending) {
                    Ok(k) => drop(pending.drain(..k)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Tiny messages: a full send buffer here is itself a failure.
                        return Err("send buffer full echoing a short message".into());
                    }
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            if eof {
                let (s, _) = conns.remove(&token).expect("present");
                ep.del(&s)?;
                closed += 1;
            }
        }
    }
    Ok(accepted)
}
