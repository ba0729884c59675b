//! The namespace's TCP sysctls (`net.ipv4.tcp_*`): one case per sysctl partcp follows,
//! each setting it in `ptcp_a` (where the side under test lives; a guard restores it
//! however the case ends) and observing its effect on the wire or through the API. The
//! `net.inet` run proves the expectations are what Linux's TCP does under the same
//! sysctl in the same namespace; `Documentation/sysctls.md` lists every sysctl.
//!
//! The wire is watched from the hostile peer's packet socket (`hostile::link`): the side
//! under test connects to the hostile address [`H`] (nobody answers: a blackhole), or a
//! hand-driven peer at [`H`] connects to it, and every segment it sends is seen.
//!
//! Linux sends a tail loss probe (`tcp_early_retrans`, on by default) shortly after a
//! segment goes unacknowledged; partcp has no TLP, so the cases that count
//! retransmissions turn it off (`tcp_early_retrans=0`) for both.

use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::raw::{self, check};
use super::{accept, f_client, in_ns, next_port, Family, NetTest, Ns, A};
use crate::hostile::craft::{flag_names, Reply, Seg, ACK, FIN, PSH, RST, SYN};
use crate::hostile::link::{next_hport, Link, RawConn, H};
use crate::{ensure, TestResult};

pub fn tests() -> Vec<NetTest> {
    let t: &[super::Timed] = &[
        ("sysctl_syn_options", 60, syn_options),
        ("sysctl_synack_options", 60, synack_options),
        ("sysctl_tcp_syn_retries", 60, syn_retries),
        ("sysctl_tcp_synack_retries", 60, synack_retries),
        ("sysctl_tcp_syncookies", 60, syncookies),
        ("sysctl_tcp_max_syn_backlog", 60, max_syn_backlog),
        ("sysctl_tcp_retries2", 60, retries2),
        ("sysctl_tcp_rto_max_ms", 60, rto_max_ms),
        ("sysctl_tcp_rto_min_us", 60, rto_min_us),
        ("sysctl_tcp_orphan_retries", 60, orphan_retries),
        ("sysctl_tcp_fin_timeout", 60, fin_timeout),
        ("sysctl_tcp_keepalive", 60, keepalive),
        ("sysctl_tcp_dsack", 60, dsack),
        ("sysctl_tcp_reordering", 60, reordering),
        ("sysctl_tcp_slow_start_after_idle", 90, slow_start_after_idle),
        ("sysctl_tcp_congestion_control", 60, congestion_control),
        ("sysctl_tcp_notsent_lowat", 60, notsent_lowat),
        ("sysctl_tcp_rmem_autotune", 90, rmem_autotune),
        ("sysctl_tcp_moderate_rcvbuf", 60, moderate_rcvbuf),
        ("sysctl_tcp_wmem_autotune", 60, wmem_autotune),
        ("sysctl_so_bufs_lock_autotune", 60, bufs_locked),
    ];
    super::from_timed(t)
}

/// A sysctl of `ptcp_a` (or a global one, read and written from the initial
/// namespace), set for the lifetime of the guard and restored when it is dropped,
/// whichever way the case ends.
pub(super) struct Sysctl {
    path: String,
    old: String,
    ns: Option<Ns>,
}

/// `/proc/sys` path of a sysctl named with dots.
fn proc_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// Runs `f` in `ns`, or in the calling thread's namespace (the initial one) for `None`.
fn at<T: Send>(ns: Option<Ns>, f: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    match ns {
        Some(ns) => in_ns(ns, f),
        None => f(),
    }
}

