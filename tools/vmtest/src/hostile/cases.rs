//! Malformed and adversarial segments against one partcp connection (or listener),
//! each with the response it must get and the counter it must move; after each, the
//! connection must still carry data.

use std::io::Read;
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::craft::{flag_names, icmp_error, icmp_frag_needed, Reply, Seg, ACK, FIN, PSH, RST, SYN};
use super::flood::Rng;
use super::link::{Link, RawConn, QUIET_WAIT};
use super::{conn_stat, stat};
use crate::net::{self, raw, setup::run, Family, Ns};
use crate::{ensure, sys, TestResult};

pub const TESTS: &[super::Plain] = &[
    ("bad_tcp_checksum", bad_tcp_checksum),
    ("truncated_tcp_header", truncated_tcp_header),
    ("data_offset_below_5", data_offset_below_5),
    ("data_offset_beyond_segment", data_offset_beyond_segment),
    ("option_length_0", option_length_0),
    ("option_length_1", option_length_1),
    ("option_past_header", option_past_header),
    ("mss_option_wrong_length", mss_option_wrong_length),
    ("window_scale_15", window_scale_15),
    ("bad_ip_checksum", bad_ip_checksum),
    ("ip_options", ip_options),
    ("ip_option_length_0", ip_option_length_0),
    ("ip_option_bad_pointer", ip_option_bad_pointer),
    ("ip_source_route", ip_source_route),
    ("ip_fragments", ip_fragments),
    ("syn_with_data", syn_with_data),
    ("rst_out_of_window", rst_out_of_window),
    ("syn_on_established", syn_on_established),
    ("ack_of_unsent_data", ack_of_unsent_data),
    ("zero_window_held", zero_window_held),
    ("tiny_mss", tiny_mss),
    ("fin_flood", fin_flood),
    ("icmp_errors", icmp_errors),
    ("icmp_frag_needed", icmp_frag_needed_resends_smaller),
];

/// A partcp listener in `ptcp_a`.
pub fn partcp_listener() -> Result<(TcpListener, SocketAddrV4), String> {
    Family::Partcp(sys::partcp_family()?).listener(Ns::A)
}

/// An established connection: the listener, partcp's accepted socket and the raw end.
struct Setup<'a> {
    _l: TcpListener,
    addr: SocketAddrV4,
    app: TcpStream,
    c: RawConn<'a>,
}

impl Drop for RawConn<'_> {
    /// Resets the connection so that no partcp state (no TIME-WAIT) outlives the test.
    fn drop(&mut self) {
        let _ = self.link.send(&self.seg(RST | ACK).packet());
    }
}

fn established<'a>(link: &'a Link, syn_options: &[u8]) -> Result<Setup<'a>, String> {
    let (l, addr) = partcp_listener()?;
    let (c, _) = RawConn::connect(link, addr, syn_options)?;
    let app = net::accept(&l)?;
    Ok(Setup { _l: l, addr, app, c })
}

/// Reads exactly `want` from partcp's socket.
fn app_reads(mut app: &TcpStream, want: &[u8]) -> TestResult {
    let mut got = vec![0u8; want.len()];
    app.read_exact(&mut got).map_err(|e| format!("partcp read: {e}"))?;
    ensure!(got == want, "partcp read {:?}, want {:?}", String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    Ok(())
}

/// Sends a data segment altered by `spoil`; it must get no answer (from partcp, nor
/// from Linux on partcp's behalf) and move `counter` in `stats`; then good data at the
/// same sequence number must be ACKed and read, and none of the bad bytes.
fn dropped(counter: &str, spoil: impl Fn(&mut Seg)) -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let before = stat(counter)?;
    let mut bad = s.c.seg(ACK | PSH);
    bad.payload = b"evil".to_vec();
    spoil(&mut bad);
    link.send(&bad.packet())?;
    s.c.expect_silence("malformed segment")?;
    let after = stat(counter)?;
    ensure!(after > before, "{counter} did not move ({before} -> {after})");
    s.c.exchange(b"good")?;
    app_reads(&s.app, b"good")
}

fn bad_tcp_checksum() -> TestResult {
    dropped("rx_checksum_errors", |s| s.bad_checksum = true)
}

