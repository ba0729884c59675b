//! `fault.*`: partcp under faults from the rest of the kernel.
//!
//! - `fault.alloc_failures`: the kernel's fault injection (failslab and fail_page_alloc,
//!   scoped by their stack-trace filter to calls made from partcp.ko's code) fails a
//!   share of partcp's allocations while connections are set up, accepted, used and
//!   closed. Every call must end in a result Linux TCP could give (success or one of a
//!   few errnos); afterwards every socket and connection is gone and a clean transfer
//!   works. Needs CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and
//!   CONFIG_FAULT_INJECTION_STACKTRACE_FILTER: the debug kernel (`make test-debug`);
//!   on the default test kernel the case is reported as not run, with the reason.
//! - `fault.veth_delete_live`: the veth carrying live partcp connections is deleted.
//! - `fault.netns_delete_live`: both namespaces of live partcp connections (sockets
//!   still open, data in flight) are deleted.
//! - `fault.rmmod_under_load`: the module is unloaded as soon as it can be while many
//!   connections are aborted or closed with data in flight.
//!
//! The last three build their own namespaces (`pfault_a`/`pfault_b`, 198.19.0.1 and
//! .2) so the shared test network is never touched; the kernel log must stay clean
//! (checked for the whole run by `scripts/vm`).

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::ensure;
use crate::net::setup::dev;
use crate::net::setup::run;
use crate::net::{self, raw, Family, Ns};
use crate::sys::{self, errname};
use crate::{Case, TestResult};

const FAULT_DIR: &str = "/sys/kernel/debug";
const FA: Ns = Ns::FaultA;
const FB: Ns = Ns::FaultB;

pub fn cases() -> Vec<Case> {
    let t = |name: &str, secs: u64, run: fn() -> TestResult| Case {
        name: format!("fault.{name}"),
        timeout: Duration::from_secs(secs),
        run: Box::new(run),
    };
    let mut v = Vec::new();
    if injection_available() {
        v.push(t("alloc_failures", 180, alloc_failures));
    } else {
        println!(
            "# fault.alloc_failures not run: this kernel has no failslab/fail_page_alloc with a stack-trace \
             filter (run `make test-debug`)"
        );
    }
    v.push(t("veth_delete_live", 90, veth_delete_live));
    v.push(t("netns_delete_live", 90, netns_delete_live));
    v.push(t("rmmod_under_load", 120, rmmod_under_load));
    v
}

fn injection_available() -> bool {
    ["failslab", "fail_page_alloc"]
        .iter()
        .all(|f| std::path::Path::new(&format!("{FAULT_DIR}/{f}/require-start")).exists())
}

fn write(path: &str, v: &str) -> TestResult {
    std::fs::write(path, v).map_err(|e| format!("write {v:?} to {path}: {e}"))
}

/// partcp.ko's address range, from /proc/modules: `name size refs deps state addr`.
fn module_range() -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string("/proc/modules").map_err(|e| format!("/proc/modules: {e}"))?;
    let line = text.lines().find(|l| l.starts_with("partcp ")).ok_or("partcp not in /proc/modules")?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let size: u64 = f.get(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("size in {line:?}"))?;
    let addr = f.get(5).and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
    let addr = addr.filter(|&a| a != 0).ok_or_else(|| format!("address in {line:?} (kptr_restrict?)"))?;
    Ok((addr, addr + size))
}

/// The most failures injected per run (`times`, which counts down as failures are
/// injected: how far it went down shows the injection reached partcp).
const INJECT_TIMES: u64 = 1_000_000;

/// Failures injected so far by failslab and fail_page_alloc together.
fn injected() -> Result<u64, String> {
    let mut n = 0;
    for f in ["failslab", "fail_page_alloc"] {
        let path = format!("{FAULT_DIR}/{f}/times");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let left: u64 = text.trim().parse().map_err(|_| format!("{path}: {text:?}"))?;
        n += INJECT_TIMES.saturating_sub(left);
    }
    Ok(n)
}

