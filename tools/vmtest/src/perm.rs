//! `perm.*`: who may change partcp's state, and what one network namespace can see of
//! another's.
//!
//! - debugfs: the files are root's, without group or other access; a process that is
//!   not root cannot open them for writing; a uid-0 process without CAP_NET_ADMIN and
//!   CAP_SYS_ADMIN (dropped from its effective, permitted and bounding sets) can open
//!   them (it owns them) but its writes to `strategy` and `reset` fail with EPERM, also
//!   through a descriptor opened before it dropped them;
//! - namespaces: `ptcp_c` has only a loopback device carrying both 198.18.0.1 and
//!   198.18.0.2. A partcp listener in `ptcp_a` is not reachable from `ptcp_c` at the same
//!   address, a socket in `ptcp_c` may bind the address and port of one in `ptcp_a`, and
//!   a connection in `ptcp_c` with the same 4-tuple as one in `ptcp_a` (data, then a
//!   reset) does not disturb the one in `ptcp_a`.
//!
//! The `connections` debugfs file lists the connections of every namespace: it is
//! readable by root only (in the initial user namespace), as a system-wide view.

use std::ffi::CString;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;
use std::time::Duration;

use crate::net::{self, raw, setup, Family, Ns, A, B};
use crate::sys::{self, errname};
use crate::{ensure, Test, TestResult};

pub const TESTS: &[Test] = &[
    Test { name: "perm.debugfs_modes", run: debugfs_modes },
    Test { name: "perm.debugfs_nonroot_cannot_open", run: nonroot_cannot_open },
    Test { name: "perm.debugfs_write_needs_net_admin", run: write_needs_net_admin },
    Test { name: "perm.debugfs_root_can_write", run: root_can_write },
    Test { name: "perm.netns_listener_unreachable", run: listener_unreachable },
    Test { name: "perm.netns_same_port_bind", run: same_port_bind },
    Test { name: "perm.netns_segments_isolated", run: segments_isolated },
];

const DIR: &str = "/sys/kernel/debug/partcp";
const WRITABLE: &[&str] = &["strategy", "reset"];

fn debugfs_modes() -> TestResult {
    for e in std::fs::read_dir(DIR).map_err(|e| format!("{DIR}: {e}"))? {
        let e = e.map_err(|e| e.to_string())?;
        let m = e.metadata().map_err(|e| e.to_string())?;
        let name = e.file_name().to_string_lossy().into_owned();
        let mode = m.mode() & 0o777;
        ensure!(m.uid() == 0 && m.gid() == 0, "{name}: owned by {}:{}", m.uid(), m.gid());
        ensure!(mode & 0o077 == 0, "{name}: mode {mode:o} gives group/other access");
        let want = match name.as_str() {
            "strategy" => 0o600,
            "reset" => 0o200,
            _ => 0o400,
        };
        ensure!(mode == want, "{name}: mode {mode:o}, want {want:o}");
    }
    let top = std::fs::metadata("/sys/kernel/debug").map_err(|e| e.to_string())?;
    println!("# /sys/kernel/debug is mode {:o}", top.mode() & 0o7777);
    Ok(())
}