fn truncated_tcp_header() -> TestResult {
    // 12 bytes of TCP header: ports and sequence numbers, no flags or checksum.
    dropped("rx_malformed", |s| s.truncate = Some(12))
}

fn data_offset_below_5() -> TestResult {
    dropped("rx_malformed", |s| s.doff = Some(4))
}

fn data_offset_beyond_segment() -> TestResult {
    // 60 bytes of header claimed, 24 bytes of segment.
    dropped("rx_malformed", |s| s.doff = Some(15))
}

fn option_length_0() -> TestResult {
    dropped("rx_malformed", |s| s.options = vec![99, 0, 1, 1])
}

fn option_length_1() -> TestResult {
    dropped("rx_malformed", |s| s.options = vec![1, 99, 1, 1])
}

fn option_past_header() -> TestResult {
    dropped("rx_malformed", |s| s.options = vec![8, 10, 0, 0, 0, 0, 0, 0])
}

fn bad_ip_checksum() -> TestResult {
    // Not TCP's business: partcp leaves the packet to Linux's IP layer, which drops it
    // and counts it (Ip InHdrErrors in ptcp_a).
    let before = ip_in_hdr_errors()?;
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let mut bad = s.c.seg(ACK | PSH);
    bad.payload = b"evil".to_vec();
    let mut p = bad.packet();
    p[10] ^= 0x55;
    link.send(&p)?;
    s.c.expect_silence("bad IP header checksum")?;
    let after = ip_in_hdr_errors()?;
    ensure!(after > before, "Ip InHdrErrors in ptcp_a did not move ({before} -> {after})");
    s.c.exchange(b"good")?;
    app_reads(&s.app, b"good")
}

/// `Ip: InHdrErrors` of `ptcp_a`.
fn ip_in_hdr_errors() -> Result<i64, String> {
    let snmp = run("ip netns exec ptcp_a cat /proc/net/snmp")?;
    let ip: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Ip:")).collect();
    ensure!(ip.len() >= 2, "no Ip lines in /proc/net/snmp");
    let names: Vec<&str> = ip[0].split_whitespace().collect();
    let vals: Vec<&str> = ip[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "InHdrErrors").ok_or("no InHdrErrors")?;
    vals.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| "bad InHdrErrors".to_string())
}

/// The MSS option with a wrong length (3, then 6) on the SYN: ignored, as Linux does
/// (RFC 9293 MUST-6 asks to ignore options one cannot use), so the peer's MSS is
/// taken as the default 536: partcp's data segments must not exceed it.
fn mss_option_wrong_length() -> TestResult {
    for opts in [vec![2, 3, 0x05, 1], vec![2, 6, 0x05, 0xb4, 0, 0, 1, 1]] {
        let link = Link::open()?;
        let before = stat("rx_options_ignored")?;
        let mut s = established(&link, &opts)?;
        let after = stat("rx_options_ignored")?;
        ensure!(after > before, "options {opts:?}: rx_options_ignored did not move ({before} -> {after})");
        s.c.exchange(b"good")?;
        app_reads(&s.app, b"good")?;
        let segs = send_and_collect(&mut s, 3000)?;
        let max = largest(&segs);
        ensure!(max <= 536, "options {opts:?}: partcp sent {max}-byte segments, want <= 536");
    }
    Ok(())
}

/// partcp's application writes `n` bytes; the raw end receives and ACKs them in order.
/// Returns the data segments seen.
fn send_and_collect(s: &mut Setup, n: usize) -> Result<Vec<Reply>, String> {
    use std::io::Write;
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    (&s.app).write_all(&data).map_err(|e| format!("partcp write: {e}"))?;
    collect_in_order(s, n, None)
}

