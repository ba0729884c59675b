//! partcp-sysfuzz: a system-call fuzzer for AF_PARTCP sockets.
//!
//! Several threads issue random socket calls with random (often bad) arguments on a
//! shared pool of descriptors, closing descriptors other threads are using. Every result
//! must be success or an errno Linux TCP returns for that call (`table.rs`); success
//! must satisfy the call's invariants (`ops.rs`); no call may block longer than its
//! socket's timeouts allow (a watchdog); after the run, every descriptor closed, partcp's
//! `sockets_open` must be 0 and its connections must drain (TIME-WAIT is 60 s).
//!
//! Usage: `partcp-sysfuzz [--seed N] [--seconds S] [--threads T] [--drain SECS] [--inet]`.
//! Runs in the test VM (root, partcp loaded): the side under test in namespace
//! `ptcp_a` (198.18.0.1), a Linux TCP peer in `ptcp_b` (198.18.0.2), made if missing.
//! `--inet` fuzzes Linux TCP (AF_INET) instead: the check of the errno table itself.
//! Each thread's call sequence is a function of the seed (the interleaving is not).

mod env;
mod ops;
mod peer;
mod pool;
mod rng;
mod table;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use table::{Call, N_CALLS};

/// A call taking longer than this is a hang: socket timeouts are below 1 s, linger at
/// most 2 s; the rest is slack for a slow (TCG) VM and calls serialized on one socket.
/// The watchdog keeps watching after the run's time is up, until every fuzzing thread
/// has returned, so a call stuck then ends the run at most this long after its start.
const HANG: Duration = Duration::from_secs(30);
/// Failures printed in full (all are counted).
const MAX_PRINTED: u64 = 30;

struct Opts {
    seed: u64,
    seconds: u64,
    threads: usize,
    drain: u64,
    inet: bool,
}

fn usage() -> ! {
    eprintln!("usage: partcp-sysfuzz [--seed N] [--seconds S] [--threads T] [--drain SECS] [--inet]");
    eprintln!("  --seed N     seed (decimal or 0x hex; default: from the clock)");
    eprintln!("  --seconds S  run time (default 30)");
    eprintln!("  --threads T  fuzzing threads, 1..=64 (default 4)");
    eprintln!("  --drain SECS wait up to SECS for partcp's connections to drain (default 90; 0: skip)");
    eprintln!("  --inet       fuzz Linux TCP (AF_INET) instead of AF_PARTCP");
    std::process::exit(2);
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn opts() -> Opts {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut o = Opts {
        seed: now.as_nanos() as u64 ^ u64::from(std::process::id()) << 32,
        seconds: 30,
        threads: 4,
        drain: 90,
        inet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().as_deref().and_then(parse_u64).unwrap_or_else(|| usage());
        match a.as_str() {
            "--seed" => o.seed = val(),
            "--seconds" => o.seconds = val(),
            "--threads" => o.threads = val() as usize,
            "--drain" => o.drain = val(),
            "--inet" => o.inet = true,
            _ => usage(),
        }
    }
    if o.threads == 0 || o.threads > 64 || o.seconds == 0 {
        usage();
    }
    o
}

/// What each thread is doing, for the watchdog.
struct Busy {
    since: Option<Instant>,
    desc: String,
    op: u64,
}

/// Results shared by all threads.
struct Shared {
    seed: u64,
    pool: pool::Pool,
    stop: AtomicBool,
    /// Every fuzzing thread has returned: the watchdog's work is done.
    joined: AtomicBool,
    failures: AtomicU64,
    /// Per call: [successes, then one count per errno 0..160].
    hist: Mutex<Vec<[u64; 161]>>,
    busy: Vec<Mutex<Busy>>,
    /// Per thread: the system call it is in.
    in_flight: Vec<Mutex<Option<ops::InFlight>>>,
}

impl Shared {
    fn fail(&self, what: &str) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed);
        if n < MAX_PRINTED {
            println!("FAIL seed={:#x}: {what}", self.seed);
        }
    }
}

