//! partcp's in-VM test programs: each test calls the socket API (or the module
//! loader) against a loaded partcp.ko and asserts the results.
//!
//! Output is TAP-like: one `ok N - name` or `not ok N - name: reason` line per test,
//! then `# N passed, M failed`; the exit status is non-zero if any test failed.
//! Lines starting with `#` are notes. `scripts/test` counts the `ok`/`not ok` lines.
//! Run inside the test VM: `scripts/vm -- partcp-vmtest`.
//!
//! Usage: `partcp-vmtest [--list] [--partcp-net] [--long] [FILTER...]`; a test runs if
//! its name contains any FILTER (no FILTER: all tests of the selected sets).
//!
//! Test sets, in the order they run:
//! - `module.*`, `debugfs.*`, `socket.*`: AF_PARTCP socket creation (`sockets.rs`);
//! - `net.inet.*`: the network suite (`net/`) against Linux TCP (AF_INET). Every network
//!   test is written once, parametrized by the family under test, so this run proves that
//!   the expectations are what Linux does. Always on. `partcp-vmtest net.inet` runs only
//!   this set;
//! - `hostile.*`: a hand-crafting hostile peer and floods against partcp (`hostile/`);
//! - `trace.*`: the tracepoints, recorded through tracefs during a transfer (`trace.rs`);
//! - `perm.*`: debugfs write permissions, network namespace isolation (`perm.rs`);
//! - `fuzz.syscalls`: a bounded run of the system-call fuzzer `partcp-sysfuzz` (`fuzz.rs`);
//! - `lifecycle.*`: unload/reload of the module (`lifecycle.rs`);
//! - `fault.*`: allocation failures (debug kernel only), device and namespace removal
//!   and unloading under load (`fault.rs`);
//! - `net.partcp.<strategy>.*`: the same network suite against AF_PARTCP, once per
//!   parallelization strategy (`msgp`, `connp-l`, `connp-t`; the module is reloaded
//!   with that strategy by `net.partcp.<strategy>.load`), then
//!   `net.partcp.<strategy>.unload_with_open_connections`. On by default (`--no-partcp-net` turns
//!   it off; `--strategies msgp,connp-t` picks strategies); tests for behaviour partcp
//!   does not have yet are listed in `net::PARTCP_GAPS` and reported as `#` notes. Run
//!   only them with `scripts/vm -- tools/target/release/partcp-vmtest net.partcp`.
//!
//! `--long` adds 256 MB transfers to the network suite (default: up to 64 MB).
//!
//! `--time-scale N` multiplies every case's time limit by N (`make test-debug` and
//! `make test-kasan` pass it: their kernels run several times slower under the emulator).
//!
//! `partcp-vmtest demo [--mb N] [--conns N] [--strategies S,S,...]` is not a test run:
//! it is what `make run` shows (`demo.rs`): partcp and Linux TCP moving checked data
//! under each strategy, with the counters that moved.
//!
//! Each test runs in its own thread under a time limit; a test that overruns it is
//! reported `not ok ... timed out` and left behind while the run goes on.

mod demo;
mod fault;
mod fuzz;
mod hostile;
mod lifecycle;
mod net;
mod perm;
mod preload;
mod sockets;
mod strategy;
mod sys;
mod trace;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// `--time-scale`: the factor for every case's time limit, and for the windows inside
/// cases that bound a rate rather than detect a hang (setting up 16384 connections),
/// on the slower kernels (2 for the debug flavour, 5 for KASAN).
static TIME_SCALE: AtomicU32 = AtomicU32::new(1);

/// `d` multiplied by `--time-scale`.
pub(crate) fn scaled(d: Duration) -> Duration {
    d * TIME_SCALE.load(Ordering::Relaxed)
}

/// A test's outcome: `Err` carries the reason.
pub type TestResult = Result<(), String>;

/// A named test in a static table.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// A test ready to run: its full name, its time limit and its body.
pub struct Case {
    pub name: String,
    pub timeout: Duration,
    pub run: Box<dyn FnOnce() -> TestResult + Send>,
}

/// The time limit of tests that do not set one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Case {
    fn from_table(tests: &[Test]) -> impl Iterator<Item = Case> + '_ {
        tests.iter().map(|t| {
            let run = t.run;
            Case { name: t.name.to_string(), timeout: DEFAULT_TIMEOUT, run: Box::new(run) }
        })
    }
}