/// Window scale 15 on the SYN: RFC 7323 2.3 says use 14. The connection must work,
/// partcp's SYN-ACK must carry a valid shift, and with a window of 1 (16 KB at shift
/// 14) partcp must not have more than 16 KB unacknowledged.
fn window_scale_15() -> TestResult {
    let link = Link::open()?;
    let (l, addr) = partcp_listener()?;
    let before = stat("rx_options_ignored")?;
    let (mut c, sa) = RawConn::connect(&link, addr, &[2, 4, 0x05, 0xb4, 1, 3, 3, 15])?;
    ensure!(sa.wscale.is_some_and(|w| w <= 14), "SYN-ACK window scale {:?}", sa.wscale);
    // RFC 7323 2.3: "the TCP SHOULD log the error".
    let after = stat("rx_options_ignored")?;
    ensure!(after > before, "rx_options_ignored did not move ({before} -> {after})");
    let app = net::accept(&l)?;
    c.exchange(b"good")?;
    app_reads(&app, b"good")?;
    c.window = 1;
    c.send(ACK, b"")?;
    let data = vec![7u8; 40000];
    raw::set_nonblocking(&app, true)?;
    let _ = raw::send(&app, &data, libc::MSG_NOSIGNAL);
    let start = c.rcv_nxt;
    let mut top = start;
    while let Some(r) = link.recv(Duration::from_millis(600), |r| c.ours(r) && r.payload_len > 0) {
        top = top.max(r.seq.wrapping_add(r.payload_len as u32));
    }
    let flight = top.wrapping_sub(start);
    ensure!(flight > 0 && flight <= 16384, "{flight} bytes in flight with window 1 << 14");
    Ok(())
}

fn ip_options() -> TestResult {
    // Record route (7 bytes, room for one address) and NOP: valid IP options, which
    // TCP ignores (RFC 1122 3.2.1.8). The segment must be accepted.
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let mut seg = s.c.seg(ACK | PSH);
    seg.payload = b"opts".to_vec();
    seg.ip_options = vec![7, 7, 4, 0, 0, 0, 0, 1];
    link.send(&seg.packet())?;
    s.c.snd_nxt += 4;
    let want = s.c.snd_nxt;
    s.c.expect("ACK of data with IP options", |r| r.has(ACK) && r.ack == want)?;
    app_reads(&s.app, b"opts")
}

/// IP options the IP layer would refuse (Linux `ip_options_compile`): partcp, which
/// receives ahead of it, drops them too.
fn ip_option_length_0() -> TestResult {
    dropped("rx_malformed", |s| s.ip_options = vec![1, 30, 0, 1])
}

fn ip_option_bad_pointer() -> TestResult {
    // Record route whose pointer (3) is below the first address slot (4).
    dropped("rx_malformed", |s| s.ip_options = vec![7, 7, 3, 0, 0, 0, 0, 1])
}

fn ip_source_route() -> TestResult {
    // Loose source route through 198.18.0.1: dropped, as Linux does without
    // accept_source_route.
    dropped("rx_source_routed", |s| s.ip_options = vec![131, 7, 4, 198, 18, 0, 1, 1])
}

fn ip_fragments() -> TestResult {
    // One 300-byte data segment in three IP fragments: partcp must see the reassembled
    // segment (and count it), not leave it to Linux's TCP, which has no socket for the
    // 4-tuple and would answer with a RST.
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let before = stat("rx_reassembled")?;
    let data: Vec<u8> = (0..300).map(|i| (i % 199) as u8).collect();
    let mut seg = s.c.seg(ACK | PSH);
    seg.payload = data.clone();
    seg.ip_id = 0x4242;
    for f in seg.fragments(128) {
        link.send(&f)?;
    }
    s.c.snd_nxt += 300;
    let want = s.c.snd_nxt;
    let r = s.c.expect("ACK of the fragmented segment", |r| r.has(ACK | RST))?;
    ensure!(!r.has(RST) && r.ack == want, "answer {} ack {}, want ACK {want}", flag_names(r.flags), r.ack);
    app_reads(&s.app, &data)?;
    let after = stat("rx_reassembled")?;
    ensure!(after > before, "rx_reassembled did not move ({before} -> {after})");
    Ok(())
}

fn syn_with_data() -> TestResult {
    // Data on a SYN (no TFO): the SYN-ACK acknowledges the SYN only; the data is not
    // delivered (the peer retransmits it), and the handshake completes.
    let link = Link::open()?;
    let (l, addr) = partcp_listener()?;
    let syns = conn_stat(addr.port(), None, "syns_in")?;
    let mut c = RawConn::connect_with(&link, addr, &[], b"early")?;
    ensure!(conn_stat(addr.port(), None, "syns_in")? > syns, "listener syns_in did not move");
    let app = net::accept(&l)?;
    raw::set_nonblocking(&app, true)?;
    let mut b = [0u8; 16];
    let r = raw::recv(&app, &mut b, 0);
    ensure!(r == Err(libc::EAGAIN), "read after SYN with data: {r:?}, want EAGAIN");
    raw::set_nonblocking(&app, false)?;
    c.exchange(b"late")?;
    app_reads(&app, b"late")
}

