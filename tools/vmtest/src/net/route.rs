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
//!   connection leaves by the new route, and what was written after the change must
//!   have crossed `ra`.
//! - `unreachable_route_not_a_loss`: the peer becomes unreachable (an `unreachable` /32
//!   route) while the side under test has data to send: the writes are accepted, nothing
//!   reaches the peer, and once the route is removed the data arrives intact without a
//!   single retransmission (`tcpi_total_retrans` 0; partcp counts the refusals in
//!   `tx_errors`): a segment IP refused was not sent, so it is not a loss.
//! - `fresh_send_buffer_holds_linux_bytes`: with the peer unreachable, a nonblocking
//!   writer fills a fresh connection's send buffer until `EAGAIN`, and then a Linux
//!   TCP connection's on the same path: partcp's `SO_SNDBUF` must be Linux's
//!   (`tcp_sndbuf_expand` for the initial window) and the bytes it took between 90% of
//!   that and 110% of what Linux took (Linux may overshoot its `sk_sndbuf` by up to one
//!   skb's size goal).

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use super::raw::{self, check};
use super::setup::run;
use super::transfer::{fill, next_seed, one_way, receive};
use super::{f_client, f_server, wait_until, Family, Ns, Table, B};
use crate::{ensure, sys, TestResult};

pub const TESTS: Table = &[
    ("route_lookups_per_connection", lookups_per_connection),
    ("route_change_followed", change_followed),
    ("unreachable_route_not_a_loss", unreachable_not_a_loss),
    ("fresh_send_buffer_holds_linux_bytes", fresh_send_buffer),
];

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

/// Bytes the side under test sends in `route_change_followed`; the route changes after
/// it wrote a quarter of them, before it writes the rest.
const CHANGE_BYTES: usize = 16 << 20;

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

/// Writes `size` pattern bytes of stream `seed` on `s`, telling `reached` once the
/// first `pause_at` are written and waiting for `go` before the rest; then shuts down
/// the write side.
fn send_paused(
    mut s: &TcpStream,
    seed: u64,
    size: usize,
    pause_at: usize,
    reached: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
) -> TestResult {
    let mut buf = vec![0u8; 128 << 10];
    let mut off = 0;
    let mut paused = false;
    while off < size {
        if off >= pause_at && !paused {
            paused = true;
            reached.send(()).map_err(|_| "the test stopped waiting".to_string())?;
            go.recv_timeout(Duration::from_secs(30)).map_err(|_| "no go after the pause".to_string())?;
        }
        let n = buf.len().min(size - off).min(if paused { usize::MAX } else { pause_at - off });
        fill(seed, off as u64, &mut buf[..n]);
        s.write_all(&buf[..n]).map_err(|e| format!("write at {off}: {e}"))?;
        off += n;
    }
    s.shutdown(Shutdown::Write).map_err(|e| format!("shutdown(SHUT_WR): {e}"))
}

fn change_followed(fam: Family) -> TestResult {
    let (f, peer) = f_client(fam)?;
    let mut path = SecondPath::add()?;
    let (va0, ra0) = (tx_bytes(Ns::A, "va")?, tx_bytes(Ns::A, "ra")?);
    let seed = 0x7a11_0c8e;
    let quarter = CHANGE_BYTES / 4;
    std::thread::scope(|s| {
        let (reached_tx, reached) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let rx = s.spawn(|| receive(&peer, seed, CHANGE_BYTES));
        let tx = s.spawn(|| send_paused(&f, seed, CHANGE_BYTES, quarter, reached_tx, go_rx));
        // The first quarter is written (by the old route), the rest only after the
        // route changed: all of it has to leave by the new one.
        let switched = reached
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the first quarter was not written".to_string())
            .and_then(|()| path.switch());
        if switched.is_ok() {
            let _ = go.send(());
        }
        drop(go);
        let sent = tx.join().map_err(|_| "sender panicked".to_string())?;
        let got = rx.join().map_err(|_| "receiver panicked".to_string())?;
        switched?;
        sent.map_err(|e| format!("sender, after the route change: {e}"))?;
        let got = got.map_err(|e| format!("receiver, after the route change: {e}"))?;
        ensure!(got.first_bad.is_none(), "received byte {:?} differs from what was sent", got.first_bad);
        ensure!(got.len == CHANGE_BYTES as u64, "received {} bytes of {CHANGE_BYTES}", got.len);
        Ok::<(), String>(())
    })?;
    let (va, ra) = (tx_bytes(Ns::A, "va")? - va0, tx_bytes(Ns::A, "ra")? - ra0);
    ensure!(
        ra >= (CHANGE_BYTES - quarter) as u64,
        "{ra} bytes left by the new route (ra), {va} by the old (va), of {CHANGE_BYTES}: the connection did not follow"
    );
    Ok(())
}

/// Bytes written while the peer is unreachable: within the send buffer a fresh
/// connection has (Linux's `tcp_sndbuf_expand` for the initial window, about 87 KB at
/// MSS 1448, for partcp all of it payload), so that the writes complete
/// while nothing can leave.
const UNREACHABLE_BYTES: usize = 16 << 10;

/// An `unreachable` route to the peer in `ptcp_a`, removed on drop.
struct Unreachable;

impl Unreachable {
    fn add() -> Result<Unreachable, String> {
        run(&format!("ip -n ptcp_a route add unreachable {B}/32"))?;
        Ok(Unreachable)
    }
}

impl Drop for Unreachable {
    fn drop(&mut self) {
        let _ = run(&format!("ip -n ptcp_a route del unreachable {B}/32"));
    }
}

