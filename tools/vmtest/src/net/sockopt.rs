//! getsockopt/setsockopt: defaults, round trips and errnos of the socket- and TCP-level
//! options applications use, as Linux TCP reports them.

use std::io::{Read, Write};

use super::calls::{TCP_CLOSE, TCP_CLOSE_WAIT, TCP_ESTABLISHED, TCP_LISTEN};
use super::raw::{self, check, expect_err};
use super::{f_client, pass, Family, Ns, Table};
use crate::{ensure, TestResult};

pub const TESTS: Table = &[
    ("sockopt_buffers", buffers),
    ("sockopt_keepalive", keepalive),
    ("sockopt_so_error", so_error),
    ("sockopt_reuseaddr", reuseaddr),
    ("sockopt_acceptconn", acceptconn),
    ("sockopt_linger", linger),
    ("sockopt_tcp_nodelay", nodelay),
    ("sockopt_tcp_maxseg", maxseg),
    ("sockopt_tcp_user_timeout", user_timeout),
    ("sockopt_tcp_info", tcp_info),
    ("sockopt_unknown_enoprotoopt", unknown),
];

const SOL: i32 = libc::SOL_SOCKET;
const TCP: i32 = libc::IPPROTO_TCP;

/// Fails unless option `name` reads `want`.
pub(super) fn expect_int(fd: &impl std::os::fd::AsRawFd, level: i32, name: i32, what: &str, want: i32) -> TestResult {
    let v = raw::get_int(fd, level, name, what)?;
    ensure!(v == want, "{what} = {v}, want {want}");
    Ok(())
}

/// Sets `v` and reads back `want`.
pub(super) fn round_trip(
    fd: &impl std::os::fd::AsRawFd,
    level: i32,
    name: i32,
    what: &str,
    v: i32,
    want: i32,
) -> TestResult {
    raw::set_int(fd, level, name, v, what)?;
    expect_int(fd, level, name, &format!("{what} after setting {v}"), want)
}

fn buffers(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    // Defaults: tcp_rmem[1] and tcp_wmem[1].
    expect_int(&fd, SOL, libc::SO_RCVBUF, "default SO_RCVBUF", 131072)?;
    expect_int(&fd, SOL, libc::SO_SNDBUF, "default SO_SNDBUF", 16384)?;
    // The socket core doubles the request (socket(7)).
    round_trip(&fd, SOL, libc::SO_RCVBUF, "SO_RCVBUF", 65536, 131072)?;
    round_trip(&fd, SOL, libc::SO_SNDBUF, "SO_SNDBUF", 65536, 131072)?;
    // A locked size survives the connection (no autotuning).
    let (f, _peer) = f_client(fam)?;
    raw::set_int(&f, SOL, libc::SO_RCVBUF, 32768, "SO_RCVBUF")?;
    (&f).write_all(b"x").map_err(|e| format!("write: {e}"))?;
    expect_int(&f, SOL, libc::SO_RCVBUF, "SO_RCVBUF on a connection", 65536)
}