/// RST with a sequence number outside the window: dropped silently; inside the window
/// but not RCV.NXT: challenge ACK (RFC 5961 3.2). The connection survives both.
fn rst_out_of_window() -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let port = s.addr.port();
    let ch = conn_stat(port, Some(s.c.me), "challenge_acks")?;
    let mut rst = s.c.seg(RST);
    rst.seq = s.c.snd_nxt.wrapping_add(50_000_000);
    link.send(&rst.packet())?;
    s.c.expect_silence("RST far outside the window")?;
    rst.seq = s.c.snd_nxt.wrapping_add(100);
    link.send(&rst.packet())?;
    let want = s.c.snd_nxt;
    let r = s.c.expect("challenge ACK", |r| r.has(ACK))?;
    ensure!(!r.has(RST) && r.ack == want, "answer {} ack {}, want a challenge ACK {want}", flag_names(r.flags), r.ack);
    let now = conn_stat(port, Some(s.c.me), "challenge_acks")?;
    ensure!(now > ch, "challenge_acks did not move ({ch} -> {now})");
    s.c.exchange(b"good")?;
    app_reads(&s.app, b"good")
}

/// A SYN on an established connection, in or out of the window: challenge ACK
/// (RFC 5961 4.2), no reset.
fn syn_on_established() -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let port = s.addr.port();
    for off in [5u32, 3_000_000_000] {
        let ch = conn_stat(port, Some(s.c.me), "challenge_acks")?;
        let mut syn = s.c.seg(SYN);
        syn.seq = s.c.snd_nxt.wrapping_add(off);
        syn.ack = 0;
        link.send(&syn.packet())?;
        let want = s.c.snd_nxt;
        let r = s.c.expect("challenge ACK", |r| r.has(ACK))?;
        ensure!(!r.has(RST | SYN) && r.ack == want, "SYN at +{off}: answer {} ack {}", flag_names(r.flags), r.ack);
        let now = conn_stat(port, Some(s.c.me), "challenge_acks")?;
        ensure!(now > ch, "challenge_acks did not move ({ch} -> {now})");
    }
    s.c.exchange(b"good")?;
    app_reads(&s.app, b"good")
}

/// An ACK for data partcp never sent (RFC 9293 3.10.7.4: ACK and drop the segment).
fn ack_of_unsent_data() -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let port = s.addr.port();
    let bad = conn_stat(port, Some(s.c.me), "bad_acks")?;
    let mut seg = s.c.seg(ACK | PSH);
    seg.ack = s.c.rcv_nxt.wrapping_add(100_000);
    seg.payload = b"evil".to_vec();
    link.send(&seg.packet())?;
    let want = s.c.snd_nxt;
    let r = s.c.expect("ACK", |r| r.has(ACK))?;
    ensure!(!r.has(RST) && r.ack == want, "answer {} ack {}, want ACK {want}", flag_names(r.flags), r.ack);
    let now = conn_stat(port, Some(s.c.me), "bad_acks")?;
    ensure!(now > bad, "bad_acks did not move ({bad} -> {now})");
    s.c.exchange(b"good")?;
    app_reads(&s.app, b"good")
}

