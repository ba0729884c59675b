//! The client (bulk transmit or request/response) and the sink.

use std::fmt::Write as _;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::hist::{Hist, Snapshot};
use crate::measure::{wire_tx, CpuStat};
use crate::sys::{self, Epoll, Io};
use crate::{Family, Opts};

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;
const BAD: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

/// One report line and whether the run succeeded.
pub struct Line {
    pub text: String,
    pub ok: bool,
}

/// Counters one client thread publishes (read by the main thread at the window edges).
#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
    txns: AtomicU64,
    lat_ns: AtomicU64,
    reconnects: AtomicU64,
    conn_errors: AtomicU64,
    /// Transaction latencies (request/response mode).
    lat_hist: Hist,
}

struct Shared {
    stop: AtomicBool,
    counters: Vec<Counters>,
    /// First setup error (connect failure or timeout).
    error: Mutex<Option<String>>,
}

impl Shared {
    fn sum(&self) -> [u64; 5] {
        let mut s = [0; 5];
        for c in &self.counters {
            s[0] += c.bytes.load(Relaxed);
            s[1] += c.txns.load(Relaxed);
            s[2] += c.lat_ns.load(Relaxed);
            s[3] += c.reconnects.load(Relaxed);
            s[4] += c.conn_errors.load(Relaxed);
        }
        s
    }

    /// Every thread's latency histogram, added up.
    fn lat_hist(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for c in &self.counters {
            s.add(&c.lat_hist.snapshot());
        }
        s
    }
}

