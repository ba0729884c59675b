# The program the preload tests run under LD_PRELOAD=libpartcp_preload.so (see
# preload.rs): `probe.py MODE [ARGS]`. It checks from inside what the shim shows the
# program (through the C library, so through the shim) against what the socket really
# is (the getsockopt system call made directly, which the shim cannot see). Prints one
# `ok ...` or `FAIL ...` line per check and exits 1 if any failed.
import ctypes
import errno
import fcntl
import os
import select
import signal
import socket
import subprocess
import sys
import threading

libc = ctypes.CDLL(None, use_errno=True)
SYS_getsockopt = 55  # x86-64
SO_DOMAIN, SO_PROTOCOL = 39, 38
TCP_CONGESTION, TCP_QUICKACK, TCP_CORK, TCP_FASTOPEN, TCP_FASTOPEN_CONNECT, TCP_ULP = 13, 12, 3, 23, 30, 31
SO_ZEROCOPY = 60
failed = []


def check(cond, what):
    print(("ok " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failed.append(what)


def family():
    try:
        return int(open("/sys/module/partcp/parameters/family").read())
    except OSError:
        return None


def raw_domain(fd):
    """SO_DOMAIN by the system call itself: what the socket really is."""
    v, n = ctypes.c_int(0), ctypes.c_uint32(4)
    if libc.syscall(SYS_getsockopt, fd, socket.SOL_SOCKET, SO_DOMAIN, ctypes.byref(v), ctypes.byref(n)) != 0:
        return -ctypes.get_errno()
    return v.value


def shim_domain(fd):
    """SO_DOMAIN through the C library, as a program sees it."""
    v, n = ctypes.c_int(0), ctypes.c_uint32(4)
    if libc.getsockopt(fd, socket.SOL_SOCKET, SO_DOMAIN, ctypes.byref(v), ctypes.byref(n)) != 0:
        return -ctypes.get_errno()
    return v.value


def is_partcp(fd, what, want=True):
    """Checks that `fd` is (or is not) a partcp socket that reads as AF_INET."""
    r, s = raw_domain(fd), shim_domain(fd)
    if want:
        check(r == FAM and s == socket.AF_INET, f"{what}: partcp (real SO_DOMAIN {r}, shown {s})")
    else:
        check(r == s and r != FAM, f"{what}: not partcp (real SO_DOMAIN {r}, shown {s})")


def errno_of(f):
    try:
        f()
        return 0
    except OSError as e:
        return e.errno


def pair(host="127.0.0.1"):
    """A listener and a connected (client, accepted) pair, all through the shim."""
    lst = socket.socket()
    lst.bind((host, 0))
    lst.listen(16)
    c = socket.create_connection(lst.getsockname(), timeout=10)
    a, _ = lst.accept()
    a.settimeout(10)
    return lst, c, a


def mixed():
    lst, c, a = pair()
    is_partcp(lst.fileno(), "listener")
    is_partcp(c.fileno(), "client")
    is_partcp(a.fileno(), "accepted")
    check(lst.family == socket.AF_INET and a.family == socket.AF_INET, "Python sees AF_INET sockets")
    check(a.getpeername() == c.getsockname() and c.getpeername() == a.getsockname(),
          f"addresses are AF_INET and agree: {a.getpeername()} {c.getsockname()}")
    adopted = socket.socket(fileno=os.dup(a.fileno()))
    check(adopted.family == socket.AF_INET and adopted.type == socket.SOCK_STREAM
          and adopted.proto == socket.IPPROTO_TCP, f"socket(fileno=) detects {adopted.family!r} {adopted.proto}")
    adopted.close()
    c.sendall(b"ping")
    check(a.recv(4) == b"ping", "data flows")

    # Everything that is not IPv4 TCP stays where it was asked for.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.sendto(b"u", u.getsockname())
    check(u.recv(1) == b"u", "UDP works")
    is_partcp(u.fileno(), "UDP socket", want=False)
    port = "%04X" % u.getsockname()[1]
    check(any(l.split()[1].endswith(":" + port) for l in open("/proc/net/udp").readlines()[1:]), "UDP socket in /proc/net/udp")
    ux1, ux2 = socket.socketpair()
    ux1.sendall(b"x")
    check(ux2.recv(1) == b"x", "AF_UNIX works")
    us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for s, name, fam in ((ux1, "socketpair", socket.AF_UNIX), (us, "AF_UNIX stream", socket.AF_UNIX)):
        is_partcp(s.fileno(), name, want=False)
        check(raw_domain(s.fileno()) == fam, f"{name} is family {fam}")
    try:
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        is_partcp(s6.fileno(), "AF_INET6 TCP", want=False)
    except OSError as e:
        check(e.errno == errno.EAFNOSUPPORT, f"AF_INET6 TCP: errno {e.errno} (a kernel without IPv6: EAFNOSUPPORT)")
    rw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    is_partcp(rw.fileno(), "raw ICMP", want=False)
    mp = errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close())
    check(mp in (0, errno.EPROTONOSUPPORT, errno.ENOPROTOOPT, errno.EINVAL), f"MPTCP socket untouched (errno {mp})")

    # Descriptor copies are partcp too; copies of other sockets are not.
    d = os.dup(c.fileno())
    is_partcp(d, "dup")
    os.dup2(c.fileno(), 300)
    is_partcp(300, "dup2")
    os.dup2(u.fileno(), 300)
    is_partcp(300, "dup2 of UDP over a partcp copy", want=False)
    d2 = fcntl.fcntl(c.fileno(), fcntl.F_DUPFD, 400)
    d3 = fcntl.fcntl(c.fileno(), fcntl.F_DUPFD_CLOEXEC, 500)
    is_partcp(d2, "F_DUPFD")
    is_partcp(d3, "F_DUPFD_CLOEXEC")
    for fd in (d, 300, d2, d3):
        os.close(fd)
    # A number closed through the shim, then reused behind its back (dup2 by system
    # call) by a UDP socket: the shim must not take it for partcp (it would accept
    # TCP_FASTOPEN_CONNECT, which Linux refuses on UDP).
    n = c.fileno()
    one = ctypes.c_int(1)
    for fd, close in ((600, lambda: os.close(600)), (601, lambda: os.closerange(601, 602))):
        os.dup2(c.fileno(), fd)
        is_partcp(fd, f"copy at {fd}")
        close()
        libc.syscall(33, u.fileno(), fd)
        r = libc.setsockopt(fd, socket.SOL_TCP, TCP_FASTOPEN_CONNECT, ctypes.byref(one), 4)
        check(r != 0 and ctypes.get_errno() == errno.ENOPROTOOPT, f"number {fd} forgotten after close")
        os.close(fd)
    check(n == c.fileno(), "descriptor kept")

    # Options partcp implements pass through (they read back what was set); the ones it
    # does not are decided by the shim: see tools/preload/README.md.
    def so(s, level, name, val):
        return errno_of(lambda: s.setsockopt(level, name, val))
    check(so(c, socket.SOL_TCP, TCP_CONGESTION, b"reno") == 0, "TCP_CONGESTION reno accepted")
    check(c.getsockopt(socket.SOL_TCP, TCP_CONGESTION, 16).rstrip(b"\0") == b"reno", "TCP_CONGESTION reads reno")
    check(so(c, socket.SOL_TCP, TCP_CONGESTION, b"nosuchalgo") == errno.ENOENT, "TCP_CONGESTION nosuchalgo: ENOENT")
    for name, lvl, opt, val in (("TCP_QUICKACK", socket.SOL_TCP, TCP_QUICKACK, 0), ("TCP_CORK", socket.SOL_TCP, TCP_CORK, 1),
                                ("IP_TOS", socket.SOL_IP, socket.IP_TOS, 0x10),
                                ("TCP_DEFER_ACCEPT", socket.SOL_TCP, socket.TCP_DEFER_ACCEPT, 1)):
        check(so(c, lvl, opt, val) == 0 and c.getsockopt(lvl, opt) == val, f"{name} set and read back")
    check(so(c, socket.SOL_TCP, TCP_CORK, 0) == 0, "TCP_CORK off")
    for name, lvl, opt, val in (("TCP_FASTOPEN_CONNECT", socket.SOL_TCP, TCP_FASTOPEN_CONNECT, 1),
                                ("TCP_FASTOPEN", socket.SOL_TCP, TCP_FASTOPEN, 5),
                                ("SO_REUSEPORT", socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)):
        check(so(lst if name == "TCP_FASTOPEN" else c, lvl, opt, val) == 0, f"{name} accepted")
    e = so(c, socket.SOL_SOCKET, SO_ZEROCOPY, 1)
    check(e == errno.EOPNOTSUPP, f"SO_ZEROCOPY refused (errno {e})")
    e = so(c, socket.SOL_TCP, TCP_ULP, b"tls")
    check(e == errno.ENOPROTOOPT, f"TCP_ULP refused (errno {e})")
    check(c.getsockopt(socket.SOL_SOCKET, SO_PROTOCOL) == socket.IPPROTO_TCP, "SO_PROTOCOL is IPPROTO_TCP")
    check(so(c, socket.SOL_TCP, socket.TCP_NODELAY, 1) == 0 and c.getsockopt(socket.SOL_TCP, socket.TCP_NODELAY) == 1, "TCP_NODELAY")

    threads_(lst)
    epoll_(lst)
    sendfile_splice(c, a)
    fork_exec(lst)


def threads_(lst):
    bad = []

    def worker():
        for _ in range(150):
            s = socket.socket()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            d = os.dup(s.fileno())
            if (raw_domain(s.fileno()), shim_domain(s.fileno()), raw_domain(d), shim_domain(d)) != (FAM, 2, FAM, 2):
                bad.append("tcp")
            if (raw_domain(u.fileno()), shim_domain(u.fileno())) != (2, 2):
                bad.append("udp")
            os.close(d)
            s.close()
            u.close()
    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not bad, f"8 threads creating, copying, closing: {len(bad)} wrong")


