// SPDX-License-Identifier: GPL-2.0

//! partcp's per-socket state and the socket calls, in safe Rust. `family.rs` turns
//! each `proto_ops` entry point into a call here and the result into an errno.
//!
//! # Locking
//!
//! A socket's application-level state (`SockState`: unbound, bound, listening,
//! connected) is behind a sleeping mutex, held only briefly: blocking waits happen with
//! no lock held, on the socket's wait queue. Sends and receives are each serialized by
//! their own mutex, which also owns the bounce buffer used to copy between user memory
//! and the connection's rings (user copies may fault; the rings are only touched under
//! the connection's spinlock).

use kernel::bindings;
use kernel::ffi::c_int;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::Mutex;

use crate::glue::kernel::clock;
use crate::glue::obj::conn::{self, Conn, ConnRef, ListenInner, Listen, ListenRef, Tcp};
use crate::glue::dispatch;
use crate::glue::kernel::handles::{NetRef, SockRef};
use crate::glue::kernel::mem;
use crate::glue::kernel::rxq::{ReadPiece, RecvQueue};
use crate::glue::kernel::txq::{Chunk, SendQueue};
use crate::glue::kernel::frontvec::Span as _;
use crate::buffer::{RecvBuffer as _, SendBuffer as _};
use crate::glue::kernel::shim::{self, TxMeta};
use crate::glue::obj::stack::{stack, ConnKey, ListenKey, Stack};
use crate::congestion::CongestionAlgorithm;
use crate::connection::{Config, Connection, Endpoint, Error as TcpError, State};
use crate::listener::{Listener, ListenerConfig};
use crate::sysctl::{SocketInit, TcpSysctls};
use crate::wire::Ipv4Addr;

/// Socket identifiers, unique for the module's lifetime (debugging aid).
static NEXT_ID: Atomic<i64> = Atomic::new(1);

/// A bound local address: what `bind()` conflicts are checked against.
#[derive(Clone, Copy)]
pub(crate) struct BindEntry {
    net: usize,
    /// Host-order address, 0 for INADDR_ANY.
    addr: u32,
    port: u16,
    /// SO_REUSEADDR was set when binding.
    reuse: bool,
    /// The socket is listening.
    listening: bool,
    /// The owning socket (its `PartcpSock::id`).
    owner: i64,
}

kernel::sync::global_lock! {
    // SAFETY: Initialized by `init_binds` at module load, before any socket exists.
    unsafe(uninit) static BINDS: Mutex<KVec<BindEntry>> = KVec::new();
}

/// Initializes the bind registry (module init).
pub(crate) fn init_binds() {
    // SAFETY: Called once at module load, before any use.
    unsafe { BINDS.init() };
}

/// Frees the bind registry's memory (module exit: no socket exists any more, so it is
/// empty, but its vector keeps the capacity it grew to, which kmemleak reports).
pub(crate) fn exit_binds() {
    let old = core::mem::replace(&mut *BINDS.lock(), KVec::new());
    drop(old);
}

/// Which queue an `ioctl()` asks about.
#[derive(Clone, Copy)]
pub(crate) enum Queued {
    /// FIONREAD/SIOCINQ: bytes readable.
    Readable,
    /// TIOCOUTQ/SIOCOUTQ: bytes sent but not acknowledged, plus bytes not sent yet.
    NotAcked,
    /// SIOCOUTQNSD: bytes not sent yet.
    NotSent,
}

/// Whether binding `addr:port` (with SO_REUSEADDR `reuse`) in `net` conflicts with a
/// bound socket or, without SO_REUSEADDR, a connection on that port (as Linux's
/// `inet_csk_bind_conflict`, simplified: with SO_REUSEADDR on both sides only a listener
/// conflicts; TIME-WAIT and other connections never do).
fn bind_conflict(binds: &KVec<BindEntry>, stack: &Stack, net: usize, addr: u32, port: u16, reuse: bool) -> bool {
    if binds_conflict(binds, net, addr, port, reuse) {
        return true;
    }
    if reuse {
        stack.port_used_without_reuse(net, addr, port)
    } else {
        stack.port_in_use(net, addr, port)
    }
}

/// The bound-socket half of [`bind_conflict`]: whether binding `addr:port` (with
/// SO_REUSEADDR `reuse`) in `net` overlaps a bind in `binds` (the same port, the same or
/// a wildcard address), unless both sides set SO_REUSEADDR and the bound one does not
/// listen.
fn binds_conflict(binds: &[BindEntry], net: usize, addr: u32, port: u16, reuse: bool) -> bool {
    let overlap = |a: u32| a == 0 || addr == 0 || a == addr;
    binds
        .iter()
        .any(|b| b.net == net && b.port == port && overlap(b.addr) && !(reuse && b.reuse && !b.listening))
}

/// Whether another socket in `binds` listens where `me` would (the same port, the same
/// or a wildcard address): `listen()` refuses that even with SO_REUSEADDR.
fn listen_conflict(binds: &[BindEntry], me: &BindEntry) -> bool {
    binds.iter().any(|o| {
        o.owner != me.owner
            && o.net == me.net
            && o.port == me.port
            && o.listening
            && (o.addr == 0 || me.addr == 0 || o.addr == me.addr)
    })
}

/// `-errno` for an errno constant from the bindings.
pub(crate) fn err(errno: u32) -> Error {
    // CAST: errno constants are small positive numbers.
    Error::from_errno(-(errno as c_int))
}

/// The errno of a core error.
fn tcp_err(e: TcpError) -> Error {
    Error::from_errno(-e.errno())
}

/// Pieces of received data one `recvmsg` round copies to the user (each a run of bytes
/// in one skb).
const READ_PIECES: usize = 128;
/// Smallest buffer a connection gets, whatever SO_SNDBUF/SO_RCVBUF or the sysctls say.
const MIN_BUF: usize = 4096;
/// Largest buffer SO_SNDBUF/SO_RCVBUF or `tcp_wmem[1]`/`tcp_rmem[1]` give a connection
/// to start with (autotuning may grow it up to `tcp_wmem[2]`/`tcp_rmem[2]`).
const MAX_BUF: usize = 4 << 20;
/// Largest TSO/GSO super-segment payload.
const TSO_MAX: usize = 65536 - 256;

/// What the socket is, from the application's point of view.
pub(crate) enum SockState {
    /// Fresh, or bound to `bound` (network order address, host order port).
    Unconnected { bound: Option<(Ipv4Addr, u16)> },
    /// `listen()` was called.
    Listening(ListenRef),
    /// `connect()` or `accept()` made a connection.
    Connected(ConnRef),
    /// The connection failed or was closed before being used again.
    Dead,
}