fn worker(sh: &Shared, t: usize, family: i32, nullfd: i32) {
    let rng = rng::Rng::new(sh.seed, t as u64 + 1);
    let mut ctx = match ops::Ctx::new(rng, &sh.pool, family, nullfd, &sh.in_flight[t]) {
        Ok(c) => c,
        Err(e) => return sh.fail(&format!("thread {t}: {e}")),
    };
    let mut local = vec![[0u64; 161]; N_CALLS];
    let mut op = 0u64;
    while !sh.stop.load(Ordering::Relaxed) {
        op += 1;
        {
            let mut b = sh.busy[t].lock().unwrap();
            b.since = Some(Instant::now());
            b.op = op;
        }
        let done = ctx.step();
        sh.busy[t].lock().unwrap().since = None;
        for d in done {
            let slot = if d.ret >= 0 { 0 } else { (d.errno as usize).min(160) };
            local[d.call as usize][slot] += 1;
            if let Err(why) = d.check(&sh.pool) {
                let res = if d.ret == -1 { format!("-1 {}", table::name(d.errno)) } else { d.ret.to_string() };
                sh.fail(&format!("thread {t} op {op}: {} = {res}: {why}", d.desc));
            }
            sh.busy[t].lock().unwrap().desc = d.desc;
        }
    }
    let mut h = sh.hist.lock().unwrap();
    for (c, l) in local.iter().enumerate() {
        for (k, v) in l.iter().enumerate() {
            h[c][k] += v;
        }
    }
}

/// Exits the process if a call has been running longer than [`HANG`]; watches until
/// every fuzzing thread has returned (`joined`), so also while the run is stopping.
fn watchdog(sh: &Shared) {
    let mut stopped = None;
    while !sh.joined.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(500));
        if stopped.is_none() && sh.stop.load(Ordering::Relaxed) {
            stopped = Some(Instant::now());
        }
        for (t, b) in sh.busy.iter().enumerate() {
            let b = b.lock().unwrap();
            if let Some(s) = b.since.filter(|s| s.elapsed() > HANG) {
                let call = match *sh.in_flight[t].lock().unwrap() {
                    Some(c) => c.to_string(),
                    None => "(between fuzzed calls)".into(),
                };
                let after_stop = match stopped {
                    Some(st) => format!(", {:.0}s after the run stopped", st.elapsed().as_secs_f64()),
                    None => String::new(),
                };
                println!(
                    "FAIL seed={:#x}: thread {t} op {}: {call} has not returned after {:.0}s (hang{after_stop}; the op after `{}`)",
                    sh.seed,
                    b.op,
                    s.elapsed().as_secs_f64(),
                    b.desc
                );
                dump_connections();
                std::process::exit(1);
            }
        }
    }
}

fn dump_connections() {
    if let Ok(s) = std::fs::read_to_string(format!("{}/connections", env::DEBUGFS)) {
        for l in s.lines().take(40) {
            println!("# {l}");
        }
    }
}

fn print_hist(h: &[[u64; 161]]) {
    const NAMES: [Call; N_CALLS] = [
        Call::Socket,
        Call::Bind,
        Call::Listen,
        Call::Accept,
        Call::Connect,
        Call::Send,
        Call::Sendto,
        Call::Sendmsg,
        Call::Write,
        Call::Recv,
        Call::Recvfrom,
        Call::Recvmsg,
        Call::Read,
        Call::Shutdown,
        Call::Setsockopt,
        Call::Getsockopt,
        Call::Ioctl,
        Call::Poll,
        Call::EpollCtl,
        Call::EpollWait,
        Call::Getsockname,
        Call::Getpeername,
        Call::Fcntl,
        Call::Close,
        Call::Dup,
    ];
    for (c, row) in NAMES.iter().zip(h) {
        let total: u64 = row.iter().sum();
        let mut s = format!("# {c:?}: {total} calls, ok {}", row[0]);
        for (e, n) in row.iter().enumerate().skip(1).filter(|(_, n)| **n > 0) {
            s += &format!(", {} {n}", table::name(e as i32));
        }
        println!("{s}");
    }
}

