//! poll, epoll (level- and edge-triggered) and the FIONREAD / SIOCOUTQ ioctls: the
//! readiness masks and byte counts Linux TCP reports.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::io::fill_send_buffer;
use super::raw::{self, check, events};
use super::{f_client, peer_connect, wait_until, Family, Ns, Table};
use crate::sys::{self, errname, Fd};
use crate::{ensure, TestResult};

pub const TESTS: Table = &[
    ("poll_unconnected", poll_unconnected),
    ("poll_listener", poll_listener),
    ("poll_pollin_on_data", poll_pollin),
    ("epoll_out_writable", epoll_out),
    ("epoll_rdhup_on_peer_shutdown", epoll_rdhup),
    ("epoll_hup_err_after_reset", epoll_reset),
    ("epoll_edge_triggered_once_per_arrival", epoll_et),
    ("ioctl_fionread", fionread),
    ("ioctl_siocoutq", siocoutq),
];

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;
const ERR: u32 = libc::EPOLLERR as u32;
const HUP: u32 = libc::EPOLLHUP as u32;
const RDHUP: u32 = libc::EPOLLRDHUP as u32;
const ET: u32 = libc::EPOLLET as u32;

/// An epoll instance.
pub struct Epoll(Fd);

impl Epoll {
    pub fn new() -> Result<Epoll, String> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        ensure!(fd >= 0, "epoll_create1: {}", errname(sys::errno()));
        Ok(Epoll(Fd(fd)))
    }

    fn ctl(&self, op: i32, fd: &impl AsRawFd, events: u32, data: u64) -> Result<(), String> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is valid for the call.
        let r = unsafe { libc::epoll_ctl(self.0 .0, op, fd.as_raw_fd(), &mut ev) };
        ensure!(r == 0, "epoll_ctl({op}): {}", errname(sys::errno()));
        Ok(())
    }

    /// Registers `fd` for `events`, tagged `data`.
    pub fn add(&self, fd: &impl AsRawFd, events: u32, data: u64) -> Result<(), String> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, data)
    }

    pub fn del(&self, fd: &impl AsRawFd) -> Result<(), String> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Up to `max` ready `(data, events)`, waiting at most `timeout_ms`.
    pub fn wait(&self, max: usize, timeout_ms: i32) -> Result<Vec<(u64, u32)>, String> {
        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; max];
        loop {
            // SAFETY: `evs` has room for `max` events.
            let n = unsafe { libc::epoll_wait(self.0 .0, evs.as_mut_ptr(), max as i32, timeout_ms) };
            if n < 0 && sys::errno() == libc::EINTR {
                continue;
            }
            ensure!(n >= 0, "epoll_wait: {}", errname(sys::errno()));
            return Ok(evs[..n as usize].iter().map(|e| (e.u64, e.events)).collect());
        }
    }

    /// The events of the one registered socket after waiting up to `timeout_ms` (0 if none).
    fn one(&self, timeout_ms: i32) -> Result<u32, String> {
        let v = self.wait(4, timeout_ms)?;
        ensure!(v.len() <= 1, "{} events for one socket", v.len());
        Ok(v.first().map_or(0, |e| e.1))
    }
}

/// Fails unless `got == want`, naming the bits.
fn expect_events(what: &str, got: u32, want: u32) -> TestResult {
    ensure!(got == want, "{what}: {}, want {}", events(got), events(want));
    Ok(())
}

fn poll_unconnected(fam: Family) -> TestResult {
    // A never-connected TCP socket is "hung up" but writable.
    let fd = fam.socket_in(Ns::A, 0)?;
    let ev = check("poll", raw::poll1(&fd, libc::POLLIN | libc::POLLOUT, 0))?;
    expect_events("poll of a fresh socket", ev as u32, OUT | HUP)
}

fn poll_listener(fam: Family) -> TestResult {
    let (l, addr) = fam.listener(Ns::A)?;
    let ev = check("poll", raw::poll1(&l, libc::POLLIN | libc::POLLOUT, 0))?;
    expect_events("poll of an idle listener", ev as u32, 0)?;
    let _c = peer_connect(addr)?;
    let ev = check("poll", raw::poll1(&l, libc::POLLIN | libc::POLLOUT, 10_000))?;
    expect_events("poll of a listener with a pending connection", ev as u32, IN)
}

fn poll_pollin(fam: Family) -> TestResult {
    let (f, mut peer) = f_client(fam)?;
    let ev = check("poll", raw::poll1(&f, libc::POLLIN, 0))?;
    expect_events("poll(POLLIN) with nothing to read", ev as u32, 0)?;
    peer.write_all(b"data").map_err(|e| format!("peer write: {e}"))?;
    let ev = check("poll", raw::poll1(&f, libc::POLLIN | libc::POLLOUT, 10_000))?;
    expect_events("poll with data to read", ev as u32, IN | OUT)
}

fn epoll_out(fam: Family) -> TestResult {
    let (f, mut peer) = f_client(fam)?;
    let ep = Epoll::new()?;
    ep.add(&f, IN | OUT, 1)?;
    expect_events("epoll of an idle connection", ep.one(0)?, OUT)?;
    fill_send_buffer(&f)?;
    expect_events("epoll with the send buffer full", ep.one(0)?, 0)?;
    // The peer drains; writability comes back.
    peer.set_nonblocking(true).map_err(|e| format!("peer nonblocking: {e}"))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u32;
    wait_until("EPOLLOUT after the peer read", Duration::from_secs(10), || {
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        got = ep.one(20)?;
        Ok(got & OUT != 0)
    })?;
    expect_events("epoll after the peer read", got, OUT)
}