/// Runs the client and formats its report line.
pub fn client(o: &Opts, family: libc::c_int) -> Line {
    let threads = o.threads.min(o.conns);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        counters: (0..threads).map(|_| Counters::default()).collect(),
        error: Mutex::new(None),
    });
    let barrier = Arc::new(Barrier::new(threads + 1));
    let ncpu = sys::online_cpus();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (o, shared, barrier) = (o.clone(), shared.clone(), barrier.clone());
            let n = (o.conns - t).div_ceil(threads);
            std::thread::spawn(move || {
                sys::pin_to_cpu(t % ncpu);
                client_thread(&o, family, t, n, &shared, &barrier)
            })
        })
        .collect();
    barrier.wait();
    let setup_error = shared.error.lock().unwrap().clone();
    let mut fields: Vec<String> = vec![
        format!("mode={}", if o.rr { "rr" } else { "tx" }),
        format!("family={}", o.family.name()),
        format!("conns={}", o.conns),
        format!("threads={threads}"),
        format!("cpus={ncpu}"),
        format!("seconds={:.2}", o.seconds),
        format!("write_size={}", if o.rr { o.msg_size } else { o.write_size }),
    ];
    // The debugfs snapshot is taken for every family alike when the directory exists
    // (it does in the sweep's VM, partcp loaded, whichever family runs), and only outside
    // the measured window. It leaves out the per-connection files: `conn_stats` takes
    // each connection's exclusion in turn (under ConnP-T on its protocol thread, behind
    // the traffic queued there), so with 16384 busy connections one read took minutes
    // when it was a round trip per connection, and its rows are not used by the report.
    let dbg_on = o.debugfs.is_dir();
    let snapshot = || partcp_stats::read_dir_except(&o.debugfs, partcp_stats::PER_CONNECTION_FILES).unwrap_or_default();
    let mut ok = setup_error.is_none();
    if let Some(e) = &setup_error {
        shared.stop.store(true, Relaxed);
        fields.push("status=failed".into());
        fields.push(format!("reason={}", e.replace(char::is_whitespace, "_")));
    } else {
        std::thread::sleep(Duration::from_secs_f64(o.warmup));
        // Order: snapshot, then the window's counters and clock; at the end the clock and
        // counters, then the snapshot. The window holds nothing but the sleep.
        let d0 = dbg_on.then(snapshot);
        crate::mark::id(o.mark_id);
        crate::mark::start();
        let c0 = shared.sum();
        let h0 = o.rr.then(|| shared.lat_hist());
        let cpu0 = CpuStat::read();
        let w0 = wire_tx();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(o.seconds));
        let c1 = shared.sum();
        let h1 = o.rr.then(|| shared.lat_hist());
        let dt = t0.elapsed().as_secs_f64();
        let cpu1 = CpuStat::read();
        let w1 = wire_tx();
        crate::mark::end();
        let d1 = dbg_on.then(snapshot);
        shared.stop.store(true, Relaxed);
        let bytes = c1[0] - c0[0];
        let wire = w1.0.saturating_sub(w0.0);
        let (busy, user, system, soft, ctxt) = cpu0.usage(&cpu1);
        fields.push(format!("bytes={bytes}"));
        fields.push(format!("mbps={:.1}", bytes as f64 * 8.0 / dt / 1e6));
        fields.push(format!("wire_bytes={wire}"));
        fields.push(format!("wire_packets={}", w1.1.saturating_sub(w0.1)));
        fields.push(format!("wire_mbps={:.1}", wire as f64 * 8.0 / dt / 1e6));
        if o.rr {
            let txns = c1[1] - c0[1];
            fields.push(format!("transactions={txns}"));
            fields.push(format!("tps={:.1}", txns as f64 / dt));
            fields.push(format!("latency_us={:.1}", (c1[2] - c0[2]) as f64 / 1e3 / txns.max(1) as f64));
            // Percentiles from the window's histogram (bucket midpoints, within 1.6%).
            let h = match (&h0, &h1) {
                (Some(a), Some(b)) => b.delta(a),
                _ => Snapshot::default(),
            };
            for (name, q) in [("lat_p50_us", 0.5), ("lat_p99_us", 0.99)] {
                match h.quantile(q) {
                    Some(ns) => fields.push(format!("{name}={:.1}", ns / 1e3)),
                    None => fields.push(format!("{name}=-")),
                }
            }
            let reconnects = c1[3] - c0[3];
            fields.push(format!("reconnects={reconnects}"));
            if o.churn > 0 {
                // Connections set up (and, churn transactions later, closed) per second.
                fields.push(format!("cps={:.1}", reconnects as f64 / dt));
            }
        }
        fields.push(format!("cpu_util={busy:.3}"));
        fields.push(format!("cpu_user={user:.3}"));
        fields.push(format!("cpu_sys={system:.3}"));
        fields.push(format!("cpu_softirq={soft:.3}"));
        fields.push(format!("ctxt={ctxt}"));
        fields.push(format!("ctxt_per_kb={:.4}", ctxt as f64 / (bytes.max(1) as f64 / 1024.0)));
        fields.push(format!("conn_errors={}", c1[4]));
        if c1[4] > 0 {
            ok = false;
            fields.push("status=failed".into());
            fields.push("reason=connection_errors_during_run".into());
        } else if bytes == 0 && wire == 0 {
            ok = false;
            fields.push("status=failed".into());
            fields.push("reason=no_data_moved".into());
        } else {
            fields.push("status=ok".into());
        }
        fields.push(format!("marks={}", u8::from(crate::mark::AVAILABLE)));
        if o.family == Family::Partcp && !dbg_on {
            fields.push(format!("dbg=unavailable:{}_not_a_directory", o.debugfs.display()));
        }
        if let (Some(a), Some(b)) = (d0, d1) {
            if let Some((_, s)) = b.text.iter().find(|(k, _)| k == "strategy") {
                fields.push(format!("dbg_strategy={}", s.replace(char::is_whitespace, "_")));
            }
            // Per-object rows (keys with an address such as `198.18.0.1:5000`) are
            // state, not counters: left to partcp-stats.
            for c in a.delta(&b).into_iter().filter(|c| !c.key.contains(':')) {
                fields.push(format!("dbg.{}={}", c.key, c.value));
            }
        }
    }
    fields.extend(o.tags.iter().cloned());
    for h in handles {
        let _ = h.join();
    }
    let mut text = String::from("partcp-bench");
    for f in fields {
        let _ = write!(text, " {f}");
    }
    Line { text, ok }
}

