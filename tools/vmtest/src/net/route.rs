//! Routes: a connection keeps its route instead of looking it up per segment, and follows
//! a route change made while it sends.
//!
//! - `route_lookups_per_connection`: bulk transfers in both directions; under AF_PARTCP
//!   the debugfs `stats` counter `route_lookups` (every FIB lookup partcp makes to send)
//!   grows by a small constant per connection, whatever the number of segments.
//! - `route_change_followed`: while the side under test sends to the Linux peer, a second
//!   veth pair between the namespaces (`ra`/`rb`, 198.18.1.0/24) becomes the route to the
//!   peer (a /32 via `rb`) and the old link drops everything the side under test sends on
//!   it (netem `loss 100%` on `va`): the transfer completes byte-exact only if the
//!   connection leaves by the new route, and most of it must have crossed `ra`.

use std::time::Duration;

use super::setup::run;
use super::transfer::one_way;
use super::{f_client, f_server, wait_until, Family, Ns, Table, B};
use crate::{ensure, sys, TestResult};

pub const TESTS: Table =
    &[("route_lookups_per_connection", lookups_per_connection), ("route_change_followed", change_followed)];

/// Bytes each transfer of `route_lookups_per_connection` carries.
const LOOKUP_BYTES: usize = 8 << 20;
/// Route lookups two connections may make: each a lookup to connect (the path MTU) or
/// to answer the SYN, one when it first sends, and a few spare (a retransmitted SYN-ACK
/// is routed again).
const MAX_LOOKUPS: i64 = 8;

/// partcp's `route_lookups` and `tx_segments`.
fn route_counters() -> Result<(i64, i64), String> {
    Ok((sys::debugfs_counter("stats", "route_lookups")?, sys::debugfs_counter("stats", "tx_segments")?))
}

fn lookups_per_connection(fam: Family) -> TestResult {
    let partcp = matches!(fam, Family::Partcp(_));
    let before = if partcp { Some(route_counters()?) } else { None };
    let (f, peer) = f_client(fam)?;
    one_way(&f, &peer, LOOKUP_BYTES).map_err(|e| format!("client sending: {e}"))?;
    let (g, peer2) = f_server(fam)?;
    one_way(&peer2, &g, LOOKUP_BYTES).map_err(|e| format!("server receiving: {e}"))?;
    one_way(&g, &peer2, LOOKUP_BYTES).map_err(|e| format!("server sending: {e}"))?;
    let Some((lookups0, segs0)) = before else { return Ok(()) };
    let (lookups1, segs1) = route_counters()?;
    let (lookups, segs) = (lookups1 - lookups0, segs1 - segs0);
    println!("# {lookups} route lookups for 2 connections that sent {segs} segments");
    ensure!(segs >= 200, "only {segs} segments sent for 3 transfers of {LOOKUP_BYTES} bytes");
    ensure!(
        (1..=MAX_LOOKUPS).contains(&lookups),
        "{lookups} route lookups for 2 connections that sent {segs} segments, want 1..={MAX_LOOKUPS}"
    );
    Ok(())
}

/// Bytes the side under test sends in `route_change_followed`; the route changes once a
/// quarter of them left by `va`.
const CHANGE_BYTES: usize = 32 << 20;

/// The second link, and (once [`SecondPath::switch`] ran) the route through it and the
/// loss on the first; all removed on drop, also when the test fails.
struct SecondPath {
    switched: bool,
}

impl SecondPath {
    fn add() -> Result<SecondPath, String> {
        let _ = run("ip -n ptcp_a link del ra");
        let p = SecondPath { switched: false };
        run("ip link add ra netns ptcp_a type veth peer name rb netns ptcp_b")?;
        run("ip -n ptcp_a addr add 198.18.1.1/24 dev ra")?;
        run("ip -n ptcp_b addr add 198.18.1.2/24 dev rb")?;
        run("ip -n ptcp_a link set ra up")?;
        run("ip -n ptcp_b link set rb up")?;
        // Replies keep arriving on `va` from an address now routed through `ra`:
        // no reverse-path filtering (the kernel's default, made sure of).
        for dev in ["all", "default", "va", "ra"] {
            run(&format!("ip netns exec ptcp_a sysctl -qw net.ipv4.conf.{dev}.rp_filter=0"))?;
        }
        wait_until("second veth carrier up", Duration::from_secs(5), || {
            Ok(run("ip -n ptcp_a -o link show ra").is_ok_and(|s| s.contains("LOWER_UP")))
        })?;
        Ok(p)
    }

    /// The peer is now routed through `ra`; whatever still leaves by `va` is lost.
    fn switch(&mut self) -> TestResult {
        self.switched = true;
        run(&format!("ip -n ptcp_a route replace {B}/32 via 198.18.1.2 dev ra"))?;
        run("ip netns exec ptcp_a tc qdisc add dev va root netem loss 100%")?;
        Ok(())
    }
}

impl Drop for SecondPath {
    fn drop(&mut self) {
        if self.switched {
            let _ = run("ip netns exec ptcp_a tc qdisc del dev va root");
            let _ = run(&format!("ip -n ptcp_a route del {B}/32"));
        }
        let _ = run("ip -n ptcp_a link del ra");
    }
}

/// Bytes device `dev` of `ns` has sent.
fn tx_bytes(ns: Ns, dev: &str) -> Result<u64, String> {
    let s = run(&format!("ip netns exec {} cat /sys/class/net/{dev}/statistics/tx_bytes", ns.name()))?;
    s.trim().parse().map_err(|e| format!("tx_bytes of {dev}: {s:?}: {e}"))
}

fn change_followed(fam: Family) -> TestResult {
    let (f, peer) = f_client(fam)?;
    let mut path = SecondPath::add()?;
    let (va0, ra0) = (tx_bytes(Ns::A, "va")?, tx_bytes(Ns::A, "ra")?);
    std::thread::scope(|s| {
        let t = s.spawn(|| one_way(&f, &peer, CHANGE_BYTES));
        let quarter = (CHANGE_BYTES / 4) as u64;
        let r = wait_until("a quarter of the transfer sent on va", Duration::from_secs(30), || {
            Ok(t.is_finished() || tx_bytes(Ns::A, "va")? - va0 >= quarter)
        });
        let switched = r.and_then(|()| {
            ensure!(!t.is_finished(), "the transfer ended before the route changed");
            path.switch()
        });
        let sent = t.join().map_err(|_| "transfer thread panicked".to_string())?;
        switched?;
        sent.map_err(|e| format!("after the route change: {e}"))
    })?;
    let (va, ra) = (tx_bytes(Ns::A, "va")? - va0, tx_bytes(Ns::A, "ra")? - ra0);
    ensure!(
        ra >= (CHANGE_BYTES / 2) as u64,
        "{ra} bytes left by the new route (ra), {va} by the old (va), of {CHANGE_BYTES}: the connection did not follow"
    );
    Ok(())
}
