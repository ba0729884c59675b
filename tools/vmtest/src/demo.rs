//! `partcp-vmtest demo`: what `make run` shows (`scripts/demo`). Not a test: a tour
//! of the main job, printed for a person.
//!
//! On the test network (`net/setup.rs`: namespaces `ptcp_a` 198.18.0.1 and `ptcp_b`
//! 198.18.0.2 joined by a veth pair), for each strategy in turn (switched through
//! `/sys/kernel/debug/partcp/strategy`, as the `strategy.*` tests do):
//!
//! 1. Linux TCP alone on the same path, both directions: the reference;
//! 2. the counters are zeroed (`reset`), then a Linux client in `ptcp_b` sends to a
//!    partcp server in `ptcp_a`, and a partcp client in `ptcp_a` sends to a Linux server
//!    in `ptcp_b`. Every transfer checks every byte received against the pattern sent
//!    (each connection starts at its own offset of a pattern whose period, a prime, is
//!    no multiple of any segment or write size, so lost, repeated, reordered or
//!    misdelivered data fails the check);
//! 3. once every partcp connection is freed, the counters that moved are read.
//!
//! Then one table puts the strategies side by side. The Linux side always closes
//! first, so partcp's connections end in LAST-ACK, not TIME-WAIT, and the next switch
//! is not refused for a minute.
//!
//! Usage: `partcp-vmtest demo [--mb N] [--conns N] [--strategies S,S,...]`: N MB per
//! transfer (default 64), spread over `--conns` connections (default 2).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::net::{self, accept, transfer, Family, Ns};
use crate::strategy::{self, Snapshot};
use crate::{ensure, sys, TestResult};

const MB: usize = 1 << 20;
/// The pattern's period: a prime, so no segment, write or read size divides it.
const PERIOD: usize = 1_048_573;
/// Bytes per `write` and per `read`.
const CHUNK: usize = 128 << 10;

/// The pattern, two periods long: bytes `[o, o + n)` of a stream starting at offset `s`
/// are `pattern()[(s + o) % PERIOD..][..n]` for any `n <= PERIOD`.
fn pattern() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| {
        let mut p = vec![0u8; 2 * PERIOD];
        transfer::fill(0x0de0_5eed, 0, &mut p[..PERIOD]);
        p.copy_within(..PERIOD, PERIOD);
        p
    })
}

/// A fresh starting offset in the pattern for each connection.
fn next_start() -> usize {
    static N: AtomicU64 = AtomicU64::new(1);
    (N.fetch_add(1, Ordering::Relaxed) as usize * 104_729) % PERIOD
}

struct Opts {
    bytes: usize,
    conns: usize,
    strategies: Vec<String>,
}

/// One side of a transfer.
#[derive(Clone, Copy)]
struct End {
    fam: Family,
    ns: Ns,
}

impl End {
    fn linux(&self) -> bool {
        self.fam == Family::Inet
    }

    fn who(&self, role: &str) -> String {
        format!("{} {role} ({})", if self.linux() { "Linux" } else { "partcp" }, self.ns.name())
    }
}

/// `conns` connections from `client` to `server`, each carrying `bytes / conns` bytes
/// from client to server, all at once; returns the time from the first byte sent to
/// the last byte received and checked (connection setup and teardown excluded).
fn transfer(client: End, server: End, bytes: usize, conns: usize) -> Result<Duration, String> {
    let (l, addr) = server.fam.listener(server.ns)?;
    let mut pairs = Vec::new();
    for i in 0..conns {
        let c = client.fam.connect(client.ns, addr).map_err(|e| format!("connection {i}: {e}"))?;
        let s = accept(&l).map_err(|e| format!("connection {i}: {e}"))?;
        pairs.push((c, s, next_start()));
    }
    drop(l);
    let each = bytes / conns;
    let start = Instant::now();
    // Each receiver returns when it has checked its last byte; senders return when the
    // connection is closed.
    let (sent, received): (Vec<TestResult>, Vec<Result<Instant, String>>) = std::thread::scope(|sc| {
        let handles: Vec<_> = pairs
            .into_iter()
            .map(|(c, s, off)| {
                let tx = sc.spawn(move || send(c, client.linux(), off, each));
                let rx = sc.spawn(move || receive(s, server.linux(), off, each));
                (tx, rx)
            })
            .collect();
        handles
            .into_iter()
            .map(|(tx, rx)| {
                (
                    tx.join().unwrap_or_else(|_| Err("sender panicked".into())),
                    rx.join().unwrap_or_else(|_| Err("receiver panicked".into())),
                )
            })
            .unzip()
    });
    let mut end = start;
    for (tx, rx) in sent.into_iter().zip(received) {
        end = end.max(rx?);
        tx?;
    }
    Ok(end - start)
}

