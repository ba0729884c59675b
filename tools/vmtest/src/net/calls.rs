//! bind, listen, accept, connect, getsockname/getpeername: errnos and results, checked
//! against what Linux TCP returns (the `net.inet.*` run is the proof).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::raw::{self, check, expect_err, sin};
use super::setup::{self, BLACKHOLE, NO_NEIGHBOUR};
use super::{accept, f_client, guarded, next_port, pass, peer_connect, peer_listener, stream, Family, Ns, Table};
use super::{A, B};
use crate::sys::{errname, Fd};
use crate::{ensure, TestResult};

pub const TESTS: Table = &[
    ("bind_nonlocal_eaddrnotavail", bind_nonlocal),
    ("bind_in_use_eaddrinuse", bind_in_use),
    ("bind_twice_same_socket_einval", bind_twice_same_socket),
    ("bind_short_addrlen_einval", bind_short_addrlen),
    ("bind_af_inet6_eafnosupport", bind_af_inet6),
    ("bind_af_unspec_any_accepted", bind_af_unspec_any),
    ("reuseaddr_rebind_over_time_wait", reuseaddr_time_wait),
    ("listen_autobind", listen_autobind),
    ("getsockname_unbound", getsockname_unbound),
    ("getpeername_unconnected_enotconn", getpeername_unconnected),
    ("names_connected_client", names_client),
    ("names_accepted", names_accepted),
    ("accept_not_listening_einval", accept_not_listening),
    ("accept4_flags", accept4_flags),
    ("accept_nonblock_eagain", accept_nonblock_eagain),
    ("accept_queue_overflow_no_reset", accept_queue_overflow),
    ("connect_refused", connect_refused),
    ("connect_retry_after_refused", connect_retry_after_refused),
    ("connect_nonblock_inprogress", connect_nonblock),
    ("connect_nonblock_refused_so_error", connect_nonblock_refused),
    ("connect_twice_eisconn", connect_twice),
    ("connect_in_progress_ealready", connect_ealready),
    ("connect_bad_address", connect_bad_address),
    ("connect_sndtimeo_einprogress", connect_sndtimeo),
    ("connect_user_timeout_etimedout", connect_user_timeout),
    ("connect_no_neighbour_ehostunreach", connect_no_neighbour),
    ("connect_af_unspec_disconnects", connect_unspec_disconnects),
];

fn bind_nonlocal(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    let to = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 77), next_port());
    expect_err("bind to a non-local address", raw::bind(&fd, to), libc::EADDRNOTAVAIL)
}