/// Waits until `cond` holds, at most `limit`; returns the time it took.
fn wait(limit: Duration, mut cond: impl FnMut() -> Result<bool, String>) -> Result<Option<Duration>, String> {
    let start = Instant::now();
    loop {
        if cond()? {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > limit {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn run(o: &Opts) -> Result<bool, String> {
    // SAFETY: setting signal dispositions to "ignore" before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGIO, libc::SIG_IGN);
        libc::signal(libc::SIGURG, libc::SIG_IGN);
    }
    env::ensure_netns()?;
    let family = if o.inet { libc::AF_INET } else { env::partcp_family()? };
    println!(
        "# partcp-sysfuzz --seed {:#x} --seconds {} --threads {} (family {family}{})",
        o.seed,
        o.seconds,
        o.threads,
        if o.inet { ", Linux TCP" } else { "" }
    );
    // Before any fuzzed socket exists: the peer's own descriptor table starts as a copy.
    let peer = peer::Peer::start(o.seed)?;
    env::enter(env::NS_A)?;
    // SAFETY: opening /dev/null with a NUL-terminated path.
    let nullfd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    let sh = Arc::new(Shared {
        seed: o.seed,
        pool: pool::Pool::new(),
        stop: AtomicBool::new(false),
        joined: AtomicBool::new(false),
        failures: AtomicU64::new(0),
        hist: Mutex::new(vec![[0; 161]; N_CALLS]),
        busy: (0..o.threads).map(|_| Mutex::new(Busy { since: None, desc: "(start)".into(), op: 0 })).collect(),
        in_flight: (0..o.threads).map(|_| Mutex::new(None)).collect(),
    });
    let start = Instant::now();
    let mut threads = Vec::new();
    for t in 0..o.threads {
        let sh = sh.clone();
        threads.push(std::thread::spawn(move || worker(&sh, t, family, nullfd)));
    }
    let wd = {
        let sh = sh.clone();
        std::thread::spawn(move || watchdog(&sh))
    };
    std::thread::sleep(Duration::from_secs(o.seconds));
    sh.stop.store(true, Ordering::Relaxed);
    // A thread stuck in a call blocks its join: the watchdog, still running, ends the
    // process then.
    for t in threads {
        t.join().map_err(|_| "a fuzzing thread panicked".to_string())?;
    }
    sh.joined.store(true, Ordering::Relaxed);
    let _ = wd.join();
    let elapsed = start.elapsed();
    for fd in sh.pool.drain() {
        ops::close(fd);
    }
    ops::close(nullfd);
    let h = sh.hist.lock().unwrap().clone();
    let calls: u64 = h.iter().flatten().sum();
    println!("# {calls} calls in {:.1}s", elapsed.as_secs_f64());
    print_hist(&h);

    if !o.inet {
        match wait(Duration::from_secs(10), || Ok(env::counter("sockets", "sockets_open")? == 0))? {
            Some(_) => println!("# sockets_open is 0"),
            None => sh.fail(&format!(
                "sockets_open is {} 10 s after every descriptor was closed",
                env::counter("sockets", "sockets_open")?
            )),
        }
    }
    let handled = peer.stop()?;
    println!("# the Linux peer handled {handled} connections");
    if !o.inet && o.drain > 0 {
        let before = env::live_conns()?;
        match wait(Duration::from_secs(o.drain), || Ok(env::live_conns()? == 0))? {
            Some(d) => println!("# {before} partcp connections drained in {:.1}s", d.as_secs_f64()),
            None => {
                sh.fail(&format!(
                    "{} partcp connections left {}s after the run (from {before})",
                    env::live_conns()?,
                    o.drain
                ));
                dump_connections();
            }
        }
    }
    let f = sh.failures.load(Ordering::Relaxed);
    println!("# seed {:#x}: {f} failures", o.seed);
    Ok(f == 0)
}

fn main() {
    let o = opts();
    match run(&o) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            println!("FAIL seed={:#x}: {e}", o.seed);
            std::process::exit(1);
        }
    }
}