/// Turns fault injection on (`probability` percent) for allocations whose call stack
/// passes through partcp.ko (turned off again if that fails part-way), or off (both
/// facilities tried, the first error returned).
fn inject(on: Option<u32>) -> TestResult {
    let Some(p) = on else {
        let r: Vec<TestResult> = ["failslab", "fail_page_alloc"]
            .iter()
            .map(|f| write(&format!("{FAULT_DIR}/{f}/probability"), "0"))
            .collect();
        return r.into_iter().collect();
    };
    let r = inject_on(p);
    if r.is_err() {
        let _ = inject(None);
    }
    r
}

fn inject_on(p: u32) -> TestResult {
    let (start, end) = module_range()?;
    for f in ["failslab", "fail_page_alloc"] {
        let d = format!("{FAULT_DIR}/{f}");
        write(&format!("{d}/require-start"), &start.to_string())?;
        write(&format!("{d}/require-end"), &end.to_string())?;
        write(&format!("{d}/stacktrace-depth"), "32")?;
        write(&format!("{d}/verbose"), "0")?;
        write(&format!("{d}/interval"), "1")?;
        write(&format!("{d}/times"), &INJECT_TIMES.to_string())?;
        write(&format!("{d}/space"), "0")?;
        // Atomic allocations (softirq receive path) fail too.
        for flag in ["ignore-gfp-wait", "ignore-gfp-highmem"] {
            if std::path::Path::new(&format!("{d}/{flag}")).exists() {
                write(&format!("{d}/{flag}"), "N")?;
            }
        }
        write(&format!("{d}/probability"), &p.to_string())?;
    }
    Ok(())
}

/// Errnos an allocation failure may surface as, besides the ones of a working network.
/// (EINPROGRESS: a blocking connect whose SO_SNDTIMEO ran out, as in Linux.)
const ALLOWED: &[i32] = &[
    libc::EINPROGRESS,
    libc::ECONNABORTED,
    libc::ENOMEM,
    libc::ENOBUFS,
    libc::EAGAIN,
    libc::ECONNRESET,
    libc::ECONNREFUSED,
    libc::ETIMEDOUT,
    libc::EPIPE,
    libc::ENOTCONN,
];

fn allowed<T>(what: &str, r: Result<T, i32>) -> Result<Option<T>, String> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if ALLOWED.contains(&e) => Ok(None),
        Err(e) => Err(format!("{what} under allocation failures: {}", errname(e))),
    }
}

/// The connection from `from` on `l` within `limit`, or `None`. Connections from
/// elsewhere (an earlier round's, which arrived after that round gave up on it) are
/// closed and skipped.
fn accept_from(l: &TcpListener, from: SocketAddrV4, limit: Duration) -> Option<TcpStream> {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        if ms == 0 || !raw::poll1(l, libc::POLLIN, ms).is_ok_and(|ev| ev & libc::POLLIN != 0) {
            return None;
        }
        match l.accept() {
            Ok((s, std::net::SocketAddr::V4(a))) if a == from => return Some(s),
            Ok(_) | Err(_) => continue,
        }
    }
}