/// The peer advertises a zero window and answers every probe with it: partcp must keep
/// probing (persist), not time the connection out, and send the data once the window
/// opens; its send buffer bounds what the application can queue.
fn zero_window_held() -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let port = s.addr.port();
    s.c.window = 0;
    s.c.send(ACK, b"")?;
    raw::set_nonblocking(&s.app, true)?;
    let chunk = vec![1u8; 65536];
    let mut queued = 0usize;
    while let Ok(n) = raw::send(&s.app, &chunk, libc::MSG_NOSIGNAL) {
        queued += n;
        ensure!(queued <= 64 << 20, "partcp accepted {queued} bytes into a zero window");
    }
    let sndbuf = raw::get_int(&s.app, libc::SOL_SOCKET, libc::SO_SNDBUF, "SO_SNDBUF")? as usize;
    ensure!(queued > 0 && queued <= sndbuf, "queued {queued} bytes, SO_SNDBUF {sndbuf}");
    let hold = Duration::from_secs(6);
    let end = Instant::now() + hold;
    let mut probes = 0;
    while Instant::now() < end {
        if let Some(r) = link.recv(end.saturating_duration_since(Instant::now()), |r| s.c.ours(r)) {
            ensure!(!r.has(RST | FIN), "partcp sent {} while the window was zero", flag_names(r.flags));
            probes += 1;
            s.c.send(ACK, b"")?;
        }
    }
    let counted = conn_stat(port, Some(s.c.me), "zero_window_probes")?;
    ensure!(probes >= 2 && counted >= 2, "{probes} probes seen, {counted} counted in {hold:?}");
    s.c.window = 65535;
    s.c.send(ACK, b"")?;
    let start = s.c.rcv_nxt;
    let end = Instant::now() + Duration::from_secs(10);
    while (s.c.rcv_nxt.wrapping_sub(start) as usize) < queued.min(4096) {
        ensure!(Instant::now() < end, "no data after the window opened");
        if let Some(r) = link.recv(Duration::from_millis(500), |r| s.c.ours(r) && r.payload_len > 0) {
            let top = r.seq.wrapping_add(r.payload_len as u32);
            if r.seq.wrapping_sub(s.c.rcv_nxt) as i32 <= 0 && top.wrapping_sub(s.c.rcv_nxt) as i32 > 0 {
                s.c.rcv_nxt = top;
            }
            s.c.send(ACK, b"")?;
        }
    }
    Ok(())
}

/// MSS 1 and 64 on the SYN: partcp clamps its send MSS to 48 bytes at least (as
/// Linux, TCP_MIN_SND_MSS) and sends 3000 bytes in at most 3000/48 + 1 segments.
fn tiny_mss() -> TestResult {
    for mss in [1u16, 64] {
        let link = Link::open()?;
        let [hi, lo] = mss.to_be_bytes();
        let mut s = established(&link, &[2, 4, hi, lo])?;
        let segs = send_and_collect(&mut s, 3000)?;
        let min = segs.iter().rev().skip(1).map(Reply::wire_segment).min().unwrap_or(48);
        let max = largest(&segs);
        let want = usize::from(mss.max(48));
        ensure!(min >= 48 && max <= want, "MSS {mss}: segments of {min}..{max} bytes, want 48..={want}");
        let n: usize = segs.iter().map(Reply::wire_segments).sum();
        ensure!(n <= 3000 / 48 + 1, "MSS {mss}: {n} segments for 3000 bytes");
    }
    Ok(())
}

/// A FIN, then 2000 more FINs (duplicates and random sequence numbers): partcp must
/// ACK the first, go to CLOSE-WAIT once (the application reads EOF), never reset, and
/// still deliver data in the other direction.
fn fin_flood() -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    s.c.send(FIN | ACK, b"")?;
    s.c.snd_nxt += 1;
    let want = s.c.snd_nxt;
    s.c.expect("ACK of FIN", |r| r.has(ACK) && r.ack == want)?;
    let mut rng = Rng(0x9e37_79b9);
    for i in 0..2000u32 {
        let mut f = s.c.seg(FIN | ACK);
        f.seq = if i % 2 == 0 { s.c.snd_nxt - 1 } else { rng.next() };
        link.send(&f.packet())?;
    }
    while let Some(r) = link.recv(QUIET_WAIT, |r| s.c.ours(r)) {
        ensure!(!r.has(RST), "partcp sent a RST during the FIN flood");
    }
    let mut b = [0u8; 4];
    let n = (&s.app).read(&mut b).map_err(|e| format!("read after FIN: {e}"))?;
    ensure!(n == 0, "read {n} bytes after FIN, want EOF");
    let segs = send_and_collect(&mut s, 100)?;
    ensure!(!segs.is_empty(), "no data from CLOSE-WAIT");
    Ok(())
}

