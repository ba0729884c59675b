//! Tests of `socket()` and the calls that work on a fresh AF_PARTCP socket.

use crate::ensure;
use crate::sys::{self, errname, Fd};
use crate::{Test, TestResult};

pub const TESTS: &[Test] = &[
    Test { name: "module.loaded", run: module_loaded },
    Test { name: "debugfs.version", run: debugfs_version },
    Test { name: "debugfs.family_matches_param", run: debugfs_family },
    Test { name: "socket.stream_protocol_0", run: stream_protocol_0 },
    Test { name: "socket.stream_ipproto_tcp", run: stream_ipproto_tcp },
    Test { name: "socket.flags_nonblock_cloexec", run: flags_nonblock_cloexec },
    Test { name: "socket.is_a_socket", run: is_a_socket },
    Test { name: "socket.sockopt_domain_type_protocol", run: sockopt_identity },
    Test { name: "socket.sockopt_rcvbuf_real_sock", run: sockopt_rcvbuf },
    Test { name: "socket.reject_dgram", run: reject_dgram },
    Test { name: "socket.reject_raw_and_seqpacket", run: reject_raw_seqpacket },
    Test { name: "socket.reject_udp_protocol", run: reject_udp_protocol },
    Test { name: "socket.reject_unknown_protocol", run: reject_unknown_protocol },
    Test { name: "debugfs.counters_track_sockets", run: counters_track_sockets },
    Test { name: "socket.many_open_close", run: many_open_close },
    Test { name: "socket.concurrent_open_close", run: concurrent_open_close },
];

fn family() -> Result<i32, String> {
    sys::partcp_family()
}

fn open(ty: i32, proto: i32) -> Result<Fd, String> {
    let fam = family()?;
    sys::socket(fam, ty, proto).map_err(|e| format!("socket({fam}, {ty}, {proto}) failed: {}", errname(e)))
}

fn expect_refused(ty: i32, proto: i32, want: i32) -> TestResult {
    let fam = family()?;
    match sys::socket(fam, ty, proto) {
        Ok(_) => Err(format!("socket({fam}, {ty}, {proto}) succeeded; want {}", errname(want))),
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("socket({fam}, {ty}, {proto}): {} want {}", errname(e), errname(want))),
    }
}

fn module_loaded() -> TestResult {
    ensure!(sys::module_loaded(), "partcp not in /proc/modules");
    let fam = family()?;
    ensure!(fam > 0 && fam < 46, "family {fam} outside 1..AF_MAX");
    Ok(())
}

fn debugfs_version() -> TestResult {
    let v = sys::read_trimmed("/sys/kernel/debug/partcp/version")?;
    let parts: Vec<&str> = v.split('.').collect();
    ensure!(
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "version {v:?} is not MAJOR.MINOR.PATCH"
    );
    Ok(())
}

fn debugfs_family() -> TestResult {
    let d = sys::read_trimmed("/sys/kernel/debug/partcp/family")?;
    let p = family()?;
    ensure!(d == p.to_string(), "debugfs family {d:?} != sysfs parameter {p}");
    Ok(())
}

fn stream_protocol_0() -> TestResult {
    let fd = open(libc::SOCK_STREAM, 0)?;
    fd.close().map_err(|e| format!("close: {}", errname(e)))
}

fn stream_ipproto_tcp() -> TestResult {
    let fd = open(libc::SOCK_STREAM, libc::IPPROTO_TCP)?;
    fd.close().map_err(|e| format!("close: {}", errname(e)))
}

fn flags_nonblock_cloexec() -> TestResult {
    let fd = open(libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)?;
    // SAFETY: fcntl on an owned descriptor.
    let fl = unsafe { libc::fcntl(fd.0, libc::F_GETFL) };
    ensure!(fl & libc::O_NONBLOCK != 0, "O_NONBLOCK not set: flags {fl:#x}");
    // SAFETY: as above.
    let fdfl = unsafe { libc::fcntl(fd.0, libc::F_GETFD) };
    ensure!(fdfl & libc::FD_CLOEXEC != 0, "FD_CLOEXEC not set");
    Ok(())
}

fn is_a_socket() -> TestResult {
    let fd = open(libc::SOCK_STREAM, 0)?;
    // SAFETY: `st` is valid for writes; `fd` is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::fstat(fd.0, &mut st) };
    ensure!(r == 0, "fstat: {}", errname(sys::errno()));
    ensure!(st.st_mode & libc::S_IFMT == libc::S_IFSOCK, "mode {:o} is not a socket", st.st_mode);
    Ok(())
}