/// Fills the send buffer of a fresh connection of `fam` to an unreachable peer with
/// nonblocking 4 KB writes until `EAGAIN`: the bytes taken and `SO_SNDBUF` then.
fn fill_fresh(fam: Family) -> Result<(usize, usize), String> {
    let (f, _peer) = f_client(fam)?;
    let route = Unreachable::add()?;
    f.set_nonblocking(true).map_err(|e| format!("nonblocking: {e}"))?;
    let chunk = [0x5au8; 4096];
    let mut taken = 0usize;
    loop {
        match (&f).write(&chunk) {
            Ok(n) => taken += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(format!("write after {taken} bytes: {e}")),
        }
        ensure!(taken <= 64 << 20, "{taken} bytes taken without EAGAIN");
    }
    // Read while the peer is still unreachable: once the route is back, a probe or a
    // retransmission can be acknowledged and grow the congestion window, and with it
    // the buffer (Linux's tcp_new_space; seen under KASAN, whose `ip route del` is slow).
    let sndbuf = raw::get_int(&f, libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF")?;
    let (mss, cwnd) = (tcp_info_u32(&f, TCPI_SND_MSS)?, tcp_info_u32(&f, TCPI_SND_CWND)?);
    println!("# {fam:?}: snd_mss {mss}, snd_cwnd {cwnd}");
    drop(route);
    Ok((taken, usize::try_from(sndbuf).unwrap_or(0)))
}

fn fresh_send_buffer(fam: Family) -> TestResult {
    let (taken, sndbuf) = fill_fresh(fam)?;
    println!("# {fam:?}: a fresh connection took {taken} bytes before EAGAIN, SO_SNDBUF {sndbuf}");
    if !matches!(fam, Family::Partcp(_)) {
        return Ok(());
    }
    // Linux on the same path, as the reference.
    let (l_taken, l_sndbuf) = fill_fresh(Family::Inet)?;
    println!("# Linux: took {l_taken} bytes, SO_SNDBUF {l_sndbuf}");
    ensure!(sndbuf == l_sndbuf, "SO_SNDBUF {sndbuf} after the handshake, Linux's {l_sndbuf}");
    // Linux takes its sk_sndbuf less skb heads, plus whatever fills its last skb up to
    // the size goal (tcp_sendmsg_locked checks the memory only to start an skb).
    let (lo, hi) = (l_sndbuf * 9 / 10, l_taken.max(l_sndbuf) * 11 / 10);
    ensure!((lo..=hi).contains(&taken), "took {taken} bytes before EAGAIN, want {lo}..={hi}");
    Ok(())
}

/// Offsets of `struct tcp_info` fields (include/uapi/linux/tcp.h).
const TCPI_SND_MSS: usize = 16;
const TCPI_SND_CWND: usize = 80;
const TCPI_TOTAL_RETRANS: usize = 100;

/// The `u32` field of `s`'s `TCP_INFO` at byte offset `off`.
fn tcp_info_u32(s: &TcpStream, off: usize) -> Result<u32, String> {
    let (b, len) = check("getsockopt TCP_INFO", raw::getsockopt::<[u8; 104]>(s, libc::IPPROTO_TCP, libc::TCP_INFO))?;
    ensure!(len >= off + 4, "TCP_INFO length {len}");
    Ok(u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]))
}

/// `tcpi_total_retrans` of `s`.
fn total_retrans(s: &TcpStream) -> Result<u32, String> {
    tcp_info_u32(s, TCPI_TOTAL_RETRANS)
}

fn unreachable_not_a_loss(fam: Family) -> TestResult {
    let partcp = matches!(fam, Family::Partcp(_));
    let (f, peer) = f_client(fam)?;
    // The peer first sends on the fresh connection (a transfer the other way would shut
    // down the side under test's writing), so both ends have exchanged data.
    one_way(&peer, &f, 1 << 20).map_err(|e| format!("before, from the peer: {e}"))?;
    let retrans0 = total_retrans(&f)?;
    let errors0 = if partcp { sys::debugfs_counter("stats", "tx_errors")? } else { 0 };
    let seed = next_seed();
    let mut buf = vec![0u8; UNREACHABLE_BYTES];
    fill(seed, 0, &mut buf);
    let route = Unreachable::add()?;
    (&f).write_all(&buf).map_err(|e| format!("write while unreachable: {e}"))?;
    f.shutdown(Shutdown::Write).map_err(|e| format!("shutdown(SHUT_WR): {e}"))?;
    std::thread::sleep(Duration::from_millis(1500));
    peer.set_nonblocking(true).map_err(|e| format!("nonblocking: {e}"))?;
    let mut probe = [0u8; 1];
    let early = std::io::Read::read(&mut &peer, &mut probe);
    ensure!(
        early.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the peer read {early:?} while unreachable"
    );
    peer.set_nonblocking(false).map_err(|e| format!("blocking: {e}"))?;
    let refused = if partcp { sys::debugfs_counter("stats", "tx_errors")? - errors0 } else { 0 };
    drop(route);
    peer.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    let got = receive(&peer, seed, UNREACHABLE_BYTES).map_err(|e| format!("after the route came back: {e}"))?;
    ensure!(got.len == UNREACHABLE_BYTES as u64, "received {} of {UNREACHABLE_BYTES} bytes", got.len);
    ensure!(got.first_bad.is_none(), "corrupted from byte {:?}", got.first_bad);
    let retrans = total_retrans(&f)? - retrans0;
    println!("# {retrans} retransmissions; {refused} segments refused by IP");
    ensure!(retrans == 0, "{retrans} retransmissions of data that IP refused to send, want 0");
    ensure!(!partcp || refused > 0, "tx_errors did not count the refused segments");
    Ok(())
}
