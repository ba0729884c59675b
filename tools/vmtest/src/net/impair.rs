//! Transfers over an impaired link: netem on both veth ends (loss, reordering,
//! duplication, delay); the streams must still arrive byte-exact. `impaired_link_f_f`
//! puts the family under test at both ends, so that one stream is sent from its send
//! queue's pages (retransmissions reference the same pages) and received into its
//! skb-holding receive queue (out-of-order pieces, duplicates trimmed against it).
//!
//! `tx_alloc_failures_4M` impairs the sender itself: every seventh skb partcp allocates
//! to transmit fails (module parameter `fail_tx_alloc`). A segment that could not be
//! built was not sent, so it must not be taken for lost: the streams arrive byte-exact
//! with no fast retransmission, and a failure costs a millisecond's retry, not a
//! retransmission timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::options::bytes_retrans;
use super::setup::{dev, run};
use super::transfer::{fill, sequential, simultaneous};
use super::{accept, f_client, f_server, Family, Ns, Table};
use crate::sys::debugfs_counter;
use crate::{ensure, TestResult};

pub const TESTS: Table = &[
    ("impaired_link_4M", impaired),
    ("impaired_link_f_f_4M", impaired_f_f),
    ("tx_alloc_failures_4M", tx_alloc_failures),
];

/// The impairment of each direction (tc-netem(8)): reordering needs the delay.
const NETEM: &str = "loss 2% reorder 10% 50% duplicate 1% delay 1ms";

/// netem on both veth ends while alive; removed on drop, also when the test fails or
/// panics (and a run that dies with it in place leaves it to the next run's
/// `setup::ensure`, which rebuilds the network).
struct Netem;

impl Netem {
    fn add() -> Result<Netem, String> {
        let guard = Netem;
        for ns in [Ns::A, Ns::B] {
            run(&format!("ip netns exec {} tc qdisc add dev {} root netem {NETEM}", ns.name(), dev(ns)))?;
        }
        Ok(guard)
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        for ns in [Ns::A, Ns::B] {
            let _ = run(&format!("ip netns exec {} tc qdisc del dev {} root", ns.name(), dev(ns)));
        }
    }
}

const SIZE: usize = 4 << 20;

fn impaired(fam: Family) -> TestResult {
    // Connect first: a lost SYN costs a 1 s retransmission timeout.
    let (f, peer) = f_client(fam)?;
    let (g, peer2) = f_server(fam)?;
    let _netem = Netem::add()?;
    let t = std::time::Instant::now();
    sequential(&f, &peer, SIZE).map_err(|e| format!("side under test as client, sequential: {e}"))?;
    simultaneous(&peer2, &g, SIZE).map_err(|e| format!("side under test as server, simultaneous: {e}"))?;
    if t.elapsed() > Duration::from_secs(30) {
        println!("# note: impaired transfers took {:?}", t.elapsed());
    }
    Ok(())
}

fn impaired_f_f(fam: Family) -> TestResult {
    // Two connections (a transfer ends its direction with a shutdown), made first.
    let (l, addr) = fam.listener(Ns::A)?;
    let c1 = fam.connect(Ns::B, addr)?;
    let s1 = accept(&l)?;
    let c2 = fam.connect(Ns::B, addr)?;
    let s2 = accept(&l)?;
    let _netem = Netem::add()?;
    sequential(&c1, &s1, SIZE).map_err(|e| format!("sequential: {e}"))?;
    simultaneous(&c2, &s2, SIZE).map_err(|e| format!("simultaneous: {e}"))?;
    Ok(())
}

/// `fail_tx_alloc` while alive: every `n`th transmit skb allocation of partcp fails; 0
/// (none) again on drop, also when the test fails.
struct FailTxAlloc;

const FAIL_TX_ALLOC: &str = "/sys/module/partcp/parameters/fail_tx_alloc";

impl FailTxAlloc {
    fn every(n: u32) -> Result<FailTxAlloc, String> {
        std::fs::write(FAIL_TX_ALLOC, n.to_string()).map_err(|e| format!("write {n} to {FAIL_TX_ALLOC}: {e}"))?;
        Ok(FailTxAlloc)
    }
}