/// ICMP host unreachable quoting the connection's segments (RFC 5927, RFC 1122
/// 4.2.3.9): with a bad ICMP checksum it is not delivered; quoting a sequence number
/// outside SND.UNA..SND.MAX (nothing in flight) it is ignored; quoting data in flight it
/// is a soft error only. Never answered, and the connection keeps working.
fn icmp_errors() -> TestResult {
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let port = s.addr.port();
    let (me, them) = (s.c.me, s.c.them);
    let ack = s.c.snd_nxt;
    let icmp = |seq: u32, bad: bool| icmp_error(me.0, them.0, 3, 1, &Seg::new(them, me, seq, ack, ACK).packet(), bad);
    let cstat = |name| conn_stat(port, Some(me), name);
    // Waits until `read` exceeds `before` (the message crosses the link asynchronously).
    let moved = |what: &str, before: u64, read: &dyn Fn() -> Result<u64, String>| {
        net::wait_until(&format!("{what} to move from {before}"), Duration::from_secs(3), || Ok(read()? > before))
    };
    let delivered = stat("rx_icmp_errors")?;
    link.send(&icmp(s.c.rcv_nxt, true))?;
    s.c.expect_silence("ICMP error with a bad checksum")?;
    let now = stat("rx_icmp_errors")?;
    ensure!(now == delivered, "an ICMP error with a bad checksum was delivered ({delivered} -> {now})");

    let ignored = cstat("icmp_ignored")?;
    link.send(&icmp(s.c.rcv_nxt, false))?;
    moved("icmp_ignored", ignored, &|| cstat("icmp_ignored"))?;
    s.c.expect_silence("ICMP error quoting nothing in flight")?;
    ensure!(stat("rx_icmp_errors")? > delivered, "rx_icmp_errors did not move");

    use std::io::Write;
    (&s.app).write_all(b"data").map_err(|e| format!("partcp write: {e}"))?;
    let d = s.c.expect("data", |r| r.payload_len == 4)?;
    let errors = cstat("icmp_errors")?;
    link.send(&icmp(d.seq, false))?;
    moved("icmp_errors", errors, &|| cstat("icmp_errors"))?;
    // A soft error: the connection lives on. Acknowledge the data and exchange more.
    s.c.rcv_nxt = d.seq.wrapping_add(4);
    s.c.send(ACK, b"")?;
    s.c.exchange(b"good")?;
    app_reads(&s.app, b"good")
}

/// Forgets the path MTUs learned in `ptcp_a` when dropped (`net.ipv4.route.flush`
/// flushes the routes' next-hop exceptions): later tests to the hostile peer start from the
/// device MTU again.
struct FlushPmtu;

impl Drop for FlushPmtu {
    fn drop(&mut self) {
        let _ = run("ip netns exec ptcp_a sysctl -qw net.ipv4.route.flush=1");
    }
}

/// The path MTU `ptcp_a`'s routing table has for `to` (`ip route get`: `mtu N` once an
/// exception was learned).
fn route_mtu(to: std::net::Ipv4Addr) -> Result<Option<u32>, String> {
    let out = run(&format!("ip -n ptcp_a route get {to}"))?;
    let mut words = out.split_whitespace();
    Ok(words.by_ref().find(|w| *w == "mtu").and_then(|_| words.next()).and_then(|m| m.parse().ok()))
}

