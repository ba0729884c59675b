//! `fuzz.syscalls`: a bounded run of the system-call fuzzer (`tools/sysfuzz`,
//! `partcp-sysfuzz`) against AF_PARTCP: a fixed seed, then a seed from the clock (both
//! printed), 20 s each with 4 threads; the second run also waits for partcp's
//! connections to drain (TIME-WAIT is 60 s). The fuzzer's output is passed on as `#`
//! notes; any `FAIL` line or a non-zero exit fails the test. A run that outlives its
//! deadline (its time, its drain bound and [`SLACK`]) is killed, so that it leaves no
//! partcp sockets to later tests, and fails with the output it printed so far.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Case, TestResult};

const BIN: &str = "tools/target/release/partcp-sysfuzz";
/// A run's time beyond `--seconds` and `--drain`: the fuzzer's own hang watchdog (30 s
/// per call, still watching while the run stops), the 10 s `sockets_open` wait, closes.
const SLACK: Duration = Duration::from_secs(60);

pub fn cases() -> Vec<Case> {
    vec![Case { name: "fuzz.syscalls".into(), timeout: Duration::from_secs(330), run: Box::new(syscalls) }]
}

fn syscalls() -> TestResult {
    crate::net::setup::ensure()?;
    // (seconds, drain): deadlines 80 s and 200 s, within the case's 330 s.
    let runs: [(u64, u64, &[&str]); 2] = [(20, 0, &["--seed", "1"]), (20, 120, &[])];
    for (seconds, drain, extra) in runs {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(["--seconds".into(), seconds.to_string(), "--threads".into(), "4".into()]);
        args.extend(["--drain".into(), drain.to_string()]);
        run(&args, Duration::from_secs(seconds + drain) + SLACK)?;
    }
    Ok(())
}

/// Runs the fuzzer with `args`, killing it after `deadline`.
fn run(args: &[String], deadline: Duration) -> TestResult {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {BIN}: {e}"))?;
    // Read both pipes while the fuzzer runs (it must never block on a full pipe).
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for {BIN}: {e}"));
            }
        }
    };
    let text = collect(out);
    let stderr = collect(err);
    for l in text.lines() {
        println!("# {}", l.trim_start_matches("# "));
    }
    let fails: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).take(3).collect();
    match status {
        None => Err(format!(
            "{BIN} {} still running after {} s: killed; {} {}",
            args.join(" "),
            deadline.as_secs(),
            fails.join("; "),
            stderr.trim()
        )),
        Some(st) if !st.success() => {
            Err(format!("{BIN} {} exited with {st}: {} {}", args.join(" "), fails.join("; "), stderr.trim()))
        }
        Some(_) => Ok(()),
    }
}

type Reader = (Arc<Mutex<Vec<u8>>>, JoinHandle<()>);

/// Reads `pipe` to its end on a thread, keeping what it read so far.
fn reader(pipe: Option<impl Read + Send + 'static>) -> Reader {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let h = std::thread::spawn(move || {
        let Some(mut p) = pipe else { return };
        let mut chunk = [0u8; 4096];
        while let Ok(n) = p.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (buf, h)
}

/// What `r` read, once its pipe has ended or after 5 s (a process the fuzzer started
/// may still hold the pipe open).
fn collect(r: Reader) -> String {
    let start = Instant::now();
    while !r.1.is_finished() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let buf = r.0.lock().unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}