impl Drop for FailTxAlloc {
    fn drop(&mut self) {
        let _ = std::fs::write(FAIL_TX_ALLOC, "0");
    }
}

/// Every how many transmit allocations one fails.
const FAIL_EVERY: u32 = 7;

/// The shortest RTO (Linux's and partcp's): what a failure taken for a loss could cost.
const RTO_MIN: Duration = Duration::from_millis(200);

/// What [`tx_alloc_failures`] saw.
struct Seen {
    /// Transmit allocations that failed (`stats` `tx_nomem`).
    failed: i64,
    /// Bytes the three sockets retransmitted (`tcpi_bytes_retrans`).
    retrans: u64,
    /// partcp only (`conn_stats`): fast retransmissions and retransmission timeouts of
    /// the three connections.
    fast: u64,
    rtos: u64,
    took: Duration,
}

/// partcp's core counter `name` of the connection of socket `sock`.
fn conn_counter(sock: &TcpStream, name: &str) -> Result<u64, String> {
    let local = sock.local_addr().map_err(|e| format!("getsockname: {e}"))?;
    let remote = sock.peer_addr().map_err(|e| format!("getpeername: {e}"))?;
    let SocketAddr::V4(remote) = remote else {
        return Err(format!("peer {remote} is not IPv4"));
    };
    crate::hostile::conn_stat(local.port(), Some((*remote.ip(), remote.port())), name)
}

/// The calling thread (and the threads it spawns) pinned to the CPU it runs on; the
/// previous affinity restored on drop.
struct PinnedToOneCpu {
    old: libc::cpu_set_t,
}