/// The value of sysctl `name` in `ns`, whitespace-normalized.
fn get_at(ns: Option<Ns>, name: &str) -> Result<String, String> {
    let path = proc_path(name);
    at(ns, || {
        let v = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        Ok(v.split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

/// The value of sysctl `name` in `ptcp_a`, whitespace-normalized.
fn get(name: &str) -> Result<String, String> {
    get_at(Some(Ns::A), name)
}

impl Sysctl {
    fn set(ns: Option<Ns>, name: &str, value: &str) -> Result<Sysctl, String> {
        let path = proc_path(name);
        let old = get_at(ns, name)?;
        at(ns, || std::fs::write(&path, value).map_err(|e| format!("{name}={value}: {e}")))?;
        Ok(Sysctl { path, old, ns })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let r = at(self.ns, || std::fs::write(&self.path, &self.old).map_err(|e| e.to_string()));
        if let Err(e) = r {
            println!("# restoring {} to {:?}: {e}", self.path, self.old);
        }
    }
}

/// Sets every `(name, value)` in `ptcp_a`; the guards restore them in reverse order.
pub(super) fn set_all(settings: &[(&str, &str)]) -> Result<Vec<Sysctl>, String> {
    settings.iter().map(|(n, v)| Sysctl::set(Some(Ns::A), n, v)).collect()
}

/// Sets the global sysctl `name` (one value for every namespace) from the initial
/// namespace, as [`set_all`] does for `ptcp_a`'s.
pub(super) fn set_global(name: &str, value: &str) -> Result<Sysctl, String> {
    Sysctl::set(None, name, value)
}

/// The window scale Linux offers for a socket whose SO_RCVBUF is not set
/// (`tcp_select_initial_window`): ilog2(max(tcp_rmem[2], net.core.rmem_max)) - 15,
/// within 0..=14, from `ptcp_a`'s values now.
fn linux_wscale() -> Result<u8, String> {
    let rmem2: u64 =
        get("net.ipv4.tcp_rmem")?.split_whitespace().nth(2).and_then(|v| v.parse().ok()).ok_or("tcp_rmem")?;
    let rmem_max: u64 = get("net.core.rmem_max")?.parse().map_err(|_| "rmem_max")?;
    let space = rmem2.max(rmem_max).max(1);
    Ok((i64::from(space.ilog2()) - 15).clamp(0, 14) as u8)
}

/// The options a SYN or SYN-ACK must carry: timestamps, SACK-permitted, window scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SynOpts {
    ts: bool,
    sack: bool,
    wscale: Option<u8>,
}

impl SynOpts {
    fn of(r: &Reply) -> SynOpts {
        SynOpts { ts: r.timestamps.is_some(), sack: r.sack_permitted, wscale: r.wscale }
    }

    /// What the sysctls of `ptcp_a` now call for.
    fn expected() -> Result<SynOpts, String> {
        let ts = get("net.ipv4.tcp_timestamps")? != "0";
        let sack = get("net.ipv4.tcp_sack")? != "0";
        let ws = get("net.ipv4.tcp_window_scaling")? != "0";
        Ok(SynOpts { ts, sack, wscale: if ws { Some(linux_wscale()?) } else { None } })
    }
}

/// The sysctl settings the option cases go through.
const OPTION_SETTINGS: &[&[(&str, &str)]] = &[
    &[],
    &[("net.ipv4.tcp_timestamps", "0")],
    &[("net.ipv4.tcp_timestamps", "2")],
    &[("net.ipv4.tcp_sack", "0")],
    &[("net.ipv4.tcp_window_scaling", "0")],
    &[("net.ipv4.tcp_timestamps", "0"), ("net.ipv4.tcp_sack", "0"), ("net.ipv4.tcp_window_scaling", "0")],
    // The scale follows the largest window the buffer may grow to...
    &[("net.ipv4.tcp_rmem", "4096 131072 67108864")],
    // ...and net.core.rmem_max when that is larger.
    &[("net.ipv4.tcp_rmem", "4096 131072 262144")],
];

/// The SYN a socket of `fam` in `ptcp_a` sends to the blackhole [`H`] (`prepare` runs on
/// the socket before connect).
pub(super) fn capture_syn(
    fam: Family,
    link: &Link,
    prepare: impl FnOnce(&crate::sys::Fd) -> TestResult,
) -> Result<Reply, String> {
    let fd = fam.socket_in(Ns::A, libc::SOCK_NONBLOCK)?;
    prepare(&fd)?;
    let to = SocketAddrV4::new(H, next_port());
    match raw::connect(&fd, to) {
        Err(libc::EINPROGRESS) => {}
        r => return Err(format!("nonblocking connect to {to}: {r:?}, want EINPROGRESS")),
    }
    let syn = link.recv(Duration::from_secs(3), |r| r.dport == to.port() && r.has(SYN) && !r.has(ACK));
    drop(fd);
    syn.ok_or_else(|| format!("no SYN to {to}"))
}

/// tcp_timestamps, tcp_sack, tcp_window_scaling and the window scale (tcp_rmem[2],
/// net.core.rmem_max; SO_RCVBUF) in the SYN of an active open.
fn syn_options(fam: Family) -> TestResult {
    let link = Link::open()?;
    for settings in OPTION_SETTINGS {
        let _g = set_all(settings)?;
        let want = SynOpts::expected()?;
        let got = SynOpts::of(&capture_syn(fam, &link, |_| Ok(()))?);
        ensure!(got == want, "SYN under {settings:?}: {got:?}, want {want:?}");
        if fam != Family::Inet {
            let linux = SynOpts::of(&capture_syn(Family::Inet, &link, |_| Ok(()))?);
            ensure!(got == linux, "SYN under {settings:?}: {got:?}, Linux {linux:?}");
        }
    }
    // SO_RCVBUF 64 KB: the window clamp is the buffer's 64 KB (half of the doubled
    // sk_rcvbuf), shift 1.
    let got = capture_syn(fam, &link, |fd| raw::set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536, "SO_RCVBUF"))?;
    ensure!(got.wscale == Some(1), "SYN with SO_RCVBUF 65536: window scale {:?}, want 1", got.wscale);
    Ok(())
}

/// The options of a SYN with MSS, SACK-permitted, timestamps and window scale 7.
const FULL_SYN_OPTIONS: &[u8] = &[2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];

/// Sends a SYN from `src` (an address routed to the hostile link) to `to` and returns
/// the SYN-ACK, if one comes within `wait`.
pub(super) fn syn_to(
    link: &Link,
    src: (std::net::Ipv4Addr, u16),
    to: SocketAddrV4,
    wait: Duration,
) -> Result<Option<Reply>, String> {
    let mut syn = Seg::new(src, (*to.ip(), to.port()), 0x2000_0000, 0, SYN);
    syn.options = FULL_SYN_OPTIONS.to_vec();
    link.send(&syn.packet())?;
    Ok(link.recv(wait, |r| r.dst == src.0 && r.dport == src.1 && r.has(SYN) && r.has(ACK)))
}

/// Resets the half-open connection a SYN-ACK `sa` belongs to (RST at exactly the
/// expected sequence number, RFC 5961).
pub(super) fn reset_half_open(link: &Link, sa: &Reply) -> TestResult {
    link.send(&Seg::new((sa.dst, sa.dport), (sa.src, sa.sport), sa.ack, 0, RST).packet())
}

/// A listener of `fam` in `ptcp_a` with `backlog`, made after the sysctls were set
/// (partcp reads them at listen(); Linux at each SYN).
pub(super) fn listener_with(
    fam: Family,
    backlog: i32,
    prepare: impl FnOnce(&crate::sys::Fd) -> TestResult + Send,
) -> Result<(TcpListener, SocketAddrV4), String> {
    let addr = SocketAddrV4::new(A, next_port());
    in_ns(Ns::A, || {
        let fd = fam.socket(0)?;
        prepare(&fd)?;
        check("bind", raw::bind(&fd, addr))?;
        check("listen", raw::listen(&fd, backlog))?;
        Ok((super::listener(fd), addr))
    })
}

/// The same sysctls in the SYN-ACK of a listener answering a SYN that offers every
/// option.
fn synack_options(fam: Family) -> TestResult {
    let link = Link::open()?;
    for settings in OPTION_SETTINGS {
        let _g = set_all(settings)?;
        let want = SynOpts::expected()?;
        let (_l, addr) = listener_with(fam, 16, |_| Ok(()))?;
        let sa = syn_to(&link, (H, next_hport()), addr, Duration::from_secs(3))?.ok_or("no SYN-ACK")?;
        reset_half_open(&link, &sa)?;
        let got = SynOpts::of(&sa);
        ensure!(got == want, "SYN-ACK under {settings:?}: {got:?}, want {want:?}");
    }
    let (_l, addr) =
        listener_with(fam, 16, |fd| raw::set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536, "SO_RCVBUF"))?;
    let sa = syn_to(&link, (H, next_hport()), addr, Duration::from_secs(3))?.ok_or("no SYN-ACK")?;
    reset_half_open(&link, &sa)?;
    ensure!(sa.wscale == Some(1), "SYN-ACK with SO_RCVBUF 65536: window scale {:?}, want 1", sa.wscale);
    Ok(())
}

/// The SYNs of a connect (times since it started), how it ended, and when.
pub(super) type Attempt = (Vec<Duration>, Result<(), i32>, Duration);

/// A blocking connect to the blackhole under `settings`.
pub(super) fn syn_attempts(
    fam: Family,
    link: &Link,
    settings: &[(&str, &str)],
    prepare: impl FnOnce(&crate::sys::Fd) -> TestResult,
) -> Result<Attempt, String> {
    let _g = set_all(settings)?;
    let fd = fam.socket_in(Ns::A, 0)?;
    prepare(&fd)?;
    let to = SocketAddrV4::new(H, next_port());
    let start = Instant::now();
    std::thread::scope(|s| {
        let conn = s.spawn(|| (raw::connect(&fd, to), start.elapsed()));
        let mut syns = Vec::new();
        let mut done_at = None;
        // Until 1.5 s after the connect returned: nothing may follow it.
        while done_at.is_none_or(|t: Instant| t.elapsed() < Duration::from_millis(1500)) {
            if start.elapsed() > Duration::from_secs(20) {
                break;
            }
            if link.recv(Duration::from_millis(100), |r| r.dport == to.port() && r.has(SYN)).is_some() {
                syns.push(start.elapsed());
            }
            if done_at.is_none() && conn.is_finished() {
                done_at = Some(Instant::now());
            }
        }
        let (r, took) = conn.join().map_err(|_| "connect thread panicked".to_string())?;
        Ok((syns, r, took))
    })
}

/// tcp_syn_retries (with tcp_syn_linear_timeouts): SYNs to a blackhole and the time to
/// ETIMEDOUT. With 1 retry the budget is 1 + 2 s: three SYNs a second apart while the
/// linear timeouts last (Linux 7.3 default 4), two without them.
fn syn_retries(fam: Family) -> TestResult {
    let link = Link::open()?;
    for (linear, want_syns) in [("4", 3usize), ("0", 2)] {
        let settings = [("net.ipv4.tcp_syn_retries", "1"), ("net.ipv4.tcp_syn_linear_timeouts", linear)];
        let (syns, r, took) = syn_attempts(fam, &link, &settings, |_| Ok(()))?;
        let what = format!("tcp_syn_retries=1 tcp_syn_linear_timeouts={linear}");
        ensure!(r == Err(libc::ETIMEDOUT), "{what}: connect {r:?}, want ETIMEDOUT");
        ensure!(syns.len() == want_syns, "{what}: {} SYNs at {syns:?}, want {want_syns}", syns.len());
        ensure!(
            (Duration::from_millis(2800)..Duration::from_millis(4500)).contains(&took),
            "{what}: connect gave up after {took:?}, want about 3 s"
        );
        // The second SYN one initial RTO (1 s) after the first.
        let gap = syns[1] - syns[0];
        ensure!((Duration::from_millis(850)..Duration::from_millis(1500)).contains(&gap), "{what}: SYNs at {syns:?}");
    }
    Ok(())
}

/// tcp_synack_retries: a SYN never completed gets the SYN-ACK and one retransmission
/// (1 s later), then the half-open connection is dropped (at 3 s, when a third SYN-ACK
/// would be due): its final ACK then makes no connection. (Linux's TCP resets it; partcp
/// leaves it to Linux under MsgP and ConnP-L, which resets it too, and drops it under
/// ConnP-T: `Documentation/strategies.md`.)
fn synack_retries(fam: Family) -> TestResult {
    let link = Link::open()?;
    let _g = set_all(&[("net.ipv4.tcp_synack_retries", "1")])?;
    one_synack_retransmission(fam, &link, "tcp_synack_retries=1", |_| Ok(()), |_| Ok(()))
}

/// A listener of `fam` (`before` applied to its socket before listen(), `after` to the
/// listening socket) answers a SYN never completed with the SYN-ACK and one
/// retransmission 1 s later, then drops the half-open connection (at 3 s): its final
/// ACK makes no connection.
pub(super) fn one_synack_retransmission(
    fam: Family,
    link: &Link,
    what: &str,
    before: impl FnOnce(&crate::sys::Fd) -> TestResult + Send,
    after: impl FnOnce(&TcpListener) -> TestResult,
) -> TestResult {
    let (l, addr) = listener_with(fam, 16, before)?;
    after(&l)?;
    let src = (H, next_hport());
    let start = Instant::now();
    let sa = syn_to(link, src, addr, Duration::from_secs(3))?.ok_or("no SYN-ACK")?;
    let mut synacks = vec![start.elapsed()];
    let until = start + Duration::from_millis(3600);
    while let Some(_r) = link.recv(until.saturating_duration_since(Instant::now()), |r| r.dport == src.1 && r.has(SYN))
    {
        synacks.push(start.elapsed());
    }
    ensure!(synacks.len() == 2, "{what}: SYN-ACKs at {synacks:?}, want 2");
    let ack = Seg::new(src, (*addr.ip(), addr.port()), 0x2000_0001, sa.seq.wrapping_add(1), ACK);
    link.send(&ack.packet())?;
    let r = link.recv(Duration::from_millis(500), |r| r.dport == src.1);
    ensure!(
        r.as_ref().is_none_or(|r| r.has(RST)),
        "{what}: final ACK after expiry answered with {:?}",
        r.map(|r| flag_names(r.flags))
    );
    raw::set_nonblocking(&l, true)?;
    let a = l.accept();
    ensure!(a.is_err(), "{what}: final ACK after the half-open connection expired: a connection was accepted");
    Ok(())
}

/// SYN-ACKs (first transmissions only) for `n` SYNs from distinct sources to a fresh
/// listener with `backlog`, under `settings`.
fn synacks_for(
    fam: Family,
    link: &Link,
    settings: &[(&str, &str)],
    backlog: i32,
    n: u8,
    net: u8,
) -> Result<usize, String> {
    let _g = set_all(settings)?;
    let (_l, addr) = listener_with(fam, backlog, |_| Ok(()))?;
    // Sources in 198.19.<net>.0/24 (routed back to the hostile link): never "proven"
    // peers with TCP metrics, which Linux would let past tcp_max_syn_backlog.
    let mut answered = 0;
    for i in 1..=n {
        let src = (std::net::Ipv4Addr::new(198, 19, net, i), next_hport());
        // The half-open connections stay (resetting them would free queue slots while
        // the case counts); they go with the listener.
        if syn_to(link, src, addr, Duration::from_millis(300))?.is_some() {
            answered += 1;
        }
    }
    Ok(answered)
}

/// tcp_syncookies: 2 answers every SYN with a cookie (no state: no SYN-ACK
/// retransmission, and the final ACK still makes a connection); 1 uses cookies once
/// the SYN queue holds more than the listen backlog; 0 drops SYNs then.
fn syncookies(fam: Family) -> TestResult {
    let link = Link::open()?;
    {
        let _g = set_all(&[("net.ipv4.tcp_syncookies", "2")])?;
        let (l, addr) = listener_with(fam, 16, |_| Ok(()))?;
        let src = (H, next_hport());
        let sa = syn_to(&link, src, addr, Duration::from_secs(3))?.ok_or("no SYN-ACK")?;
        let again = link.recv(Duration::from_millis(1600), |r| r.dport == src.1);
        ensure!(
            again.is_none(),
            "tcp_syncookies=2: a cookie SYN-ACK was retransmitted ({:?})",
            again.map(|r| flag_names(r.flags))
        );
        let mut ack = Seg::new(src, (*addr.ip(), addr.port()), 0x2000_0001, sa.seq.wrapping_add(1), ACK);
        // Echo the timestamp: the cookie's options ride in it.
        if let Some((tsval, _)) = sa.timestamps {
            ack.options = vec![1, 1, 8, 10, 0, 0, 0, 2];
            ack.options.extend_from_slice(&tsval.to_be_bytes());
        }
        link.send(&ack.packet())?;
        let c = accept(&l).map_err(|e| format!("tcp_syncookies=2, after the cookie's ACK: {e}"))?;
        // Reset it, so that no orphan outlives the case.
        link.send(&Seg::new(src, (*addr.ip(), addr.port()), 0x2000_0001, 0, RST).packet())?;
        drop(c);
    }
    let cookies = synacks_for(fam, &link, &[("net.ipv4.tcp_syncookies", "1")], 2, 6, 101)?;
    ensure!(cookies == 6, "tcp_syncookies=1, backlog 2: {cookies} of 6 SYNs answered, want 6");
    let dropped = synacks_for(fam, &link, &[("net.ipv4.tcp_syncookies", "0")], 2, 6, 102)?;
    ensure!(dropped == 3, "tcp_syncookies=0, backlog 2: {dropped} of 6 SYNs answered, want 3 (backlog + 1)");
    Ok(())
}

/// tcp_max_syn_backlog: without SYN cookies, a SYN is dropped once fewer than a quarter
/// of tcp_max_syn_backlog entries are left (8: seven half-open connections), whatever
/// the listen backlog.
fn max_syn_backlog(fam: Family) -> TestResult {
    let link = Link::open()?;
    // Forget earlier connections' metrics (no peer is "proven"); older iproute2 may not
    // know the command, and the sources below are fresh anyway.
    let _ = super::setup::run("ip -n ptcp_a tcp_metrics flush all");
    let settings = [("net.ipv4.tcp_syncookies", "0"), ("net.ipv4.tcp_max_syn_backlog", "8")];
    let n = synacks_for(fam, &link, &settings, 128, 12, 103)?;
    ensure!(n == 7, "tcp_max_syn_backlog=8 without cookies: {n} of 12 SYNs answered, want 7");
    Ok(())
}

/// tcp_notsent_lowat: the unsent-bytes mark of sockets that do not set
/// TCP_NOTSENT_LOWAT (which still reads 0): 8192 stops writes as the option would.
fn notsent_lowat(fam: Family) -> TestResult {
    let _g = set_all(&[("net.ipv4.tcp_notsent_lowat", "8192")])?;
    super::options::notsent_stops_writes(fam, 8192, false)
}

/// A connection from the hand-driven peer to a listener of `fam` made under the
/// current sysctls (the listener with SO_KEEPALIVE if `keepalive`): the raw end and
/// the accepted socket.
pub(super) fn raw_connection<'a>(
    fam: Family,
    link: &'a Link,
    syn_options: &[u8],
    keepalive: bool,
) -> Result<(RawConn<'a>, TcpStream, TcpListener), String> {
    let (l, addr) = listener_with(fam, 16, |fd| {
        if keepalive {
            raw::set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1, "SO_KEEPALIVE")?;
        }
        Ok(())
    })?;
    let (c, _) = RawConn::connect(link, addr, syn_options)?;
    let app = accept(&l)?;
    Ok((c, app, l))
}