fn epoll_rdhup(fam: Family) -> TestResult {
    let (f, peer) = f_client(fam)?;
    let ep = Epoll::new()?;
    ep.add(&f, IN | OUT | RDHUP, 1)?;
    expect_events("epoll of an idle connection", ep.one(0)?, OUT)?;
    check("peer shutdown(SHUT_WR)", raw::shutdown(&peer, libc::SHUT_WR))?;
    let mut ev = 0;
    wait_until("EPOLLRDHUP", Duration::from_secs(10), || {
        ev = ep.one(100)?;
        Ok(ev & RDHUP != 0)
    })?;
    expect_events("epoll after the peer's SHUT_WR", ev, IN | OUT | RDHUP)?;
    // Our shutdown too: now HUP.
    check("shutdown(SHUT_WR)", raw::shutdown(&f, libc::SHUT_WR))?;
    wait_until("EPOLLHUP", Duration::from_secs(10), || {
        ev = ep.one(100)?;
        Ok(ev & HUP != 0)
    })?;
    expect_events("epoll after both shut down", ev, IN | OUT | RDHUP | HUP)
}

fn epoll_reset(fam: Family) -> TestResult {
    let (f, peer) = f_client(fam)?;
    let ep = Epoll::new()?;
    ep.add(&f, IN | OUT | RDHUP, 1)?;
    raw::set_linger(&peer, true, 0)?;
    drop(peer);
    let mut ev = 0;
    wait_until("EPOLLERR", Duration::from_secs(10), || {
        ev = ep.one(100)?;
        Ok(ev & ERR != 0)
    })?;
    expect_events("epoll after the peer's reset", ev, IN | OUT | ERR | HUP | RDHUP)
}

fn epoll_et(fam: Family) -> TestResult {
    let (f, mut peer) = f_client(fam)?;
    let ep = Epoll::new()?;
    ep.add(&f, IN | ET, 7)?;
    expect_events("edge-triggered epoll, idle", ep.one(0)?, 0)?;
    for i in 1..=3 {
        peer.write_all(b"chunk").map_err(|e| format!("peer write: {e}"))?;
        let v = ep.wait(4, 10_000)?;
        ensure!(v == vec![(7, IN)], "arrival {i}: {v:?}, want one EPOLLIN");
        // Not read: no further event until new data arrives.
        let v = ep.wait(4, 100)?;
        ensure!(v.is_empty(), "arrival {i}: {v:?} again without new data");
    }
    let n = check("FIONREAD", raw::ioctl_int(&f, libc::FIONREAD))?;
    ensure!(n == 15, "FIONREAD {n}, want the 15 bytes of 3 chunks");
    ep.del(&f)
}

fn fionread(fam: Family) -> TestResult {
    let (mut f, mut peer) = f_client(fam)?;
    let n = check("FIONREAD", raw::ioctl_int(&f, libc::FIONREAD))?;
    ensure!(n == 0, "FIONREAD {n} with nothing received");
    peer.write_all(&[9u8; 1234]).map_err(|e| format!("peer write: {e}"))?;
    wait_until("FIONREAD 1234", Duration::from_secs(10), || {
        Ok(check("FIONREAD", raw::ioctl_int(&f, libc::FIONREAD))? == 1234)
    })?;
    let mut b = [0u8; 234];
    f.read_exact(&mut b).map_err(|e| format!("read: {e}"))?;
    let n = check("FIONREAD", raw::ioctl_int(&f, libc::FIONREAD))?;
    ensure!(n == 1000, "FIONREAD {n} after reading 234 of 1234");
    let (l, _) = fam.listener(Ns::A)?;
    raw::expect_err("FIONREAD on a listener", raw::ioctl_int(&l, libc::FIONREAD), libc::EINVAL)
}

/// `SIOCOUTQNSD` and `SIOCATMARK` (linux/sockios.h; not in the libc crate).
const SIOCOUTQNSD: libc::c_ulong = 0x894b;
const SIOCATMARK: libc::c_ulong = 0x8905;

fn siocoutq(fam: Family) -> TestResult {
    let (f, mut peer) = f_client(fam)?;
    let n = check("SIOCOUTQ", raw::ioctl_int(&f, libc::TIOCOUTQ))?;
    ensure!(n == 0, "SIOCOUTQ {n} with nothing sent");
    // The peer stops reading: what we send stays queued.
    let sent = fill_send_buffer(&f)?;
    let n = check("SIOCOUTQ", raw::ioctl_int(&f, libc::TIOCOUTQ))?;
    ensure!(n > 0 && n as usize <= sent, "SIOCOUTQ {n} with the peer not reading ({sent} sent)");
    // SIOCOUTQNSD: the part not sent yet (the peer's window is closed), at most SIOCOUTQ.
    let nsd = check("SIOCOUTQNSD", raw::ioctl_int(&f, SIOCOUTQNSD))?;
    ensure!(nsd >= 0 && nsd <= n, "SIOCOUTQNSD {nsd} with SIOCOUTQ {n}");
    let mark = check("SIOCATMARK", raw::ioctl_int(&f, SIOCATMARK))?;
    ensure!(mark == 0, "SIOCATMARK {mark} with no urgent data");
    // The peer reads it all: the queue empties once acknowledged.
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    while total < sent {
        total += peer.read(&mut buf).map_err(|e| format!("peer read: {e}"))?;
    }
    wait_until("SIOCOUTQ 0 after the peer read everything", Duration::from_secs(10), || {
        Ok(check("SIOCOUTQ", raw::ioctl_int(&f, libc::TIOCOUTQ))? == 0)
    })
}