impl PinnedToOneCpu {
    fn here() -> Result<PinnedToOneCpu, String> {
        // SAFETY: `cpu_set_t` is plain data; all zeroes is the empty set.
        let mut old: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `old` is valid for writes of `size` bytes.
        if unsafe { libc::sched_getaffinity(0, size, &mut old) } != 0 {
            return Err(format!("sched_getaffinity: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: No preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        let cpu = usize::try_from(cpu).map_err(|_| format!("sched_getcpu: {}", std::io::Error::last_os_error()))?;
        // SAFETY: As above.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cpu` is a CPU this thread runs on, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut one) };
        // SAFETY: `one` is a valid set of `size` bytes.
        if unsafe { libc::sched_setaffinity(0, size, &one) } != 0 {
            return Err(format!("sched_setaffinity: {}", std::io::Error::last_os_error()));
        }
        Ok(PinnedToOneCpu { old })
    }
}

impl Drop for PinnedToOneCpu {
    fn drop(&mut self) {
        // SAFETY: `old` is the valid set read in `here`.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.old) };
    }
}

/// One run of [`tx_alloc_failures`]: the side under test as client of a Linux server
/// and at both ends of a second connection (so its ACKs fail too), both directions at
/// once, with the injection on for partcp.
///
/// The test's threads are pinned to one CPU: MsgP and ConnP-L transmit from whichever
/// CPU runs the syscall, the NAPI poll or the retry timer, and veth delivers each CPU's
/// segments through that CPU's backlog, so with several CPUs some segments arrive
/// reordered and are fast-retransmitted for that reason alone (observed at 4 vCPUs: 74
/// for 146 failures under ConnP-L). On one CPU the syscalls, veth's receive softirq and
/// the timers armed from them share one order, so a fast retransmission can only mean a
/// failed transmit taken for a loss. (ConnP-T's protocol threads keep their own CPUs;
/// each connection transmits from one of them, in order.)
fn tx_alloc_failures_once(fam: Family) -> Result<Seen, String> {
    let _pin = PinnedToOneCpu::here()?;
    let (f, peer) = f_client(fam)?;
    let (l, addr) = fam.listener(Ns::A)?;
    let c = fam.connect(Ns::B, addr)?;
    let s = accept(&l)?;
    let partcp = matches!(fam, Family::Partcp(_));
    let nomem = || if partcp { debugfs_counter("stats", "tx_nomem") } else { Ok(0) };
    let before = nomem()?;
    let inject = if partcp { Some(FailTxAlloc::every(FAIL_EVERY)?) } else { None };
    let t = Instant::now();
    both_ways_open(&f, &peer, SIZE).map_err(|e| format!("with a Linux peer: {e}"))?;
    both_ways_open(&c, &s, SIZE).map_err(|e| format!("both ends {fam:?}: {e}"))?;
    let took = t.elapsed();
    drop(inject);
    let failed = nomem()? - before;
    let retrans = bytes_retrans(&f)? + bytes_retrans(&c)? + bytes_retrans(&s)?;
    let (mut fast, mut rtos) = (0, 0);
    if partcp {
        for sock in [&f, &c, &s] {
            fast += conn_counter(sock, "fast_retransmits")?;
            rtos += conn_counter(sock, "rto_expirations")?;
        }
    }
    Ok(Seen { failed, retrans, fast, rtos, took })
}

/// `size` pattern bytes each way at once between `a` and `b`, checked as they arrive,
/// with the connection left open (its counters are read afterwards).
fn both_ways_open(a: &TcpStream, b: &TcpStream, size: usize) -> TestResult {
    fn write(mut s: &TcpStream, seed: u64, size: usize) -> TestResult {
        let mut buf = vec![0u8; 65536];
        let mut off = 0;
        while off < size {
            let n = buf.len().min(size - off);
            fill(seed, off as u64, &mut buf[..n]);
            s.write_all(&buf[..n]).map_err(|e| format!("write at {off}: {e}"))?;
            off += n;
        }
        Ok(())
    }
    fn read(mut s: &TcpStream, seed: u64, size: usize) -> TestResult {
        let (mut buf, mut want) = (vec![0u8; 65536], vec![0u8; 65536]);
        let mut off = 0;
        while off < size {
            let n = buf.len().min(size - off);
            s.read_exact(&mut buf[..n]).map_err(|e| format!("read at {off} of {size}: {e}"))?;
            fill(seed, off as u64, &mut want[..n]);
            ensure!(buf[..n] == want[..n], "bytes {off}..{} differ from what was sent", off + n);
            off += n;
        }
        Ok(())
    }
    std::thread::scope(|sc| {
        let ab = sc.spawn(|| write(a, 0xa5, size));
        let ba = sc.spawn(|| write(b, 0x5a, size));
        let at_b = sc.spawn(|| read(b, 0xa5, size));
        let at_a = read(a, 0x5a, size);
        for h in [ab, ba, at_b] {
            h.join().map_err(|_| "transfer thread panicked".to_string())??;
        }
        at_a
    })
}

/// The streams arrive intact through allocation failures; for partcp no failure is
/// taken for a loss. On a clean link that would show as a fast retransmission (the
/// segments after the "lost" one arrive and are SACKed; Linux's own retransmissions in
/// this VM are tail loss probes and timeouts when the emulator stalls), and each one
/// left to the retransmission timer would cost an RTO.
fn tx_alloc_failures(fam: Family) -> TestResult {
    let Seen { failed, retrans, fast, rtos, took } = tx_alloc_failures_once(fam)?;
    println!(
        "# {failed} transmit allocations failed; {retrans} bytes retransmitted, {fast} fast retransmissions, \
         {rtos} retransmission timeouts; {took:?}"
    );
    if matches!(fam, Family::Partcp(_)) {
        ensure!(failed >= 50, "only {failed} transmit allocations failed: the injection did not work");
        // With the threads on one CPU (see `tx_alloc_failures_once`) nothing reorders the
        // segments; a failure taken for a loss would be resent every time, so fewer than
        // one per two failures proves none was, with room for the odd retransmission an
        // emulator stall causes.
        ensure!(
            fast * 2 < failed.unsigned_abs(),
            "{fast} fast retransmissions for {failed} failures: failed transmits taken for losses"
        );
        // CAST: a count of failures well below u32::MAX.
        let rto_each = RTO_MIN * failed as u32;
        ensure!(took < rto_each / 2, "{took:?} for {failed} failures: close to an RTO each ({rto_each:?})");
    }
    Ok(())
}