/// What happened to data the silent peer never acknowledges: when each transmission of
/// the first segment went out (relative to the write), and when the socket reported an
/// error, which.
struct Unacked {
    sends: Vec<Duration>,
    error: Option<(i32, Duration)>,
}

/// Writes 100 bytes on `app` (then closes it if `close`) and watches the first
/// segment's transmissions for `watch`, waiting for the socket's error if it stays open.
fn unacked(c: &RawConn, app: TcpStream, close: bool, watch: Duration) -> Result<Unacked, String> {
    let seq = c.rcv_nxt;
    let start = Instant::now();
    check("write", raw::write(&app, &[7u8; 100]))?;
    let app = if close {
        drop(app);
        None
    } else {
        Some(app)
    };
    let mut sends = Vec::new();
    let mut error = None;
    let end = start + watch;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let step = left.min(Duration::from_millis(20));
        if let Some(_r) = c.link.recv(step, |r| c.ours(r) && r.seq == seq && r.payload_len > 0) {
            sends.push(start.elapsed());
        }
        if let (Some(a), None) = (&app, error) {
            if raw::poll1(a, libc::POLLERR, 0).is_ok_and(|ev| ev & libc::POLLERR != 0) {
                let e = raw::get_int(a, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")?;
                error = Some((e, start.elapsed()));
            }
        }
    }
    Ok(Unacked { sends, error })
}

