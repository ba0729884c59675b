//! The hostile peer set (`hostile.*`): malformed and adversarial segments crafted by
//! hand from `ptcp_b` (`link.rs`, `craft.rs`) against partcp listeners and connections
//! in `ptcp_a` (`cases.rs`), and floods and memory bounds (`flood.rs`). Every case,
//! its input, expected response and counter is in `Documentation/hardening.md`.
//!
//! Counters come from `/sys/kernel/debug/partcp/stats` (module-wide) and
//! `/sys/kernel/debug/partcp/conn_stats` (the TCP core's per-connection and
//! per-listener counters).

pub mod cases;
pub mod craft;
pub mod flood;
pub mod link;

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::sys;
use crate::{Case, TestResult};

/// A test of the set with the default limit of 30 s.
pub type Plain = (&'static str, fn() -> TestResult);

/// A test of the set with its time limit.
pub type Timed = (&'static str, Duration, fn() -> TestResult);

/// The set, named `hostile.<case>`, each with its time limit.
pub fn cases() -> Vec<Case> {
    let mut v: Vec<Timed> = Vec::new();
    for &(n, f) in cases::TESTS {
        v.push((n, Duration::from_secs(30), f));
    }
    v.extend_from_slice(flood::TESTS);
    v.into_iter()
        .map(|(n, timeout, run)| Case {
            name: format!("hostile.{n}"),
            timeout,
            run: Box::new(move || {
                link::ensure()?;
                run()
            }),
        })
        .collect()
}

/// A module-wide counter from `stats`.
pub fn stat(name: &str) -> Result<i64, String> {
    sys::debugfs_counter("stats", name)
}

pub use crate::sys::live_conns;

/// A core counter of the connection whose remote end is `remote` (or, with
/// `remote == None`, of the listener on local port `lport`), from `conn_stats`.
pub fn conn_stat(lport: u16, remote: Option<(Ipv4Addr, u16)>, name: &str) -> Result<u64, String> {
    let path = "/sys/kernel/debug/partcp/conn_stats";
    let text = sys::read_trimmed(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let col = header.iter().position(|h| *h == name).ok_or_else(|| format!("{path}: no column {name}"))?;
    let want_remote = match remote {
        Some((a, p)) => format!("{a}:{p}"),
        None => "listen".to_string(),
    };
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() > col && w[0].ends_with(&format!(":{lport}")) && w[1] == want_remote {
            return w[col].parse().map_err(|_| format!("{path}: {name} = {:?}", w[col]));
        }
    }
    Err(format!("{path}: no line for :{lport} {want_remote}"))
}

/// `/proc/meminfo`'s Slab, in KB.
pub fn slab_kb() -> Result<i64, String> {
    let m = std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    m.lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no Slab in /proc/meminfo".to_string())
}
