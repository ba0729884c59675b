//! `trace.*`: partcp's tracepoints (`/sys/kernel/tracing/events/partcp/`,
//! Documentation/tracing.md).
//!
//! Each test records into its own tracefs instance (`instances/partcp-vmtest`), so a
//! trace the user keeps in the top-level buffer is left alone, and disables the events
//! and removes the instance afterwards, also when it fails.
//!
//! - `trace.format`: every event exists, with the fields named as documented (those of
//!   Linux's `tcp:` and `sock:` events where they overlap).
//! - `trace.transfer`: with every event enabled, a switch to ConnP-T, one partcp client
//!   and one partcp server connection to and from Linux TCP carrying `SIZE` bytes each
//!   way, both closed, and a switch back. Checks: segments both ways for both
//!   connections, with their ports and at least `SIZE` payload bytes each way, a SYN
//!   each way, sane flags; each connection's state changes form one chain
//!   (TCP_CLOSE -> TCP_SYN_SENT ... -> TCP_CLOSE for the client, TCP_SYN_RECV ->
//!   TCP_ESTABLISHED ... -> TCP_CLOSE for the accepted one); hand-offs to the two
//!   protocol threads, of received segments and of socket calls; both strategy
//!   switches (and back to the strategy the test found); contended locks, if any, of
//!   known classes.
//! - `trace.rto`: a connect into the black hole (SYNs dropped): after the 1 s initial
//!   RTO, `partcp_rto_expire` (TCP_SYN_SENT, the RTO still 1 s: linear SYN timeouts)
//!   and a timeout `partcp_retransmit` of the SYN with the first SYN's sequence number;
//!   closing the socket is TCP_SYN_SENT -> TCP_CLOSE.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::net::raw;
use crate::net::setup::BLACKHOLE;
use crate::net::transfer::sequential;
use crate::net::{self, Family, Ns, A, B};
use crate::{ensure, sys, Test, TestResult};

const TRACEFS: &str = "/sys/kernel/tracing";
const INSTANCE: &str = "partcp-vmtest";
const STRATEGY: &str = "/sys/kernel/debug/partcp/strategy";
/// Bytes each way on each connection of `trace.transfer`.
const SIZE: usize = 256 * 1024;

/// The events and their fields (besides tracefs's common ones), as documented.
const EVENTS: &[(&str, &[&str])] = &[
    (
        "partcp_segment_recv",
        &["saddr", "daddr", "sport", "dport", "seq", "ack_seq", "flags", "window", "data_len", "segs"],
    ),
    (
        "partcp_segment_send",
        &["saddr", "daddr", "sport", "dport", "seq", "ack_seq", "flags", "window", "data_len", "segs"],
    ),
    ("partcp_set_state", &["saddr", "daddr", "sport", "dport", "oldstate", "newstate"]),
    ("partcp_retransmit", &["saddr", "daddr", "sport", "dport", "state", "kind", "seq", "data_len", "flags"]),
    ("partcp_rto_expire", &["saddr", "daddr", "sport", "dport", "state", "snd_una", "snd_nxt", "rto_us"]),
    ("partcp_handoff", &["thread", "kind", "depth"]),
    ("partcp_lock_contended", &["class", "wait_ns"]),
    ("partcp_strategy_switch", &["old", "old_n", "new", "new_n"]),
];