/// Retransmission of unacknowledged data until the connection gives up under
/// `settings`: returns the transmissions of the first segment and the error.
fn give_up(fam: Family, settings: &[(&str, &str)], watch: Duration) -> Result<Unacked, String> {
    let link = Link::open()?;
    let mut all = vec![("net.ipv4.tcp_early_retrans", "0")];
    all.extend_from_slice(settings);
    let _g = set_all(&all)?;
    let (c, app, _l) = raw_connection(fam, &link, &[], false)?;
    unacked(&c, app, false, watch)
}

/// tcp_retries2: Linux's budget for 1 retry is 0.2 + 0.4 s from the first
/// retransmission (at one RTO, about 0.2 s): the data is retransmitted at about 0.2
/// and 0.6 s, and the connection times out at the next expiry, about 1.4 s.
fn retries2(fam: Family) -> TestResult {
    let u = give_up(fam, &[("net.ipv4.tcp_retries2", "1")], Duration::from_secs(3))?;
    let what = "tcp_retries2=1";
    ensure!(u.sends.len() == 3, "{what}: first segment sent at {:?}, want 3 times", u.sends);
    let (e, at) = u.error.ok_or_else(|| format!("{what}: no error after 3 s"))?;
    ensure!(e == libc::ETIMEDOUT, "{what}: SO_ERROR {}", crate::sys::errname(e));
    ensure!((Duration::from_millis(1300)..Duration::from_millis(2400)).contains(&at), "{what}: timed out after {at:?}");
    Ok(())
}