/// Aborts a connection at the end of a run (RST, no TIME-WAIT), so the next run (and a
/// strategy switch, which needs every partcp connection gone) does not wait for it.
fn abort(fd: RawFd) {
    let l = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `l` is valid for the call; errors are ignored (plain close follows).
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    sys::close(fd);
}

/// Opens a socket and starts connecting it.
fn open_conn(o: &Opts, family: libc::c_int) -> Result<(RawFd, bool), String> {
    let fd = sys::stream_socket(family).map_err(|e| format!("socket:{}", sys::errno_name(&e)))?;
    if o.sndbuf > 0 {
        let _ = sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, o.sndbuf as i32);
    }
    if o.rr {
        let _ = sys::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    }
    let dest = match o.family {
        Family::Unix => sys::Addr::Unix(o.unix_path.clone()),
        Family::Inet | Family::Partcp => sys::Addr::Inet(o.dest),
    };
    match sys::connect(fd, &dest) {
        Ok(done) => Ok((fd, done)),
        Err(e) => {
            sys::close(fd);
            Err(format!("connect:{}", sys::errno_name(&e)))
        }
    }
}

/// Connects `n` sockets (at most 256 handshakes in flight), all registered in `ep`
/// with token = index and no events yet.
fn connect_all(o: &Opts, family: libc::c_int, n: usize, ep: &Epoll, fds: &mut Vec<RawFd>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(o.connect_timeout);
    let mut pending = 0usize;
    let mut done = 0usize;
    let mut evs = Vec::new();
    while done < n {
        while fds.len() < n && pending < 256 {
            let (fd, now) = open_conn(o, family)?;
            let tok = fds.len() as u64;
            fds.push(fd);
            ep.add(fd, if now { 0 } else { OUT }, tok).map_err(|e| format!("epoll:{}", sys::errno_name(&e)))?;
            if now {
                done += 1;
            } else {
                pending += 1;
            }
        }
        if Instant::now() > deadline {
            return Err(format!("connect_timeout:{done}_of_{n}_connected"));
        }
        ep.wait(&mut evs, 100).map_err(|e| format!("epoll_wait:{}", sys::errno_name(&e)))?;
        for &(_, tok) in &evs {
            let fd = fds[tok as usize];
            let err = sys::so_error(fd);
            if err != 0 {
                return Err(format!("connect:{}", sys::errno_name(&std::io::Error::from_raw_os_error(err))));
            }
            let _ = ep.modify(fd, 0, tok);
            pending -= 1;
            done += 1;
        }
    }
    Ok(())
}

fn client_thread(o: &Opts, family: libc::c_int, t: usize, n: usize, shared: &Shared, barrier: &Barrier) {
    let mut fds = Vec::with_capacity(n);
    let setup = Epoll::new()
        .map_err(|e| format!("epoll:{}", sys::errno_name(&e)))
        .and_then(|ep| connect_all(o, family, n, &ep, &mut fds).map(|_| ep));
    let ep = match setup {
        Ok(ep) => Some(ep),
        Err(e) => {
            shared.error.lock().unwrap().get_or_insert(e);
            None
        }
    };
    barrier.wait();
    if let (Some(ep), false) = (ep, shared.stop.load(Relaxed) || shared.error.lock().unwrap().is_some()) {
        let c = &shared.counters[t];
        if o.rr {
            rr_loop(o, family, &ep, &mut fds, c, &shared.stop);
        } else {
            tx_loop(o, &ep, &mut fds, c, &shared.stop);
        }
    }
    for &fd in &fds {
        if fd >= 0 {
            abort(fd);
        }
    }
}

