//! The test network, built with `ip` (iproute2) and `ethtool`:
//!
//! ```text
//!   netns ptcp_a                         netns ptcp_b
//!   lo up, va 198.18.0.1/24  <== veth ==>  vb 198.18.0.2/24, lo up
//! ```
//!
//! The veth pair has 2 TX and 2 RX queues a side and GRO on (if `ethtool` exists). In
//! `ptcp_a`, 198.18.0.99 ([`BLACKHOLE`]) has a permanent neighbour entry with a MAC that
//! nothing owns: frames to it leave va and are dropped by vb, so a connection to it
//! stays in SYN-SENT with no ARP failure or ICMP error (a clean connect timeout).
//! 198.18.0.98 ([`NO_NEIGHBOUR`]) has no entry and no host: ARP fails.
//!
//! [`ensure`] builds this once per process, from scratch: it deletes both namespaces
//! if they exist (from an earlier run in the same VM, with its TIME-WAIT connections,
//! neighbour entries or a qdisc an interrupted impairment test left) and creates them
//! again, so every run starts from the same state however the last one ended.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{wait_until, Ns};
use crate::TestResult;

/// Routed (on-link), with a permanent neighbour entry that leads nowhere.
pub const BLACKHOLE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 99);
const BLACKHOLE_MAC: &str = "02:00:00:00:00:63";
/// Routed (on-link), with no host: ARP resolution fails.
pub const NO_NEIGHBOUR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 98);

/// Runs a command given as one string of words (no word contains a space); `Err`
/// with its output if it fails.
pub fn run(cmd: &str) -> Result<String, String> {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("running {cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{cmd}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The interface on the veth link in `ns`.
pub fn dev(ns: Ns) -> &'static str {
    match ns {
        Ns::A => "va",
        Ns::B => "vb",
        Ns::C => "lo",
        Ns::FaultA => "fa",
        Ns::FaultB => "fb",
    }
}

/// Builds the network once; later calls return the first call's result.
pub fn ensure() -> TestResult {
    static DONE: OnceLock<TestResult> = OnceLock::new();
    DONE.get_or_init(build).clone()
}

fn build() -> TestResult {
    for ns in [Ns::A, Ns::B] {
        if std::path::Path::new(&format!("/var/run/netns/{}", ns.name())).exists() {
            run(&format!("ip netns del {}", ns.name()))?;
        }
    }
    for ns in [Ns::A, Ns::B] {
        run(&format!("ip netns add {}", ns.name()))?;
    }
    run("ip link add va numtxqueues 2 numrxqueues 2 netns ptcp_a type veth \
         peer name vb numtxqueues 2 numrxqueues 2 netns ptcp_b")?;
    for ns in [Ns::A, Ns::B] {
        let (n, d) = (ns.name(), dev(ns));
        run(&format!("ip -n {n} addr add {}/24 dev {d}", ns.addr()))?;
        run(&format!("ip -n {n} link set lo up"))?;
        run(&format!("ip -n {n} link set {d} up"))?;
    }
    gro_on()?;
    run(&format!("ip -n ptcp_a neigh replace {BLACKHOLE} lladdr {BLACKHOLE_MAC} dev va nud permanent"))?;
    wait_until("veth carrier up", Duration::from_secs(5), || {
        Ok([Ns::A, Ns::B].iter().all(|&ns| {
            run(&format!("ip -n {} -o link show {}", ns.name(), dev(ns))).is_ok_and(|s| s.contains("LOWER_UP"))
        }))
    })
}

/// GRO on both ends; a printed note, not a failure, if ethtool is missing.
fn gro_on() -> TestResult {
    if Command::new("ethtool").arg("--version").output().is_err() {
        println!("# note: ethtool not found; GRO left at the veth default");
        return Ok(());
    }
    for ns in [Ns::A, Ns::B] {
        run(&format!("ip netns exec {} ethtool -K {} gro on", ns.name(), dev(ns)))?;
    }
    Ok(())
}