/// Sends `len` pattern bytes from offset `off`, then waits for the peer to close. A
/// Linux sender closes first (its FIN follows the data); partcp's waits for the peer's.
fn send(mut s: TcpStream, linux: bool, off: usize, len: usize) -> TestResult {
    let p = pattern();
    let mut sent = 0;
    while sent < len {
        let at = (off + sent) % PERIOD;
        let n = CHUNK.min(len - sent);
        s.write_all(&p[at..at + n]).map_err(|e| format!("sender: write at {sent} of {len}: {e}"))?;
        sent += n;
    }
    if linux {
        s.shutdown(Shutdown::Write).map_err(|e| format!("sender: shutdown: {e}"))?;
    }
    let mut rest = [0u8; 64];
    let n = s.read(&mut rest).map_err(|e| format!("sender: waiting for the receiver to close: {e}"))?;
    ensure!(n == 0, "sender: received {n} bytes from the receiver");
    Ok(())
}

/// Receives `len` bytes, checking each against the pattern from offset `off`, and
/// returns when the last was checked. A Linux receiver then closes first; partcp's waits
/// for the sender's FIN.
fn receive(mut s: TcpStream, linux: bool, off: usize, len: usize) -> Result<Instant, String> {
    let p = pattern();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    while got < len {
        let want = CHUNK.min(len - got);
        let n = match s.read(&mut buf[..want]) {
            Ok(0) => return Err(format!("receiver: end of stream after {got} of {len} bytes")),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("receiver: read at {got} of {len}: {e}")),
        };
        let at = (off + got) % PERIOD;
        if buf[..n] != p[at..at + n] {
            let i = buf[..n].iter().zip(&p[at..at + n]).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!("receiver: byte {} of {len} differs from the byte sent", got + i));
        }
        got += n;
    }
    let done = Instant::now();
    if !linux {
        let n = s.read(&mut buf).map_err(|e| format!("receiver: read at the end: {e}"))?;
        ensure!(n == 0, "receiver: {n} bytes past the {len} sent");
    }
    Ok(done)
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e6
}

/// One strategy's results.
struct Run {
    label: String,
    /// (partcp Mb/s, Linux TCP Mb/s) for Linux -> partcp server, partcp client -> Linux.
    rates: [(f64, f64); 2],
    counters: Snapshot,
}

fn label(name: &str, knob: &str) -> String {
    let n = knob.split_whitespace().nth(1).unwrap_or("");
    match name {
        "msgp" => "MsgP".into(),
        "connp-l" => format!("ConnP-L({n})"),
        _ => format!("ConnP-T({n})"),
    }
}

fn explain(name: &str) -> &'static str {
    match name {
        "msgp" => "any context runs any segment, under the table lock and a lock per connection",
        "connp-l" => "connections hashed into groups; the caller takes its group's lock and does the work",
        _ => "each connection belongs to one protocol thread; other contexts hand work to it",
    }
}

fn run_strategy(name: &str, o: &Opts) -> Result<Run, String> {
    let (req, want) = strategy::request(name)?;
    strategy::switch(req, want)?;
    let label = label(name, want);
    println!("== {label}: {}", explain(name));
    let fam = Family::Partcp(sys::partcp_family()?);
    let (a_linux, b_linux) = (End { fam: Family::Inet, ns: Ns::A }, End { fam: Family::Inet, ns: Ns::B });
    let (a_partcp, b_linux_peer) = (End { fam, ns: Ns::A }, b_linux);
    // (client, server) of each partcp transfer and of Linux TCP's on the same path.
    let paths = [((b_linux_peer, a_partcp), (b_linux, a_linux)), ((a_partcp, b_linux_peer), (a_linux, b_linux))];
    let mut linux = [0.0; 2];
    for (i, (_, (c, s))) in paths.iter().enumerate() {
        linux[i] = mbps(o.bytes, transfer(*c, *s, o.bytes, o.conns).map_err(|e| format!("Linux TCP: {e}"))?);
    }
    strategy::reset()?;
    let mut rates = [(0.0, 0.0); 2];
    for (i, ((c, s), _)) in paths.iter().enumerate() {
        let what = format!("{} -> {}", c.who("client"), s.who("server"));
        let took = transfer(*c, *s, o.bytes, o.conns).map_err(|e| format!("{what}: {e}"))?;
        let r = mbps(o.bytes, took);
        rates[i] = (r, linux[i]);
        println!(
            "   {what:<48} {r:>5.0} Mb/s   Linux TCP {:>5.0} Mb/s (x{:.2})   {} MB checked in {:.2} s",
            linux[i],
            r / linux[i],
            o.bytes / MB,
            took.as_secs_f64()
        );
    }
    // Counters once every partcp connection is gone (polled through counters only:
    // reading `connections` would take the table lock and count).
    net::wait_until("partcp connections to close", Duration::from_secs(30), || {
        Ok(sys::live_conns()? == 0 && sys::sockets_open()? == 0)
    })?;
    Ok(Run { label, rates, counters: strategy::snapshot()? })
}