def epoll_(lst):
    c = socket.socket()
    c.setblocking(False)
    check(c.connect_ex(lst.getsockname()) == errno.EINPROGRESS, "non-blocking connect: EINPROGRESS")
    ep = select.epoll()
    ep.register(c.fileno(), select.EPOLLOUT)
    ev = ep.poll(10)
    check(ev and ev[0][1] & select.EPOLLOUT, f"epoll: connected ({ev})")
    a, _ = lst.accept()
    ep.register(a.fileno(), select.EPOLLIN)
    c.send(b"e")
    ev = ep.poll(10)
    check(any(fd == a.fileno() and m & select.EPOLLIN for fd, m in ev), f"epoll: readable ({ev})")
    check(a.recv(1) == b"e", "epoll: data")
    ep.close()
    c.close()
    a.close()


def recv_all(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(min(1 << 16, n - len(out)))
        if not b:
            break
        out += b
    return bytes(out)


def sendfile_splice(c, a):
    c.setblocking(True)
    a.setblocking(True)
    data = os.urandom(1 << 20)
    path = "/tmp/partcp-preload-sendfile"
    with open(path, "wb") as f:
        f.write(data)
    got = []
    t = threading.Thread(target=lambda: got.append(recv_all(a, len(data))))
    t.start()
    with open(path, "rb") as f:
        off = 0
        try:
            while off < len(data):
                off += os.sendfile(c.fileno(), f.fileno(), off, len(data) - off)
            err = 0
        except OSError as e:
            err = e.errno
    t.join(20)
    check(err == 0 and got and got[0] == data, f"sendfile of 1 MB to a partcp socket (errno {err})")
    # splice: socket -> pipe -> socket.
    r, w = os.pipe()
    msg = os.urandom(40000)
    c.sendall(msg)
    moved, err = 0, 0
    try:
        while moved < len(msg):
            n = os.splice(a.fileno(), w, len(msg) - moved)
            os.splice(r, a.fileno(), n)  # echo back
            moved += n
    except OSError as e:
        err = e.errno
    check(err == 0 and recv_all(c, len(msg)) == msg, f"splice from and to a partcp socket (errno {err})")
    os.close(r)
    os.close(w)
    os.unlink(path)


CHILD = """
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def dom(fd, raw):
    v, n = ctypes.c_int(0), ctypes.c_uint32(4)
    f = (lambda *a: libc.syscall(55, *a)) if raw else libc.getsockopt
    f(fd, 1, 39, ctypes.byref(v), ctypes.byref(n))
    return v.value
s = socket.socket()
print(dom(s.fileno(), True), dom(s.fileno(), False), dom(int(sys.argv[1]), True), dom(int(sys.argv[1]), False))
"""


def fork_exec(lst):
    fd = lst.fileno()
    pid = os.fork()
    if pid == 0:
        s = socket.socket()
        ok = (raw_domain(fd), shim_domain(fd), raw_domain(s.fileno()), shim_domain(s.fileno())) == (FAM, 2, FAM, 2)
        os._exit(0 if ok else 1)
    _, st = os.waitpid(pid, 0)
    check(st == 0, "fork: the child's inherited and new sockets are partcp")
    out = subprocess.run([sys.executable, "-c", CHILD, str(fd)], pass_fds=[fd], capture_output=True, text=True)
    check(out.stdout.split() == [str(FAM), "2", str(FAM), "2"],
          f"exec with LD_PRELOAD: new and inherited sockets partcp, shown AF_INET: {out.stdout.strip()} {out.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(fd)], pass_fds=[fd], env=env, capture_output=True, text=True)
    check(out.stdout.split() == ["2", "2", str(FAM), str(FAM)],
          f"exec without LD_PRELOAD: Linux TCP, inherited socket shown as is: {out.stdout.strip()} {out.stderr.strip()}")


def ports(p1, p2):
    """PARTCP_PORTS=p1: only sockets bound or connected to port p1 become partcp."""
    l1 = socket.socket()
    l1.setblocking(False)
    l1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l1.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    l1.setsockopt(socket.SOL_TCP, socket.TCP_NODELAY, 1)
    want_rcvbuf = l1.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    is_partcp(l1.fileno(), "before bind", want=False)
    l1.bind(("127.0.0.1", p1))
    l1.listen(8)
    is_partcp(l1.fileno(), f"listener on {p1}")
    check(fcntl.fcntl(l1.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK, "O_NONBLOCK carried")
    check(fcntl.fcntl(l1.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC, "FD_CLOEXEC carried")
    check(l1.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1, "SO_REUSEADDR carried")
    check(l1.getsockopt(socket.SOL_TCP, socket.TCP_NODELAY) == 1, "TCP_NODELAY carried")
    got = l1.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    check(got == want_rcvbuf, f"SO_RCVBUF carried ({got}, want {want_rcvbuf})")
    check(l1.getsockname() == ("127.0.0.1", p1), f"bound: {l1.getsockname()}")
    l1.setblocking(True)
    l2 = socket.socket()
    l2.bind(("127.0.0.1", p2))
    l2.listen(8)
    is_partcp(l2.fileno(), f"listener on {p2}", want=False)
    c1 = socket.create_connection(("127.0.0.1", p1), timeout=10)
    is_partcp(c1.fileno(), f"client of {p1}")
    a1, _ = l1.accept()
    is_partcp(a1.fileno(), f"accepted on {p1}")
    c2 = socket.create_connection(("127.0.0.1", p2), timeout=10)
    is_partcp(c2.fileno(), f"client of {p2}", want=False)
    a2, _ = l2.accept()
    is_partcp(a2.fileno(), f"accepted on {p2}", want=False)
    # Bound first (ephemeral port, no match), switched at connect: keeps its port.
    c3 = socket.socket()
    c3.bind(("127.0.0.1", 0))
    port = c3.getsockname()[1]
    c3.settimeout(10)
    c3.connect(("127.0.0.1", p1))
    is_partcp(c3.fileno(), "bound, then connected")
    check(c3.getsockname() == ("127.0.0.1", port), f"local address kept: {c3.getsockname()}, was port {port}")
    a3, _ = l1.accept()
    check(a3.getpeername() == c3.getsockname(), "the listener sees that address")
    for c, a in ((c1, a1), (c2, a2), (c3, a3)):
        c.sendall(b"hi")
        check(a.recv(2) == b"hi", "data")


def addrs(p, q):
    """PARTCP_ADDRS=127.0.0.2: a wildcard bind matches; 127.0.0.3 does not."""
    l1 = socket.socket()
    l1.bind(("0.0.0.0", p))
    l1.listen(8)
    is_partcp(l1.fileno(), "wildcard listener")
    l2 = socket.socket()
    l2.bind(("127.0.0.3", q))
    l2.listen(8)
    is_partcp(l2.fileno(), "listener on 127.0.0.3", want=False)
    c1 = socket.create_connection(("127.0.0.2", p), timeout=10)
    is_partcp(c1.fileno(), "client of 127.0.0.2")
    c2 = socket.create_connection(("127.0.0.3", q), timeout=10)
    is_partcp(c2.fileno(), "client of 127.0.0.3", want=False)
    for c, l in ((c1, l1), (c2, l2)):
        a, _ = l.accept()
        c.sendall(b"hi")
        check(a.recv(2) == b"hi", "data")


def unloaded(required):
    """partcp not loaded: Linux TCP with one notice, or EAFNOSUPPORT if required."""
    check(FAM is None, "module not loaded")
    if required:
        e = errno_of(lambda: socket.socket())
        check(e == errno.EAFNOSUPPORT, f"socket(): errno {e}, want EAFNOSUPPORT")
        e = errno_of(lambda: socket.socket())
        check(e == errno.EAFNOSUPPORT, "again")
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        check(raw_domain(u.fileno()) == socket.AF_INET, "UDP still works")
        return
    lst, c, a = pair()
    for s in (lst, c, a):
        check(raw_domain(s.fileno()) == socket.AF_INET, "Linux TCP")
    c.sendall(b"x")
    check(a.recv(1) == b"x", "data")


FAM = family()
mode = sys.argv[1]
# A hang becomes a failure with a traceback, well within the test's time limit.
signal.alarm(45)
{"mixed": mixed, "ports": lambda: ports(int(sys.argv[2]), int(sys.argv[3])), "addrs": lambda: addrs(int(sys.argv[2]), int(sys.argv[3])),
 "unloaded": lambda: unloaded(False), "required": lambda: unloaded(True)}[mode]()
print(f"# {len(failed)} failed", flush=True)
sys.exit(1 if failed else 0)