fn bind_in_use(fam: Family) -> TestResult {
    // Two sockets bound to one port, neither listening, no SO_REUSEADDR.
    let addr = SocketAddrV4::new(A, next_port());
    let (a, b) = (fam.socket_in(Ns::A, 0)?, fam.socket_in(Ns::A, 0)?);
    check("first bind", raw::bind(&a, addr))?;
    expect_err("second bind, same address", raw::bind(&b, addr), libc::EADDRINUSE)?;
    // The wildcard address conflicts with the specific one.
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, addr.port());
    expect_err("bind to 0.0.0.0 on the same port", raw::bind(&b, any), libc::EADDRINUSE)?;
    // SO_REUSEADDR on both does not share a port with a listener.
    let (l, laddr) = fam.listener(Ns::A)?;
    let c = fam.socket_in(Ns::A, 0)?;
    raw::set_int(&l, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    raw::set_int(&c, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    expect_err("SO_REUSEADDR bind to a listener's port", raw::bind(&c, laddr), libc::EADDRINUSE)
}

fn bind_twice_same_socket(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    check("bind", raw::bind(&fd, SocketAddrV4::new(A, next_port())))?;
    expect_err("second bind of the socket", raw::bind(&fd, SocketAddrV4::new(A, next_port())), libc::EINVAL)
}

fn bind_short_addrlen(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    let sa = sin(SocketAddrV4::new(A, next_port()));
    for len in [15, 8, 2, 0] {
        expect_err(&format!("bind with addrlen {len}"), raw::bind_sin(&fd, &sa, len), libc::EINVAL)?;
    }
    Ok(())
}

fn bind_af_inet6(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    let mut sa = sin(SocketAddrV4::new(A, next_port()));
    sa.sin_family = libc::AF_INET6 as libc::sa_family_t;
    expect_err("bind with sin_family AF_INET6", raw::bind_sin(&fd, &sa, 16), libc::EAFNOSUPPORT)
}

fn bind_af_unspec_any(fam: Family) -> TestResult {
    // Linux accepts AF_UNSPEC with INADDR_ANY as AF_INET (old applications), and
    // rejects AF_UNSPEC with any other address.
    let fd = fam.socket_in(Ns::A, 0)?;
    let mut sa = sin(SocketAddrV4::new(A, next_port()));
    sa.sin_family = libc::AF_UNSPEC as libc::sa_family_t;
    expect_err("bind AF_UNSPEC with a specific address", raw::bind_sin(&fd, &sa, 16), libc::EAFNOSUPPORT)?;
    let port = next_port();
    let mut sa = sin(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    sa.sin_family = libc::AF_UNSPEC as libc::sa_family_t;
    check("bind AF_UNSPEC with INADDR_ANY", raw::bind_sin(&fd, &sa, 16))?;
    let name = check("getsockname", raw::sockname(&fd))?;
    name.expect("getsockname after AF_UNSPEC bind", SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
}

/// A port of `ptcp_a` with a connection of the side under test in TIME-WAIT on it and
/// nothing else: the listener (SO_REUSEADDR set if `reuse`) accepted a connection,
/// closed first, and is gone.
fn time_wait_port(fam: Family, reuse: bool) -> Result<SocketAddrV4, String> {
    let addr = SocketAddrV4::new(A, next_port());
    let l = super::in_ns(Ns::A, || {
        let fd = fam.socket(0)?;
        raw::set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, reuse as i32, "SO_REUSEADDR")?;
        check("bind", raw::bind(&fd, addr))?;
        check("listen", raw::listen(&fd, 8))?;
        Ok(super::listener(fd))
    })?;
    let peer = peer_connect(addr)?;
    let f = accept(&l)?;
    drop(l);
    // Our side closes first and so ends in TIME-WAIT once the peer's FIN arrives; the
    // peer's socket stays open so that TCP_INFO shows when it is CLOSED.
    drop(f);
    let mut b = [0u8; 1];
    ensure!((&peer).read(&mut b).map_err(|e| format!("peer read: {e}"))? == 0, "peer did not read EOF");
    check("peer shutdown", raw::shutdown(&peer, libc::SHUT_WR))?;
    super::wait_until("peer CLOSED (our side in TIME-WAIT)", Duration::from_secs(5), || {
        Ok(raw::tcp_info(&peer)?.tcpi_state == TCP_CLOSE)
    })?;
    Ok(addr)
}

fn reuseaddr_time_wait(fam: Family) -> TestResult {
    // SO_REUSEADDR binds over TIME-WAIT only if the connection's socket had it too
    // (Linux checks both sides' sk_reuse; accepted sockets inherit the listener's).
    let addr = time_wait_port(fam, false)?;
    let s = fam.socket_in(Ns::A, 0)?;
    raw::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    expect_err("SO_REUSEADDR bind over TIME-WAIT of a non-reuse listener", raw::bind(&s, addr), libc::EADDRINUSE)?;

    let addr = time_wait_port(fam, true)?;
    let s = fam.socket_in(Ns::A, 0)?;
    expect_err("bind over TIME-WAIT without SO_REUSEADDR", raw::bind(&s, addr), libc::EADDRINUSE)?;
    raw::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    check("bind over TIME-WAIT with SO_REUSEADDR", raw::bind(&s, addr))?;
    check("listen", raw::listen(&s, 8))?;
    let l = super::listener(s);
    let c = peer_connect(addr)?;
    pass(&c, &accept(&l)?, b"again")
}

/// `tcpi_state` values (include/net/tcp_states.h).
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE: u8 = 7;
pub const TCP_CLOSE_WAIT: u8 = 8;
pub const TCP_LISTEN: u8 = 10;

fn listen_autobind(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    check("listen without bind", raw::listen(&fd, 8))?;
    let name = check("getsockname", raw::sockname(&fd))?;
    ensure!(name.addr.port() != 0, "no port chosen: {name:?}");
    name.expect("getsockname of an autobound listener", SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, name.addr.port()))?;
    let l = super::listener(fd);
    let c = peer_connect(SocketAddrV4::new(A, name.addr.port()))?;
    pass(&accept(&l)?, &c, b"hi")
}

fn getsockname_unbound(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    let name = check("getsockname", raw::sockname(&fd))?;
    name.expect("getsockname of a fresh socket", SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
}

fn getpeername_unconnected(fam: Family) -> TestResult {
    let fd = fam.socket_in(Ns::A, 0)?;
    expect_err("getpeername of a fresh socket", raw::peername(&fd), libc::ENOTCONN)?;
    let (l, _) = fam.listener(Ns::A)?;
    expect_err("getpeername of a listener", raw::peername(&l), libc::ENOTCONN)
}

fn names_client(fam: Family) -> TestResult {
    let (f, peer) = f_client(fam)?;
    let local = check("getsockname", raw::sockname(&f))?;
    ensure!(local.addr.port() != 0, "no local port: {local:?}");
    local.expect("getsockname of a connected client", SocketAddrV4::new(A, local.addr.port()))?;
    let peer_local = check("peer getsockname", raw::sockname(&peer))?;
    check("getpeername", raw::peername(&f))?.expect("getpeername", peer_local.addr)?;
    check("peer getpeername", raw::peername(&peer))?.expect("peer's getpeername", local.addr)
}

fn names_accepted(fam: Family) -> TestResult {
    let (l, addr) = fam.listener(Ns::A)?;
    let peer = peer_connect(addr)?;
    ensure!(raw::poll1(&l, libc::POLLIN, 10_000) == Ok(libc::POLLIN), "no connection to accept");
    let (f, from) = check("accept4", raw::accept4(&l, libc::SOCK_CLOEXEC))?;
    let peer_local = check("peer getsockname", raw::sockname(&peer))?.addr;
    ensure!(from == peer_local, "accept reported {from}, the peer is {peer_local}");
    check("getsockname", raw::sockname(&f))?.expect("getsockname of the accepted socket", addr)?;
    check("getpeername", raw::peername(&f))?.expect("getpeername of the accepted socket", peer_local)
}

fn accept_not_listening(fam: Family) -> TestResult {
    let fd = fam.bounded_socket(Ns::A)?;
    expect_err("accept on a fresh socket", raw::accept4(&fd, 0).map(|(_, a)| a), libc::EINVAL)?;
    check("bind", raw::bind(&fd, SocketAddrV4::new(A, next_port())))?;
    expect_err("accept on a bound socket", raw::accept4(&fd, 0).map(|(_, a)| a), libc::EINVAL)?;
    let (f, _peer) = f_client(fam)?;
    expect_err("accept on a connected socket", raw::accept4(&f, 0).map(|(_, a)| a), libc::EINVAL)
}

fn accept4_flags(fam: Family) -> TestResult {
    let (l, addr) = fam.listener(Ns::A)?;
    let _c1 = peer_connect(addr)?;
    let _c2 = peer_connect(addr)?;
    ensure!(raw::poll1(&l, libc::POLLIN, 10_000) == Ok(libc::POLLIN), "no connection to accept");
    let (a, _) = check("accept4(NONBLOCK|CLOEXEC)", raw::accept4(&l, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC))?;
    ensure!(
        raw::fd_flags(&a) == (true, true),
        "accept4(NONBLOCK|CLOEXEC): (nonblock, cloexec) = {:?}",
        raw::fd_flags(&a)
    );
    // A non-blocking listener does not make accepted sockets non-blocking.
    raw::set_nonblocking(&l, true)?;
    super::wait_until("second connection", Duration::from_secs(10), || {
        Ok(raw::poll1(&l, libc::POLLIN, 0) == Ok(libc::POLLIN))
    })?;
    let (b, _) = check("accept4(0)", raw::accept4(&l, 0))?;
    ensure!(raw::fd_flags(&b) == (false, false), "accept4(0): (nonblock, cloexec) = {:?}", raw::fd_flags(&b));
    Ok(())
}

fn accept_nonblock_eagain(fam: Family) -> TestResult {
    let (l, _) = fam.listener(Ns::A)?;
    raw::set_nonblocking(&l, true)?;
    expect_err("non-blocking accept, nothing pending", raw::accept4(&l, 0).map(|(_, a)| a), libc::EAGAIN)?;
    let fd = fam.socket_in(Ns::A, libc::SOCK_NONBLOCK)?;
    check("listen", raw::listen(&fd, 8))?;
    expect_err("accept on a SOCK_NONBLOCK listener", raw::accept4(&fd, 0).map(|(_, a)| a), libc::EAGAIN)
}

/// More handshakes than `listen(fd, 1)` admits. Linux's accept queue holds backlog + 1
/// connections (`sk_acceptq_is_full`: more than the backlog); SYNs and final ACKs that
/// find it full are dropped (tcp_abort_on_overflow 0), never answered with a reset, and
/// the clients' retransmissions complete the handshakes once the application accepts.
/// Every client then sends a byte: each must arrive on an accepted socket.
fn accept_queue_overflow(fam: Family) -> TestResult {
    const CLIENTS: u8 = 4;
    let addr = SocketAddrV4::new(A, next_port());
    let fd = fam.socket_in(Ns::A, 0)?;
    check("bind", raw::bind(&fd, addr))?;
    check("listen", raw::listen(&fd, 1))?;
    let l = super::listener(fd);
    let mut peers = Vec::new();
    for i in 0..CLIENTS {
        let c = Family::Inet.socket_in(Ns::B, libc::SOCK_NONBLOCK)?;
        expect_err(&format!("client {i}: non-blocking connect"), raw::connect(&c, addr), libc::EINPROGRESS)?;
        peers.push(c);
    }
    std::thread::sleep(Duration::from_millis(1500));
    // Two connections wait in the queue of a listener with backlog 1.
    raw::set_nonblocking(&l, true)?;
    let mut accepted = Vec::new();
    for n in 0..2 {
        let (s, _) = check(&format!("non-blocking accept {n} (backlog 1 holds two)"), raw::accept4(&l, 0))?;
        accepted.push(guarded(stream(s))?);
    }
    raw::set_nonblocking(&l, false)?;
    for n in 2..CLIENTS {
        accepted.push(accept(&l).map_err(|e| format!("connection {n} of {CLIENTS}: {e}"))?);
    }
    // No client was reset: each connected and can send.
    for (i, c) in peers.into_iter().enumerate() {
        let r = raw::poll1(&c, libc::POLLOUT, 10_000);
        ensure!(r.is_ok_and(|ev| ev & libc::POLLOUT != 0), "client {i}: not connected ({:?})", r.map_err(errname));
        let e = raw::get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")?;
        ensure!(e == 0, "client {i}: SO_ERROR {}", errname(e));
        raw::set_nonblocking(&c, false)?;
        guarded(stream(c))?.write_all(&[b'a' + i as u8]).map_err(|e| format!("client {i}: write: {e}"))?;
    }
    let mut got = Vec::new();
    for (n, s) in accepted.iter_mut().enumerate() {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).map_err(|e| format!("accepted connection {n}: read: {e}"))?;
        got.push(b[0]);
    }
    got.sort_unstable();
    ensure!(got == (0..CLIENTS).map(|i| b'a' + i).collect::<Vec<_>>(), "bytes received: {got:?}");
    Ok(())
}

/// A port on the peer's address where nothing listens.
fn closed_port() -> SocketAddrV4 {
    SocketAddrV4::new(B, next_port())
}

fn connect_refused(fam: Family) -> TestResult {
    let fd = fam.bounded_socket(Ns::A)?;
    expect_err("connect to a closed port", raw::connect(&fd, closed_port()), libc::ECONNREFUSED)?;
    ensure!(raw::get_int(&fd, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")? == 0, "SO_ERROR set after the error");
    Ok(())
}

fn connect_retry_after_refused(fam: Family) -> TestResult {
    let fd = fam.bounded_socket(Ns::A)?;
    expect_err("connect to a closed port", raw::connect(&fd, closed_port()), libc::ECONNREFUSED)?;
    let (l, addr) = peer_listener()?;
    check("connect again, to a listener", raw::connect(&fd, addr))?;
    pass(&stream(fd), &accept(&l)?, b"x")
}

/// A non-blocking connect to `to`, which must report EINPROGRESS.
fn start_connect(fam: Family, to: SocketAddrV4) -> Result<Fd, String> {
    let fd = fam.socket_in(Ns::A, libc::SOCK_NONBLOCK)?;
    expect_err("non-blocking connect", raw::connect(&fd, to), libc::EINPROGRESS)?;
    Ok(fd)
}

fn connect_nonblock(fam: Family) -> TestResult {
    let (l, addr) = peer_listener()?;
    let fd = start_connect(fam, addr)?;
    let ev = check("poll", raw::poll1(&fd, libc::POLLOUT, 10_000))?;
    ensure!(ev == libc::POLLOUT, "poll(POLLOUT) after connect: {}", raw::events(ev as u32));
    ensure!(raw::get_int(&fd, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")? == 0, "SO_ERROR after connect");
    let _p = accept(&l)?;
    check("getpeername", raw::peername(&fd))?.expect("getpeername", addr)?;
    // The next connect() reports the completed connection (0), as a way to learn the
    // outcome; only the one after that says EISCONN.
    check("connect after completion", raw::connect(&fd, addr))?;
    expect_err("connect once more", raw::connect(&fd, addr), libc::EISCONN)
}

fn connect_nonblock_refused(fam: Family) -> TestResult {
    let fd = start_connect(fam, closed_port())?;
    let ev = check("poll", raw::poll1(&fd, libc::POLLOUT | libc::POLLIN, 10_000))?;
    let want = libc::POLLOUT | libc::POLLIN | libc::POLLERR | libc::POLLHUP;
    ensure!(ev == want, "poll after refused connect: {}, want {}", raw::events(ev as u32), raw::events(want as u32));
    let e = raw::get_int(&fd, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")?;
    ensure!(e == libc::ECONNREFUSED, "SO_ERROR {}, want ECONNREFUSED", crate::sys::errname(e));
    let e = raw::get_int(&fd, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")?;
    ensure!(e == 0, "SO_ERROR not cleared by reading it: {}", crate::sys::errname(e));
    Ok(())
}

fn connect_twice(fam: Family) -> TestResult {
    let (f, peer) = f_client(fam)?;
    let to = check("peer getsockname", raw::sockname(&peer))?.addr;
    expect_err("connect on a connected socket", raw::connect(&f, to), libc::EISCONN)?;
    expect_err("connect elsewhere on a connected socket", raw::connect(&f, closed_port()), libc::EISCONN)
}

fn connect_ealready(fam: Family) -> TestResult {
    let to = SocketAddrV4::new(BLACKHOLE, next_port());
    let fd = start_connect(fam, to)?;
    expect_err("connect again while in progress", raw::connect(&fd, to), libc::EALREADY)?;
    let ev = check("poll", raw::poll1(&fd, libc::POLLOUT | libc::POLLIN, 0))?;
    ensure!(ev == 0, "poll while connecting: {}, want 0", raw::events(ev as u32));
    expect_err("getpeername while connecting", raw::peername(&fd), libc::ENOTCONN)
}

fn connect_bad_address(fam: Family) -> TestResult {
    let fd = fam.bounded_socket(Ns::A)?;
    let mut sa = sin(closed_port());
    expect_err("connect with addrlen 15", raw::connect_sin(&fd, &sa, 15), libc::EINVAL)?;
    sa.sin_family = libc::AF_INET6 as libc::sa_family_t;
    expect_err("connect with sin_family AF_INET6", raw::connect_sin(&fd, &sa, 16), libc::EAFNOSUPPORT)
}

/// A blocking connect on `fd` to a fresh port of `to`, which must fail with `want`
/// after `min` to `max`.
fn connect_fails_after(fd: &Fd, to: Ipv4Addr, what: &str, want: i32, min: Duration, max: Duration) -> TestResult {
    let t = Instant::now();
    let r = raw::connect(fd, SocketAddrV4::new(to, next_port()));
    let dt = t.elapsed();
    expect_err(what, r, want)?;
    ensure!(dt >= min && dt < max, "{what}: returned after {dt:?}");
    Ok(())
}

fn connect_sndtimeo(fam: Family) -> TestResult {
    // A blocking connect gives up after SO_SNDTIMEO with EINPROGRESS (socket(7)); the
    // SYN goes to the black hole and nothing answers.
    let fd = fam.socket_in(Ns::A, 0)?;
    raw::set_timeo(&fd, libc::SO_SNDTIMEO, Duration::from_millis(300))?;
    let what = "blocking connect with SO_SNDTIMEO 300 ms";
    connect_fails_after(&fd, BLACKHOLE, what, libc::EINPROGRESS, Duration::from_millis(250), Duration::from_secs(3))
}

fn connect_user_timeout(fam: Family) -> TestResult {
    // TCP_USER_TIMEOUT bounds SYN retransmission too: with 500 ms the connect fails at
    // the first retransmission timeout (1 s initial RTO) with ETIMEDOUT.
    let fd = fam.bounded_socket(Ns::A)?;
    raw::set_int(&fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 500, "TCP_USER_TIMEOUT")?;
    let what = "blocking connect with TCP_USER_TIMEOUT 500 ms";
    connect_fails_after(&fd, BLACKHOLE, what, libc::ETIMEDOUT, Duration::from_millis(450), Duration::from_secs(5))
}

fn connect_no_neighbour(fam: Family) -> TestResult {
    // ARP for an on-link address with no host fails after 3 probes a second apart;
    // the route's neighbour failure aborts the SYN-SENT connection.
    let _ = setup::run(&format!("ip -n ptcp_a neigh del {NO_NEIGHBOUR} dev va"));
    // The failure reaches TCP as an ICMP host unreachable sent to the local source
    // address (ipv4_link_failure), through `lo`; partcp counts what it delivers.
    let icmp = |fam: Family| match fam {
        Family::Partcp(_) => crate::sys::debugfs_counter("stats", "rx_icmp_errors").map(Some),
        Family::Inet => Ok(None),
    };
    let before = icmp(fam)?;
    let fd = fam.bounded_socket(Ns::A)?;
    let what = "connect to an on-link address with no host";
    connect_fails_after(&fd, NO_NEIGHBOUR, what, libc::EHOSTUNREACH, Duration::from_secs(2), Duration::from_secs(10))?;
    ensure!(raw::get_int(&fd, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")? == 0, "SO_ERROR set after the error");
    if let (Some(b), Some(a)) = (before, icmp(fam)?) {
        ensure!(a > b, "rx_icmp_errors did not move ({b} -> {a})");
    }
    Ok(())
}

fn connect_unspec_disconnects(fam: Family) -> TestResult {
    // connect() with AF_UNSPEC dissolves the association (connect(2)); Linux TCP
    // aborts the connection, so the peer sees a reset.
    let (f, mut peer) = f_client(fam)?;
    let mut sa = sin(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    sa.sin_family = libc::AF_UNSPEC as libc::sa_family_t;
    check("connect(AF_UNSPEC)", raw::connect_sin(&f, &sa, 16))?;
    expect_err("getpeername after AF_UNSPEC connect", raw::peername(&f), libc::ENOTCONN)?;
    let mut b = [0u8; 1];
    let r = peer.read(&mut b).map_err(|e| e.raw_os_error().unwrap_or(0));
    expect_err("peer read after AF_UNSPEC connect", r, libc::ECONNRESET)
}
