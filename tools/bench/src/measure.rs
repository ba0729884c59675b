//! System-wide measurements taken before and after a run: CPU time from `/proc/stat`,
//! context switches, and bytes transmitted by the network namespace's interfaces.

use std::fs;

/// Aggregate CPU times (jiffies) and context switches.
#[derive(Clone, Copy, Default)]
pub struct CpuStat {
    pub user: u64,
    pub system: u64,
    pub idle: u64,
    pub irq: u64,
    pub softirq: u64,
    pub total: u64,
    pub ctxt: u64,
}

impl CpuStat {
    pub fn read() -> CpuStat {
        let text = fs::read_to_string("/proc/stat").unwrap_or_default();
        let mut s = CpuStat::default();
        for l in text.lines() {
            let mut w = l.split_whitespace();
            match w.next() {
                Some("cpu") => {
                    let v: Vec<u64> = w.map(|x| x.parse().unwrap_or(0)).collect();
                    let g = |i: usize| v.get(i).copied().unwrap_or(0);
                    // user nice system idle iowait irq softirq steal (guest counted in user)
                    s.user = g(0) + g(1);
                    s.system = g(2);
                    s.idle = g(3) + g(4);
                    s.irq = g(5);
                    s.softirq = g(6);
                    s.total = (0..8).map(g).sum();
                }
                Some("ctxt") => s.ctxt = w.next().and_then(|x| x.parse().ok()).unwrap_or(0),
                _ => {}
            }
        }
        s
    }

    /// Fractions of all CPUs' time between `self` and `after`:
    /// (busy, user, system, softirq+irq), and the context switches.
    pub fn usage(&self, after: &CpuStat) -> (f64, f64, f64, f64, u64) {
        let t = after.total.saturating_sub(self.total).max(1) as f64;
        let f = |a: u64, b: u64| a.saturating_sub(b) as f64 / t;
        (
            1.0 - f(after.idle, self.idle),
            f(after.user, self.user),
            f(after.system, self.system),
            f(after.softirq + after.irq, self.softirq + self.irq),
            after.ctxt.saturating_sub(self.ctxt),
        )
    }
}

/// Bytes and packets transmitted by every interface except `lo` in this namespace.
pub fn wire_tx() -> (u64, u64) {
    let text = fs::read_to_string("/proc/net/dev").unwrap_or_default();
    let mut bytes = 0;
    let mut pkts = 0;
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let v: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
        // receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
        bytes += v.get(8).copied().unwrap_or(0);
        pkts += v.get(9).copied().unwrap_or(0);
    }
    (bytes, pkts)
}