/// tcp_rto_max_ms: with 1000 the backoff stops at 1 s: transmissions at about 0, 0.2,
/// 0.6, 1.4, 2.4, 3.4 and 4.4 s.
fn rto_max_ms(fam: Family) -> TestResult {
    let u = give_up(fam, &[("net.ipv4.tcp_rto_max_ms", "1000")], Duration::from_secs(5))?;
    let what = "tcp_rto_max_ms=1000";
    ensure!(u.sends.len() >= 6, "{what}: first segment sent at {:?}, want 6 or 7 times in 5 s", u.sends);
    let gaps: Vec<Duration> = u.sends.windows(2).map(|w| w[1] - w[0]).collect();
    ensure!(
        gaps[3..].iter().all(|g| (Duration::from_millis(900)..Duration::from_millis(1300)).contains(g)),
        "{what}: transmissions at {:?}, want 1 s apart from the fourth on",
        u.sends
    );
    ensure!(u.error.is_none(), "{what}: error {:?} within 5 s", u.error);
    Ok(())
}

/// tcp_rto_min_us: read when the socket is created (the listener, whose connections
/// inherit it); with 1 s the first retransmission comes about 1 s after the data.
fn rto_min_us(fam: Family) -> TestResult {
    let u = give_up(fam, &[("net.ipv4.tcp_rto_min_us", "1000000")], Duration::from_millis(1800))?;
    let what = "tcp_rto_min_us=1000000";
    ensure!(u.sends.len() == 2, "{what}: first segment sent at {:?}, want 2 times within 1.8 s", u.sends);
    let gap = u.sends[1] - u.sends[0];
    ensure!(
        (Duration::from_millis(950)..Duration::from_millis(1500)).contains(&gap),
        "{what}: retransmitted after {gap:?}"
    );
    Ok(())
}

/// tcp_orphan_retries: a closed socket with unacknowledged data gets the budget of 1
/// retry (0.6 s from the first retransmission): retransmissions at about 0.2 and 0.6
/// s, then it gives up (about 1.4 s) and sends nothing more; with the default (0: 8
/// retries) it would go on retransmitting (at 1.4 s, 3 s...) for minutes.
fn orphan_retries(fam: Family) -> TestResult {
    let link = Link::open()?;
    let _g = set_all(&[("net.ipv4.tcp_early_retrans", "0"), ("net.ipv4.tcp_orphan_retries", "1")])?;
    let (c, app, _l) = raw_connection(fam, &link, &[], false)?;
    let u = unacked(&c, app, true, Duration::from_millis(3500))?;
    ensure!(u.sends.len() == 3, "tcp_orphan_retries=1: first segment sent at {:?} in 3.5 s, want 3 times", u.sends);
    Ok(())
}

/// tcp_fin_timeout: an orphan in FIN-WAIT-2 lasts tcp_fin_timeout (2 s): the peer's FIN
/// after 1 s is acknowledged, after 3 s it is not (Linux's TCP resets it; partcp leaves
/// it to Linux's, except under ConnP-T, which drops it: see `synack_retries`).
fn fin_timeout(fam: Family) -> TestResult {
    let link = Link::open()?;
    let _g = set_all(&[("net.ipv4.tcp_fin_timeout", "2")])?;
    fin_wait2_lasts_2s(fam, &link, "tcp_fin_timeout=2", |_| Ok(()))
}