fn keepalive(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    expect_int(&fd, SOL, libc::SO_KEEPALIVE, "default SO_KEEPALIVE", 0)?;
    round_trip(&fd, SOL, libc::SO_KEEPALIVE, "SO_KEEPALIVE", 1, 1)?;
    round_trip(&fd, SOL, libc::SO_KEEPALIVE, "SO_KEEPALIVE", 0, 0)?;
    expect_int(&fd, TCP, libc::TCP_KEEPIDLE, "default TCP_KEEPIDLE", 7200)?;
    expect_int(&fd, TCP, libc::TCP_KEEPINTVL, "default TCP_KEEPINTVL", 75)?;
    expect_int(&fd, TCP, libc::TCP_KEEPCNT, "default TCP_KEEPCNT", 9)?;
    round_trip(&fd, TCP, libc::TCP_KEEPIDLE, "TCP_KEEPIDLE", 10, 10)?;
    round_trip(&fd, TCP, libc::TCP_KEEPINTVL, "TCP_KEEPINTVL", 3, 3)?;
    round_trip(&fd, TCP, libc::TCP_KEEPCNT, "TCP_KEEPCNT", 4, 4)?;
    for (name, what) in [
        (libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
        (libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
        (libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
    ] {
        expect_err(&format!("{what}=0"), crate::sys::setsockopt_int(&fd, TCP, name, 0), libc::EINVAL)?;
    }
    Ok(())
}

fn so_error(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    expect_int(&fd, SOL, libc::SO_ERROR, "SO_ERROR of a fresh socket", 0)?;
    let (f, _peer) = f_client(fam)?;
    expect_int(&f, SOL, libc::SO_ERROR, "SO_ERROR of a connection", 0)?;
    expect_err("setsockopt SO_ERROR", crate::sys::setsockopt_int(&f, SOL, libc::SO_ERROR, 1), libc::ENOPROTOOPT)
}

fn reuseaddr(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    expect_int(&fd, SOL, libc::SO_REUSEADDR, "default SO_REUSEADDR", 0)?;
    round_trip(&fd, SOL, libc::SO_REUSEADDR, "SO_REUSEADDR", 1, 1)?;
    round_trip(&fd, SOL, libc::SO_REUSEADDR, "SO_REUSEADDR", 0, 0)
}

fn acceptconn(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    expect_int(&fd, SOL, libc::SO_ACCEPTCONN, "SO_ACCEPTCONN of a fresh socket", 0)?;
    let (l, _) = fam.listener(Ns::A)?;
    expect_int(&l, SOL, libc::SO_ACCEPTCONN, "SO_ACCEPTCONN of a listener", 1)?;
    let (f, _peer) = f_client(fam)?;
    expect_int(&f, SOL, libc::SO_ACCEPTCONN, "SO_ACCEPTCONN of a connection", 0)
}

fn linger(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    let (l, _) = check("getsockopt SO_LINGER", raw::getsockopt::<libc::linger>(&fd, SOL, libc::SO_LINGER))?;
    ensure!((l.l_onoff, l.l_linger) == (0, 0), "default SO_LINGER {{{}, {}}}", l.l_onoff, l.l_linger);
    raw::set_linger(&fd, true, 5)?;
    let (l, len) = check("getsockopt SO_LINGER", raw::getsockopt::<libc::linger>(&fd, SOL, libc::SO_LINGER))?;
    ensure!((l.l_onoff, l.l_linger, len) == (1, 5, 8), "SO_LINGER {{{}, {}}} (len {len})", l.l_onoff, l.l_linger);
    Ok(())
}

fn nodelay(fam: Family) -> TestResult {
    let (f, _peer) = f_client(fam)?;
    expect_int(&f, TCP, libc::TCP_NODELAY, "default TCP_NODELAY", 0)?;
    f.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
    expect_int(&f, TCP, libc::TCP_NODELAY, "TCP_NODELAY after set_nodelay(true)", 1)?;
    ensure!(f.nodelay().map_err(|e| format!("nodelay: {e}"))?, "nodelay() false after set");
    round_trip(&f, TCP, libc::TCP_NODELAY, "TCP_NODELAY", 0, 0)?;
    // Any non-zero value means on.
    round_trip(&f, TCP, libc::TCP_NODELAY, "TCP_NODELAY", 7, 1)
}

fn maxseg(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    // Before a connection, the default MSS (RFC 1122's 536).
    expect_int(&fd, TCP, libc::TCP_MAXSEG, "TCP_MAXSEG of a fresh socket", 536)?;
    expect_err("TCP_MAXSEG=10", crate::sys::setsockopt_int(&fd, TCP, libc::TCP_MAXSEG, 10), libc::EINVAL)?;
    expect_err("TCP_MAXSEG=70000", crate::sys::setsockopt_int(&fd, TCP, libc::TCP_MAXSEG, 70000), libc::EINVAL)?;
    // On a connection: MTU 1500 - 40 bytes of headers - 12 of the timestamp option.
    let (f, peer) = f_client(fam)?;
    expect_int(&f, TCP, libc::TCP_MAXSEG, "TCP_MAXSEG of a connection", 1448)?;
    drop((f, peer));
    // A clamp before connecting is announced in the SYN and applies to both sides.
    let (l, addr) = super::peer_listener()?;
    let fd = fam.socket_in(Ns::A, 0)?;
    round_trip(&fd, TCP, libc::TCP_MAXSEG, "TCP_MAXSEG", 1000, 1000)?;
    raw::set_timeo(&fd, libc::SO_SNDTIMEO, super::IO_TIMEOUT)?;
    check("connect", raw::connect(&fd, addr))?;
    let peer = super::accept(&l)?;
    expect_int(&fd, TCP, libc::TCP_MAXSEG, "TCP_MAXSEG of a connection clamped to 1000", 988)?;
    expect_int(&peer, TCP, libc::TCP_MAXSEG, "peer's TCP_MAXSEG (we announced 1000)", 988)
}

fn user_timeout(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    expect_int(&fd, TCP, libc::TCP_USER_TIMEOUT, "default TCP_USER_TIMEOUT", 0)?;
    round_trip(&fd, TCP, libc::TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", 1500, 1500)?;
    expect_err("TCP_USER_TIMEOUT=-1", crate::sys::setsockopt_int(&fd, TCP, libc::TCP_USER_TIMEOUT, -1), libc::EINVAL)
}

fn tcp_info(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    let i = raw::tcp_info(&fd)?;
    ensure!(i.tcpi_state == TCP_CLOSE, "tcpi_state {} of a fresh socket, want TCP_CLOSE", i.tcpi_state);
    let (l, _) = fam.listener(Ns::A)?;
    let i = raw::tcp_info(&l)?;
    ensure!(i.tcpi_state == TCP_LISTEN, "tcpi_state {} of a listener, want TCP_LISTEN", i.tcpi_state);
    let (mut f, peer) = f_client(fam)?;
    let i = raw::tcp_info(&f)?;
    ensure!(i.tcpi_state == TCP_ESTABLISHED, "tcpi_state {} of a connection, want TCP_ESTABLISHED", i.tcpi_state);
    // A few round trips give an RTT sample.
    for _ in 0..5 {
        pass(&f, &peer, b"ping")?;
        pass(&peer, &f, b"pong")?;
    }
    let i = raw::tcp_info(&f)?;
    ensure!(i.tcpi_rtt > 0, "tcpi_rtt 0 after traffic");
    ensure!(i.tcpi_snd_cwnd > 0, "tcpi_snd_cwnd 0");
    ensure!(i.tcpi_snd_mss == 1448, "tcpi_snd_mss {}, want 1448", i.tcpi_snd_mss);
    ensure!(i.tcpi_rcv_mss > 0, "tcpi_rcv_mss 0 after receiving data");
    check("peer shutdown", raw::shutdown(&peer, libc::SHUT_WR))?;
    let mut b = [0u8; 1];
    ensure!(f.read(&mut b).map_err(|e| format!("read: {e}"))? == 0, "no EOF after the peer's FIN");
    let i = raw::tcp_info(&f)?;
    ensure!(i.tcpi_state == TCP_CLOSE_WAIT, "tcpi_state {} after the peer's FIN, want TCP_CLOSE_WAIT", i.tcpi_state);
    Ok(())
}

fn unknown(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    for (level, what) in [(TCP, "IPPROTO_TCP"), (SOL, "SOL_SOCKET")] {
        expect_err(
            &format!("getsockopt({what}, 9999)"),
            crate::sys::getsockopt_int(&fd, level, 9999),
            libc::ENOPROTOOPT,
        )?;
        expect_err(
            &format!("setsockopt({what}, 9999)"),
            crate::sys::setsockopt_int(&fd, level, 9999, 1),
            libc::ENOPROTOOPT,
        )?;
    }
    Ok(())
}