/// ICMP fragmentation needed, next-hop MTU 1000, quoting a full-sized data segment
/// partcp sent (path MTU discovery, RFC 1191): partcp sends what is in flight again at
/// once in segments that fit 1000 bytes, and every later segment fits too; the MTU is
/// recorded in the namespace's routing table, as Linux's TCP does. Then an MTU of 100
/// lowers it only to Linux's minimum of 552 (RFC 5927 section 7).
fn icmp_frag_needed_resends_smaller() -> TestResult {
    use std::io::Write;
    let _flush = FlushPmtu;
    let link = Link::open()?;
    let mut s = established(&link, &[])?;
    let port = s.addr.port();
    let (me, them) = (s.c.me, s.c.them);
    let data: Vec<u8> = (0..6000).map(|i| (i % 251) as u8).collect();
    (&s.app).write_all(&data[..3000]).map_err(|e| format!("partcp write: {e}"))?;
    let first = s.c.expect("data", |r| r.payload_len > 0)?;
    ensure!(first.seq == s.c.rcv_nxt, "first data at {}, want {}", first.seq, s.c.rcv_nxt);
    ensure!(first.wire_segment() > 960, "first segment of {} bytes: nothing to reduce", first.wire_segment());
    // The router quotes partcp's IP header and the first 8 bytes of its TCP header.
    let quoted = Seg::new(them, me, first.seq, first.ack, ACK).packet();
    link.send(&icmp_frag_needed(me.0, them.0, 1000, &quoted))?;
    // Sent again from the start without waiting for a retransmission timeout.
    let t = Instant::now();
    let again = s.c.expect("data sent again", |r| r.seq == first.seq && r.payload_len > 0)?;
    ensure!(again.wire_segment() == 960, "sent again in {}-byte segments after MTU 1000", again.wire_segment());
    let waited = t.elapsed();
    let max = largest(&collect_in_order(&mut s, 3000, Some(again))?);
    ensure!(max <= 960, "a {max}-byte segment after MTU 1000");
    ensure!(conn_stat(port, Some(me), "pmtu_reductions")? == 1, "pmtu_reductions is not 1");
    let mtu = route_mtu(me.0)?;
    ensure!(mtu == Some(1000), "the route to {} has path MTU {mtu:?} after MTU 1000, want 1000", me.0);
    println!("# icmp_frag_needed: resent after {waited:?}");
    (&s.app).write_all(&data[3000..]).map_err(|e| format!("partcp write: {e}"))?;
    let max = largest(&collect_in_order(&mut s, 3000, None)?);
    ensure!(max <= 960, "a {max}-byte segment of new data after MTU 1000");
    // A forged tiny MTU: clamped to 552, so segments of 512 bytes.
    (&s.app).write_all(&data[..2000]).map_err(|e| format!("partcp write: {e}"))?;
    let d = s.c.expect("data", |r| r.payload_len > 0 && r.seq == s.c.rcv_nxt)?;
    let quoted = Seg::new(them, me, d.seq, d.ack, ACK).packet();
    link.send(&icmp_frag_needed(me.0, them.0, 100, &quoted))?;
    let again = s.c.expect("data sent again", |r| r.seq == d.seq && r.payload_len > 0 && r.wire_segment() < 960)?;
    ensure!(again.wire_segment() == 512, "sent again in {}-byte segments after MTU 100", again.wire_segment());
    let max = largest(&collect_in_order(&mut s, 2000, Some(again))?);
    ensure!(max == 512, "segments of up to {max} bytes after MTU 100, want 552 - 40");
    ensure!(conn_stat(port, Some(me), "pmtu_reductions")? == 2, "pmtu_reductions is not 2");
    Ok(())
}

/// Receives `n` bytes from partcp in order from `rcv_nxt` (beginning with `first` if it
/// is in order and not yet counted), acknowledging each in-order segment; returns those
/// segments.
fn collect_in_order(s: &mut Setup, n: usize, first: Option<Reply>) -> Result<Vec<Reply>, String> {
    let start = s.c.rcv_nxt;
    let end = Instant::now() + Duration::from_secs(10);
    let mut segs = Vec::new();
    let mut next = first;
    while s.c.rcv_nxt.wrapping_sub(start) < n as u32 {
        ensure!(Instant::now() < end, "received {} of {n} bytes", s.c.rcv_nxt.wrapping_sub(start));
        let r = match next.take() {
            Some(r) => r,
            None => match s.c.link.recv(Duration::from_millis(500), |r| s.c.ours(r) && r.payload_len > 0) {
                Some(r) => r,
                None => continue,
            },
        };
        if r.seq == s.c.rcv_nxt {
            s.c.rcv_nxt = r.seq.wrapping_add(r.payload_len as u32);
            segs.push(r);
            s.c.send(ACK, b"")?;
        }
    }
    Ok(segs)
}

/// The largest segment on the wire among `segs`.
fn largest(segs: &[Reply]) -> usize {
    segs.iter().map(Reply::wire_segment).max().unwrap_or(0)
}