/// `partcp-bench idle`: opens `--conns` connections, creates `--ready-file` once all are
/// established, holds them without traffic until one of the signals in `term` arrives,
/// then reports and aborts them (RST, so nothing is left in TIME-WAIT and the peer's
/// sockets close at once).
pub fn idle(o: &Opts, family: libc::c_int, term: &libc::sigset_t) -> Line {
    // Idle connections keep the system's default buffers.
    let o = Opts { sndbuf: 0, rr: false, ..o.clone() };
    let mut fds = Vec::with_capacity(o.conns);
    let t0 = Instant::now();
    let setup = Epoll::new()
        .map_err(|e| format!("epoll:{}", sys::errno_name(&e)))
        .and_then(|ep| connect_all(&o, family, o.conns, &ep, &mut fds))
        .and_then(|()| match &o.ready_file {
            Some(p) => std::fs::write(p, "ready\n").map_err(|e| format!("ready_file:{}", sys::errno_name(&e))),
            None => Ok(()),
        });
    let setup_s = t0.elapsed().as_secs_f64();
    let head =
        format!("partcp-bench mode=idle family={} conns={} setup_seconds={setup_s:.2}", o.family.name(), o.conns);
    let line = match setup {
        Err(e) => Line { text: format!("{head} status=failed reason={e}"), ok: false },
        Ok(()) => {
            let sig = sys::wait_signal(term);
            // An idle connection has nothing to read and no error: anything else means the
            // peer (or the stack) closed or reset it while it was held.
            let (broken, status, ok) = match sys::poll_now(&fds, libc::POLLIN | libc::POLLRDHUP) {
                Ok(0) => ("0".to_string(), "status=ok".to_string(), true),
                Ok(n) => (n.to_string(), "status=failed reason=connections_broken_while_idle".to_string(), false),
                Err(e) => ("?".to_string(), format!("status=failed reason=poll:{}", sys::errno_name(&e)), false),
            };
            Line { text: format!("{head} signal={sig} broken={broken} {status}"), ok }
        }
    };
    for &fd in &fds {
        abort(fd);
    }
    line
}

/// Writes one connection may do per epoll event in the transmit loop.
const WRITES_PER_EVENT: usize = 16;

fn tx_loop(o: &Opts, ep: &Epoll, fds: &mut [RawFd], c: &Counters, stop: &AtomicBool) {
    let buf = vec![0x5au8; o.write_size];
    for (i, &fd) in fds.iter().enumerate() {
        let _ = ep.modify(fd, OUT, i as u64);
    }
    let mut evs = Vec::new();
    let mut bytes = 0u64;
    let mut errors = 0u64;
    while !stop.load(Relaxed) {
        if ep.wait(&mut evs, 100).is_err() {
            break;
        }
        for &(ev, tok) in &evs {
            let fd = fds[tok as usize];
            if fd < 0 {
                continue;
            }
            let mut dead = ev & BAD != 0 && ev & OUT == 0;
            // At most WRITES_PER_EVENT writes per readiness event, as an event loop
            // serving many connections does: a connection whose buffer never fills (the
            // network keeps up with every write) must not starve the others and the
            // end of the run.
            let mut writes = 0;
            while !dead && writes < WRITES_PER_EVENT {
                writes += 1;
                match sys::write(fd, &buf) {
                    Io::Done(k) => {
                        bytes += k as u64;
                        if k < buf.len() {
                            break;
                        }
                    }
                    Io::WouldBlock => break,
                    Io::Eof | Io::Err => dead = true,
                }
            }
            if dead {
                errors += 1;
                ep.del(fd);
                sys::close(fd);
                fds[tok as usize] = -1;
            }
            // Published per connection, not per batch: under emulation one batch of
            // hundreds of connections can outlast the measured window.
            c.bytes.store(bytes, Relaxed);
        }
        c.conn_errors.store(errors, Relaxed);
    }
}

/// Per-connection request/response state.
struct Rr {
    out_left: usize,
    got: usize,
    started: Instant,
    txns: u64,
    connecting: bool,
}