/// Closes two accepted connections of `fam` (after `prepare` on each) whose FIN the
/// hand-driven peer acknowledges, then sends the peer's FIN to the first orphan after 1
/// s (acknowledged: still in FIN-WAIT-2) and to the second after 3 s (reset or, except
/// for Linux, dropped: gone), as a FIN-WAIT-2 lifetime of 2 s wants.
pub(super) fn fin_wait2_lasts_2s(
    fam: Family,
    link: &Link,
    what: &str,
    prepare: impl Fn(&TcpStream) -> TestResult,
) -> TestResult {
    let mut pairs = Vec::new();
    for _ in 0..2 {
        let (mut c, app, l) = raw_connection(fam, link, &[], false)?;
        prepare(&app)?;
        drop(app);
        let fin = c.expect("FIN", |r| r.has(FIN))?;
        c.rcv_nxt = fin.seq.wrapping_add(1);
        c.send(ACK, b"")?;
        pairs.push((c, l, Instant::now()));
    }
    for (i, (wait, want_rst)) in
        [(Duration::from_secs(1), false), (Duration::from_secs(3), true)].into_iter().enumerate()
    {
        let (c, _, t0) = &mut pairs[i];
        std::thread::sleep(wait.saturating_sub(t0.elapsed()));
        let fin = c.seg(FIN | ACK);
        c.link.send(&fin.packet())?;
        let r = c.link.recv(Duration::from_secs(1), |r| c.ours(r));
        let got = r.as_ref().map(|r| flag_names(r.flags));
        let ok = match &r {
            Some(r) if want_rst => r.has(RST),
            Some(r) => r.has(ACK) && !r.has(RST) && r.ack == c.snd_nxt.wrapping_add(1),
            None => want_rst && fam != Family::Inet,
        };
        ensure!(
            ok,
            "{what}: the peer's FIN after {wait:?} got {got:?}, want {}",
            if want_rst { "RST" } else { "its ACK" }
        );
        c.snd_nxt = c.snd_nxt.wrapping_add(1);
    }
    Ok(())
}