/// The Rust half of an AF_PARTCP socket.
///
/// # Invariants
///
/// Allocated in `family::create`/`accept`, freed exactly once in `family::release`;
/// `sk` is this socket's `struct sock` for the whole lifetime.
#[pin_data]
pub(crate) struct PartcpSock {
    /// Identifier for log messages.
    pub(crate) id: i64,
    /// The `struct sock`.
    pub(crate) sk: SockRef,
    #[pin]
    pub(crate) state: Mutex<SockState>,
    /// Serializes senders.
    #[pin]
    send_lock: Mutex<()>,
    /// Serializes receivers; owns the references to the received pieces they copy.
    #[pin]
    recv_lock: Mutex<KVec<ReadPiece>>,
    /// `TCP_NODELAY`, applied at connect/accept and on change.
    nodelay: Atomic<bool>,
    /// `TCP_MAXSEG` set by the user (0: from the route).
    user_mss: Atomic<u32>,
    /// `shutdown(SHUT_RD)` was called: reads return end of stream once drained.
    rd_shutdown: Atomic<bool>,
    /// `shutdown(SHUT_WR)` was called.
    wr_shutdown: Atomic<bool>,
    /// `TCP_USER_TIMEOUT` in milliseconds (0: off).
    user_timeout_ms: Atomic<u32>,
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` (seconds) and `TCP_KEEPCNT`; 0 until set, and
    /// then the namespace's `tcp_keepalive_time`/`_intvl`/`_probes` apply (Linux
    /// `keepalive_time_when` and friends).
    keepidle: Atomic<u32>,
    keepintvl: Atomic<u32>,
    keepcnt: Atomic<u32>,
    /// `TCP_CORK`.
    cork: Atomic<bool>,
    /// `TCP_NOTSENT_LOWAT` (0: not set, no limit; Linux's `tcp_notsent_lowat` sysctl
    /// default, UINT_MAX, is not read).
    notsent_lowat: Atomic<u32>,
    /// `TCP_QUICKACK` as set before a connection exists (Linux's
    /// `inet_csk_in_pingpong_mode`, which `TCP_QUICKACK` reads as its negation); on a
    /// connection the core's pingpong mode is read instead.
    pingpong: Atomic<bool>,
    /// `TCP_INQ`: recvmsg adds a `TCP_CM_INQ` control message.
    inq: Atomic<bool>,
    /// `TCP_LINGER2` in seconds: 0 not set (the namespace's `tcp_fin_timeout`),
    /// negative as Linux stores it (-1).
    linger2: Atomic<i32>,
    /// `TCP_SYNCNT` (0: not set, the namespace's `tcp_syn_retries`).
    syncnt: Atomic<u32>,
    /// `TCP_CONGESTION` set by the socket: 0 not set, 1 + the algorithm's index
    /// ([`cc_code`]).
    user_cc: Atomic<u32>,
    /// `TCP_WINDOW_CLAMP` (0: none).
    window_clamp: Atomic<u32>,
    /// `TCP_DEFER_ACCEPT` in SYN-ACK timeouts, as Linux keeps it.
    defer_accept: Atomic<u32>,
    /// `IP_TOS`.
    tos: Atomic<u32>,
    /// `IP_TTL` (-1: the route's).
    ttl: Atomic<i32>,
    /// The namespace's TCP sysctls when the socket was created: Linux's `tcp_init_sock`
    /// takes the RTO bounds (`tcp_rto_min_us`, `tcp_rto_max_ms`), the reordering degree
    /// and the congestion control (`tcp_congestion_control`) then; the other sysctls are
    /// read when the socket connects or listens. Only those four are kept (not the whole
    /// `TcpSysctls`): with them this value is 208 bytes and takes kmalloc's 256-byte
    /// bucket, not the 512-byte one (Documentation/design.md, per-connection memory).
    created: SocketInit,
}

/// Size of Linux 7.3's `struct tcp_info`.
pub(crate) const TCP_INFO_LEN: usize = 280;

/// Lays `i` out as `struct tcp_info` (offsets of `include/uapi/linux/tcp.h` on a
/// little-endian 64-bit machine; the wscale bitfields share byte 6, send scale in the
/// low nibble).
fn tcp_info_layout(i: &crate::connection::Info, b: &mut [u8; TCP_INFO_LEN]) {
    let mut put32 = |off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    for (off, v) in [
        (8, i.rto),
        (12, i.ato),
        (16, i.snd_mss),
        (20, i.rcv_mss),
        (24, i.unacked),
        (28, i.sacked),
        (32, i.lost),
        (36, i.retrans),
        (44, i.last_data_sent_ms),
        (52, i.last_data_recv_ms),
        (56, i.last_ack_recv_ms),
        (60, i.pmtu),
        (64, i.rcv_ssthresh),
        (92, i.rcv_rtt),
        (96, i.rcv_space),
        (68, i.rtt),
        (72, i.rttvar),
        (76, i.snd_ssthresh),
        (80, i.snd_cwnd),
        (84, i.advmss),
        (88, i.reordering),
        (100, i.total_retrans),
        (136, i.segs_out),
        (140, i.segs_in),
        (144, i.notsent_bytes),
        (148, i.min_rtt),
        (152, i.data_segs_in),
        (156, i.data_segs_out),
        (192, i.delivered),
        (216, i.dsack_dups),
        (224, i.rcv_ooopack),
        (228, i.snd_wnd),
        (232, i.rcv_wnd),
    ] {
        put32(off, v);
    }
    for (off, v) in [
        (104, i.pacing_rate),
        (160, i.delivery_rate),
        (168, i.busy_time),
        (176, i.rwnd_limited),
        (184, i.sndbuf_limited),
        (120, i.bytes_acked),
        (128, i.bytes_received),
        (200, i.bytes_sent),
        (208, i.bytes_retrans),
    ] {
        b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
    b[240..242].copy_from_slice(&i.total_rto.to_ne_bytes());
    b[..7].copy_from_slice(&[
        i.state,
        i.ca_state,
        i.retransmits,
        i.probes,
        i.backoff,
        i.options,
        (i.snd_wscale & 15) | (i.rcv_wscale << 4),
    ]);
    // tcpi_delivery_rate_app_limited:1, tcpi_fastopen_client_fail:2 (bit fields from
    // the least significant bit, as the kernel's little-endian x86-64 layout).
    b[7] = u8::from(i.delivery_rate_app_limited);
}

/// The ECN bits of the TOS byte (`INET_ECN_MASK`).
const INET_ECN_MASK: u8 = 3;

/// [`PartcpSock::user_cc`]'s code for `alg`.
fn cc_code(alg: CongestionAlgorithm) -> u32 {
    match alg {
        CongestionAlgorithm::NewReno => 1,
        CongestionAlgorithm::Cubic => 2,
    }
}

/// The algorithm of a [`cc_code`], `None` for 0 (not set).
fn cc_of(code: u32) -> Option<CongestionAlgorithm> {
    match code {
        1 => Some(CongestionAlgorithm::NewReno),
        2 => Some(CongestionAlgorithm::Cubic),
        _ => None,
    }
}

/// A user-visible `struct sockaddr_in`.
fn sockaddr(addr: Ipv4Addr, port: u16) -> bindings::sockaddr_in {
    bindings::sockaddr_in {
        // CAST: AF_INET fits in sa_family_t.
        sin_family: bindings::AF_INET as _,
        sin_port: port.to_be(),
        sin_addr: bindings::in_addr { s_addr: u32::from_ne_bytes(addr.0) },
        __pad: [0; 8],
    }
}

/// Parses a user `sockaddr_in`, as `inet_bind`/`inet_stream_connect` do.
pub(crate) fn parse_sockaddr(raw: &[u8]) -> Result<(Ipv4Addr, u16, u16)> {
    if raw.len() < core::mem::size_of::<bindings::sockaddr_in>() {
        return Err(EINVAL);
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    let addr = Ipv4Addr([raw[4], raw[5], raw[6], raw[7]]);
    Ok((addr, port, family))
}

/// `recvmsg()`: the `n` bytes copied to the user leave the receive queue (the window
/// update this warrants goes out after the caller's piece of work).
fn consume_read(inner: &mut conn::ConnInner, n: usize) {
    let _ = inner.tcp.recv_with(|_| n);
}

/// A `wait_for` condition evaluated on a connection's state: a call that cannot run
/// (see `dispatch::read`) ends the wait with its error.
fn read_cond<R: Send>(c: &ConnRef, f: impl FnOnce(&mut conn::ConnInner) -> Option<Result<R>> + Send) -> Option<Result<R>> {
    dispatch::read(c, f).unwrap_or_else(|e| Some(Err(e)))
}

impl PartcpSock {
    /// A counted reference to the socket's namespace.
    fn net_ref(&self) -> Result<NetRef> {
        self.sk.net().ok_or(EINVAL)
    }

    /// A handle on the socket's sock for its connection or listener, which `close`
    /// drops (clears) before the socket is released.
    fn sock_ref(&self) -> Option<SockRef> {
        // SAFETY: The connection's or listener's copy is cleared by `close`,
        // `stop_listening` or `disconnect` (under its exclusion) before `release` frees
        // the sock.
        Some(unsafe { self.sk.dup() })
    }
}

/// A buffer size the user set, within the sizes partcp's queues take.
fn buf_size(v: usize) -> usize {
    v.clamp(MIN_BUF, MAX_BUF)
}

impl PartcpSock {
    /// The Rust state of a new socket whose sock is `sk`.
    pub(crate) fn new(sk: SockRef, state: SockState) -> Result<Pin<KBox<Self>>> {
        let id = NEXT_ID.fetch_add(1, Relaxed);
        let created = sk.tcp_sysctls().socket_init();
        KBox::pin_init(
            pin_init!(PartcpSock {
                id,
                sk,
                state <- new_mutex!(state, "PartcpSock::state"),
                send_lock <- new_mutex!((), "PartcpSock::send_lock"),
                recv_lock <- new_mutex!(KVec::new(), "PartcpSock::recv_lock"),
                nodelay: Atomic::new(false),
                user_mss: Atomic::new(0),
                rd_shutdown: Atomic::new(false),
                wr_shutdown: Atomic::new(false),
                user_timeout_ms: Atomic::new(0),
                keepidle: Atomic::new(0),
                keepintvl: Atomic::new(0),
                keepcnt: Atomic::new(0),
                cork: Atomic::new(false),
                notsent_lowat: Atomic::new(0),
                pingpong: Atomic::new(false),
                inq: Atomic::new(false),
                linger2: Atomic::new(0),
                syncnt: Atomic::new(0),
                user_cc: Atomic::new(0),
                window_clamp: Atomic::new(0),
                defer_accept: Atomic::new(0),
                tos: Atomic::new(0),
                ttl: Atomic::new(-1),
                created,
            }),
            GFP_KERNEL,
        )
    }

    fn stack() -> Result<&'static Stack> {
        stack().ok_or(ENODEV)
    }

    fn conn(&self) -> Option<ConnRef> {
        match &*self.state.lock() {
            SockState::Connected(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// The namespace's TCP sysctls now, with the ones Linux reads at socket creation
    /// as they were then.
    fn sysctls(&self) -> TcpSysctls {
        self.sk.tcp_sysctls().with_socket_init(&self.created)
    }

    /// A connection's settings: the namespace's sysctls `s` (see `crate::sysctl`), then
    /// the socket's options.
    fn conn_config(&self, mss: u16, s: &TcpSysctls) -> Config {
        let mut cfg = Config::default();
        s.apply_socket_init(&mut cfg);
        // SO_RCVBUF fixes the window scale to what the buffer needs (Linux
        // tcp_connect_init and tcp_openreq_init_rwin clamp the window to the buffer).
        let (_, _, sndbuf_locked, rcvbuf_locked) = self.sk.bufs();
        s.apply_connect(&mut cfg, rcvbuf_locked);
        // Buffer autotuning unless SO_SNDBUF/SO_RCVBUF fixed the buffer (Linux
        // SOCK_SNDBUF_LOCK/SOCK_RCVBUF_LOCK).
        s.apply_buffers(&mut cfg, rcvbuf_locked, sndbuf_locked, mem::seg_mem());
        cfg.mss = mss;
        cfg.nodelay = self.nodelay.load(Relaxed);
        cfg.cork = self.cork.load(Relaxed);
        if let Some(alg) = cc_of(self.user_cc.load(Relaxed)) {
            cfg.congestion = alg;
        }
        match self.syncnt.load(Relaxed) {
            0 => {}
            n => cfg.syn_retries = n,
        }
        cfg.window_clamp = match self.window_clamp.load(Relaxed) {
            0 => None,
            // CAST: u32 to usize does not truncate on the targets partcp builds for.
            v => Some(v as usize),
        };
        cfg.tso_max = TSO_MAX;
        cfg.keepalive = self.keepalive_with(self.sk.keepalive(), s);
        cfg.user_timeout = match self.user_timeout_ms.load(Relaxed) {
            0 => None,
            ms => Some(crate::time::Duration::from_millis(u64::from(ms))),
        };
        cfg
    }

    /// The keepalive configuration for SO_KEEPALIVE `on`: the TCP_KEEPIDLE/INTVL/CNT
    /// values the socket set, the namespace's `tcp_keepalive_*` (in `s`) for the others.
    fn keepalive_with(&self, on: bool, s: &TcpSysctls) -> Option<crate::connection::Keepalive> {
        if !on {
            return None;
        }
        let mut k = s.keepalive();
        match self.keepidle.load(Relaxed) {
            0 => {}
            v => k.idle = crate::time::Duration::from_secs(u64::from(v)),
        }
        match self.keepintvl.load(Relaxed) {
            0 => {}
            v => k.interval = crate::time::Duration::from_secs(u64::from(v)),
        }
        match self.keepcnt.load(Relaxed) {
            0 => {}
            v => k.count = v,
        }
        Some(k)
    }

    /// Applies a keepalive timing change to the connection, if any.
    pub(crate) fn apply_keepalive(&self) {
        self.set_keepalive(self.sk.keepalive());
    }

    /// Applies SO_KEEPALIVE `on` to the connection, if any.
    pub(crate) fn set_keepalive(&self, on: bool) {
        let k = self.keepalive_with(on, &self.sk.tcp_sysctls());
        if let Some(c) = self.conn() {
            let _ = dispatch::with_conn(&c, |inner, _| inner.tcp.set_keepalive(k));
        }
    }

    /// Sets TCP_USER_TIMEOUT (milliseconds; 0 turns it off).
    pub(crate) fn set_user_timeout(&self, ms: c_int) -> Result {
        let ms = u32::try_from(ms).map_err(|_| EINVAL)?;
        self.user_timeout_ms.store(ms, Relaxed);
        let t = if ms == 0 { None } else { Some(crate::time::Duration::from_millis(u64::from(ms))) };
        if let Some(c) = self.conn() {
            dispatch::with_conn(&c, |inner, _| inner.tcp.set_user_timeout(t))?;
        }
        Ok(())
    }

    /// TCP_USER_TIMEOUT.
    pub(crate) fn user_timeout(&self) -> c_int {
        c_int::try_from(self.user_timeout_ms.load(Relaxed)).unwrap_or(c_int::MAX)
    }

    /// Sets TCP_KEEPIDLE (`which` 0), TCP_KEEPINTVL (1) or TCP_KEEPCNT (2), with Linux's
    /// limits (1..=32767 seconds, 1..=127 probes).
    pub(crate) fn set_keep(&self, which: u8, v: c_int) -> Result {
        let max = if which == 2 { 127 } else { 32767 };
        if !(1..=max).contains(&v) {
            return Err(EINVAL);
        }
        // CAST: range checked.
        let v = v as u32;
        match which {
            0 => self.keepidle.store(v, Relaxed),
            1 => self.keepintvl.store(v, Relaxed),
            _ => self.keepcnt.store(v, Relaxed),
        }
        self.apply_keepalive();
        Ok(())
    }

    /// TCP_KEEPIDLE/INTVL/CNT: the value set, else the namespace's (Linux
    /// `keepalive_time_when(tp) / HZ` and friends).
    pub(crate) fn keep(&self, which: u8) -> c_int {
        let ka = self.sk.tcp_sysctls().keepalive();
        let v = match which {
            0 => match self.keepidle.load(Relaxed) {
                0 => ka.idle.millis() / 1000,
                v => u64::from(v),
            },
            1 => match self.keepintvl.load(Relaxed) {
                0 => ka.interval.millis() / 1000,
                v => u64::from(v),
            },
            _ => match self.keepcnt.load(Relaxed) {
                0 => u64::from(ka.count),
                v => u64::from(v),
            },
        };
        c_int::try_from(v).unwrap_or(c_int::MAX)
    }

    /// TCP_CONGESTION: the algorithm of the connection or listener, or the one a
    /// connection made now would get (the namespace's `tcp_congestion_control` when the
    /// socket was created), as Linux's `icsk_ca_ops->name`.
    pub(crate) fn congestion(&self) -> [u8; 16] {
        let alg = self.current_congestion();
        let mut name = [0u8; 16];
        let n = alg.name().len().min(name.len());
        name[..n].copy_from_slice(&alg.name().as_bytes()[..n]);
        name
    }

    /// The algorithm [`Self::congestion`] names.
    fn current_congestion(&self) -> CongestionAlgorithm {
        match &*self.state.lock() {
            SockState::Connected(c) => dispatch::read(c, |g| g.tcp.config().congestion).ok(),
            SockState::Listening(l) => Some(l.inner.lock().core.config().conn.congestion),
            _ => None,
        }
        .or_else(|| cc_of(self.user_cc.load(Relaxed)))
        .unwrap_or_else(|| self.created.congestion.unwrap_or(CongestionAlgorithm::Cubic))
    }

    /// Sets TCP_CONGESTION to the algorithm named `name` (up to the first NUL): ENOENT
    /// for one partcp does not have, as Linux's `tcp_set_congestion_control` for one
    /// its kernel does not have; EPERM for one not in `tcp_allowed_congestion_control`
    /// if the caller lacks CAP_NET_ADMIN in the namespace's user namespace. A
    /// connection switches at once, a listener's future connections take it
    /// (`tcp_ca_openreq_child`).
    pub(crate) fn set_congestion(&self, name: &[u8]) -> Result {
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        let alg = CongestionAlgorithm::from_name(name).ok_or(err(bindings::ENOENT))?;
        // `tcp_set_congestion_control`: asking for the algorithm the socket has is no
        // change and is not checked; another must be allowed.
        if alg != self.current_congestion() && self.sk.tcp_ca_permitted(alg) == Err(EPERM) {
            return Err(EPERM);
        }
        self.user_cc.store(cc_code(alg), Relaxed);
        match &*self.state.lock() {
            SockState::Connected(c) => dispatch::with_conn(c, |inner, _| inner.tcp.set_congestion(alg))?,
            SockState::Listening(l) => {
                let mut g = l.inner.lock();
                g.core.set_congestion(alg);
                g.ca_set = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets TCP_CORK (Linux `__tcp_sock_set_cork`: removing it pushes what it held).
    pub(crate) fn set_cork(&self, on: bool) {
        self.cork.store(on, Relaxed);
        if let Some(c) = self.conn() {
            let _ = dispatch::with_conn(&c, |inner, _| inner.tcp.set_cork(on));
        }
    }

    /// TCP_CORK.
    pub(crate) fn cork(&self) -> bool {
        self.cork.load(Relaxed)
    }

    /// Sets TCP_NOTSENT_LOWAT (any value; Linux stores the int as `u32`) and wakes
    /// writers, who may now be able to write (`sk_write_space`).
    pub(crate) fn set_notsent_lowat(&self, v: c_int) {
        // CAST: Linux's `tp->notsent_lowat` is a u32 written from the int.
        self.notsent_lowat.store(v as u32, Relaxed);
        self.sk.write_space();
    }

    /// TCP_NOTSENT_LOWAT as set (0 by default).
    pub(crate) fn notsent_lowat(&self) -> c_int {
        // CAST: read back as the int it was written from.
        self.notsent_lowat.load(Relaxed) as c_int
    }

    /// The limit on bytes queued but not sent, as `tcp_notsent_lowat()`: the value set,
    /// else the namespace's `tcp_notsent_lowat` now (UINT_MAX by default, no limit).
    fn notsent_limit(&self) -> usize {
        let v = match self.notsent_lowat.load(Relaxed) {
            0 => self.sk.tcp_notsent_lowat(),
            v => v,
        };
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        v as usize
    }

    /// Sets TCP_QUICKACK (Linux `__tcp_sock_set_quickack`): 0 enters pingpong mode;
    /// non-zero leaves it and sends a delayed ACK now, then re-enters it if the value is
    /// even. On a connection the core keeps the mode (it also enters and leaves it by
    /// itself); before one, the socket remembers it for `getsockopt`.
    pub(crate) fn set_quickack(&self, v: c_int) {
        self.pingpong.store(v == 0, Relaxed);
        if let Some(c) = self.conn() {
            let _ = dispatch::with_conn(&c, |inner, _| inner.tcp.set_quickack(v));
        }
    }

    /// TCP_QUICKACK: `!inet_csk_in_pingpong_mode`.
    pub(crate) fn quickack(&self) -> bool {
        match self.conn() {
            Some(c) => dispatch::read(&c, |inner| !inner.tcp.pingpong_mode()).unwrap_or(true),
            None => !self.pingpong.load(Relaxed),
        }
    }

    /// Sets TCP_INQ (0 or 1, else EINVAL).
    pub(crate) fn set_inq(&self, v: c_int) -> Result {
        if !(0..=1).contains(&v) {
            return Err(EINVAL);
        }
        self.inq.store(v == 1, Relaxed);
        Ok(())
    }

    /// TCP_INQ.
    pub(crate) fn inq(&self) -> bool {
        self.inq.load(Relaxed)
    }

    /// The `TCP_CM_INQ` value after a read, if TCP_INQ is on (Linux `tcp_inq_hint`:
    /// the bytes left to read, or 1 if none are left and the peer's FIN arrived).
    pub(crate) fn inq_hint(&self) -> Option<c_int> {
        if !self.inq.load(Relaxed) {
            return None;
        }
        let c = self.conn()?;
        let (left, fin) = dispatch::read(&c, |g| (g.tcp.recv_buffer().len(), g.tcp.read_closed())).ok()?;
        let v = if left == 0 && fin { 1 } else { left };
        Some(c_int::try_from(v).unwrap_or(c_int::MAX))
    }

    /// Sets TCP_LINGER2 (Linux: negative stored as -1, above 120 s capped at 120 s).
    pub(crate) fn set_linger2(&self, v: c_int) {
        self.linger2.store(v.clamp(-1, 120), Relaxed);
    }

    /// TCP_LINGER2: the value set, else the namespace's `tcp_fin_timeout`, in seconds.
    pub(crate) fn linger2(&self) -> c_int {
        match self.linger2.load(Relaxed) {
            0 => c_int::try_from(self.sk.tcp_sysctls().fin_timeout_ms / 1000).unwrap_or(c_int::MAX),
            v => v,
        }
    }

    /// SO_RCVLOWAT through `proto_ops.set_rcvlowat` (see `family::set_rcvlowat`).
    /// Linux also grows an unlocked receive buffer to hold the mark; partcp's buffers are
    /// fixed, so poll treats a full receive buffer as readable whatever the mark.
    pub(crate) fn set_rcvlowat(&self, val: c_int) {
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        let rcv = self.sk.locked_payload().1.unwrap_or(self.sk.tcp_sysctls().rmem[2] as usize >> 1);
        let cap = c_int::try_from(rcv).unwrap_or(c_int::MAX);
        let v = val.min(cap);
        self.sk.set_rcvlowat(if v == 0 { 1 } else { v });
        self.sk.data_ready();
    }

    /// Sets TCP_WINDOW_CLAMP as Linux's `tcp_set_window_clamp`: 0 removes the clamp,
    /// only before connecting (else EINVAL); other values are raised to half of
    /// `SOCK_MIN_RCVBUF`. A connection's window stops growing past it at once, a
    /// listener's SYN-ACKs and connections offer at most it.
    pub(crate) fn set_window_clamp(&self, val: c_int) -> Result {
        let st = self.state.lock();
        if val == 0 {
            if matches!(&*st, SockState::Connected(_) | SockState::Listening(_)) {
                return Err(EINVAL);
            }
            self.window_clamp.store(0, Relaxed);
            return Ok(());
        }
        // SOCK_MIN_RCVBUF is TCP_SKB_MIN_TRUESIZE: 2048 + SKB_DATA_ALIGN(sizeof(struct
        // sk_buff)), aligned to the cache line (64 bytes on x86).
        let min_rcvbuf = 2048 + core::mem::size_of::<bindings::sk_buff>().next_multiple_of(64);
        // CAST: a few KB.
        let v = val.max(min_rcvbuf as c_int / 2);
        // CAST: positive.
        self.window_clamp.store(v as u32, Relaxed);
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        let clamp = Some(v as usize);
        match &*st {
            SockState::Connected(c) => dispatch::with_conn(c, |inner, _| inner.tcp.set_window_clamp(clamp))?,
            SockState::Listening(l) => l.inner.lock().core.set_window_clamp(clamp),
            _ => {}
        }
        Ok(())
    }

    /// TCP_WINDOW_CLAMP: the value set; 0 on a fresh socket, as Linux. Linux's
    /// connection without one reports the clamp its buffer autotuning computed; partcp's
    /// reports its receive buffer's size, the most it ever offers.
    pub(crate) fn window_clamp(&self) -> c_int {
        match self.window_clamp.load(Relaxed) {
            0 => match self.conn() {
                Some(c) => {
                    use crate::buffer::RecvBuffer as _;
                    let cap = dispatch::read(&c, |g| g.tcp.recv_buffer().capacity()).unwrap_or(0);
                    c_int::try_from(cap).unwrap_or(c_int::MAX)
                }
                None => 0,
            },
            // CAST: stored from a positive int.
            v => v as c_int,
        }
    }

    /// Sets TCP_DEFER_ACCEPT: seconds, kept as the number of SYN-ACK timeouts (from 1 s,
    /// doubling up to 120 s) that first covers them (Linux `secs_to_retrans`).
    pub(crate) fn set_defer_accept(&self, secs: c_int) {
        let (mut n, mut timeout, mut period) = (0u32, 1, 1);
        if secs > 0 {
            n = 1;
            while secs > period && n < 255 {
                n += 1;
                timeout = (timeout * 2).min(120);
                period += timeout;
            }
        }
        self.defer_accept.store(n, Relaxed);
        if let SockState::Listening(l) = &*self.state.lock() {
            l.inner.lock().core.set_defer_accept(n);
        }
    }

    /// TCP_DEFER_ACCEPT: the seconds those timeouts take (Linux `retrans_to_secs`).
    pub(crate) fn defer_accept(&self) -> c_int {
        let n = self.defer_accept.load(Relaxed);
        let (mut timeout, mut period) = (1, 0);
        if n > 0 {
            period = 1;
            for _ in 1..n {
                timeout = (timeout * 2).min(120);
                period += timeout;
            }
        }
        period
    }

    /// Sets TCP_SYNCNT (1..=127, else EINVAL: `tcp_sock_set_syncnt`).
    pub(crate) fn set_syncnt(&self, v: c_int) -> Result {
        if !(1..=127).contains(&v) {
            return Err(EINVAL);
        }
        // CAST: range checked.
        self.syncnt.store(v as u32, Relaxed);
        // On a listener it counts SYN-ACK retransmissions, from the next timeout on
        // (Linux `reqsk_timer_handler` reads `icsk_syn_retries` at each).
        if let SockState::Listening(l) = &*self.state.lock() {
            // CAST: range checked above.
            l.inner.lock().core.set_synack_retries(v as u32);
        }
        Ok(())
    }

    /// TCP_SYNCNT: the value set, else the namespace's `tcp_syn_retries`.
    pub(crate) fn syncnt(&self) -> c_int {
        match self.syncnt.load(Relaxed) {
            0 => c_int::from(self.sk.tcp_sysctls().syn_retries),
            // CAST: at most 127.
            v => v as c_int,
        }
    }

    /// The connection's or listener's IP header options, from the socket's.
    fn tx_meta(&self) -> TxMeta {
        let (priority, mark) = self.sk.priority_mark();
        // CAST: only a u8 is stored.
        TxMeta { priority, mark, ttl: self.ttl.load(Relaxed), tos: self.tos.load(Relaxed) as u8 }
    }

    /// Pushes the socket's IP header options to its connection or listener.
    fn apply_tx(&self) {
        let m = self.tx_meta();
        match &*self.state.lock() {
            SockState::Connected(c) => c.tx.set(m),
            SockState::Listening(l) => l.tx.set(m),
            _ => {}
        }
    }

    /// Sets IP_TOS (Linux `__ip_sock_set_tos` for a stream socket: the ECN bits stay
    /// the stack's, which are 0 here; the priority follows the TOS).
    pub(crate) fn set_tos(&self, v: c_int) {
        // CAST: the TOS byte is the value's low 8 bits, as Linux's u8 field keeps.
        let tos = (v as u8) & !INET_ECN_MASK;
        if u32::from(tos) != self.tos.load(Relaxed) {
            self.tos.store(u32::from(tos), Relaxed);
            self.sk.set_tos_priority(tos);
        }
        self.apply_tx();
    }

    /// IP_TOS.
    pub(crate) fn tos(&self) -> c_int {
        // CAST: at most 255.
        self.tos.load(Relaxed) as c_int
    }

    /// Sets IP_TTL: -1 (the route's) or 1..=255, else EINVAL (`do_ip_setsockopt`).
    pub(crate) fn set_ttl(&self, v: c_int) -> Result {
        if v != -1 && !(1..=255).contains(&v) {
            return Err(EINVAL);
        }
        self.ttl.store(v, Relaxed);
        self.apply_tx();
        Ok(())
    }

    /// IP_TTL: the value set, else the namespace's `ip_default_ttl`.
    pub(crate) fn ttl(&self) -> c_int {
        match self.ttl.load(Relaxed) {
            v if v < 0 => self.sk.default_ttl(),
            v => v,
        }
    }

    /// An accepted socket starts with its listener's options (Linux `sk_clone_lock`
    /// copies the listening socket).
    pub(crate) fn inherit(&self, from: &PartcpSock) {
        for (to, f) in [(&self.nodelay, &from.nodelay), (&self.cork, &from.cork), (&self.inq, &from.inq)] {
            to.store(f.load(Relaxed), Relaxed);
        }
        for (to, f) in [
            (&self.user_timeout_ms, &from.user_timeout_ms),
            (&self.keepidle, &from.keepidle),
            (&self.keepintvl, &from.keepintvl),
            (&self.keepcnt, &from.keepcnt),
            (&self.notsent_lowat, &from.notsent_lowat),
            (&self.syncnt, &from.syncnt),
            (&self.user_cc, &from.user_cc),
            (&self.window_clamp, &from.window_clamp),
            (&self.defer_accept, &from.defer_accept),
            (&self.tos, &from.tos),
        ] {
            to.store(f.load(Relaxed), Relaxed);
        }
        self.linger2.store(from.linger2.load(Relaxed), Relaxed);
        self.ttl.store(from.ttl.load(Relaxed), Relaxed);
        let (priority, mark) = from.sk.priority_mark();
        self.sk.set_priority_mark(priority, mark);
    }

    /// Clears `sk_err`: the error it mirrors was just returned by a call.
    fn error_reported(&self) {
        self.sk.clear_err();
    }

    fn buffers(&self) -> (SendQueue, RecvQueue) {
        let (snd, rcv) = self.buffer_sizes();
        (SendQueue::new(snd), RecvQueue::new(rcv))
    }

    /// Initial buffer sizes (payload bytes): a size the user set (SO_SNDBUF/SO_RCVBUF)
    /// stays (`BufShown`: its payload part); otherwise `tcp_wmem[1]` and half of
    /// `tcp_rmem[1]` of the namespace, which autotuning then grows.
    fn buffer_sizes(&self) -> (usize, usize) {
        let (snd, rcv) = self.sk.locked_payload();
        let (snd0, rcv0) = self.sk.tcp_sysctls().initial_buffers();
        let snd = snd.map_or(snd0.clamp(MIN_BUF, MAX_BUF), buf_size);
        let rcv = rcv.map_or(rcv0.clamp(MIN_BUF, MAX_BUF), buf_size);
        (snd, rcv)
    }

    /// `bind()`.
    pub(crate) fn bind(&self, raw: &[u8]) -> Result {
        let (addr, port, family) = parse_sockaddr(raw)?;
        // CAST: AF_* constants are small.
        if family != bindings::AF_INET as u16 {
            if family == bindings::AF_UNSPEC as u16 && addr == Ipv4Addr::UNSPECIFIED {
                // As Linux: AF_UNSPEC with INADDR_ANY is accepted for compatibility.
            } else {
                return Err(err(bindings::EAFNOSUPPORT));
            }
        }
        let stack = Self::stack()?;
        let net = self.sk.net_ptr();
        if addr != Ipv4Addr::UNSPECIFIED {
            // SAFETY: `net` is the socket's live namespace.
            if !unsafe { shim::partcp_addr_is_local(net, u32::from_ne_bytes(addr.0)) } {
                return Err(err(bindings::EADDRNOTAVAIL));
            }
        }
        let mut st = self.state.lock();
        match &*st {
            SockState::Unconnected { bound: None } => {}
            _ => return Err(EINVAL),
        }
        let port = self.register_bind(stack, net, addr, port)?;
        *st = SockState::Unconnected { bound: Some((addr, port)) };
        Ok(())
    }

    /// Records this socket's bind of `addr:port` (an ephemeral port if 0).
    fn register_bind(&self, stack: &Stack, net: *mut bindings::net, addr: Ipv4Addr, port: u16) -> Result<u16> {
        let reuse = self.sk.reuse();
        let haddr = u32::from_be_bytes(addr.0);
        let net = net as usize;
        let mut binds = BINDS.lock();
        let port = if port == 0 {
            let span = usize::from(stack.port_hi - stack.port_lo) + 1;
            let mut found = None;
            for _ in 0..span {
                let p = stack.next_ephemeral();
                if !bind_conflict(&binds, stack, net, haddr, p, false) {
                    found = Some(p);
                    break;
                }
            }
            found.ok_or_else(|| err(bindings::EADDRINUSE))?
        } else {
            if bind_conflict(&binds, stack, net, haddr, port, reuse) {
                return Err(err(bindings::EADDRINUSE));
            }
            port
        };
        binds.push(BindEntry { net, addr: haddr, port, reuse, listening: false, owner: self.id }, GFP_KERNEL)?;
        Ok(port)
    }

    /// Marks this socket's bind as listening; fails if another socket listens on the
    /// port (even with SO_REUSEADDR).
    fn bind_listen(&self, listening: bool) -> Result {
        let mut binds = BINDS.lock();
        let Some(me) = binds.iter().position(|b| b.owner == self.id) else {
            return Ok(());
        };
        let b = binds[me];
        if listening && listen_conflict(&binds, &b) {
            return Err(err(bindings::EADDRINUSE));
        }
        if let Some(e) = binds.get_mut(me) {
            e.listening = listening;
        }
        Ok(())
    }

    /// Forgets this socket's bind.
    fn unbind(&self) {
        let mut binds = BINDS.lock();
        if let Some(i) = binds.iter().position(|b| b.owner == self.id) {
            let _ = binds.remove(i);
        }
    }

    /// `listen()`.
    pub(crate) fn listen(&self, backlog: c_int) -> Result {
        let stack = Self::stack()?;
        let net = self.sk.net_ptr();
        let backlog = usize::try_from(backlog).unwrap_or(0).clamp(1, 4096);
        let mut st = self.state.lock();
        let (addr, port) = match &*st {
            SockState::Listening(l) => {
                let syn_backlog = self.sysctls().syn_backlog(backlog);
                // A larger backlog needs a larger queue: allocated here, outside the
                // listener's lock, and moved in under it.
                let mut fresh = KVec::with_capacity(backlog + 1, GFP_KERNEL)?;
                let mut g = l.inner.lock();
                if g.accept_q.capacity() < backlog + 1 {
                    for c in g.accept_q.drain_all() {
                        // Cannot fail: the old queue held fewer than its capacity.
                        let _ = fresh.push_within_capacity(c);
                    }
                    core::mem::swap(&mut g.accept_q, &mut fresh);
                }
                g.core.set_backlog(backlog);
                g.core.set_syn_backlog(syn_backlog);
                drop(g);
                return Ok(());
            }
            SockState::Unconnected { bound: Some(b) } => *b,
            SockState::Unconnected { bound: None } => {
                let p = self.register_bind(stack, net, Ipv4Addr::UNSPECIFIED, 0)?;
                *st = SockState::Unconnected { bound: Some((Ipv4Addr::UNSPECIFIED, p)) };
                (Ipv4Addr::UNSPECIFIED, p)
            }
            _ => return Err(EINVAL),
        };
        self.bind_listen(true)?;
        let (_, _, _, rcv_locked) = self.sk.bufs();
        let (snd, rcv) = self.buffer_sizes();
        // The namespace's sysctls at listen() (Linux reads the option sysctls and the
        // SYN queue limits at each SYN, `tcp_synack_retries` at each SYN-ACK timeout).
        let s = self.sysctls();
        let mut cfg = ListenerConfig::default();
        cfg.conn = self.conn_config(1460, &s);
        cfg.backlog = backlog;
        cfg.recv_buffer = rcv;
        s.apply_listener(&mut cfg, rcv_locked);
        // TCP_SYNCNT, when set, replaces `tcp_synack_retries` for the SYN-ACKs
        // (`reqsk_timer_handler`: `icsk_syn_retries ? : sysctl_tcp_synack_retries`).
        match self.syncnt.load(Relaxed) {
            0 => {}
            n => cfg.synack_retries = n,
        }
        cfg.defer_accept = self.defer_accept.load(Relaxed);
        let local = Endpoint { addr, port };
        // The core's accept queue holds backlog + 1 connections, as Linux's.
        let mut accept_q = KVec::with_capacity(backlog + 1, GFP_KERNEL)?;
        accept_q.clear();
        let inner = ListenInner {
            core: Listener::new(cfg, local, stack.isn_secret, stack.cookie_secret),
            accept_q,
            sk: self.sock_ref(),
            sndbuf: snd,
            rcvbuf: rcv,
            closed: false,
            ca_set: self.user_cc.load(Relaxed) != 0,
        };
        let key = ListenKey { net: net as usize, lport: port, laddr: u32::from_be_bytes(addr.0) };
        let l = Listen::new(key, self.net_ref()?, inner)?;
        l.reuse.store(self.sk.reuse(), Relaxed);
        l.tx.set(self.tx_meta());
        if let Err(l) = stack.insert_listener(l.clone()) {
            let _ = self.bind_listen(false);
            drop(l);
            return Err(err(bindings::EADDRINUSE));
        }
        *st = SockState::Listening(l);
        // SO_ACCEPTCONN reads sk_state. TCP_LISTEN is 10.
        self.sk.set_state(10);
        Ok(())
    }

    /// `accept()`: returns the connection for the new socket.
    pub(crate) fn accept(&self, nonblock: bool) -> Result<ConnRef> {
        let l = match &*self.state.lock() {
            SockState::Listening(l) => l.clone(),
            _ => return Err(EINVAL),
        };
        let mut timeo = self.sk.timeo(true, nonblock);
        self.sk.wait(&mut timeo, || {
            let mut g = l.inner.lock();
            if g.closed {
                return Some(Err(EINVAL));
            }
            if g.accept_q.is_empty() {
                return None;
            }
            let c = g.accept_q.remove(0).ok()?;
            g.core.accepted();
            Some(Ok(c))
        })
    }

    /// Attaches an accepted connection to this (new) socket.
    pub(crate) fn attach(&self, c: ConnRef) {
        let nodelay = self.nodelay.load(Relaxed);
        let cork = self.cork.load(Relaxed);
        c.tx.set(self.tx_meta());
        let bufs = dispatch::with_conn(&c, |inner, _| {
            inner.sk = self.sock_ref();
            inner.tcp.set_nodelay(nodelay);
            inner.tcp.set_cork(cork);
            (inner.tcp.send_buffer().capacity(), inner.tcp.recv_buffer().capacity())
        });
        if let Ok((snd, rcv)) = bufs {
            // SO_SNDBUF/SO_RCVBUF report the buffers the listener gave the connection
            // (a Linux socket inherits its listener's sizes).
            self.sk.set_bufs(snd, rcv);
        }
        *self.state.lock() = SockState::Connected(c);
    }

    /// `connect()`. `connecting` says the socket layer still has the socket in
    /// SS_CONNECTING from an earlier nonblocking connect: the first call after the
    /// handshake completes reports success (0), later ones EISCONN, as Linux does.
    pub(crate) fn connect(&self, raw: &[u8], nonblock: bool, connecting: bool) -> Result {
        // `connect(AF_UNSPEC)` dissolves the association (tcp_disconnect).
        if raw.len() >= 2 && u16::from_ne_bytes([raw[0], raw[1]]) == bindings::AF_UNSPEC as u16 {
            return self.disconnect();
        }
        let (daddr, dport, family) = parse_sockaddr(raw)?;
        // CAST: AF_* constants are small.
        if family != bindings::AF_INET as u16 {
            return Err(err(bindings::EAFNOSUPPORT));
        }
        let stack = Self::stack()?;
        let net = self.sk.net_ptr();
        let conn = {
            let mut st = self.state.lock();
            match &*st {
                SockState::Connected(c) => {
                    let (state, error) = dispatch::read(c, |g| (g.tcp.state(), g.tcp.take_error()))?;
                    if let Some(e) = error {
                        self.error_reported();
                        *st = SockState::Unconnected { bound: None };
                        return Err(tcp_err(e));
                    }
                    return match state {
                        State::SynSent | State::SynReceived => {
                            if nonblock {
                                Err(err(bindings::EALREADY))
                            } else {
                                drop(st);
                                self.wait_connected(nonblock)
                            }
                        }
                        State::Closed => Err(err(bindings::ECONNREFUSED)),
                        _ if connecting => Ok(()),
                        _ => Err(err(bindings::EISCONN)),
                    };
                }
                SockState::Listening(_) | SockState::Dead => return Err(EINVAL),
                SockState::Unconnected { .. } => {}
            }
            let bound = match &*st {
                SockState::Unconnected { bound } => *bound,
                _ => None,
            };
            let mut saddr = bound.map_or(0, |(a, _)| u32::from_ne_bytes(a.0));
            crate::glue::kernel::stats::count(crate::glue::kernel::stats::Counter::RouteLookups);
            // SAFETY: `net` is the socket's namespace; `saddr` is valid for writes.
            let mtu = unsafe { shim::partcp_route_mtu(net, u32::from_ne_bytes(daddr.0), &mut saddr, self.sk.priority_mark().1) };
            if mtu == 0 {
                return Err(err(bindings::ENETUNREACH));
            }
            let laddr = Ipv4Addr(saddr.to_ne_bytes());
            let mss = match self.user_mss.load(Relaxed) {
                0 => (mtu.saturating_sub(40)).clamp(88, 65495),
                m => m.min(mtu.saturating_sub(40)).max(88),
            };
            // CAST: clamped to u16 range above.
            let cfg = self.conn_config(mss as u16, &self.sysctls());
            let (send, recv) = self.buffers();
            let remote = Endpoint { addr: daddr, port: dport };
            let mut send = Some(send);
            let mut recv = Some(recv);
            let span = usize::from(stack.port_hi - stack.port_lo) + 1;
            let tries = if bound.is_some() { 1 } else { span };
            let mut made = None;
            for _ in 0..tries {
                let lport = match bound {
                    Some((_, p)) => p,
                    None => stack.next_ephemeral(),
                };
                let key = ConnKey {
                    net: net as usize,
                    laddr: u32::from_be_bytes(laddr.0),
                    lport,
                    raddr: u32::from_be_bytes(daddr.0),
                    rport: dport,
                };
                if stack.has_conn(&key) {
                    continue;
                }
                let (Some(s), Some(r)) = (send.take(), recv.take()) else { break };
                let local = Endpoint { addr: laddr, port: lport };
                let mut tcp: Tcp = Connection::connect(cfg, local, remote, &stack.isn_secret, s, r, clock::now());
                if self.pingpong.load(Relaxed) {
                    // TCP_QUICKACK 0 before connect(): the connection starts in pingpong mode.
                    tcp.set_quickack(0);
                }
                crate::glue::kernel::trace::set_state(&tcp, State::Closed);
                let c = Conn::new(key, self.net_ref()?, tcp, self.sock_ref(), GFP_KERNEL)?;
                c.reuse.store(self.sk.reuse(), Relaxed);
                c.tx.set(self.tx_meta());
                match stack.insert_conn(c.clone()) {
                    Ok(()) => {
                        made = Some(c);
                        break;
                    }
                    Err(dup) => {
                        drop(dup);
                        // Lost a race for this 4-tuple: rebuild buffers and retry.
                        let (s2, r2) = self.buffers();
                        send = Some(s2);
                        recv = Some(r2);
                        drop(c);
                    }
                }
            }
            let c = made.ok_or_else(|| err(bindings::EADDRNOTAVAIL))?;
            *st = SockState::Connected(c.clone());
            c
        };
        // Send the SYN.
        dispatch::with_conn(&conn, |_, _| ())?;
        if nonblock {
            return Err(err(bindings::EINPROGRESS));
        }
        self.wait_connected(nonblock)
    }

    /// `connect(AF_UNSPEC)`: abort any connection and return to the unconnected state.
    fn disconnect(&self) -> Result {
        // Replace the state only if there is something to dissolve, under one lock
        // hold: taking it out and putting it back would overwrite a connection another
        // thread's connect() made meanwhile (leaking it, socketless, in the table).
        let old = {
            let mut st = self.state.lock();
            if !matches!(&*st, SockState::Connected(_) | SockState::Listening(_)) {
                return Ok(());
            }
            core::mem::replace(&mut *st, SockState::Unconnected { bound: None })
        };
        match old {
            SockState::Connected(c) => {
                let _ = dispatch::with_conn(&c, |inner, now| {
                    inner.sk = None;
                    inner.tcp.abort(now);
                });
                drop(c);
                self.unbind();
            }
            SockState::Listening(l) => {
                self.stop_listening(l);
                self.unbind();
            }
            _ => {}
        }
        Ok(())
    }

    fn wait_connected(&self, nonblock: bool) -> Result {
        let c = self.conn().ok_or(EINVAL)?;
        let mut timeo = self.sk.timeo(false, nonblock);
        let r = self.sk.wait(&mut timeo, || {
            read_cond(&c, |g| {
            if let Some(e) = g.tcp.error() {
                return Some(Err(tcp_err(e)));
            }
            match g.tcp.state() {
                State::SynSent | State::SynReceived => None,
                State::Closed => Some(Err(err(bindings::ECONNREFUSED))),
                _ => Some(Ok(())),
            }
            })
        });
        match r {
            Err(e) if e == EAGAIN => Err(err(bindings::EINPROGRESS)),
            // A signal: the attempt goes on.
            Err(e) if e == ERESTARTSYS || e == EINTR => Err(e),
            Err(e) => {
                // The connection failed (refused, timed out, reset, an ICMP error such as
                // EHOSTUNREACH). Consume the error: this call reports it, so SO_ERROR no
                // longer does.
                let _ = dispatch::read(&c, |g| g.tcp.take_error());
                self.error_reported();
                // Only if the socket still holds this connection: another thread may
                // have reported the error and connected again meanwhile, and
                // overwriting that connection would leak it.
                let mut st = self.state.lock();
                if matches!(&*st, SockState::Connected(cur) if ConnRef::ptr_eq(cur, &c)) {
                    *st = SockState::Unconnected { bound: None };
                }
                Err(e)
            }
            r => r,
        }
    }

    /// `sendmsg()`: copies from `iter` (a `msg_iter`), returns bytes queued.
    pub(crate) fn send(&self, iter: *mut bindings::iov_iter, len: usize, flags: u32) -> Result<usize> {
        let Some(c) = self.conn() else {
            self.sigpipe(flags);
            return Err(err(bindings::EPIPE));
        };
        Self::stack()?;
        let nonblock = flags & bindings::MSG_DONTWAIT != 0;
        let _writer = self.send_lock.lock();
        let mut timeo = self.sk.timeo(false, nonblock);
        let lowat = self.notsent_limit();
        // MSG_MORE: the tail of this call waits as under TCP_CORK (Linux `tcp_push`
        // with TCP_NAGLE_CORK); a call without it pushes what an earlier one held.
        let more = flags & bindings::MSG_MORE != 0;
        // SAFETY: `iter` is the `msg_iter` of the sendmsg call, an ITER_SOURCE iterator
        // valid for this call.
        let src = unsafe { kernel::iov::IovIterSource::from_raw(iter) };
        let mut sent = 0usize;
        // ConnP-T: while the room the protocol thread published (`Conn::snd_hint`)
        // allows, the bytes are copied once, the room reserved and the bytes queued to
        // the thread without waiting for it (`dispatch::send_async`). Without room, or
        // when the connection cannot take data as far as the thread last published,
        // the blocking path below asks the thread, waits (SO_SNDTIMEO, MSG_DONTWAIT,
        // signals, SOCK_NOSPACE) and reports errors, as under MsgP and ConnP-L; being
        // queued after the asynchronous sends, it sees their bytes in the queue.
        let async_path = matches!(c.state, conn::ConnState::ConnPT(_));
        // The published room is taken at its word until an append it led to takes
        // nothing (the room went, e.g. SO_SNDBUF shrank the queue): from then on the
        // wait decides, under the guard, and reports an append that still takes nothing.
        let mut trust_published = !async_path;
        while sent < len {
            // MsgP and ConnP-L: the room the last piece of work on the connection
            // published (`Conn::snd_hint`, as ConnP-T's writers read it) is copied into
            // without taking the guard to look first (under MsgP a table lookup and two
            // locks); the append below, under the guard, takes what fits. Without
            // published room, the wait below decides, sleeps and reports errors.
            let published = if !trust_published || self.wr_shutdown.load(Relaxed) { 0 } else { dispatch::send_room(&c, lowat) };
            if async_path && !self.wr_shutdown.load(Relaxed) {
                match dispatch::send_async(&c, src, len - sent, lowat, sent == 0, more) {
                    Ok(0) => {}
                    Ok(n) => {
                        sent += n;
                        continue;
                    }
                    Err(_) if sent > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            // Wait for room (or an error).
            let room = if published > 0 { Ok(published) } else { self.sk.wait(&mut timeo, || {
                // ConnP-T: room published after a wake-up (acknowledgements freed it)
                // ends the wait without asking the thread; the asynchronous path above
                // then takes it (0: "go back to it").
                if async_path && !self.wr_shutdown.load(Relaxed) && dispatch::send_room(&c, lowat) > 0 {
                    return Some(Ok(0));
                }
                read_cond(&c, |g| {
                if let Some(e) = g.tcp.error() {
                    // Reported, and cleared, only by a call that has queued nothing;
                    // one under way returns its count and the next call reports it
                    // (as the core's `send_continued_with`, Linux's `do_error`).
                    if sent == 0 {
                        g.tcp.take_error();
                        self.error_reported();
                    }
                    return Some(Err(tcp_err(e)));
                }
                if self.wr_shutdown.load(Relaxed)
                    || !matches!(g.tcp.state(), State::Established | State::CloseWait | State::SynSent | State::SynReceived)
                {
                    return Some(Err(err(bindings::EPIPE)));
                }
                if matches!(g.tcp.state(), State::SynSent | State::SynReceived) {
                    return None;
                }
                // As tcp_sendmsg_locked: wait while the send buffer is full or, with
                // TCP_NOTSENT_LOWAT, while the unsent bytes reach it
                // (`sk_stream_memory_free` -> `tcp_stream_memory_free`).
                let free = g.tcp.send_buffer().free();
                let room = free.min(lowat.saturating_sub(g.tcp.notsent_bytes()));
                if room == 0 {
                    // Sleep until acknowledgements make room (SOCK_NOSPACE); the
                    // core's send-buffer-limited chronograph runs from here.
                    g.nospace = true;
                    g.tcp.note_nospace();
                    None
                } else {
                    Some(Ok(room))
                }
                })
            }) };
            let room = match room {
                // Published room (see above): the asynchronous path.
                Ok(0) => continue,
                Ok(r) => r,
                Err(e) => {
                    if sent > 0 {
                        break;
                    }
                    if e == err(bindings::EPIPE) {
                        self.sigpipe(flags);
                    }
                    return Err(e);
                }
            };
            // The one copy: user memory into the task's page fragment, with no lock
            // held; the queue then references the bytes (and transmitted skbs the page).
            let chunk = match Chunk::from_iter(room.min(len - sent), src) {
                Ok(Some(c)) => c,
                Ok(None) | Err(_) if sent > 0 => break,
                Ok(None) => return Err(EFAULT),
                Err(e) => return Err(e),
            };
            let clen = chunk.len();
            let mut chunk = Some(chunk);
            let queued = dispatch::with_conn_send(&c, |inner, _| {
                let t = &mut inner.tcp;
                t.set_more(more);
                let append = |s: &mut SendQueue| chunk.take().map_or(0, |c| s.append(c));
                // One sendmsg: the delivery-rate app-limited check once, at its start.
                if sent == 0 { t.send_with(append) } else { t.send_continued_with(append) }.map_err(tcp_err)
            })
            .and_then(|r| r);
            if let Ok(q) = queued {
                if q < clen {
                    // Bytes copied but not queued (a short append) are not sent: the
                    // iterator goes back to the first of them.
                    // SAFETY: `q < clen` and the chunk's `clen` bytes were just taken
                    // from `src`: this stays inside what the copy consumed.
                    unsafe { src.revert(clen - q) };
                }
            }
            match queued {
                Ok(0) if published > 0 => trust_published = false,
                // The queue's index could not grow (atomic allocation).
                Ok(0) if sent == 0 => return Err(ENOMEM),
                Ok(0) => break,
                Ok(q) => sent += q,
                Err(e) => {
                    if sent > 0 {
                        break;
                    }
                    // The connection stopped taking data after the room was read.
                    if e == err(bindings::EPIPE) {
                        self.sigpipe(flags);
                    }
                    return Err(e);
                }
            }
        }
        Ok(sent)
    }

    /// Raises SIGPIPE for an EPIPE, unless MSG_NOSIGNAL (as `sk_stream_error`).
    fn sigpipe(&self, flags: u32) {
        if flags & bindings::MSG_NOSIGNAL == 0 {
            // CAST: SIGPIPE is a small constant.
            // SAFETY: Sends a signal to the current task, which is alive.
            unsafe { bindings::send_sig(bindings::SIGPIPE as c_int, kernel::current!().as_ptr(), 0) };
        }
    }

    /// `recvmsg()`: copies to `iter`, returns bytes read (0 at end of stream).
    pub(crate) fn recv(&self, iter: *mut bindings::iov_iter, len: usize, flags: u32) -> Result<usize> {
        // As tcp_recvmsg: the error queue (always empty here: no timestamps or zerocopy
        // notifications) is EAGAIN in any state.
        if flags & bindings::MSG_ERRQUEUE != 0 {
            return Err(EAGAIN);
        }
        let c = match &*self.state.lock() {
            SockState::Listening(_) => return Err(err(bindings::ENOTCONN)),
            // partcp keeps no urgent data (URG bytes stay in the stream), so MSG_OOB
            // finds none: EINVAL in every other state, as tcp_recv_urg without urgent
            // data, rather than stream data.
            _ if flags & bindings::MSG_OOB != 0 => return Err(EINVAL),
            SockState::Connected(c) => c.clone(),
            _ => return Err(err(bindings::ENOTCONN)),
        };
        Self::stack()?;
        let nonblock = flags & bindings::MSG_DONTWAIT != 0;
        let peek = flags & bindings::MSG_PEEK != 0;
        // As tcp_recvmsg: with MSG_TRUNC the data is consumed (or, with MSG_PEEK, looked
        // at) but not copied, and its length returned.
        let trunc = flags & bindings::MSG_TRUNC != 0;
        let waitall = flags & bindings::MSG_WAITALL != 0 && !peek;
        // sock_rcvlowat: wait for at least SO_RCVLOWAT bytes (all of them with
        // MSG_WAITALL), never more than asked for.
        let target = if waitall { len } else { self.sk.rcvlowat().min(len) };
        let mut guard = self.recv_lock.lock();
        let pieces: &mut KVec<ReadPiece> = &mut guard;
        if pieces.capacity() < READ_PIECES {
            pieces.reserve(READ_PIECES, GFP_KERNEL)?;
        }
        let mut timeo = self.sk.timeo(true, nonblock);
        // SAFETY: `iter` is the `msg_iter` of the recvmsg call, an ITER_DEST iterator
        // valid for this call.
        let dst = unsafe { kernel::iov::IovIterDest::from_raw(iter) };
        let mut done = 0usize;
        // Bytes the last round copied and has not consumed yet: the next round consumes
        // them in the same hold of the connection's guard that takes its own pieces.
        let mut unconsumed = 0usize;
        while done < len {
            let want = len - done;
            // Under the connection's guard, take references to the first readable bytes
            // (in the skbs they arrived in); copy them to the user without it; then
            // consume what was copied. One copy per byte, as tcp_recvmsg.
            let got = self.sk.wait(&mut timeo, || {
                let consume = core::mem::take(&mut unconsumed);
                let mut round = |g: &mut conn::ConnInner| {
                    let q = g.tcp.recv_buffer();
                    let avail = q.len();
                    if avail > 0 {
                        pieces.clear();
                        let n = if trunc { avail.min(want) } else { q.collect(want, pieces) };
                        return Some(Ok(n));
                    }
                    if g.tcp.error().is_some() {
                        // As tcp_recvmsg: a call that has copied bytes returns them and
                        // leaves the error (and SO_ERROR) to the next call; only a call
                        // with nothing copied takes it.
                        if done > 0 {
                            return Some(Ok(0));
                        }
                        if let Some(e) = g.tcp.take_error() {
                            self.error_reported();
                            return Some(Err(tcp_err(e)));
                        }
                    }
                    if g.tcp.read_closed() || g.tcp.is_closed() || self.rd_shutdown.load(Relaxed) {
                        return Some(Ok(0));
                    }
                    if matches!(g.tcp.state(), State::SynSent | State::SynReceived | State::Established | State::FinWait1 | State::FinWait2) {
                        None
                    } else {
                        Some(Ok(0))
                    }
                };
                if consume == 0 {
                    return read_cond(&c, round);
                }
                // One acquisition of the guard (under ConnP-T one hand-off) per round:
                // the last round's bytes leave the queue, then this round's are taken,
                // and the window update the freed room warrants goes out after.
                match dispatch::with_conn(&c, |inner, _| {
                    consume_read(inner, consume);
                    round(inner)
                }) {
                    Ok(r) => r,
                    Err(e) => {
                        // Nothing ran (a stopped protocol thread): the bytes are still
                        // queued, and still to be consumed.
                        unconsumed = consume;
                        Some(Err(e))
                    }
                }
            });
            let n = match got {
                Ok(n) => n,
                Err(e) => {
                    if done > 0 {
                        break;
                    }
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            // As tcp_recvmsg, a piece that faults part-way is not counted: its bytes stay
            // queued (and the call returns what came before it, or EFAULT).
            let copied = if trunc {
                n
            } else {
                let mut k = 0usize;
                for r in pieces.iter() {
                    if !r.copy_to_iter(dst) {
                        break;
                    }
                    k += r.len();
                }
                k
            };
            pieces.clear();
            if !peek {
                unconsumed = copied;
            }
            done += copied;
            if copied < n {
                if done == 0 {
                    return Err(EFAULT);
                }
                break;
            }
            if peek {
                break;
            }
            // As tcp_recvmsg, go on while there is room: more than one round's pieces
            // may be readable, and more bytes arrive while the call copies (Linux's loop
            // takes them from the receive queue and the backlog before it returns).
            // Once SO_RCVLOWAT (or, with MSG_WAITALL, everything asked for) is met
            // without waiting: an empty queue then ends the call with what it has.
            // Below it (MSG_WAITALL or SO_RCVLOWAT), keep waiting for the rest.
            if done >= target {
                timeo = 0;
            }
        }
        if unconsumed > 0 {
            let _ = dispatch::with_conn(&c, |inner, _| consume_read(inner, unconsumed));
        }
        Ok(done)
    }

    /// `shutdown()`; `how` is SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2).
    pub(crate) fn shutdown(&self, how: c_int) -> Result {
        if !(0..=2).contains(&how) {
            return Err(EINVAL);
        }
        let listening = match &*self.state.lock() {
            SockState::Listening(l) => Some(l.clone()),
            _ => None,
        };
        if let Some(l) = listening {
            // As inet_shutdown: SHUT_RD (or RDWR) stops a listener, waking accept() with
            // EINVAL; SHUT_WR alone does nothing.
            if how != 1 {
                {
                    // Only if still this listener (see `disconnect`).
                    let mut st = self.state.lock();
                    if !matches!(&*st, SockState::Listening(cur) if ListenRef::ptr_eq(cur, &l)) {
                        drop(st);
                        drop(l);
                        return Ok(());
                    }
                    *st = SockState::Unconnected { bound: None };
                }
                self.stop_listening(l);
                self.unbind();
                self.sk.data_ready();
            } else {
                drop(l);
            }
            return Ok(());
        }
        let c = self.conn().ok_or_else(|| err(bindings::ENOTCONN))?;
        Self::stack()?;
        if how == 0 || how == 2 {
            self.rd_shutdown.store(true, Relaxed);
        }
        if how == 1 || how == 2 {
            self.wr_shutdown.store(true, Relaxed);
            let r = dispatch::with_conn(&c, |inner, _| inner.tcp.shutdown_write())?;
            if let Err(e) = r {
                if e == TcpError::NotConnected {
                    return Err(err(bindings::ENOTCONN));
                }
            }
        }
        // Wake readers blocked in recv.
        self.sk.data_ready();
        Ok(())
    }

    /// `getsockname()`/`getpeername()`.
    pub(crate) fn name(&self, peer: bool) -> Result<bindings::sockaddr_in> {
        match &*self.state.lock() {
            SockState::Connected(c) => {
                dispatch::read(c, |g| {
                // As inet_getname: no peer name in SYN-SENT or CLOSE.
                if peer && matches!(g.tcp.state(), State::SynSent | State::Closed) {
                    return Err(err(bindings::ENOTCONN));
                }
                let e = if peer { g.tcp.remote() } else { g.tcp.local() };
                Ok(sockaddr(e.addr, e.port))
                })?
            }
            SockState::Listening(l) if !peer => {
                let e = l.inner.lock().core.local();
                Ok(sockaddr(e.addr, e.port))
            }
            SockState::Unconnected { bound } if !peer => {
                let (a, p) = bound.unwrap_or((Ipv4Addr::UNSPECIFIED, 0));
                Ok(sockaddr(a, p))
            }
            _ => Err(err(bindings::ENOTCONN)),
        }
    }

    /// `poll()` readiness mask (after `poll_wait` registered the caller), computed as
    /// `tcp_poll` does.
    pub(crate) fn poll_mask(&self) -> u32 {
        const EPOLLIN: u32 = 0x001;
        const EPOLLOUT: u32 = 0x004;
        const EPOLLERR: u32 = 0x008;
        const EPOLLHUP: u32 = 0x010;
        const EPOLLRDNORM: u32 = 0x040;
        const EPOLLWRNORM: u32 = 0x100;
        const EPOLLRDHUP: u32 = 0x2000;
        let mut m = 0;
        let lowat = self.notsent_limit();
        let rcvlowat = self.sk.rcvlowat();
        match &*self.state.lock() {
            SockState::Listening(l) => {
                if !l.inner.lock().accept_q.is_empty() {
                    m |= EPOLLIN | EPOLLRDNORM;
                }
            }
            SockState::Connected(c) => {
                let wr_shut = self.wr_shutdown.load(Relaxed);
                let Ok((p, writeable)) = dispatch::poll(c, lowat, wr_shut) else {
                    return EPOLLERR | EPOLLHUP;
                };
                let rcv_shut = p.closed || p.read_closed || self.rd_shutdown.load(Relaxed);
                let snd_shut = p.closed || wr_shut;
                if (rcv_shut && snd_shut) || p.closed {
                    m |= EPOLLHUP;
                }
                if rcv_shut {
                    m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
                }
                if !p.handshake {
                    // tcp_epollin_ready: at least SO_RCVLOWAT bytes, or a full buffer
                    // (Linux: the receive window is down to an MSS).
                    let rx = usize::try_from(p.rx).unwrap_or(usize::MAX);
                    if rx > 0 && (rx >= rcvlowat || p.rx_full) {
                        m |= EPOLLIN | EPOLLRDNORM;
                    }
                    // __sk_stream_is_writeable(sk, 1), with TCP_NOTSENT_LOWAT.
                    if snd_shut || writeable {
                        m |= EPOLLOUT | EPOLLWRNORM;
                    }
                }
            }
            // A fresh or disconnected socket is TCP_CLOSE: both directions shut.
            SockState::Unconnected { .. } | SockState::Dead => {
                m |= EPOLLOUT | EPOLLWRNORM | EPOLLHUP;
            }
        }
        // The error is read last, as in tcp_poll: `dispatch::after` sets `sk_err` before
        // the state change that made the connection closed becomes visible here, so a
        // poll that saw the close also sees the error (reading it first raced with a
        // reset processed meanwhile, e.g. on a ConnP-T protocol thread).
        if self.sk.err() != 0 {
            m |= EPOLLERR;
        }
        m
    }

    /// A queue length for `ioctl()` (see [`Queued`]).
    pub(crate) fn queued(&self, which: Queued) -> Result<i32> {
        match &*self.state.lock() {
            SockState::Connected(c) => dispatch::read(c, |g| {
                let t = &g.tcp;
                let n = match which {
                    Queued::Readable => t.recv_buffer().len(),
                    Queued::NotAcked => t.send_buffer().len(),
                    // Linux: write_seq - snd_nxt (0 before the handshake completes).
                    Queued::NotSent => t.notsent_bytes(),
                };
                i32::try_from(n).unwrap_or(i32::MAX)
            }),
            SockState::Listening(_) => Err(EINVAL),
            _ => Ok(0),
        }
    }

    /// Sets TCP_NODELAY.
    pub(crate) fn set_nodelay(&self, on: bool) {
        self.nodelay.store(on, Relaxed);
        if let Some(c) = self.conn() {
            let _ = dispatch::with_conn(&c, |inner, _| inner.tcp.set_nodelay(on));
        }
    }

    /// TCP_NODELAY.
    pub(crate) fn nodelay(&self) -> bool {
        self.nodelay.load(Relaxed)
    }

    /// Sets TCP_MAXSEG (Linux accepts 88..=32767, before connecting).
    pub(crate) fn set_maxseg(&self, v: c_int) -> Result {
        if !(88..=32767).contains(&v) {
            return Err(EINVAL);
        }
        // CAST: range checked.
        self.user_mss.store(v as u32, Relaxed);
        Ok(())
    }

    /// TCP_MAXSEG: the connection's MSS, or the user's value / default before.
    pub(crate) fn maxseg(&self) -> i32 {
        if let Some(c) = self.conn() {
            if let Ok(m) = dispatch::read(&c, |g| g.tcp.max_segment_size()) {
                return i32::try_from(m).unwrap_or(536);
            }
        }
        match self.user_mss.load(Relaxed) {
            0 => 536,
            m => m as i32,
        }
    }

    /// `struct tcp_info` of Linux 7.3 (`include/uapi/linux/tcp.h`, 280 bytes), from the
    /// core's [`crate::connection::Info`]: the fields partcp has no mechanism for (ECN
    /// counters, PLB, fastopen) read 0, `tcpi_max_pacing_rate` ~0 (no limit), as Linux
    /// for a socket without them.
    pub(crate) fn tcp_info(&self) -> [u8; TCP_INFO_LEN] {
        let mut b = [0u8; TCP_INFO_LEN];
        match &*self.state.lock() {
            // TCP_LISTEN (10) and TCP_CLOSE (7), as `tcp_get_info` reports them.
            SockState::Listening(_) => b[0] = 10,
            SockState::Connected(c) => {
                let now = clock::now();
                if let Ok(i) = dispatch::read(c, |g| g.tcp.info(now)) {
                    tcp_info_layout(&i, &mut b);
                }
            }
            _ => b[0] = 7,
        }
        // tcpi_max_pacing_rate: sk_max_pacing_rate, ~0 unless SO_MAX_PACING_RATE.
        b[112..120].copy_from_slice(&u64::MAX.to_ne_bytes());
        b
    }

    /// The socket is being closed (`release`): detach from the connection or listener.
    pub(crate) fn close(&self, linger_zero: bool) {
        let st = core::mem::replace(&mut *self.state.lock(), SockState::Dead);
        match st {
            SockState::Connected(c) => {
                // If the call cannot run (a stopped protocol thread: see
                // `dispatch::run_sync`), nothing will run on this connection again, so
                // its stale `sk` is never used.
                // TCP_LINGER2 is read at close (Linux `tcp_fin_time`); a negative value
                // means no FIN-WAIT-2 for the orphan at all (`__tcp_close`).
                let linger2 = self.linger2.load(Relaxed);
                let _ = dispatch::with_conn(&c, |inner, now| {
                    inner.sk = None;
                    if linger2 > 0 {
                        let t = crate::time::Duration::from_secs(linger2.unsigned_abs().into());
                        inner.tcp.set_fin_wait2_timeout(Some(t));
                    } else if linger2 < 0 {
                        inner.tcp.set_fin_wait2_reset(true);
                    }
                    if linger_zero {
                        inner.tcp.abort(now);
                    } else {
                        inner.tcp.close(now);
                    }
                });
                drop(c);
            }
            SockState::Listening(l) => self.stop_listening(l),
            _ => {}
        }
        self.unbind();
    }

    /// Stops a listener: no more connections; the ones nobody accepted are reset, as
    /// Linux does; `accept()` waiters wake up with EINVAL.
    fn stop_listening(&self, l: ListenRef) {
        let Some(stack) = stack() else { return };
        let pending = {
            let mut g = l.inner.lock();
            g.closed = true;
            g.sk = None;
            core::mem::replace(&mut g.accept_q, KVec::new())
        };
        for c in pending {
            let _ = dispatch::with_conn(&c, |inner, now| inner.tcp.abort(now));
            drop(c);
        }
        stack.remove_listener(&l);
        l.timer.shutdown();
        drop(l);
        // TCP_CLOSE (7): SO_ACCEPTCONN is 0 again.
        self.sk.set_state(7);
    }
}


/// KUnit: the bind conflict rules over bound sockets (`binds_conflict`,
/// `listen_conflict`), on a constructed list of binds; the connection half of
/// [`bind_conflict`] asks the stack's tables and is covered by the VM suite.
#[kunit_tests(partcp_bind_rules)]
mod tests {
    use super::*;

    const NET: usize = 0x1000;
    const OTHER_NET: usize = 0x2000;
    const A: u32 = 0x0a00_0001;
    const B: u32 = 0x0a00_0002;
    const ANY: u32 = 0;

    fn bound(owner: i64, net: usize, addr: u32, port: u16, reuse: bool, listening: bool) -> BindEntry {
        BindEntry { net, addr, port, reuse, listening, owner }
    }

    #[test]
    fn same_port_overlapping_addresses() {
        let binds = [bound(1, NET, A, 5000, false, false)];
        assert!(binds_conflict(&binds, NET, A, 5000, false));
        assert!(binds_conflict(&binds, NET, ANY, 5000, false));
        assert!(!binds_conflict(&binds, NET, B, 5000, false));
        let wild = [bound(1, NET, ANY, 5000, false, false)];
        assert!(binds_conflict(&wild, NET, A, 5000, false));
        assert!(binds_conflict(&wild, NET, B, 5000, false));
        assert!(binds_conflict(&wild, NET, ANY, 5000, false));
    }

    #[test]
    fn other_port_or_namespace() {
        let binds = [bound(1, NET, ANY, 5000, false, true)];
        assert!(!binds_conflict(&binds, NET, ANY, 5001, false));
        assert!(!binds_conflict(&binds, OTHER_NET, ANY, 5000, false));
        assert!(!binds_conflict(&binds, OTHER_NET, A, 5000, true));
        assert!(!binds_conflict(&[], NET, ANY, 5000, false));
    }

    #[test]
    fn reuseaddr_rules() {
        // SO_REUSEADDR on both sides: a bound, non-listening socket does not conflict...
        let binds = [bound(1, NET, ANY, 5000, true, false)];
        assert!(!binds_conflict(&binds, NET, ANY, 5000, true));
        assert!(!binds_conflict(&binds, NET, A, 5000, true));
        // ...on one side only, it does.
        assert!(binds_conflict(&binds, NET, ANY, 5000, false));
        let plain = [bound(1, NET, ANY, 5000, false, false)];
        assert!(binds_conflict(&plain, NET, ANY, 5000, true));
        // A listener conflicts even when both set SO_REUSEADDR.
        let listening = [bound(1, NET, ANY, 5000, true, true)];
        assert!(binds_conflict(&listening, NET, ANY, 5000, true));
        assert!(binds_conflict(&listening, NET, A, 5000, true));
        // Any one conflicting entry among many is enough.
        let many = [
            bound(1, OTHER_NET, ANY, 5000, false, true),
            bound(2, NET, B, 5000, false, true),
            bound(3, NET, A, 5001, false, true),
            bound(4, NET, A, 5000, true, false),
        ];
        assert!(!binds_conflict(&many, NET, A, 5000, true));
        assert!(binds_conflict(&many, NET, A, 5000, false));
        assert!(binds_conflict(&many, NET, ANY, 5000, true));
    }

    #[test]
    fn listen_rules() {
        // Two SO_REUSEADDR sockets bound to the same port: the first may listen...
        let mut binds = [bound(1, NET, ANY, 5000, true, false), bound(2, NET, ANY, 5000, true, false)];
        assert!(!listen_conflict(&binds, &binds[0]));
        binds[0].listening = true;
        // ...then the second may not, whatever its address overlap...
        assert!(listen_conflict(&binds, &binds[1]));
        let specific = bound(3, NET, A, 5000, true, false);
        assert!(listen_conflict(&binds, &specific));
        // ...while a socket's own bind, other ports and other namespaces never count.
        assert!(!listen_conflict(&binds, &binds[0]));
        assert!(!listen_conflict(&binds, &bound(4, NET, ANY, 5001, true, false)));
        assert!(!listen_conflict(&binds, &bound(5, OTHER_NET, ANY, 5000, true, false)));
        // Listeners on distinct specific addresses coexist.
        let distinct = [bound(1, NET, A, 5000, true, true)];
        assert!(!listen_conflict(&distinct, &bound(2, NET, B, 5000, true, false)));
        assert!(listen_conflict(&distinct, &bound(2, NET, ANY, 5000, true, false)));
    }
}