/// One round under injection: a partcp client and a partcp server connection with a
/// Linux peer each, 64 KB each way, closed. Returns how many calls failed (allowed).
fn churn_round(
    fam: Family,
    l: &TcpListener,
    laddr: SocketAddrV4,
    peer_l: &TcpListener,
    paddr: SocketAddrV4,
) -> Result<u32, String> {
    let mut failed = 0;
    let msg = vec![0x5au8; 64 << 10];
    // partcp client -> Linux server.
    let fd = net::in_ns(Ns::A, || Ok(sys::socket(fam.af(), libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)))?;
    match allowed("socket", fd)? {
        Some(fd) => {
            raw::set_timeo(&fd, libc::SO_SNDTIMEO, Duration::from_secs(3))?;
            raw::set_timeo(&fd, libc::SO_RCVTIMEO, Duration::from_secs(3))?;
            raw::set_int(&fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 3000, "TCP_USER_TIMEOUT")?;
            if allowed("connect", raw::connect(&fd, paddr))?.is_some() {
                let me = raw::sockname(&fd).map_err(|e| format!("getsockname: {}", errname(e)))?.addr;
                let peer = accept_from(peer_l, me, Duration::from_secs(3));
                let mut f = net::stream(fd);
                if let Some(mut p) = peer {
                    p.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
                    let w = f.write_all(&msg);
                    let mut got = vec![0u8; msg.len()];
                    if w.is_ok() && p.read_exact(&mut got).is_ok() {
                        ensure!(got == msg, "partcp client sent corrupted data under allocation failures");
                    } else {
                        failed += 1;
                    }
                    if let Err(e) = w {
                        allowed::<()>("write", Err(e.raw_os_error().unwrap_or(0)))?;
                    }
                } else {
                    failed += 1;
                }
            } else {
                failed += 1;
            }
        }
        None => failed += 1,
    }
    // Linux client -> partcp server.
    let c = net::in_ns(Ns::B, || {
        TcpStream::connect_timeout(&laddr.into(), Duration::from_secs(3)).map_err(|e| e.to_string())
    });
    match c {
        Ok(mut c) => {
            c.set_write_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
            let from = match c.local_addr() {
                Ok(std::net::SocketAddr::V4(a)) => a,
                other => return Err(format!("client address: {other:?}")),
            };
            // The connection from this round's client (an earlier round's may arrive late).
            let end = Instant::now() + Duration::from_secs(3);
            let mut a = None;
            while a.is_none() && Instant::now() < end {
                if !raw::poll1(l, libc::POLLIN, 200).is_ok_and(|ev| ev & libc::POLLIN != 0) {
                    continue;
                }
                if let Some((fd, peer)) = allowed("accept", raw::accept4(l, 0))? {
                    a = (peer == from).then_some(fd);
                }
            }
            match a {
                Some(fd) => {
                    raw::set_timeo(&fd, libc::SO_RCVTIMEO, Duration::from_secs(3))?;
                    let mut g = net::stream(fd);
                    let _ = c.write_all(&msg);
                    let mut got = vec![0u8; msg.len()];
                    match g.read_exact(&mut got) {
                        Ok(()) => {
                            ensure!(got == msg, "partcp server received corrupted data under allocation failures")
                        }
                        Err(e) => {
                            // A reset connection ends the stream early (no errno).
                            if let Some(code) = e.raw_os_error() {
                                allowed::<()>("read", Err(code))?;
                            }
                            failed += 1;
                        }
                    }
                }
                None => failed += 1,
            }
        }
        Err(_) => failed += 1,
    }
    Ok(failed)
}

fn alloc_failures() -> TestResult {
    net::setup::ensure()?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let (l, laddr) = fam.listener(Ns::A)?;
    let (peer_l, paddr) = net::peer_listener()?;
    let mut rounds = 0;
    let mut failed = 0;
    inject(Some(10))?;
    let t = Instant::now();
    let r = (|| {
        while t.elapsed() < Duration::from_secs(25) {
            failed += churn_round(fam, &l, laddr, &peer_l, paddr)?;
            rounds += 1;
        }
        Ok::<(), String>(())
    })();
    inject(None)?;
    let injected = injected()?;
    r?;
    println!(
        "# fault.alloc_failures: {rounds} rounds, {injected} allocations failed, {failed} operations failed cleanly"
    );
    ensure!(injected > 0, "no allocation failed: the injection did not reach partcp's allocations");
    ensure!(failed > 0, "{injected} allocations failed, but no operation did");
    drop((l, peer_l));
    all_released()
}