/// Lock classes of the `locks` debugfs file.
const LOCK_CLASSES: &[&str] = &["table", "conn", "group", "queue", "listener"];
const FLAGS: &[&str] = &["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

/// A tracefs instance with partcp's events; disabled and removed on drop.
struct Instance {
    dir: String,
}

impl Instance {
    /// A fresh instance with `events` (event names, or `None`: all of partcp's) enabled.
    fn new(events: Option<&[&str]>) -> Result<Instance, String> {
        if !std::path::Path::new(&format!("{TRACEFS}/instances")).exists() {
            net::setup::run(&format!("mount -t tracefs nodev {TRACEFS}"))?;
        }
        let dir = format!("{TRACEFS}/instances/{INSTANCE}");
        // Left over from an interrupted run: start clean.
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        let inst = Instance { dir };
        inst.write("buffer_size_kb", "4096")?;
        match events {
            None => inst.write("events/partcp/enable", "1")?,
            Some(list) => {
                for e in list {
                    inst.write(&format!("events/partcp/{e}/enable"), "1")?;
                }
            }
        }
        Ok(inst)
    }

    fn write(&self, file: &str, v: &str) -> TestResult {
        let p = format!("{}/{file}", self.dir);
        std::fs::write(&p, v).map_err(|e| format!("write {v:?} to {p}: {e}"))
    }

    /// Stops recording and parses what was recorded; fails if the buffer lost events.
    fn finish(&self) -> Result<Vec<Event>, String> {
        self.write("events/partcp/enable", "0")?;
        let p = format!("{}/trace", self.dir);
        let text = std::fs::read_to_string(&p).map_err(|e| format!("read {p}: {e}"))?;
        // "# entries-in-buffer/entries-written: 1234/1234   #P:2"
        if let Some(l) = text.lines().find(|l| l.contains("entries-in-buffer/entries-written:")) {
            let counts = l.split(':').nth(1).unwrap_or_default().split_whitespace().next().unwrap_or_default();
            let (a, b) = counts.split_once('/').unwrap_or(("", ""));
            ensure!(a == b, "the trace buffer lost events: {}", l.trim());
        }
        let events: Vec<Event> = text.lines().filter(|l| !l.starts_with('#')).filter_map(Event::parse).collect();
        println!("# {} partcp events recorded", events.len());
        Ok(events)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.write("events/partcp/enable", "0");
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// One line of the `trace` file.
#[derive(Debug)]
struct Event {
    name: String,
    fields: HashMap<String, String>,
}

impl Event {
    /// `  task-pid  [cpu] flags  ts: partcp_x: a=1 b=2`
    fn parse(line: &str) -> Option<Event> {
        let at = line.find(": partcp_")?;
        let rest = &line[at + 2..];
        let (name, args) = rest.split_once(": ")?;
        let fields = args
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Event { name: name.to_string(), fields })
    }

    fn s(&self, k: &str) -> Result<&str, String> {
        self.fields.get(k).map(String::as_str).ok_or_else(|| format!("{} without {k}: {:?}", self.name, self.fields))
    }

    fn u(&self, k: &str) -> Result<u64, String> {
        let v = self.s(k)?;
        v.parse().map_err(|_| format!("{} {k}={v:?} is not a number", self.name))
    }

    fn addr(&self, k: &str) -> Result<Ipv4Addr, String> {
        let v = self.s(k)?;
        v.parse().map_err(|_| format!("{} {k}={v:?} is not an IPv4 address", self.name))
    }

    fn flags(&self) -> Result<Vec<&str>, String> {
        let v = self.s("flags")?;
        let f: Vec<&str> = v.split('|').collect();
        ensure!(f.iter().all(|x| FLAGS.contains(x)), "{} flags={v:?}", self.name);
        Ok(f)
    }

    /// Whether this per-packet event is of the connection `local` <-> `remote` (in the
    /// packet's own direction: received segments come from `remote`).
    fn of_packet(&self, local: SocketAddrV4, remote: SocketAddrV4) -> bool {
        let (from, to) = if self.name == "partcp_segment_recv" { (remote, local) } else { (local, remote) };
        self.is(from, to)
    }

    /// Whether saddr:sport is `from` and daddr:dport `to`.
    fn is(&self, from: SocketAddrV4, to: SocketAddrV4) -> bool {
        let e = || -> Result<bool, String> {
            Ok(self.addr("saddr")? == *from.ip()
                && self.u("sport")? == u64::from(from.port())
                && self.addr("daddr")? == *to.ip()
                && self.u("dport")? == u64::from(to.port()))
        };
        e().unwrap_or(false)
    }
}

fn format() -> TestResult {
    let dir = format!("{TRACEFS}/events/partcp");
    if !std::path::Path::new(&dir).exists() {
        let _ = net::setup::run(&format!("mount -t tracefs nodev {TRACEFS}"));
    }
    for (event, fields) in EVENTS {
        let p = format!("{dir}/{event}/format");
        let text = std::fs::read_to_string(&p).map_err(|e| format!("read {p}: {e}"))?;
        // "\tfield:__u16 sport;\toffset:16;\tsize:2;\tsigned:0;"
        let have: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("field:"))
            .filter_map(|f| f.split(';').next())
            .filter_map(|decl| decl.split_whitespace().last())
            .map(|name| name.split('[').next().unwrap_or(name).to_string())
            .filter(|n| !n.starts_with("common_"))
            .collect();
        ensure!(have == *fields, "{event}: fields {have:?}, want {fields:?}");
    }
    Ok(())
}

fn strategy(req: &str) -> TestResult {
    let start = std::time::Instant::now();
    loop {
        match std::fs::write(STRATEGY, req) {
            Ok(()) => return Ok(()),
            // Earlier tests' connections may still be closing.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => return Err(format!("write {req:?} to {STRATEGY}: {e}")),
        }
    }
}

/// The events of one connection (`local` is partcp's end), checked: segments both
/// ways with at least `SIZE` payload bytes and a SYN each way, and one chain of state
/// changes from `first` to TCP_CLOSE.
fn check_conn(ev: &[Event], what: &str, local: SocketAddrV4, remote: SocketAddrV4, first: (&str, &str)) -> TestResult {
    for (dir, name) in [("received", "partcp_segment_recv"), ("sent", "partcp_segment_send")] {
        let segs: Vec<&Event> = ev.iter().filter(|e| e.name == name && e.of_packet(local, remote)).collect();
        ensure!(!segs.is_empty(), "{what}: no segment {dir}");
        let mut bytes = 0;
        let mut syn = false;
        for e in &segs {
            let flags = e.flags()?;
            syn |= flags.contains(&"SYN");
            ensure!(e.u("segs")? >= 1, "{what}: {e:?}");
            e.u("window")?;
            e.u("seq")?;
            e.u("ack_seq")?;
            bytes += e.u("data_len")?;
        }
        ensure!(syn, "{what}: no SYN {dir}");
        ensure!(bytes >= SIZE as u64, "{what}: {bytes} payload bytes {dir} in {} segments, want >= {SIZE}", segs.len());
        println!("# {what}: {} segments {dir}, {bytes} payload bytes", segs.len());
    }
    let states: Vec<(&str, &str)> = ev
        .iter()
        .filter(|e| e.name == "partcp_set_state" && e.is(local, remote))
        .map(|e| Ok((e.s("oldstate")?, e.s("newstate")?)))
        .collect::<Result<_, String>>()?;
    let chain: Vec<String> = states.iter().map(|(o, n)| format!("{o}->{n}")).collect();
    ensure!(states.first() == Some(&first), "{what}: state changes {chain:?} do not start with {first:?}");
    ensure!(states.windows(2).all(|w| w[0].1 == w[1].0), "{what}: state changes {chain:?} do not chain");
    ensure!(states.last().map(|s| s.1) == Some("TCP_CLOSE"), "{what}: state changes {chain:?} do not end in TCP_CLOSE");
    ensure!(states.iter().any(|s| s.1 == "TCP_ESTABLISHED"), "{what}: never TCP_ESTABLISHED: {chain:?}");
    println!("# {what}: {}", chain.join(" "));
    Ok(())
}

/// Reads `f` until the peer's FIN (the peer closed first).
fn wait_eof(mut f: &std::net::TcpStream) -> TestResult {
    let mut b = [0u8; 64];
    let n = f.read(&mut b).map_err(|e| format!("read at EOF: {e}"))?;
    ensure!(n == 0, "{n} bytes past the end");
    Ok(())
}

fn transfer() -> TestResult {
    net::setup::ensure()?;
    let threads: u64 = if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 { 2 } else { 1 };
    // The strategy to come back to (the load-time one, normally `msgp`).
    let initial = std::fs::read_to_string(STRATEGY).map_err(|e| format!("read {STRATEGY}: {e}"))?;
    let initial = initial.trim().to_string();
    let (old, old_n) = initial.split_once(' ').unwrap_or((initial.as_str(), "0"));
    let inst = Instance::new(None)?;
    strategy(&format!("connp-t {threads}"))?;
    type Ends = (SocketAddrV4, SocketAddrV4);
    let r = (|| -> Result<(Ends, Ends), String> {
        let fam = Family::Partcp(sys::partcp_family()?);
        let (f, peer) = net::f_client(fam)?;
        let (g, peer2) = net::f_server(fam)?;
        let ends = |s: &std::net::TcpStream| -> Result<(SocketAddrV4, SocketAddrV4), String> {
            let l = raw::check("getsockname", raw::sockname(s))?.addr;
            let r = raw::check("getpeername", raw::peername(s))?.addr;
            Ok((l, r))
        };
        let (fl, fr) = ends(&f)?;
        let (gl, gr) = ends(&g)?;
        // Linux sends first and shuts down first (each `one_way` ends with the sender's
        // shutdown), so partcp's ends go CLOSE_WAIT -> LAST_ACK -> CLOSE, with no
        // TIME-WAIT to block the switch back.
        sequential(&peer, &f, SIZE).map_err(|e| format!("partcp client: {e}"))?;
        sequential(&peer2, &g, SIZE).map_err(|e| format!("partcp server: {e}"))?;
        drop(peer);
        drop(peer2);
        wait_eof(&f)?;
        wait_eof(&g)?;
        drop(f);
        drop(g);
        net::wait_until("partcp connections to close", Duration::from_secs(20), || {
            Ok(sys::live_conns()? == 0 && sys::sockets_open()? == 0)
        })?;
        Ok(((fl, fr), (gl, gr)))
    })();
    let back = strategy(&initial);
    let ((fl, fr), (gl, gr)) = r?;
    back?;
    let ev = inst.finish()?;
    ensure!(*fl.ip() == A && *fr.ip() == B && *gl.ip() == A && *gr.ip() == B, "addresses {fl} {fr} {gl} {gr}");

    check_conn(&ev, "partcp client", fl, fr, ("TCP_CLOSE", "TCP_SYN_SENT"))?;
    check_conn(&ev, "partcp server", gl, gr, ("TCP_SYN_RECV", "TCP_ESTABLISHED"))?;

    // Hand-offs to the protocol threads: segments from NAPI, socket calls.
    let mut kinds = HashMap::new();
    for e in ev.iter().filter(|e| e.name == "partcp_handoff") {
        ensure!(e.u("thread")? < threads, "hand-off to thread {} of {threads}", e.u("thread")?);
        ensure!(e.u("depth")? >= 1, "hand-off with queue depth 0: {e:?}");
        let k = e.s("kind")?;
        ensure!(["segment", "syscall", "timer", "other"].contains(&k), "hand-off kind {k:?}");
        *kinds.entry(k.to_string()).or_insert(0u64) += 1;
    }
    println!("# hand-offs: {kinds:?}");
    ensure!(kinds.contains_key("segment") && kinds.contains_key("syscall"), "hand-offs {kinds:?}");

    let switches: Vec<String> = ev
        .iter()
        .filter(|e| e.name == "partcp_strategy_switch")
        .map(|e| Ok(format!("{} {}->{} {}", e.s("old")?, e.u("old_n")?, e.s("new")?, e.u("new_n")?)))
        .collect::<Result<_, String>>()?;
    let want = [format!("{old} {old_n}->connp-t {threads}"), format!("connp-t {threads}->{old} {old_n}")];
    ensure!(switches == want, "strategy switches {switches:?}, want {want:?}");

    let mut contended = 0;
    for e in ev.iter().filter(|e| e.name == "partcp_lock_contended") {
        let c = e.s("class")?;
        ensure!(LOCK_CLASSES.contains(&c), "contended lock class {c:?}");
        e.u("wait_ns")?;
        contended += 1;
    }
    println!("# {contended} contended lock acquisitions");
    // Retransmissions are possible (a lost segment) but not expected: check them if any.
    for e in ev.iter().filter(|e| e.name == "partcp_retransmit") {
        ensure!(["fast", "timeout"].contains(&e.s("kind")?), "{e:?}");
        e.flags()?;
    }
    Ok(())
}

fn rto() -> TestResult {
    net::setup::ensure()?;
    let inst =
        Instance::new(Some(&["partcp_segment_send", "partcp_retransmit", "partcp_rto_expire", "partcp_set_state"]))?;
    let fam = Family::Partcp(sys::partcp_family()?);
    let to = SocketAddrV4::new(BLACKHOLE, net::next_port());
    let before = sys::live_conns()?;
    let fd = fam.socket_in(Ns::A, libc::SOCK_NONBLOCK)?;
    raw::expect_err("non-blocking connect", raw::connect(&fd, to), libc::EINPROGRESS)?;
    let local = raw::check("getsockname", raw::sockname(&fd))?.addr;
    // The initial RTO is 1 s (the retransmitted SYN follows at once); as in Linux 7.3
    // (`tcp_syn_linear_timeouts`, default 4), the first SYN retransmissions do not back
    // the RTO off, so the next expiry is 1 s later again.
    std::thread::sleep(Duration::from_millis(2500));
    drop(fd);
    net::wait_until("the connection to go", Duration::from_secs(5), || Ok(sys::live_conns()? <= before))?;
    let ev = inst.finish()?;
    let mine: Vec<&Event> = ev.iter().filter(|e| e.is(local, to)).collect();
    let syn = mine
        .iter()
        .find(|e| e.name == "partcp_segment_send")
        .ok_or_else(|| format!("no SYN sent from {local} to {to}: {mine:?}"))?;
    ensure!(syn.flags()? == ["SYN"], "first segment {syn:?}");
    let iss = syn.u("seq")?;
    let exp = mine.iter().find(|e| e.name == "partcp_rto_expire").ok_or("no partcp_rto_expire")?;
    ensure!(exp.s("state")? == "TCP_SYN_SENT", "{exp:?}");
    let rto_us = exp.u("rto_us")?;
    ensure!(
        (1_000_000..=1_100_000).contains(&rto_us),
        "RTO after the first expiry {rto_us} us, want 1 s (linear SYN timeouts): {exp:?}"
    );
    ensure!(exp.u("snd_una")? == iss, "{exp:?}: snd_una is not the ISS {iss}");
    let rtx = mine.iter().find(|e| e.name == "partcp_retransmit").ok_or("no partcp_retransmit")?;
    ensure!(rtx.s("kind")? == "timeout" && rtx.flags()? == ["SYN"], "{rtx:?}");
    ensure!(rtx.u("seq")? == iss && rtx.u("data_len")? == 0, "{rtx:?}: not the SYN at {iss}");
    ensure!(rtx.s("state")? == "TCP_SYN_SENT", "{rtx:?}");
    let states: Vec<(&str, &str)> = mine
        .iter()
        .filter(|e| e.name == "partcp_set_state")
        .map(|e| Ok((e.s("oldstate")?, e.s("newstate")?)))
        .collect::<Result<_, String>>()?;
    ensure!(states == [("TCP_CLOSE", "TCP_SYN_SENT"), ("TCP_SYN_SENT", "TCP_CLOSE")], "state changes {states:?}");
    Ok(())
}

pub const TESTS: &[Test] = &[
    Test { name: "trace.format", run: format },
    Test { name: "trace.transfer", run: transfer },
    Test { name: "trace.rto", run: rto },
];