/// Command-line switches.
#[derive(Clone, Copy, Default)]
pub struct Opts {
    /// `--partcp-net`: also run the network suite against AF_PARTCP.
    pub partcp_net: bool,
    /// `--long`: add the 256 MB transfers.
    pub long: bool,
}

/// Fails the current test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Runs one case in its own thread; `Err` on failure, panic or timeout.
fn run_case(case: Case) -> TestResult {
    let (tx, rx) = std::sync::mpsc::channel();
    let timeout = case.timeout;
    let run = case.run;
    std::thread::Builder::new()
        .name(case.name.chars().take(15).collect())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
            let _ = tx.send(r);
        })
        .map_err(|e| format!("spawning the test thread: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        }
        Err(_) => Err(format!("timed out after {}s (test thread left running)", timeout.as_secs())),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("demo") {
        std::process::exit(demo::main(&args[1..]));
    }
    // The partcp network suite is part of the default run (and so of `make test`).
    let mut opts = Opts { partcp_net: true, ..Opts::default() };
    let mut list = false;
    let mut time_scale = 1u32;
    let mut filters = Vec::new();
    let mut strategies: Vec<String> = net::STRATEGIES.iter().map(|s| s.0.to_string()).collect();
    let usage = || {
        eprintln!(
            "usage: partcp-vmtest [--list] [--partcp-net|--no-partcp-net] [--long] [--time-scale N] [--strategies S,S,...] [FILTER...]"
        );
        std::process::exit(2);
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--strategies" => {
                let Some(v) = it.next() else { usage() };
                strategies = v.split(',').map(str::to_string).collect();
                if strategies.iter().any(|s| !net::STRATEGIES.iter().any(|k| k.0 == s)) {
                    usage();
                }
            }
            "--time-scale" => match it.next().and_then(|v| v.parse::<u32>().ok()) {
                Some(n) if (1..=100).contains(&n) => time_scale = n,
                _ => usage(),
            },
            "--list" => list = true,
            "--partcp-net" => opts.partcp_net = true,
            "--no-partcp-net" => opts.partcp_net = false,
            "--long" => opts.long = true,
            f if f.starts_with("--") => usage(),
            f => filters.push(f.to_string()),
        }
    }
    if !opts.partcp_net && filters.iter().any(|f| f.starts_with("net.partcp")) {
        println!("# net.partcp.* tests are off (--no-partcp-net)");
    }

    // Socket tests first; lifecycle tests unload and reload the module and end with it
    // loaded with default parameters, so the partcp network tests (and the one that
    // unloads the module under open connections, last) come after them.
    let tests: Vec<Case> = Case::from_table(sockets::TESTS)
        .chain(Case::from_table(strategy::TESTS))
        .chain(Case::from_table(trace::TESTS))
        .chain(net::cases(net::Kind::Inet, opts))
        .chain(hostile::cases())
        .chain(Case::from_table(perm::TESTS))
        .chain(fuzz::cases())
        .chain(Case::from_table(lifecycle::TESTS))
        .chain(fault::cases())
        .chain(preload::cases())
        .chain(if opts.partcp_net { net::partcp_cases(opts, &strategies) } else { Vec::new() })
        .filter(|t| filters.is_empty() || filters.iter().any(|f| t.name.contains(f.as_str())))
        .collect();

    if list {
        for t in &tests {
            println!("{}", t.name);
        }
        return;
    }

    let (mut passed, mut failed) = (0, 0);
    let mut times = Vec::new();
    let start = std::time::Instant::now();
    if time_scale > 1 {
        println!("# time limits scaled by {time_scale}");
    }
    TIME_SCALE.store(time_scale, Ordering::Relaxed);
    for (i, mut t) in tests.into_iter().enumerate() {
        t.timeout *= time_scale;
        let name = t.name.clone();
        let t0 = std::time::Instant::now();
        let r = run_case(t);
        times.push((t0.elapsed(), name.clone()));
        match r {
            Ok(()) => {
                passed += 1;
                println!("ok {} - {}", i + 1, name);
            }
            Err(why) => {
                failed += 1;
                println!("not ok {} - {}: {}", i + 1, name, why);
            }
        }
    }
    times.sort_by(|a, b| b.cmp(a));
    let slowest: Vec<String> = times.iter().take(12).map(|(d, n)| format!("{n} {:.1}s", d.as_secs_f64())).collect();
    println!("# {:.1}s in all; slowest: {}", start.elapsed().as_secs_f64(), slowest.join(", "));
    println!("# {passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