/// Builds `pfault_a` <-> `pfault_b` (veth `fa`/`fb`), deleting leftovers first.
fn private_net() -> TestResult {
    for ns in [FA, FB] {
        if std::path::Path::new(&format!("/var/run/netns/{}", ns.name())).exists() {
            run(&format!("ip netns del {}", ns.name()))?;
        }
        run(&format!("ip netns add {}", ns.name()))?;
    }
    run(&format!("ip link add {} netns {} type veth peer name {} netns {}", dev(FA), FA.name(), dev(FB), FB.name()))?;
    for ns in [FA, FB] {
        let (n, d) = (ns.name(), dev(ns));
        run(&format!("ip -n {n} addr add {}/24 dev {d}", ns.addr()))?;
        run(&format!("ip -n {n} link set lo up"))?;
        run(&format!("ip -n {n} link set {d} up"))?;
    }
    net::wait_until("fa/fb carrier", Duration::from_secs(5), || {
        Ok(run(&format!("ip -n {} -o link show {}", FA.name(), dev(FA))).is_ok_and(|s| s.contains("LOWER_UP")))
    })
}

/// Live connections over the private network: `pairs` partcp clients and `pairs`
/// partcp servers, each with its Linux peer, as (partcp side, Linux side).
fn live_pairs(fam: Family, pairs: usize) -> Result<Vec<(TcpStream, TcpStream)>, String> {
    let (pl, paddr) = Family::Inet.listener(FB)?;
    let (fl, faddr) = fam.listener(FA)?;
    let mut v = Vec::new();
    for _ in 0..pairs {
        let f = fam.connect(FA, paddr)?;
        v.push((f, net::accept(&pl)?));
        let c = Family::Inet.connect(FB, faddr)?;
        v.push((net::accept(&fl)?, c));
    }
    Ok(v)
}

/// Starts a writer on every partcp socket that writes until an error; returns the
/// join handles (each yields the writer's error).
fn writers(pairs: &[(TcpStream, TcpStream)]) -> Result<Vec<std::thread::JoinHandle<std::io::Error>>, String> {
    pairs
        .iter()
        .map(|(f, _)| {
            let mut f = f.try_clone().map_err(|e| format!("clone: {e}"))?;
            Ok(std::thread::spawn(move || {
                let buf = vec![7u8; 32 << 10];
                loop {
                    if let Err(e) = f.write_all(&buf) {
                        return e;
                    }
                }
            }))
        })
        .collect()
}

/// Every partcp socket in `pairs` gets TCP_USER_TIMEOUT `ms` (so a dead path fails the
/// writers quickly).
fn user_timeout(pairs: &[(TcpStream, TcpStream)], ms: i32) -> TestResult {
    for (f, _) in pairs {
        raw::set_int(f, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms, "TCP_USER_TIMEOUT")?;
    }
    Ok(())
}

/// Waits for the writers to fail; each must fail with an error a dead path gives.
fn writers_fail(ws: Vec<std::thread::JoinHandle<std::io::Error>>, limit: Duration) -> TestResult {
    for e in writers_end(ws, limit, "its path died")? {
        let code = e.raw_os_error().unwrap_or(0);
        ensure!(
            [libc::ETIMEDOUT, libc::EHOSTUNREACH, libc::ENETUNREACH, libc::ECONNRESET, libc::EPIPE].contains(&code),
            "writer failed with {e} after its path died"
        );
    }
    Ok(())
}