/// tcp_keepalive_time/intvl/probes: the defaults of TCP_KEEPIDLE/INTVL/CNT (also as
/// getsockopt reports them); an idle connection with SO_KEEPALIVE to a silent peer is
/// probed at 1 and 2 s, then reset at 3 s with ETIMEDOUT.
fn keepalive(fam: Family) -> TestResult {
    let link = Link::open()?;
    let _g = set_all(&[
        ("net.ipv4.tcp_keepalive_time", "1"),
        ("net.ipv4.tcp_keepalive_intvl", "1"),
        ("net.ipv4.tcp_keepalive_probes", "2"),
    ])?;
    let fd = fam.socket_in(Ns::A, 0)?;
    for (name, what) in [
        (libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
        (libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
        (libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
    ] {
        let v = raw::get_int(&fd, libc::IPPROTO_TCP, name, what)?;
        let want = if name == libc::TCP_KEEPCNT { 2 } else { 1 };
        ensure!(v == want, "{what} = {v} under the sysctls, want {want}");
    }
    drop(fd);
    let (c, app, _l) = raw_connection(fam, &link, &[], true)?;
    let start = Instant::now();
    let mut probes = Vec::new();
    let mut rst = None;
    while start.elapsed() < Duration::from_millis(4500) && rst.is_none() {
        if let Some(r) = link.recv(Duration::from_millis(100), |r| c.ours(r)) {
            if r.has(RST) {
                rst = Some(start.elapsed());
            } else {
                probes.push(start.elapsed());
            }
        }
    }
    ensure!(probes.len() == 2, "keepalive probes at {probes:?}, want 2 (at 1 and 2 s)");
    ensure!(
        (Duration::from_millis(700)..Duration::from_millis(1500)).contains(&probes[0]),
        "first keepalive probe at {:?}, want about 1 s",
        probes[0]
    );
    let rst = rst.ok_or("no reset after the unanswered probes")?;
    ensure!(
        (Duration::from_millis(2700)..Duration::from_millis(3800)).contains(&rst),
        "reset at {rst:?}, want about 3 s"
    );
    // The reset is on the wire before the socket reports the error (Linux too:
    // tcp_keepalive_timer sends it, then tcp_write_err); an application learns of it
    // by POLLERR, so wait for that before reading SO_ERROR.
    let ev = raw::check("poll", raw::poll1(&app, libc::POLLIN, 2000))?;
    ensure!(ev & libc::POLLERR != 0, "no POLLERR within 2 s of the keepalive reset: {}", raw::events(ev as u32));
    let e = raw::get_int(&app, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")?;
    ensure!(e == libc::ETIMEDOUT, "SO_ERROR {} after the keepalive reset, want ETIMEDOUT", crate::sys::errname(e));
    Ok(())
}

/// MSS 1460 and SACK-permitted.
const SACK_SYN_OPTIONS: &[u8] = &[2, 4, 0x05, 0xb4, 1, 1, 4, 2];

/// tcp_dsack: a duplicate segment is acknowledged with a D-SACK block (RFC 2883) for it
/// only when tcp_dsack is on.
fn dsack(fam: Family) -> TestResult {
    let link = Link::open()?;
    for on in ["1", "0"] {
        let _g = set_all(&[("net.ipv4.tcp_dsack", on)])?;
        let (mut c, _app, _l) = raw_connection(fam, &link, SACK_SYN_OPTIONS, false)?;
        let seq = c.snd_nxt;
        c.exchange(b"data")?;
        let mut dup = Seg::new(c.me, c.them, seq, c.rcv_nxt, ACK | PSH);
        dup.payload = b"data".to_vec();
        link.send(&dup.packet())?;
        let a = c.expect("ACK of the duplicate", |r| r.has(ACK) && r.payload_len == 0)?;
        let want = if on == "1" { vec![(seq, seq.wrapping_add(4))] } else { Vec::new() };
        ensure!(
            a.sack_blocks == want,
            "tcp_dsack={on}: SACK blocks {:?} in the ACK of a duplicate, want {want:?}",
            a.sack_blocks
        );
    }
    Ok(())
}

/// After how many of the peer's duplicate ACKs (no SACK) the lost second of ten
/// segments is retransmitted, at most `max` (the RTO is 3 s, far off).
fn dupacks_to_retransmit(fam: Family, reordering: &str, max: u32) -> Result<Option<u32>, String> {
    let link = Link::open()?;
    let _g = set_all(&[
        ("net.ipv4.tcp_early_retrans", "0"),
        ("net.ipv4.tcp_rto_min_us", "3000000"),
        ("net.ipv4.tcp_reordering", reordering),
    ])?;
    // MSS 536: ten segments fit the initial window and partcp's 8 KB send ring.
    const MSS: u32 = 536;
    let (c, app, _l) = raw_connection(fam, &link, &[2, 4, 0x02, 0x18], false)?;
    raw::set_int(&app, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1, "TCP_NODELAY")?;
    let start = c.rcv_nxt;
    let len = 10 * MSS;
    check("write", raw::write(&app, &vec![3u8; len as usize]))?;
    let mut top = start;
    while top.wrapping_sub(start) < len {
        let r =
            c.expect(&format!("data up to {len} bytes (got {})", top.wrapping_sub(start)), |r| r.payload_len > 0)?;
        let end = r.seq.wrapping_add(r.payload_len as u32);
        if end.wrapping_sub(top) as i32 > 0 {
            top = end;
        }
    }
    // The first segment arrived, the second was lost: every further ACK is a duplicate
    // (Linux counts at most one per segment still outstanding).
    let lost = start.wrapping_add(MSS);
    let ack = Seg::new(c.me, c.them, c.snd_nxt, lost, ACK);
    link.send(&ack.packet())?;
    for n in 1..=max {
        link.send(&ack.packet())?;
        if link.recv(Duration::from_millis(250), |r| c.ours(r) && r.seq == lost && r.payload_len > 0).is_some() {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// tcp_reordering: the number of duplicate ACKs that make a segment lost (fast
/// retransmit, RFC 5681 3.2), read when the socket is created. Linux raises it when it
/// sees reordering, partcp keeps it; and with SACK Linux detects loss by time (RACK,
/// `tcp_recovery`), so the case uses a peer without SACK.
fn reordering(fam: Family) -> TestResult {
    for (value, want) in [("3", 3u32), ("5", 5)] {
        let n = dupacks_to_retransmit(fam, value, 7)?;
        ensure!(n == Some(want), "tcp_reordering={value}: fast retransmit after {n:?} duplicate ACKs, want {want}");
    }
    Ok(())
}

/// tcp_slow_start_after_idle: after an idle period longer than the RTO the congestion
/// window restarts from (at most) the initial window; with 0 it is kept.
fn slow_start_after_idle(fam: Family) -> TestResult {
    for on in [true, false] {
        let _g = set_all(&[("net.ipv4.tcp_slow_start_after_idle", if on { "1" } else { "0" })])?;
        let (f, peer) = f_client(fam)?;
        one_way(&f, &peer, 4 << 20)?;
        let before = raw::tcp_info(&f)?.tcpi_snd_cwnd;
        ensure!(
            before > 10,
            "tcp_slow_start_after_idle={}: cwnd {before} after 4 MB, want more than the initial 10",
            on as u8
        );
        std::thread::sleep(Duration::from_millis(1500));
        super::pass(&f, &peer, b"after idle")?;
        let after = raw::tcp_info(&f)?.tcpi_snd_cwnd;
        if on {
            // Linux halves cwnd per idle RTO down to the initial window (partcp goes
            // straight there); the send after idle may add a segment.
            ensure!(
                after <= (before / 2).max(12),
                "tcp_slow_start_after_idle=1: cwnd {before} -> {after} across 1.5 s idle"
            );
        } else {
            ensure!(after >= before, "tcp_slow_start_after_idle=0: cwnd {before} -> {after} across 1.5 s idle");
        }
    }
    Ok(())
}

/// Writes `n` bytes on `from` while a thread reads them on `to`.
fn one_way(mut from: &TcpStream, mut to: &TcpStream, n: usize) -> TestResult {
    use std::io::{Read, Write};
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < n {
                match to.read(&mut buf) {
                    Ok(0) => return Err(format!("end of stream after {got} of {n} bytes")),
                    Ok(k) => got += k,
                    Err(e) => return Err(format!("read after {got} of {n} bytes: {e}")),
                }
            }
            Ok(())
        });
        let chunk = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        while sent < n {
            let k = (n - sent).min(chunk.len());
            from.write_all(&chunk[..k]).map_err(|e| format!("write after {sent} bytes: {e}"))?;
            sent += k;
        }
        reader.join().map_err(|_| "reader panicked".to_string())?
    })
}

/// TCP_CONGESTION as `ptcp_a`'s tcp_congestion_control says when the socket is created
/// (and so for its connection and, if it listens, itself); an accepted connection gets
/// the namespace's when its handshake completes (Linux tcp_ca_openreq_child).
fn congestion_control(fam: Family) -> TestResult {
    let g = set_all(&[("net.ipv4.tcp_congestion_control", "reno")])?;
    let fresh = fam.socket_in(Ns::A, 0)?;
    let name = congestion_name(&fresh)?;
    ensure!(name == "reno", "new socket under reno: {name}");
    let (f, _peer) = f_client(fam)?;
    let name = congestion_name(&f)?;
    ensure!(name == "reno", "connection under reno: {name}");
    let (l, addr) = fam.listener(Ns::A)?;
    let (l2, addr2) = fam.listener(Ns::A)?;
    let peer = super::peer_connect(addr)?;
    let a = accept(&l)?;
    let name = congestion_name(&a)?;
    ensure!(name == "reno", "accepted under reno: {name}");
    drop(g);
    let now = get("net.ipv4.tcp_congestion_control")?;
    ensure!(now != "reno", "tcp_congestion_control restored to {now}");
    let name = congestion_name(&f)?;
    ensure!(name == "reno", "connection made under reno, sysctl now {now}: {name}");
    let name = congestion_name(&l2)?;
    ensure!(name == "reno", "listener made under reno, sysctl now {now}: {name}");
    let peer2 = super::peer_connect(addr2)?;
    let a2 = accept(&l2)?;
    let name = congestion_name(&a2)?;
    ensure!(name == now, "accepted under {now} from a listener made under reno: {name}");
    drop((peer, peer2));
    let later = fam.socket_in(Ns::A, 0)?;
    let name = congestion_name(&later)?;
    ensure!(name == now, "new socket under {now}: {name}");
    Ok(())
}

/// TCP_CONGESTION of `fd`: up to 16 bytes of the name, NUL-padded.
fn congestion_name(fd: &impl AsRawFd) -> Result<String, String> {
    let (v, len) =
        check("getsockopt TCP_CONGESTION", raw::getsockopt::<[u8; 16]>(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION))?;
    Ok(String::from_utf8_lossy(&v[..len]).trim_end_matches('\0').to_string())
}

/// Bytes the buffer cases move: enough round trips for autotuning to grow a buffer.
const AUTOTUNE_BYTES: usize = 16 << 20;

/// `SO_RCVBUF` (`rcv`) or `SO_SNDBUF` of `fd`.
fn sock_buf(fd: &impl AsRawFd, rcv: bool) -> Result<i32, String> {
    let (name, what) = if rcv { (libc::SO_RCVBUF, "SO_RCVBUF") } else { (libc::SO_SNDBUF, "SO_SNDBUF") };
    raw::get_int(fd, libc::SOL_SOCKET, name, what)
}

/// Field `i` of a three-value sysctl of `ptcp_a` (`tcp_rmem`, `tcp_wmem`).
fn triple(name: &str, i: usize) -> Result<i32, String> {
    get(name)?.split_whitespace().nth(i).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name}[{i}]"))
}

/// SO_RCVBUF of the side under test after it received [`AUTOTUNE_BYTES`] from Linux,
/// as the client (`f_client`) and as the accepted server (`f_server`).
fn rcvbuf_after_transfer(fam: Family) -> Result<[i32; 2], String> {
    let mut out = [0; 2];
    for (i, server) in [false, true].into_iter().enumerate() {
        let (f, peer) = if server { super::f_server(fam)? } else { f_client(fam)? };
        one_way(&peer, &f, AUTOTUNE_BYTES)?;
        out[i] = sock_buf(&f, true)?;
    }
    Ok(out)
}

/// tcp_rmem: a receiving socket's buffer starts at tcp_rmem[1] and grows with what the
/// application reads per round trip (dynamic right-sizing, Linux
/// tcp_rcv_space_adjust), up to tcp_rmem[2]; SO_RCVBUF reports the grown size.
fn rmem_autotune(fam: Family) -> TestResult {
    let rmem1 = triple("net.ipv4.tcp_rmem", 1)?;
    let rmem2 = triple("net.ipv4.tcp_rmem", 2)?;
    let fresh = fam.socket_in(Ns::A, 0)?;
    let v = sock_buf(&fresh, true)?;
    ensure!(v == rmem1, "new socket: SO_RCVBUF {v}, want tcp_rmem[1] {rmem1}");
    for (side, v) in ["client", "server"].iter().zip(rcvbuf_after_transfer(fam)?) {
        println!("# {side}: SO_RCVBUF {v} after {AUTOTUNE_BYTES} bytes (tcp_rmem {rmem1} .. {rmem2})");
        ensure!(v > rmem1 && v <= rmem2, "{side}: SO_RCVBUF {v} after a bulk transfer, want in ({rmem1}, {rmem2}]");
    }
    // A lower maximum caps the growth.
    let cap = 2 * rmem1;
    let _g = set_all(&[("net.ipv4.tcp_rmem", &format!("4096 {rmem1} {cap}"))])?;
    for (side, v) in ["client", "server"].iter().zip(rcvbuf_after_transfer(fam)?) {
        println!("# {side}: SO_RCVBUF {v} with tcp_rmem[2] {cap}");
        ensure!(v > rmem1 && v <= cap, "{side}, tcp_rmem[2]={cap}: SO_RCVBUF {v}, want in ({rmem1}, {cap}]");
    }
    Ok(())
}

/// tcp_moderate_rcvbuf=0: no receive buffer autotuning, SO_RCVBUF stays tcp_rmem[1].
fn moderate_rcvbuf(fam: Family) -> TestResult {
    let rmem1 = triple("net.ipv4.tcp_rmem", 1)?;
    let _g = set_all(&[("net.ipv4.tcp_moderate_rcvbuf", "0")])?;
    for (side, v) in ["client", "server"].iter().zip(rcvbuf_after_transfer(fam)?) {
        ensure!(v == rmem1, "{side}, tcp_moderate_rcvbuf=0: SO_RCVBUF {v} after a bulk transfer, want {rmem1}");
    }
    Ok(())
}

/// tcp_wmem: a sending socket's buffer starts at tcp_wmem[1] and grows with the
/// congestion window (Linux tcp_sndbuf_expand), up to tcp_wmem[2]; a lower maximum caps it.
fn wmem_autotune(fam: Family) -> TestResult {
    let wmem1 = triple("net.ipv4.tcp_wmem", 1)?;
    let wmem2 = triple("net.ipv4.tcp_wmem", 2)?;
    let fresh = fam.socket_in(Ns::A, 0)?;
    let v = sock_buf(&fresh, false)?;
    ensure!(v == wmem1, "new socket: SO_SNDBUF {v}, want tcp_wmem[1] {wmem1}");
    for cap in [wmem2, 8 * wmem1] {
        let _g = set_all(&[("net.ipv4.tcp_wmem", &format!("4096 {wmem1} {cap}"))])?;
        let (f, peer) = f_client(fam)?;
        one_way(&f, &peer, AUTOTUNE_BYTES)?;
        let v = sock_buf(&f, false)?;
        println!("# SO_SNDBUF {v} after sending {AUTOTUNE_BYTES} bytes (tcp_wmem {wmem1} .. {cap})");
        ensure!(v > wmem1 && v <= cap, "tcp_wmem[2]={cap}: SO_SNDBUF {v} after a bulk send, want in ({wmem1}, {cap}]");
    }
    Ok(())
}

/// SO_RCVBUF / SO_SNDBUF set before connect() lock the buffers (Linux
/// SOCK_RCVBUF_LOCK / SOCK_SNDBUF_LOCK): no autotuning, the doubled value stays.
fn bufs_locked(fam: Family) -> TestResult {
    let (l, addr) = super::peer_listener()?;
    let fd = fam.bounded_socket(Ns::A)?;
    raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536, "SO_RCVBUF")?;
    raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 65536, "SO_SNDBUF")?;
    check("connect", raw::connect(&fd, addr))?;
    let f = super::stream(fd);
    let peer = accept(&l)?;
    one_way(&peer, &f, AUTOTUNE_BYTES)?;
    one_way(&f, &peer, AUTOTUNE_BYTES)?;
    for rcv in [true, false] {
        let v = sock_buf(&f, rcv)?;
        let what = if rcv { "SO_RCVBUF" } else { "SO_SNDBUF" };
        ensure!(v == 131072, "{what} set to 65536 before connect: {v} after bulk transfers, want 131072");
    }
    Ok(())
}