/// Runs `child` in a forked process; returns the i32s it wrote to the pipe. `child`
/// must only make system calls (the parent is multi-threaded): no allocation.
pub(crate) fn in_child(child: impl FnOnce(&mut dyn FnMut(i32))) -> Result<Vec<i32>, String> {
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", errname(sys::errno())));
    }
    // SAFETY: fork; the child only makes system calls and exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = sys::errno();
        // SAFETY: both ends were opened above.
        unsafe {
            libc::close(p[0]);
            libc::close(p[1]);
        }
        return Err(format!("fork: {}", errname(e)));
    }
    if pid == 0 {
        let mut send = |v: i32| {
            // SAFETY: writes 4 bytes from a valid i32 to the pipe.
            unsafe { libc::write(p[1], (&v as *const i32).cast(), 4) };
        };
        child(&mut send);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: the parent's copy of the write end.
    unsafe { libc::close(p[1]) };
    let mut out = Vec::new();
    let mut v = 0i32;
    // SAFETY: reads 4 bytes into `v`.
    while unsafe { libc::read(p[0], (&mut v as *mut i32).cast(), 4) } == 4 {
        out.push(v);
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; closes our read end.
    let waited = unsafe {
        let w = libc::waitpid(pid, &mut status, 0);
        libc::close(p[0]);
        w
    };
    ensure!(waited == pid, "waitpid: {}", errname(sys::errno()));
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child did not finish (wait status {status:#x}) after reporting {out:?}"
    );
    Ok(out)
}

/// `open(path, O_WRONLY)` then `write("msgp")` (strategy) or `write("1")`: 0, or the
/// errno of the call that failed (negated for open).
fn try_write(path: &CString, fd: i32) -> i32 {
    // SAFETY: `path` is NUL-terminated.
    let fd = if fd >= 0 { fd } else { unsafe { libc::open(path.as_ptr(), libc::O_WRONLY) } };
    if fd < 0 {
        return -sys::errno();
    }
    let msg: &[u8] = if path.as_bytes().ends_with(b"strategy") { b"msgp\n" } else { b"1\n" };
    // SAFETY: writes from a valid buffer.
    let r = unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
    if r < 0 {
        sys::errno()
    } else {
        0
    }
}

fn paths() -> Vec<CString> {
    WRITABLE.iter().map(|f| CString::new(format!("{DIR}/{f}")).unwrap()).collect()
}

fn nonroot_cannot_open() -> TestResult {
    let paths = paths();
    let got = in_child(|send| {
        // SAFETY: plain system calls in the child.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0 && libc::setgid(65534) == 0 && libc::setuid(65534) == 0
        };
        send(if ok { 0 } else { sys::errno() });
        if !ok {
            return;
        }
        for p in &paths {
            send(try_write(p, -1));
        }
    })?;
    ensure!(got.first() == Some(&0), "dropping to uid 65534 failed: {got:?}");
    ensure!(got.len() == 1 + WRITABLE.len(), "child reported {got:?}");
    for (f, r) in WRITABLE.iter().zip(&got[1..]) {
        ensure!(*r == -libc::EACCES, "uid 65534 opening {f} for writing: {r} (want open to fail with EACCES)");
    }
    Ok(())
}

/// CAP_NET_ADMIN and CAP_SYS_ADMIN (linux/capability.h).
const CAPS: [u32; 2] = [12, 21];

/// Drops CAP_NET_ADMIN and CAP_SYS_ADMIN from the bounding, effective, permitted and
/// inheritable sets of the calling process; 0 or the errno.
pub(crate) fn drop_caps() -> i32 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header { version: 0x2008_0522, pid: 0 };
    let mut d = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: capget/capset with a v3 header and two data structures.
    unsafe {
        for c in CAPS {
            if libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) != 0 {
                return sys::errno();
            }
        }
        if libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) != 0 {
            return sys::errno();
        }
        for c in CAPS {
            let (i, bit) = ((c / 32) as usize, 1u32 << (c % 32));
            d[i].effective &= !bit;
            d[i].permitted &= !bit;
            d[i].inheritable &= !bit;
        }
        if libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) != 0 {
            return sys::errno();
        }
    }
    0
}

fn write_needs_net_admin() -> TestResult {
    let paths = paths();
    let before = sys::read_trimmed(&format!("{DIR}/strategy"))?;
    // Descriptors opened with the capabilities, written to after dropping them.
    let open = |p: &CString| {
        // SAFETY: `p` is NUL-terminated.
        unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) }
    };
    let early: Vec<i32> = paths.iter().map(open).collect();
    ensure!(early.iter().all(|&fd| fd >= 0), "root opening the files: {early:?}");
    let got = in_child(|send| {
        let dropped = drop_caps();
        send(dropped);
        if dropped != 0 {
            return;
        }
        // SAFETY: getuid has no arguments.
        send(unsafe { libc::getuid() } as i32);
        for p in &paths {
            send(try_write(p, -1));
        }
        for (p, &fd) in paths.iter().zip(&early) {
            send(try_write(p, fd));
        }
    })?;
    for fd in early {
        // SAFETY: opened above.
        unsafe { libc::close(fd) };
    }
    ensure!(got.first() == Some(&0), "dropping capabilities: {got:?}");
    ensure!(got.len() == 2 + 2 * WRITABLE.len(), "child reported {got:?}");
    ensure!(got[1] == 0, "child uid {}", got[1]);
    for (i, f) in WRITABLE.iter().enumerate() {
        let (fresh, old) = (got[2 + i], got[2 + WRITABLE.len() + i]);
        ensure!(fresh == libc::EPERM, "uid 0 without CAP_NET_ADMIN/CAP_SYS_ADMIN writing {f}: {fresh} (want EPERM)");
        ensure!(old == libc::EPERM, "writing {f} through a descriptor opened before dropping them: {old} (want EPERM)");
    }
    let after = sys::read_trimmed(&format!("{DIR}/strategy"))?;
    ensure!(after == before, "strategy changed from {before:?} to {after:?}");
    Ok(())
}