/// Thousands separated by commas: the counters run into the hundreds of thousands.
fn num(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table(runs: &[Run], o: &Opts) {
    const W: usize = 16;
    println!();
    println!("== side by side: {} MB per transfer over {} connection(s); partcp's counters", o.bytes / MB, o.conns);
    println!("   (/sys/kernel/debug/partcp/) zeroed before each strategy's partcp transfers and read after them");
    let row = |name: &str, cells: Vec<String>| {
        let cells: String = cells.iter().map(|c| format!("{c:>W$}")).collect();
        println!("   {name:<37}{cells}");
    };
    row("", runs.iter().map(|r| r.label.clone()).collect());
    for (i, what) in ["Linux client -> partcp server, Mb/s", "partcp client -> Linux server, Mb/s"].iter().enumerate() {
        row(what, runs.iter().map(|r| format!("{:.0}", r.rates[i].0)).collect());
        row("  Linux TCP, same path, Mb/s", runs.iter().map(|r| format!("{:.0}", r.rates[i].1)).collect());
    }
    let stat = |k: &str| runs.iter().map(|r| num(r.counters.stat(k))).collect::<Vec<_>>();
    let sched = |k: &str| runs.iter().map(|r| num(r.counters.sched(k))).collect::<Vec<_>>();
    row("segments received (stats)", stat("rx_segments"));
    row("segments sent (stats)", stat("tx_segments"));
    let mut classes: Vec<&String> = runs.iter().flat_map(|r| r.counters.locks.keys()).collect();
    classes.sort_by_key(|c| ["table", "listener", "conn", "group", "queue"].iter().position(|k| k == c).unwrap_or(9));
    classes.dedup();
    for class in classes {
        row(
            &format!("{class} lock: taken / contended"),
            runs.iter()
                .map(|r| {
                    let (a, c) = r.counters.locks.get(class).copied().unwrap_or((0, 0));
                    if a == 0 {
                        "-".to_string()
                    } else {
                        format!("{} / {}", num(a), num(c))
                    }
                })
                .collect(),
        );
    }
    row("hand-offs to protocol threads", sched("handoffs"));
    row("protocol-thread wake-ups", sched("thread_wakeups"));
    row("work done by the caller (inline)", sched("work_inline"));
    println!("   (segments: GRO-merged and TSO/GSO super-segments count once; contended: the lock was held when");
    println!(
        "   asked for. Every counter: Documentation/debugfs.md; what each strategy locks: Documentation/strategies.md)"
    );
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o =
        Opts { bytes: 64 * MB, conns: 2, strategies: net::STRATEGIES.iter().map(|s| s.0.to_string()).collect() };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--mb" => {
                o.bytes = val()?
                    .parse::<usize>()
                    .map_err(|e| format!("--mb: {e}"))?
                    .checked_mul(MB)
                    .ok_or("--mb: too large")?
            }
            "--conns" => o.conns = val()?.parse().map_err(|e| format!("--conns: {e}"))?,
            "--strategies" => o.strategies = val()?.split(',').map(str::to_string).collect(),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    ensure!(o.bytes >= MB && o.conns >= 1 && o.conns <= 64, "--mb must be at least 1 and --conns 1..=64");
    Ok(o)
}

/// Runs the demonstration; prints what went wrong and returns 1 on failure.
pub fn main(args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("partcp-vmtest demo: {e}\nusage: partcp-vmtest demo [--mb N] [--conns N] [--strategies S,S,...]");
            return 2;
        }
    };
    if let Err(e) = net::setup::ensure() {
        eprintln!("demo: building the test network: {e}");
        return 1;
    }
    pattern();
    println!(
        "network: netns ptcp_a 198.18.0.1 <== veth ==> netns ptcp_b 198.18.0.2; each transfer: {} MB over {} connection(s)",
        o.bytes / MB,
        o.conns
    );
    let mut runs = Vec::new();
    for s in &o.strategies {
        match run_strategy(s, &o) {
            Ok(r) => runs.push(r),
            Err(e) => {
                println!("demo: strategy {s}: FAILED: {e}");
                if !runs.is_empty() {
                    table(&runs, &o);
                }
                return 1;
            }
        }
    }
    table(&runs, &o);
    0
}