fn rr_loop(o: &Opts, family: libc::c_int, ep: &Epoll, fds: &mut [RawFd], c: &Counters, stop: &AtomicBool) {
    let msg = vec![0x42u8; o.msg_size];
    let mut rbuf = vec![0u8; o.msg_size.max(65536)];
    let now = Instant::now();
    let mut st: Vec<Rr> =
        fds.iter().map(|_| Rr { out_left: o.msg_size, got: 0, started: now, txns: 0, connecting: false }).collect();
    for (i, &fd) in fds.iter().enumerate() {
        let _ = ep.modify(fd, OUT, i as u64);
    }
    let (mut txns, mut lat, mut reconnects, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut evs = Vec::new();
    while !stop.load(Relaxed) {
        if ep.wait(&mut evs, 100).is_err() {
            break;
        }
        for &(ev, tok) in &evs {
            let i = tok as usize;
            let fd = fds[i];
            if fd < 0 {
                continue;
            }
            let s = &mut st[i];
            let mut dead = false;
            if s.connecting {
                if sys::so_error(fd) != 0 {
                    dead = true;
                } else {
                    s.connecting = false;
                    reconnects += 1;
                }
            } else if ev & BAD != 0 && ev & (IN | OUT) == 0 {
                dead = true;
            }
            // Send what is left of the request.
            while !dead && s.out_left > 0 && !s.connecting {
                if s.out_left == o.msg_size {
                    s.started = Instant::now();
                }
                match sys::write(fd, &msg[o.msg_size - s.out_left..]) {
                    Io::Done(k) => s.out_left -= k,
                    Io::WouldBlock => break,
                    Io::Eof | Io::Err => dead = true,
                }
            }
            // Read the response.
            let mut reconnect = false;
            while !dead && s.out_left == 0 && !s.connecting {
                match sys::read(fd, &mut rbuf[..o.msg_size - s.got]) {
                    Io::Done(k) => {
                        s.got += k;
                        if s.got == o.msg_size {
                            s.got = 0;
                            s.txns += 1;
                            txns += 1;
                            let ns = s.started.elapsed().as_nanos() as u64;
                            lat += ns;
                            c.lat_hist.record(ns);
                            if o.churn > 0 && s.txns.is_multiple_of(o.churn) {
                                reconnect = true;
                                break;
                            }
                            s.out_left = o.msg_size;
                            s.started = Instant::now();
                            match sys::write(fd, &msg) {
                                Io::Done(k) => s.out_left -= k,
                                Io::WouldBlock => {}
                                Io::Eof | Io::Err => dead = true,
                            }
                        }
                    }
                    Io::WouldBlock => break,
                    Io::Eof | Io::Err => dead = true,
                }
            }
            if reconnect {
                ep.del(fd);
                sys::close(fd);
                fds[i] = -1;
                match open_conn(o, family) {
                    Ok((nfd, _)) => {
                        fds[i] = nfd;
                        s.connecting = true;
                        s.out_left = o.msg_size;
                        if ep.add(nfd, OUT, tok).is_err() {
                            dead = true;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        continue;
                    }
                }
            }
            let fd = fds[i];
            if dead {
                errors += 1;
                ep.del(fd);
                sys::close(fd);
                fds[i] = -1;
                continue;
            }
            let want = if s.connecting || s.out_left > 0 { OUT } else { IN };
            let _ = ep.modify(fd, want, tok);
        }
        c.bytes.store(txns * o.msg_size as u64, Relaxed);
        c.txns.store(txns, Relaxed);
        c.lat_ns.store(lat, Relaxed);
        c.reconnects.store(reconnects, Relaxed);
        c.conn_errors.store(errors, Relaxed);
    }
}

/// A listening socket for the sink; SO_REUSEPORT if `reuseport`.
fn listener(o: &Opts, family: libc::c_int, reuseport: bool) -> Result<RawFd, String> {
    let fd = sys::stream_socket(family).map_err(|e| format!("socket: {e}"))?;
    let _ = sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    if reuseport {
        if let Err(e) = sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1) {
            sys::close(fd);
            return Err(format!("SO_REUSEPORT: {e}"));
        }
    }
    let addr = match o.family {
        Family::Unix => {
            // A path left by an earlier sink would make bind fail with EADDRINUSE.
            let _ = std::fs::remove_file(&o.unix_path);
            sys::Addr::Unix(o.unix_path.clone())
        }
        Family::Inet | Family::Partcp => sys::Addr::Inet(std::net::SocketAddrV4::new(o.addr, o.port)),
    };
    sys::bind(fd, &addr).map_err(|e| format!("bind {addr:?}: {e}"))?;
    sys::listen(fd, 4096).map_err(|e| format!("listen: {e}"))?;
    Ok(fd)
}

/// Runs the sink until killed (or `--seconds`).
pub fn sink(o: &Opts, family: libc::c_int) -> Result<(), String> {
    // One SO_REUSEPORT listener per thread (Linux spreads connections over them); if
    // the family lacks SO_REUSEPORT, one listener shared by every thread. AF_UNIX
    // paths cannot be shared: one listener.
    let mut lfds = Vec::new();
    if o.family == Family::Unix {
        let fd = listener(o, family, false)?;
        lfds.resize(o.threads, fd);
    } else {
        match listener(o, family, o.threads > 1) {
            Ok(fd) => {
                lfds.push(fd);
                for _ in 1..o.threads {
                    lfds.push(listener(o, family, true)?);
                }
            }
            Err(_) => {
                let fd = listener(o, family, false)?;
                lfds.resize(o.threads, fd);
            }
        }
    }
    if let Some(p) = &o.ready_file {
        std::fs::write(p, "ready\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let ncpu = sys::online_cpus();
    let handles: Vec<_> = lfds
        .iter()
        .enumerate()
        .map(|(t, &lfd)| {
            let (stop, total, echo) = (stop.clone(), total.clone(), o.echo);
            std::thread::spawn(move || {
                sys::pin_to_cpu(t % ncpu);
                sink_thread(lfd, echo, &stop, &total)
            })
        })
        .collect();
    match o.sink_seconds {
        Some(s) => std::thread::sleep(Duration::from_secs_f64(s)),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    stop.store(true, Relaxed);
    for h in handles {
        let _ = h.join();
    }
    println!("partcp-bench mode=sink bytes={} conns={}", total.0.load(Relaxed), total.1.load(Relaxed));
    Ok(())
}

struct SinkConn {
    fd: RawFd,
    pending: Vec<u8>,
}

fn sink_thread(lfd: RawFd, echo: bool, stop: &AtomicBool, total: &(AtomicU64, AtomicU64)) {
    let Ok(ep) = Epoll::new() else { return };
    if ep.add(lfd, IN, u64::MAX).is_err() {
        return;
    }
    let mut conns: Vec<Option<SinkConn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut evs = Vec::new();
    while !stop.load(Relaxed) {
        if ep.wait(&mut evs, 200).is_err() {
            break;
        }
        let mut bytes = 0u64;
        for &(ev, tok) in &evs {
            if tok == u64::MAX {
                while let Ok(Some(fd)) = sys::accept(lfd) {
                    let i = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    if ep.add(fd, IN, i as u64).is_err() {
                        sys::close(fd);
                        free.push(i);
                        continue;
                    }
                    conns[i] = Some(SinkConn { fd, pending: Vec::new() });
                    total.1.fetch_add(1, Relaxed);
                }
                continue;
            }
            let i = tok as usize;
            let Some(c) = conns[i].as_mut() else { continue };
            let mut dead = false;
            if ev & OUT != 0 && !c.pending.is_empty() {
                match sys::write(c.fd, &c.pending) {
                    Io::Done(k) => {
                        c.pending.drain(..k);
                    }
                    Io::WouldBlock => {}
                    _ => dead = true,
                }
            }
            // Read (only while nothing is waiting to be echoed, so a client that does
            // not read cannot make the sink buffer without bound).
            while !dead && c.pending.is_empty() {
                match sys::read(c.fd, &mut buf) {
                    Io::Done(k) => {
                        bytes += k as u64;
                        if echo {
                            match sys::write(c.fd, &buf[..k]) {
                                Io::Done(w) => c.pending.extend_from_slice(&buf[w..k]),
                                Io::WouldBlock => c.pending.extend_from_slice(&buf[..k]),
                                _ => dead = true,
                            }
                        }
                    }
                    Io::WouldBlock => break,
                    Io::Eof | Io::Err => dead = true,
                }
            }
            if dead {
                ep.del(c.fd);
                sys::close(c.fd);
                conns[i] = None;
                free.push(i);
            } else if echo {
                let want = if c.pending.is_empty() { IN } else { OUT };
                let _ = ep.modify(c.fd, want, i as u64);
            }
        }
        total.0.fetch_add(bytes, Relaxed);
    }
}