fn sockopt_identity() -> TestResult {
    let fd = open(libc::SOCK_STREAM, 0)?;
    let fam = family()?;
    let get = |name| sys::getsockopt_int(&fd, libc::SOL_SOCKET, name).map_err(errname);
    ensure!(get(libc::SO_DOMAIN)? == fam, "SO_DOMAIN != {fam}");
    ensure!(get(libc::SO_TYPE)? == libc::SOCK_STREAM, "SO_TYPE != SOCK_STREAM");
    ensure!(get(libc::SO_PROTOCOL)? == libc::IPPROTO_TCP, "SO_PROTOCOL != IPPROTO_TCP");
    Ok(())
}

fn sockopt_rcvbuf() -> TestResult {
    let fd = open(libc::SOCK_STREAM, 0)?;
    sys::setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536)
        .map_err(|e| format!("setsockopt SO_RCVBUF: {}", errname(e)))?;
    let v = sys::getsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF).map_err(errname)?;
    // The socket core doubles the requested size to account for overhead (socket(7)).
    ensure!(v == 131072, "SO_RCVBUF reads back {v}, want 131072");
    Ok(())
}

fn reject_dgram() -> TestResult {
    expect_refused(libc::SOCK_DGRAM, 0, libc::ESOCKTNOSUPPORT)
}

fn reject_raw_seqpacket() -> TestResult {
    expect_refused(libc::SOCK_RAW, 0, libc::ESOCKTNOSUPPORT)?;
    expect_refused(libc::SOCK_SEQPACKET, 0, libc::ESOCKTNOSUPPORT)
}

fn reject_udp_protocol() -> TestResult {
    expect_refused(libc::SOCK_STREAM, libc::IPPROTO_UDP, libc::EPROTONOSUPPORT)
}

fn reject_unknown_protocol() -> TestResult {
    expect_refused(libc::SOCK_STREAM, 200, libc::EPROTONOSUPPORT)
}

fn counters_track_sockets() -> TestResult {
    let open0 = sys::debugfs_counter("sockets", "sockets_open")?;
    let created0 = sys::debugfs_counter("sockets", "sockets_created")?;
    let rejected0 = sys::debugfs_counter("sockets", "sockets_rejected")?;
    let fds: Vec<Fd> = (0..5).map(|_| open(libc::SOCK_STREAM, 0)).collect::<Result<_, _>>()?;
    let open1 = sys::debugfs_counter("sockets", "sockets_open")?;
    ensure!(open1 == open0 + 5, "sockets_open {open0} -> {open1} with 5 open");
    let _ = expect_refused(libc::SOCK_DGRAM, 0, libc::ESOCKTNOSUPPORT);
    drop(fds);
    let open2 = sys::debugfs_counter("sockets", "sockets_open")?;
    let created = sys::debugfs_counter("sockets", "sockets_created")?;
    let rejected = sys::debugfs_counter("sockets", "sockets_rejected")?;
    ensure!(open2 == open0, "sockets_open {open2} after close, want {open0}");
    ensure!(created == created0 + 5, "sockets_created {created0} -> {created}");
    ensure!(rejected == rejected0 + 1, "sockets_rejected {rejected0} -> {rejected}");
    Ok(())
}

fn many_open_close() -> TestResult {
    let open0 = sys::debugfs_counter("sockets", "sockets_open")?;
    let mut fds = Vec::new();
    for _ in 0..1000 {
        fds.push(open(libc::SOCK_STREAM, 0)?);
    }
    ensure!(sys::debugfs_counter("sockets", "sockets_open")? == open0 + 1000, "1000 sockets not all counted");
    for fd in fds {
        fd.close().map_err(|e| format!("close: {}", errname(e)))?;
    }
    ensure!(sys::debugfs_counter("sockets", "sockets_open")? == open0, "sockets leaked");
    Ok(())
}

fn concurrent_open_close() -> TestResult {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| -> TestResult {
                for _ in 0..500 {
                    let fd = open(libc::SOCK_STREAM, 0)?;
                    fd.close().map_err(|e| format!("close: {}", errname(e)))?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked".to_string())??;
    }
    ensure!(sys::debugfs_counter("sockets", "sockets_open")? == 0, "sockets leaked");
    Ok(())
}