/// Waits at most `limit` for every writer to end (after `why`); returns their errors.
fn writers_end(
    ws: Vec<std::thread::JoinHandle<std::io::Error>>,
    limit: Duration,
    why: &str,
) -> Result<Vec<std::io::Error>, String> {
    let t = Instant::now();
    let mut errors = Vec::new();
    for w in ws {
        while !w.is_finished() {
            ensure!(
                t.elapsed() < limit,
                "a writer still writes {limit:?} after {why}; connections: {}",
                std::fs::read_to_string("/sys/kernel/debug/partcp/connections").unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        errors.push(w.join().map_err(|_| "writer panicked".to_string())?);
    }
    Ok(errors)
}

/// After a fault: every partcp socket closed and (within TIME-WAIT) every connection
/// freed, and the shared network still carries a partcp connection.
fn all_released() -> TestResult {
    net::wait_until("AF_PARTCP sockets closed", Duration::from_secs(10), || Ok(sys::sockets_open()? == 0))?;
    net::wait_until("connections freed", Duration::from_secs(75), || Ok(sys::live_conns()? == 0)).map_err(|e| {
        format!(
            "{e}; connections: {}",
            std::fs::read_to_string("/sys/kernel/debug/partcp/connections").unwrap_or_default()
        )
    })?;
    net::setup::ensure()?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let (f, p) = net::f_client(fam)?;
    net::pass(&f, &p, b"still working")
}

/// The private network with 4 + 4 live connections (TCP_USER_TIMEOUT 3 s on the partcp
/// side) and a writer on each partcp socket.
type Live = (Vec<(TcpStream, TcpStream)>, Vec<std::thread::JoinHandle<std::io::Error>>);

fn live_traffic() -> Result<Live, String> {
    private_net()?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let pairs = live_pairs(fam, 4)?;
    user_timeout(&pairs, 3000)?;
    let ws = writers(&pairs)?;
    std::thread::sleep(Duration::from_millis(300));
    Ok((pairs, ws))
}

fn veth_delete_live() -> TestResult {
    let (pairs, ws) = live_traffic()?;
    run(&format!("ip -n {} link del {}", FA.name(), dev(FA)))?;
    writers_fail(ws, Duration::from_secs(30))?;
    drop(pairs);
    for ns in [FA, FB] {
        run(&format!("ip netns del {}", ns.name()))?;
    }
    all_released()
}

fn netns_delete_live() -> TestResult {
    let (pairs, ws) = live_traffic()?;
    // The namespaces lose their names; they live on while sockets hold them. Then the
    // Linux side closes (its namespace dies, taking the veth with it) while partcp's
    // writers are still writing.
    for ns in [FA, FB] {
        run(&format!("ip netns del {}", ns.name()))?;
    }
    let (fs, peers): (Vec<TcpStream>, Vec<TcpStream>) = pairs.into_iter().unzip();
    drop(peers);
    writers_fail(ws, Duration::from_secs(30))?;
    drop(fs);
    all_released()
}

fn rmmod_under_load() -> TestResult {
    net::setup::ensure()?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let mut pairs = Vec::new();
    for i in 0..8 {
        pairs.push(if i % 2 == 0 { net::f_client(fam)? } else { net::f_server(fam)? });
    }
    let ws = writers(&pairs)?;
    // Linux peers drain in the background until their sockets close.
    let drains: Vec<_> = pairs
        .iter()
        .map(|(_, p)| {
            let mut p = p.try_clone().map_err(|e| format!("clone: {e}"))?;
            Ok(std::thread::spawn(move || {
                let mut b = vec![0u8; 64 << 10];
                while matches!(p.read(&mut b), Ok(n) if n > 0) {}
            }))
        })
        .collect::<Result<_, String>>()?;
    std::thread::sleep(Duration::from_millis(500));
    // Half the partcp sockets abort, half close with data in flight; the writers' clones
    // are shut down so the sockets really close.
    for (i, (f, _)) in pairs.iter().enumerate() {
        if i % 2 == 0 {
            raw::set_linger(f, true, 0)?;
        }
        let _ = raw::shutdown(f, libc::SHUT_RDWR);
    }
    // Any error will do: the sockets were shut down under them.
    writers_end(ws, Duration::from_secs(30), "their sockets were shut down")?;
    let (fs, peers): (Vec<TcpStream>, Vec<TcpStream>) = pairs.into_iter().unzip();
    drop(fs);
    let t = Instant::now();
    let mut last = Ok(());
    net::wait_until("partcp unloadable", Duration::from_secs(60), || {
        last = sys::unload_module("partcp");
        Ok(last.is_ok())
    })
    .map_err(|e| format!("{e}: last {:?}", last.map_err(errname)))?;
    println!("# fault.rmmod_under_load: unloaded {:.2}s after closing", t.elapsed().as_secs_f64());
    drop(peers);
    for d in drains {
        let _ = d.join();
    }
    let ko = std::env::var("PARTCP_KO").map_err(|_| "PARTCP_KO not set".to_string())?;
    sys::load_module(&ko, "").map_err(|e| format!("reload: {}", errname(e)))?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let (f, p) = net::f_client(fam)?;
    net::pass(&f, &p, b"after rmmod under load")
}