fn root_can_write() -> TestResult {
    let now = sys::read_trimmed(&format!("{DIR}/strategy"))?;
    std::fs::write(format!("{DIR}/reset"), "1").map_err(|e| format!("root writing reset: {e}"))?;
    // Writing the active strategy back is a switch to the same one: refused only
    // while partcp sockets or connections exist (EBUSY).
    match std::fs::write(format!("{DIR}/strategy"), &now) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            // Passed the permission check; refused for a reason that must hold.
            let (socks, conns) = (sys::sockets_open()?, sys::live_conns()?);
            ensure!(socks > 0 || conns > 0, "root writing strategy {now:?}: EBUSY with no socket or connection");
            println!("# strategy write: EBUSY ({socks} sockets, {conns} connections exist)");
            Ok(())
        }
        Err(e) => Err(format!("root writing strategy {now:?}: {e}")),
    }
}

/// `ptcp_c`: loopback only, with 198.18.0.1 and 198.18.0.2 on it.
fn ensure_c() -> TestResult {
    static DONE: OnceLock<TestResult> = OnceLock::new();
    DONE.get_or_init(|| {
        setup::ensure()?;
        if std::path::Path::new("/var/run/netns/ptcp_c").exists() {
            setup::run("ip netns del ptcp_c")?;
        }
        for cmd in [
            "ip netns add ptcp_c",
            "ip -n ptcp_c link set lo up",
            "ip -n ptcp_c addr add 198.18.0.1/32 dev lo",
            "ip -n ptcp_c addr add 198.18.0.2/32 dev lo",
        ] {
            setup::run(cmd)?;
        }
        Ok(())
    })
    .clone()
}

fn partcp() -> Result<Family, String> {
    ensure_c()?;
    Ok(Family::Partcp(sys::partcp_family()?))
}

/// Nothing to accept on `l` within 300 ms.
fn nothing_pending(l: &TcpListener, what: &str) -> TestResult {
    let r = raw::poll1(l, libc::POLLIN, 300);
    ensure!(r == Ok(0), "{what}: listener in ptcp_a became readable ({r:?})");
    Ok(())
}

fn listener_unreachable() -> TestResult {
    let fam = partcp()?;
    let (l, addr) = fam.listener(Ns::A)?;
    for (name, f) in [("Linux TCP", Family::Inet), ("partcp", fam)] {
        let r = net::in_ns(Ns::C, || {
            let s = f.bounded_socket(Ns::C)?;
            Ok(raw::connect(&s, addr))
        })?;
        raw::expect_err(&format!("{name} connect from ptcp_c to {addr}"), r, libc::ECONNREFUSED)?;
        nothing_pending(&l, name)?;
    }
    // The listener itself works: a connection from ptcp_b reaches it.
    let peer = net::peer_connect(addr)?;
    let s = net::accept(&l)?;
    net::pass(&peer, &s, b"ns-a")
}

fn same_port_bind() -> TestResult {
    let fam = partcp()?;
    let (_l, addr) = fam.listener(Ns::A)?;
    let again = fam.socket_in(Ns::A, 0)?;
    raw::expect_err("a second bind in ptcp_a", raw::bind(&again, addr), libc::EADDRINUSE)?;
    net::in_ns(Ns::C, || {
        let s = fam.socket(0)?;
        raw::check(&format!("bind {addr} in ptcp_c"), raw::bind(&s, addr))?;
        raw::check("listen in ptcp_c", raw::listen(&s, 8))?;
        Ok(())
    })
}

fn segments_isolated() -> TestResult {
    let fam = partcp()?;
    // In ptcp_a: partcp client A:x -> Linux server B:q in ptcp_b.
    let (peer_l, server) = net::peer_listener()?;
    let f = fam.connect(Ns::A, server)?;
    let peer = net::accept(&peer_l)?;
    let local = raw::check("getsockname", raw::sockname(&f))?.addr;
    net::pass(&f, &peer, b"before")?;
    // In ptcp_c: the same 4-tuple (partcp A:x -> Linux B:q, over loopback), used, reset.
    let r = net::in_ns(Ns::C, || {
        let l = TcpListener::bind(server).map_err(|e| format!("Linux listener {server} in ptcp_c: {e}"))?;
        let c = fam.bounded_socket(Ns::C)?;
        raw::check(&format!("bind {local} in ptcp_c"), raw::bind(&c, local))?;
        raw::check(&format!("connect {local} -> {server} in ptcp_c"), raw::connect(&c, server))?;
        let c = net::stream(c);
        let s = net::accept(&l)?;
        net::pass(&c, &s, b"ns-c")?;
        net::pass(&s, &c, b"ns-c back")?;
        raw::set_linger(&c, true, 0)?;
        drop(c);
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });
    r?;
    ensure!(*local.ip() == A && *server.ip() == B, "addresses {local} {server}");
    net::pass(&f, &peer, b"after")?;
    net::pass(&peer, &f, b"after, back")?;
    let e = raw::get_int(&f, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR")?;
    ensure!(e == 0, "SO_ERROR {} on the ptcp_a connection", errname(e));
    Ok(())
}
