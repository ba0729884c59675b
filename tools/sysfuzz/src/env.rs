//! The environment: the test namespaces (made here when the fuzzer runs on its own),
//! entering them, and partcp's debugfs counters.

use std::process::Command;

pub const NS_A: &str = "ptcp_a";
pub const NS_B: &str = "ptcp_b";

/// The commands that build the same two namespaces as `partcp-vmtest`'s network setup
/// (`tools/vmtest/src/net/setup.rs`), used only if they do not exist yet.
const BUILD: &[&str] = &[
    "ip netns add ptcp_a",
    "ip netns add ptcp_b",
    "ip link add va netns ptcp_a type veth peer name vb netns ptcp_b",
    "ip -n ptcp_a addr add 198.18.0.1/24 dev va",
    "ip -n ptcp_b addr add 198.18.0.2/24 dev vb",
    "ip -n ptcp_a link set lo up",
    "ip -n ptcp_b link set lo up",
    "ip -n ptcp_a link set va up",
    "ip -n ptcp_b link set vb up",
    "ip -n ptcp_a neigh replace 198.18.0.99 lladdr 02:00:00:00:00:63 dev va nud permanent",
];

/// Makes the namespaces unless both exist.
pub fn ensure_netns() -> Result<(), String> {
    let have = |n: &str| std::path::Path::new(&format!("/var/run/netns/{n}")).exists();
    if have(NS_A) && have(NS_B) {
        return Ok(());
    }
    for n in [NS_A, NS_B] {
        if have(n) {
            run(&format!("ip netns del {n}"))?;
        }
    }
    for cmd in BUILD {
        run(cmd)?;
    }
    // Let the veth carrier come up.
    std::thread::sleep(std::time::Duration::from_millis(500));
    Ok(())
}

fn run(cmd: &str) -> Result<(), String> {
    let w: Vec<&str> = cmd.split(' ').collect();
    let out = Command::new(w[0]).args(&w[1..]).output().map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

/// Moves the calling thread into namespace `name` (threads it spawns inherit it).
pub fn enter(name: &str) -> Result<(), String> {
    let f = std::fs::File::open(format!("/var/run/netns/{name}")).map_err(|e| format!("netns {name}: {e}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns on an open namespace file; affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

pub const DEBUGFS: &str = "/sys/kernel/debug/partcp";

/// Counter `name` of debugfs file `file` (`name value` lines).
pub fn counter(file: &str, name: &str) -> Result<i64, String> {
    let path = format!("{DEBUGFS}/{file}");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or_else(|| format!("{path}: no counter {name}"))
}

/// Connections that exist (created and not yet freed), from `stats`.
pub fn live_conns() -> Result<i64, String> {
    Ok(counter("stats", "conns_created")? - counter("stats", "conns_freed")?)
}

/// partcp's family number.
pub fn partcp_family() -> Result<i32, String> {
    let p = "/sys/module/partcp/parameters/family";
    let s = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e} (is partcp loaded?)"))?;
    s.trim().parse().map_err(|_| format!("{p}: {s:?}"))
}
