//! One TCP connection: the RFC 9293 state machine with its reliability, flow control and
//! congestion control machinery, as a plain value.
//!
//! A [`Connection`] performs no IO, reads no clock, takes no lock and allocates nothing
//! itself: its buffers and the side storage of the structures it holds only while in use
//! ([`crate::side`]) are the caller's.
//! The glue drives it with four kinds of calls:
//!
//! * [`Connection::on_segment`] for every segment of this 4-tuple (already parsed and
//!   checksum-verified), with the payload in the glue's own type;
//! * [`Connection::on_timer`] once [`Connection::next_deadline`] has passed (calling it
//!   early or twice is harmless);
//! * [`Connection::poll_transmit`], repeatedly until it returns `None`, after any other
//!   call: each [`Transmit`] names a header and a range of the send buffer to put after it;
//! * the application's calls: [`Connection::send_with`], [`Connection::recv_with`],
//!   [`Connection::shutdown_write`], [`Connection::close`], [`Connection::abort`], and the
//!   readiness and option accessors.
//!
//! Passive opens go through [`crate::listener::Listener`], which hands the glue a
//! [`Handshake`] to build an ESTABLISHED connection with [`Connection::accept`].
//!
//! Not implemented: urgent data (URG is ignored and the data delivered in line, as with
//! `SO_OOBINLINE`), ECN (RFC 3168), TCP Fast Open and the rescue retransmission of
//! RFC 6675 section 4 (NextSeg rule 4).

pub mod autotune;
mod chrono;
mod delack;
mod frto;
mod icmp;
pub mod info;
mod input;
mod output;
mod rate;
mod rcv_rtt;
pub mod sack;
mod send_times;
pub use autotune::{RcvBufAuto, SndBufAuto};
pub use info::Info;
mod timers;
mod undo;
pub use undo::{TransmitUndo, TX_RETRY_MAX, TX_RETRY_MIN};

#[cfg(test)]
mod tests;

use crate::assembler::Assembler;
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::{Congestion, CongestionAlgorithm, CongestionControl};
use crate::isn::{self, IsnSecret};
use crate::rtt::{RttConfig, RttEstimator};
use crate::seq::SeqNum;
use crate::side::{Inline, SideAlloc, Slot};
use crate::stats::{ConnStats, Stats};
use crate::time::{Duration, Instant};
use crate::wire::ipv4::Ipv4Addr;
use crate::wire::{SackBlock, TcpFlags, TcpRepr};
use sack::Scoreboard;

pub use icmp::{IcmpError, MIN_PATH_MTU};

/// RFC 9293, section 3.7.1: "If an MSS Option is not received at connection setup, TCP
/// implementations MUST assume a default send MSS of 536 (576 - 40) for IPv4".
pub const DEFAULT_MSS: u16 = 536;

/// RFC 7323, section 2.3: the largest usable shift count; larger values are used as 14.
pub const MAX_WINDOW_SCALE: u8 = crate::wire::tcp::MAX_WINDOW_SHIFT;

/// Smallest send MSS partcp accepts from a peer (Linux's `TCP_MIN_SND_MSS`): a smaller
/// MSS option is raised to this, so every segment carries at least 8 payload bytes.
pub const MIN_SND_MSS: u16 = 48;

/// Size of the TCP timestamps option as emitted (NOP, NOP, kind, length, 2 x 4 bytes).
const TS_OPTION_LEN: usize = 12;

/// RFC 7323, section 5.5: TS.Recent is invalid after 24 days of idleness.
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 3600);

/// A transport endpoint: IPv4 address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Endpoint {
    /// The IPv4 address.
    pub addr: Ipv4Addr,
    /// The TCP port.
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from its parts.
    pub const fn new(addr: Ipv4Addr, port: u16) -> Self {
        Endpoint { addr, port }
    }

    /// As the `(address, port)` pair [`crate::isn`] and [`crate::syncookie`] take.
    pub const fn tuple(self) -> (Ipv4Addr, u16) {
        (self.addr, self.port)
    }
}

/// Connection states, RFC 9293 section 3.3.2. `Listen` belongs to
/// [`crate::listener::Listener`]; a `Connection` never is in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection (initial state of nothing, final state of everything).
    Closed,
    /// Waiting for a SYN (the listener).
    Listen,
    /// SYN sent, waiting for the peer's SYN.
    SynSent,
    /// Both SYNs seen (simultaneous open), waiting for the ACK of ours.
    SynReceived,
    /// Open for data both ways.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent FIN; waiting for the application to close.
    CloseWait,
    /// Both sent FIN, ours not yet acknowledged.
    Closing,
    /// Peer's FIN received, then ours sent; waiting for its ACK.
    LastAck,
    /// Both FINs acknowledged; waiting 2*MSL for stray duplicates.
    TimeWait,
}

impl State {
    /// Linux's number for the state (`TCP_ESTABLISHED` = 1 ... `TCP_CLOSING` = 11,
    /// include/net/tcp_states.h), as `tcpi_state` and the `sock:inet_sock_set_state`
    /// tracepoint report it.
    pub fn linux_number(self) -> u8 {
        match self {
            State::Established => 1,
            State::SynSent => 2,
            State::SynReceived => 3,
            State::FinWait1 => 4,
            State::FinWait2 => 5,
            State::TimeWait => 6,
            State::Closed => 7,
            State::CloseWait => 8,
            State::LastAck => 9,
            State::Listen => 10,
            State::Closing => 11,
        }
    }
}

/// Errors the application sees. Each maps to the errno noted on its variant
/// ([`Error::errno`] gives the positive Linux value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// RST in answer to our SYN (RFC 9293 3.10.7.3): `ECONNREFUSED`.
    ConnectionRefused,
    /// RST on a synchronized connection (RFC 9293 3.10.7.4): `ECONNRESET`.
    ConnectionReset,
    /// Retransmissions, the user timeout, zero-window probes or keepalives ran out:
    /// `ETIMEDOUT`.
    TimedOut,
    /// Sending after `shutdown_write`/`close`, or on a closed connection: `EPIPE`.
    BrokenPipe,
    /// The operation needs a connection that is not (yet, or any more) there: `ENOTCONN`.
    NotConnected,
    /// Nothing can be done now; try again after a readiness change: `EAGAIN`.
    WouldBlock,
    /// ICMP network unreachable (codes 0, 6, 9, 11): `ENETUNREACH`.
    NetUnreachable,
    /// ICMP host unreachable (codes 1, 10, 12-15) or time exceeded: `EHOSTUNREACH`.
    HostUnreachable,
    /// ICMP protocol unreachable (code 2): `ENOPROTOOPT`.
    ProtocolUnreachable,
    /// ICMP source route failed (code 5): `EOPNOTSUPP`.
    SourceRouteFailed,
    /// ICMP destination host unknown (code 7): `EHOSTDOWN`.
    HostDown,
    /// ICMP source host isolated (code 8): `ENONET`.
    HostIsolated,
    /// ICMP parameter problem: `EPROTO`.
    ProtocolError,
}

impl Error {
    /// The Linux errno value (positive; the glue negates it).
    pub const fn errno(self) -> i32 {
        match self {
            Error::ConnectionRefused => 111,
            Error::ConnectionReset => 104,
            Error::TimedOut => 110,
            Error::BrokenPipe => 32,
            Error::NotConnected => 107,
            Error::WouldBlock => 11,
            Error::NetUnreachable => 101,
            Error::HostUnreachable => 113,
            Error::ProtocolUnreachable => 92,
            Error::SourceRouteFailed => 95,
            Error::HostDown => 112,
            Error::HostIsolated => 64,
            Error::ProtocolError => 71,
        }
    }
}

/// Keepalive settings (RFC 1122 section 4.2.3.6; Linux `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
/// `TCP_KEEPCNT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe. RFC 1122: "MUST default to no less than two
    /// hours".
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped with `ETIMEDOUT`.
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            count: 9,
        }
    }
}

/// Per-connection settings. `Default` gives Linux-like values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The MSS we advertise and the largest payload we send per segment (before
    /// options). Default 1460 (Ethernet).
    pub mss: u16,
    /// Largest payload of one [`Transmit`] for TSO/GSO; 0 (the default) means one
    /// segment. When larger than the segment size, new data goes out in multiples of it.
    pub tso_max: usize,
    /// Disable Nagle's algorithm (`TCP_NODELAY`).
    pub nodelay: bool,
    /// `TCP_CORK`: hold a partial segment until a full one can go, the cork is removed,
    /// or nothing is in flight for one RTO (Linux `tcp_nagle_check` with
    /// `TCP_NAGLE_CORK`; the held tail then leaves through the probe timer,
    /// `tcp_check_probe_timer` / `tcp_write_wakeup`). Off by default.
    pub cork: bool,
    /// The longest an ACK may be delayed (Linux `icsk_delack_max`, `TCP_DELACK_MAX`;
    /// RFC 9293 3.8.6.3: "MUST be less than 0.5 seconds"): the delay itself adapts
    /// from 40 ms (see `delack.rs`). `None` acknowledges every segment immediately.
    /// Default 200 ms.
    pub delayed_ack: Option<Duration>,
    /// Replies within the delayed-ACK timeout that put the connection in pingpong
    /// (interactive) mode (Linux `tcp_pingpong_thresh`, default 1).
    pub pingpong_thresh: u8,
    /// TIME-WAIT duration, 2*MSL (RFC 9293 3.3.2). Default 60 s.
    pub time_wait: Duration,
    /// After [`Connection::close`], how long FIN-WAIT-2 may last (Linux
    /// `tcp_fin_timeout`), never less than 3.5 times the RTO (as Linux's
    /// `tcp_fin_time`). `None` waits forever. Default 60 s.
    pub fin_wait2_timeout: Option<Duration>,
    /// Linux `TCP_LINGER2` negative: an orphan does not stay in FIN-WAIT-2 at all.
    /// [`Connection::close`] in FIN-WAIT-2 resets the connection, and the ACK of an
    /// orphan's FIN in FIN-WAIT-1 is answered with a RST; either way the connection is
    /// CLOSED at once, without TIME-WAIT (Linux `__tcp_close` and the `TCP_FIN_WAIT1`
    /// case of `tcp_rcv_state_process`). Off by default.
    pub fin_wait2_reset: bool,
    /// Keepalive, off (`None`) by default (RFC 1122 4.2.3.6: "MUST default to off").
    pub keepalive: Option<Keepalive>,
    /// Linux `TCP_USER_TIMEOUT`: give up when data stays unacknowledged this long under
    /// retransmission. When set it replaces `max_retries`.
    pub user_timeout: Option<Duration>,
    /// Retransmission timeouts before giving up (RFC 9293 3.8.3 R2, "measured in time
    /// units or as a count of retransmission attempts"; Linux `tcp_retries2` = 15). As
    /// Linux (`retransmits_timed_out`), the count is turned into a time budget: the time
    /// that many backed-off timeouts take from an RTO of 200 ms, capped at the maximum
    /// RTO (15: 924.6 s), counted from the first retransmission; the connection gives up
    /// at the first timeout past it. With an RTO of exactly 200 ms that is one
    /// retransmission more than the count, with a larger RTO fewer.
    pub max_retries: u32,
    /// SYN (or SYN-ACK) retransmissions before giving up (Linux `tcp_syn_retries` = 6).
    /// Like `max_retries` it is also a time budget (see there), computed from the
    /// initial RTO.
    pub syn_retries: u32,
    /// SYN retransmissions in SYN-SENT that keep the initial RTO instead of doubling it,
    /// before exponential backoff starts; they come on top of `syn_retries` (Linux
    /// `tcp_syn_linear_timeouts` = 4: SYNs at 0, 1, 2, 3, 4, 5, 7, 11... seconds).
    pub syn_linear_timeouts: u32,
    /// After [`Connection::close`] (an orphan: no application will read or write it),
    /// the `max_retries` that applies to retransmissions and the count of zero-window
    /// probes, answered or not, before giving up: Linux `tcp_orphan_retries`, whose
    /// default 0 means 8 while the backed-off interval is below the maximum RTO and none
    /// once it is there (the orphan gives up at the next expiry even if the peer answers
    /// its probes). Without it a peer holding a zero window could keep a closed
    /// connection's memory forever.
    pub orphan_retries: u32,
    /// RTO bounds (RFC 6298).
    pub rtt: RttConfig,
    /// DupThresh (RFC 6675 section 2, RFC 5681 3.2): duplicate ACKs, or SACKed segments
    /// above a hole, that make it lost and start fast retransmit. Linux's
    /// `tcp_reordering` (3), which Linux then raises when it sees reordering; partcp
    /// keeps it.
    pub dupthresh: u32,
    /// Congestion control algorithm. Default CUBIC, like Linux.
    pub congestion: CongestionAlgorithm,
    /// Offer window scaling (RFC 7323 section 2).
    pub window_scale: bool,
    /// The largest receive window the connection may come to offer, which chooses the
    /// window scale it offers: the smallest shift that expresses the larger of this and
    /// the receive buffer (Linux `tcp_select_initial_window`: the larger of
    /// `tcp_rmem[2]` and `net.core.rmem_max`, unless `SO_RCVBUF` fixed the buffer).
    /// `None` (the default): the receive buffer alone.
    pub window_space: Option<usize>,
    /// `TCP_WINDOW_CLAMP`: the largest window offered, which also bounds the window
    /// scale when set before the handshake (Linux `tcp_select_initial_window`: `space =
    /// min(window_clamp, space)`). `None` (the default): no clamp.
    pub window_clamp: Option<usize>,
    /// RFC 5681 section 4.1: after an idle period longer than the RTO, restart from the
    /// initial window (Linux `tcp_slow_start_after_idle`, on by default).
    pub slow_start_after_idle: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Send D-SACK blocks for duplicate segments (RFC 2883).
    pub dsack: bool,
    /// Detect spurious retransmission timeouts with F-RTO (RFC 5682; Linux
    /// `tcp_frto`, on by default) and undo their congestion response.
    pub frto: bool,
    /// Offer timestamps (RFC 7323 sections 3-5).
    pub timestamps: bool,
    /// Challenge ACKs per second (RFC 5961 section 7). Default 1000.
    pub challenge_ack_limit: u32,
    /// Receive buffer autotuning (`connection::autotune`; Linux `tcp_moderate_rcvbuf`
    /// without `SO_RCVBUF`). `None` (the default): the buffer keeps its size.
    pub rcvbuf_auto: Option<RcvBufAuto>,
    /// Send buffer autotuning (`connection::autotune`; Linux without `SO_SNDBUF`).
    /// `None` (the default): the buffer keeps its size.
    pub sndbuf_auto: Option<SndBufAuto>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mss: 1460,
            tso_max: 0,
            nodelay: false,
            cork: false,
            delayed_ack: Some(delack::DELACK_MAX),
            pingpong_thresh: 1,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Some(Duration::from_secs(60)),
            fin_wait2_reset: false,
            keepalive: None,
            user_timeout: None,
            max_retries: 15,
            syn_retries: 6,
            syn_linear_timeouts: 4,
            orphan_retries: 0,
            rtt: RttConfig::default(),
            dupthresh: sack::DUP_THRESH,
            congestion: CongestionAlgorithm::Cubic,
            window_scale: true,
            window_space: None,
            window_clamp: None,
            slow_start_after_idle: true,
            sack: true,
            dsack: true,
            frto: true,
            timestamps: true,
            challenge_ack_limit: 1000,
            rcvbuf_auto: None,
            sndbuf_auto: None,
        }
    }
}

/// One segment for the glue to send.
///
/// The glue emits `repr` (with its own addresses), then appends `payload_len` bytes of
/// the send buffer starting `payload_offset` bytes after SND.UNA (offset 0 is the oldest
/// unacknowledged byte). The offset is valid only until the next call that can consume
/// acknowledged data ([`Connection::on_segment`]), so the glue copies or clones those
/// bytes immediately. When `payload_len > gso_size` the transmit is a TSO/GSO
/// super-segment: every wire segment carries `gso_size` payload bytes (the last one
/// possibly fewer) and the same options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The header to send; `repr.payload_len == payload_len`.
    pub repr: TcpRepr,
    /// Start of the payload in the send buffer, counted from SND.UNA.
    pub payload_offset: usize,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Payload per wire segment when segmenting a larger transmit.
    pub gso_size: usize,
    /// Whether this resends sequence space already sent, and why (for tracing; counted
    /// in [`Stats::fast_retransmits`](crate::stats::Stats) and `rto_retransmits`).
    pub retransmit: Option<Retransmit>,
}

/// Why a [`Transmit`] is a retransmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retransmit {
    /// Fast retransmit or SACK loss recovery (RFC 5681 3.2, RFC 6675).
    Fast,
    /// After a retransmission timeout (RFC 6298 5.4): the SYN or SYN-ACK again, or
    /// go-back-N data (also the resend at a smaller MSS after a path MTU reduction,
    /// which goes back to SND.UNA the same way).
    Timeout,
}

/// What the glue should do after [`Connection::on_segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SegmentAction {
    /// Nothing beyond the usual `poll_transmit` loop.
    Done,
    /// The connection is in TIME-WAIT and the segment is an acceptable new SYN for the
    /// same 4-tuple (RFC 9293 3.10.7.4 / RFC 6191): drop this connection and give the
    /// segment to the listener.
    Reopen,
}

/// The negotiated outcome of a passive open, from [`crate::listener::Listener`] to
/// [`Connection::accept`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Our endpoint.
    pub local: Endpoint,
    /// The peer's endpoint.
    pub remote: Endpoint,
    /// Our initial sequence number (ISS).
    pub iss: SeqNum,
    /// The peer's initial sequence number (IRS).
    pub irs: SeqNum,
    /// The peer's MSS option (536 if absent, the cookie's value with SYN cookies).
    pub peer_mss: u16,
    /// Window scaling, if negotiated: `(peer's shift, our shift)`.
    pub window_scale: Option<(u8, u8)>,
    /// SACK negotiated.
    pub sack: bool,
    /// Timestamps negotiated: `(TS.Recent, our TSval offset)`.
    pub timestamps: Option<(u32, u32)>,
    /// The (unscaled) window we advertised in the SYN-ACK.
    pub rcv_window: u16,
    /// When the SYN-ACK was sent, if it was sent only once (an RTT sample, Karn).
    pub synack_sent: Option<Instant>,
    /// The SYN-ACK was retransmitted (RFC 6298 5.7, RFC 6928 IW reduction).
    pub synack_retransmitted: bool,
}

/// Which side structures ([`crate::side`]) a connection holds memory for
/// ([`Connection::side_held`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideHeld {
    /// The receiver's out-of-order ranges (something is held out of order).
    pub ooo_ranges: bool,
    /// The sender's SACK scoreboard (something above SND.UNA is SACKed).
    pub scoreboard: bool,
    /// The send times of the new data in flight.
    pub send_times: bool,
    /// The F-RTO episode's state (deciding whether a timeout was spurious).
    pub frto: bool,
}

impl SideHeld {
    /// True if none is held.
    pub fn none(&self) -> bool {
        *self == SideHeld::default()
    }
}

/// Fast-recovery state (RFC 6582 / RFC 6675).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// RecoveryPoint (RFC 6675) / recover (RFC 6582): HighData when recovery began, one
    /// past the highest sequence number sent.
    pub(crate) point: SeqNum,
}

/// A TCP connection with send buffer `S` and receive buffer `R`, holding the structures
/// it needs only now and then in side storage `A` ([`crate::side`]; by default inline).
///
/// It is `Clone` when `A`'s slots are (inline, or the host tests' boxes; not the
/// kernel's, which cannot copy without allocating).
#[derive(Debug)]
pub struct Connection<S, R, A: SideAlloc = Inline> {
    pub(crate) cfg: Config,
    pub(crate) local: Endpoint,
    pub(crate) remote: Endpoint,
    pub(crate) state: State,
    pub(crate) send_buf: S,
    pub(crate) recv_buf: R,

    // Send sequence variables (RFC 9293 3.3.1). `snd_max` is one past the highest
    // sequence number ever sent; `snd_nxt` drops below it after a timeout (go-back-N).
    pub(crate) iss: SeqNum,
    pub(crate) snd_una: SeqNum,
    pub(crate) snd_nxt: SeqNum,
    pub(crate) snd_max: SeqNum,
    /// Send window in bytes (scaled).
    pub(crate) snd_wnd: usize,
    pub(crate) snd_wl1: SeqNum,
    pub(crate) snd_wl2: SeqNum,
    /// Largest window the peer ever offered (RFC 5961 section 5 MAX.SND.WND).
    pub(crate) max_snd_wnd: usize,
    /// Peer's window shift (RFC 7323 Snd.Wind.Shift), 0 unless negotiated.
    pub(crate) snd_wscale: u8,
    /// Our window shift (Rcv.Wind.Shift), 0 unless negotiated.
    pub(crate) rcv_wscale: u8,
    /// Window scaling negotiated (both SYNs carried the option, RFC 7323 2.2).
    pub(crate) wscale_ok: bool,
    /// Send MSS: min(peer's MSS option, our MSS), before options.
    pub(crate) snd_mss: usize,
    /// FIN position once the application shut the write side down and the connection is
    /// synchronized: the sequence number the FIN occupies.
    pub(crate) fin_seq: Option<SeqNum>,
    /// The application asked for a FIN (shutdown_write or close).
    pub(crate) fin_queued: bool,

    // Receive sequence variables.
    pub(crate) irs: SeqNum,
    pub(crate) rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised (never moves left).
    pub(crate) rcv_adv: SeqNum,
    /// Acknowledgment number of the last segment we sent (RFC 7323 Last.ACK.sent).
    pub(crate) last_ack_sent: SeqNum,
    /// The peer's FIN arrived and was processed.
    pub(crate) fin_received: bool,
    /// A FIN beyond RCV.NXT (after a hole), to process when the hole fills.
    pub(crate) pending_fin: Option<SeqNum>,
    /// The application closed (no more reads): new data is answered with RST.
    pub(crate) app_closed: bool,
    /// Largest segment payload seen, for "full-sized" in the delayed-ACK rule.
    pub(crate) rcv_mss: usize,
    /// Bytes received in order since the last ACK we sent.
    pub(crate) unacked_bytes: usize,
    /// The delayed-ACK timeout (Linux `icsk_ack.ato`), zero until data arrives.
    pub(crate) ato: Duration,
    /// When in-order data last arrived, for the ATO (Linux `icsk_ack.lrcvtime`).
    pub(crate) ato_lrcv: Instant,
    /// Quick ACKs left (Linux `icsk_ack.quick`).
    pub(crate) quick: u32,
    /// Replies within the ATO (Linux `icsk_ack.pingpong`).
    pub(crate) pingpong: u8,

    // Negotiated options.
    pub(crate) sack_ok: bool,
    pub(crate) ts_ok: bool,
    pub(crate) ts_recent: u32,
    pub(crate) ts_recent_time: Instant,
    pub(crate) ts_offset: u32,

    // Receiver SACK generation (RFC 2018 section 4).
    /// Out-of-order ranges held in the receive buffer (side storage while any).
    pub(crate) assembler: Assembler<A>,
    /// SACK blocks to report, most recently changed first.
    pub(crate) sack_recent: [SackBlock; 4],
    pub(crate) sack_recent_len: usize,
    /// A D-SACK block (RFC 2883) to report once.
    pub(crate) dsack: Option<SackBlock>,

    // Sender loss recovery.
    /// SACKed ranges (side storage while any).
    pub(crate) scoreboard: Scoreboard<A>,
    pub(crate) recovery: Option<Recovery>,
    /// RFC 6582 `recover`: no new recovery until the cumulative ACK reaches it.
    pub(crate) recover: SeqNum,
    pub(crate) dupacks: u32,
    /// RFC 6675 HighRxt: one past the highest octet retransmitted in this recovery.
    pub(crate) high_rxt: SeqNum,
    /// Retransmit the first unacknowledged segment now (fast retransmit, partial ACK).
    pub(crate) rtx_first_pending: bool,
    /// F-RTO after a retransmission timeout, until it decides (RFC 5682; side storage
    /// while deciding).
    pub(crate) frto: A::Slot<frto::Frto>,
    pub(crate) cc: Congestion,
    pub(crate) rtt: RttEstimator,
    /// When the new data in flight was sent, for RTT samples (RFC 6298 with Karn's
    /// rule; Linux `tcp_skb_timestamp_us`; side storage while any).
    pub(crate) send_times: send_times::SendTimes<A>,
    /// One past the highest octet retransmitted and not yet cumulatively acknowledged:
    /// while set, an ACK may be for a retransmission, so Karn's rule forbids a sample
    /// from `send_times` (the echoed timestamp is used instead, RFC 7323 4.1).
    pub(crate) rtx_high: Option<SeqNum>,
    /// When the SYN (or SYN-ACK) went out, while it was sent only once.
    pub(crate) syn_sent_at: Option<Instant>,
    pub(crate) syn_retransmitted: bool,
    /// SYN (or SYN-ACK) retransmissions so far (Linux `icsk_retransmits` in SYN-SENT and
    /// SYN-RECEIVED): linear ones do not back the RTO off, so the estimator's backoff
    /// count is not this.
    pub(crate) syn_retransmits: u32,
    /// The next SYN (or SYN-ACK) goes out because the retransmission timer expired.
    pub(crate) syn_rto_pending: bool,

    // Pending output.
    pub(crate) syn_pending: bool,
    pub(crate) ack_now: bool,
    pub(crate) delack_fired: bool,
    pub(crate) window_update_pending: bool,
    pub(crate) zwp_pending: bool,
    pub(crate) keepalive_pending: bool,
    pub(crate) pending_rst: Option<PendingRst>,

    // Timers.
    pub(crate) rto_deadline: Option<Instant>,
    pub(crate) persist_deadline: Option<Instant>,
    pub(crate) persist_backoff: u32,
    /// Zero-window probes sent without any ACK since (RFC 1122 4.2.2.17 allows probing
    /// forever while the peer answers).
    pub(crate) probes_unanswered: u32,
    /// When the first of the current unanswered zero-window probes was sent (user
    /// timeout).
    pub(crate) probes_since: Option<Instant>,
    pub(crate) delack_deadline: Option<Instant>,
    /// A corked partial segment waits with nothing in flight: when it goes anyway (Linux's
    /// probe timer, `tcp_probe_timer` -> `tcp_write_wakeup`).
    pub(crate) cork_deadline: Option<Instant>,
    /// The cork deadline passed: the next new-data segment may be partial.
    pub(crate) cork_flush: bool,
    /// The last send asked for more (`MSG_MORE`): its partial tail is held as under
    /// `TCP_CORK` until the next send without it, an ACK of new data, or the cork
    /// deadline (Linux `tcp_push` with `TCP_NAGLE_CORK` for that call only).
    pub(crate) more: bool,
    pub(crate) keepalive_deadline: Option<Instant>,
    pub(crate) keepalive_probes: u32,
    /// TIME-WAIT expiry, or the orphaned FIN-WAIT-2 timeout.
    pub(crate) close_deadline: Option<Instant>,
    /// A transmit could not be built ([`Connection::transmit_failed`]): when to poll
    /// again.
    pub(crate) tx_retry_deadline: Option<Instant>,
    /// Transmits that could not be built in a row (the retry backs off).
    pub(crate) tx_failures: u32,
    /// When the current streak of failed transmits began (the give-up budget runs
    /// from it).
    pub(crate) tx_failing_since: Option<Instant>,
    /// Start of the current streak of retransmission timeouts (user timeout).
    pub(crate) retrans_since: Option<Instant>,
    /// When the first retransmission of the current streak went out (Linux
    /// `retrans_stamp`), from which the `max_retries` and `orphan_retries` budgets run.
    pub(crate) rtx_stamp: Option<Instant>,
    pub(crate) last_recv: Instant,
    pub(crate) last_data_send: Option<Instant>,
    /// When in-window data last arrived (`TCP_INFO` `tcpi_last_data_recv`).
    pub(crate) last_data_recv: Option<Instant>,
    /// Wire segments sent, a TSO super-segment counting each segment it becomes
    /// (Linux `segs_out`, `tcp_skb_pcount`), and data segments sent and received
    /// (`data_segs_out`, `data_segs_in`).
    pub(crate) segs_out: u64,
    pub(crate) data_segs_out: u64,
    pub(crate) data_segs_in: u64,
    /// Wire segments beyond the first of GRO-merged segments received (`segs_in`).
    pub(crate) segs_in_merged: u64,
    pub(crate) challenge_window: Instant,
    pub(crate) challenge_count: u32,
    /// Receive buffer autotuning's measurement (`autotune`).
    pub(crate) rcv_space: autotune::RcvSpace,
    /// The receiver's RTT estimate (`rcv_rtt`).
    pub(crate) rcv_rtt: rcv_rtt::RcvRtt,
    /// Delivery-rate sampling (`rate`).
    pub(crate) rate: rate::Rate,
    /// Busy and limited times (`chrono`).
    pub(crate) chrono: chrono::Chrono,

    pub(crate) error: Option<Error>,
    /// The last ICMP error on a synchronized connection (Linux `sk_err_soft`): reported
    /// instead of `ETIMEDOUT` if the connection times out, forgotten when new data is
    /// acknowledged (RFC 1122 4.2.3.9, RFC 5927 section 4.1).
    pub(crate) soft_error: Option<Error>,
    pub(crate) stats: ConnStats,
}

// Every field spelled out (a field added to the struct must be added here, or this does
// not compile), `Copy` ones too.
#[allow(clippy::clone_on_copy)]
impl<S: Clone, R: Clone, A: SideAlloc> Clone for Connection<S, R, A>
where
    Assembler<A>: Clone,
    Scoreboard<A>: Clone,
    send_times::SendTimes<A>: Clone,
    A::Slot<frto::Frto>: Clone,
{
    fn clone(&self) -> Self {
        Connection {
            cfg: self.cfg.clone(),
            local: self.local.clone(),
            remote: self.remote.clone(),
            state: self.state.clone(),
            send_buf: self.send_buf.clone(),
            recv_buf: self.recv_buf.clone(),
            iss: self.iss.clone(),
            snd_una: self.snd_una.clone(),
            snd_nxt: self.snd_nxt.clone(),
            snd_max: self.snd_max.clone(),
            snd_wnd: self.snd_wnd.clone(),
            snd_wl1: self.snd_wl1.clone(),
            snd_wl2: self.snd_wl2.clone(),
            max_snd_wnd: self.max_snd_wnd.clone(),
            snd_wscale: self.snd_wscale.clone(),
            rcv_wscale: self.rcv_wscale.clone(),
            wscale_ok: self.wscale_ok.clone(),
            snd_mss: self.snd_mss.clone(),
            fin_seq: self.fin_seq.clone(),
            fin_queued: self.fin_queued.clone(),
            irs: self.irs.clone(),
            rcv_nxt: self.rcv_nxt.clone(),
            rcv_adv: self.rcv_adv.clone(),
            last_ack_sent: self.last_ack_sent.clone(),
            fin_received: self.fin_received.clone(),
            pending_fin: self.pending_fin.clone(),
            app_closed: self.app_closed.clone(),
            rcv_mss: self.rcv_mss.clone(),
            unacked_bytes: self.unacked_bytes.clone(),
            ato: self.ato.clone(),
            ato_lrcv: self.ato_lrcv.clone(),
            quick: self.quick.clone(),
            pingpong: self.pingpong.clone(),
            sack_ok: self.sack_ok.clone(),
            ts_ok: self.ts_ok.clone(),
            ts_recent: self.ts_recent.clone(),
            ts_recent_time: self.ts_recent_time.clone(),
            ts_offset: self.ts_offset.clone(),
            assembler: self.assembler.clone(),
            sack_recent: self.sack_recent.clone(),
            sack_recent_len: self.sack_recent_len.clone(),
            dsack: self.dsack.clone(),
            scoreboard: self.scoreboard.clone(),
            recovery: self.recovery.clone(),
            recover: self.recover.clone(),
            dupacks: self.dupacks.clone(),
            high_rxt: self.high_rxt.clone(),
            rtx_first_pending: self.rtx_first_pending.clone(),
            frto: self.frto.clone(),
            cc: self.cc.clone(),
            rtt: self.rtt.clone(),
            send_times: self.send_times.clone(),
            rtx_high: self.rtx_high.clone(),
            syn_sent_at: self.syn_sent_at.clone(),
            syn_retransmitted: self.syn_retransmitted.clone(),
            syn_retransmits: self.syn_retransmits.clone(),
            syn_rto_pending: self.syn_rto_pending.clone(),
            syn_pending: self.syn_pending.clone(),
            ack_now: self.ack_now.clone(),
            delack_fired: self.delack_fired.clone(),
            window_update_pending: self.window_update_pending.clone(),
            zwp_pending: self.zwp_pending.clone(),
            keepalive_pending: self.keepalive_pending.clone(),
            pending_rst: self.pending_rst.clone(),
            rto_deadline: self.rto_deadline.clone(),
            persist_deadline: self.persist_deadline.clone(),
            persist_backoff: self.persist_backoff.clone(),
            probes_unanswered: self.probes_unanswered.clone(),
            probes_since: self.probes_since.clone(),
            delack_deadline: self.delack_deadline.clone(),
            cork_deadline: self.cork_deadline.clone(),
            cork_flush: self.cork_flush.clone(),
            more: self.more.clone(),
            keepalive_deadline: self.keepalive_deadline.clone(),
            keepalive_probes: self.keepalive_probes.clone(),
            close_deadline: self.close_deadline.clone(),
            tx_retry_deadline: self.tx_retry_deadline.clone(),
            tx_failures: self.tx_failures.clone(),
            tx_failing_since: self.tx_failing_since.clone(),
            retrans_since: self.retrans_since.clone(),
            rtx_stamp: self.rtx_stamp.clone(),
            last_recv: self.last_recv.clone(),
            last_data_send: self.last_data_send.clone(),
            last_data_recv: self.last_data_recv.clone(),
            segs_out: self.segs_out.clone(),
            data_segs_out: self.data_segs_out.clone(),
            data_segs_in: self.data_segs_in.clone(),
            segs_in_merged: self.segs_in_merged.clone(),
            challenge_window: self.challenge_window.clone(),
            challenge_count: self.challenge_count.clone(),
            rcv_space: self.rcv_space.clone(),
            rcv_rtt: self.rcv_rtt.clone(),
            rate: self.rate.clone(),
            chrono: self.chrono.clone(),
            error: self.error.clone(),
            soft_error: self.soft_error.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// A RST waiting to be sent: the only fields a reset of [`reset_for`] or
/// [`Connection::queue_active_reset`] sets (the rest of its [`TcpRepr`] is the default:
/// no window, no options, no payload): a quarter of the 88 bytes of an `Option<TcpRepr>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingRst {
    src_port: u16,
    dst_port: u16,
    seq: SeqNum,
    ack: SeqNum,
    flags: TcpFlags,
}

impl PendingRst {
    /// The RST `reset_for(seg)` answers `seg` with, if any.
    fn answering(seg: &TcpRepr) -> Option<PendingRst> {
        let r = reset_for(seg)?;
        Some(PendingRst {
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
        })
    }

    /// The segment.
    fn repr(self) -> TcpRepr {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            ..TcpRepr::default()
        }
    }
}

/// The window shift to offer for a receive buffer of `capacity` bytes: the smallest shift
/// that lets the 16-bit field describe the whole buffer, at most 14 (RFC 7323 2.3).
pub fn window_shift_for(capacity: usize) -> u8 {
    let mut shift = 0u8;
    while shift < MAX_WINDOW_SCALE && (capacity >> shift) > usize::from(u16::MAX) {
        shift += 1;
    }
    shift
}

/// The RST to send in answer to `seg` when no connection exists for it (RFC 9293,
/// section 3.10.7.1, CLOSED state): nothing for a RST; `<SEQ=SEG.ACK><CTL=RST>` if the
/// segment has ACK; else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Ports are swapped.
#[must_use]
pub fn reset_for(seg: &TcpRepr) -> Option<TcpRepr> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    let mut rst = TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        ..TcpRepr::default()
    };
    if seg.flags.contains(TcpFlags::ACK) {
        rst.seq = seg.ack;
        rst.flags = TcpFlags::RST;
    } else {
        rst.seq = SeqNum(0);
        rst.ack = seg.seq + seg.seg_len();
        rst.flags = TcpFlags::RST | TcpFlags::ACK;
    }
    Some(rst)
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// A connection in CLOSED with everything zeroed; the constructors fill it in.
    fn blank(
        cfg: Config,
        local: Endpoint,
        remote: Endpoint,
        send_buf: S,
        recv_buf: R,
        now: Instant,
    ) -> Self {
        let mss = usize::from(DEFAULT_MSS);
        Connection {
            cfg,
            local,
            remote,
            state: State::Closed,
            send_buf,
            recv_buf,
            iss: SeqNum(0),
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            snd_max: SeqNum(0),
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: SeqNum(0),
            max_snd_wnd: 0,
            snd_wscale: 0,
            rcv_wscale: 0,
            wscale_ok: false,
            snd_mss: mss,
            fin_seq: None,
            fin_queued: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            last_ack_sent: SeqNum(0),
            fin_received: false,
            pending_fin: None,
            app_closed: false,
            rcv_mss: mss.min(usize::from(cfg.mss)).max(1),
            unacked_bytes: 0,
            ato: Duration::ZERO,
            ato_lrcv: now,
            quick: 0,
            pingpong: 0,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_time: now,
            ts_offset: 0,
            assembler: Assembler::new(),
            sack_recent: [SackBlock::default(); 4],
            sack_recent_len: 0,
            dsack: None,
            scoreboard: Scoreboard::new(),
            recovery: None,
            recover: SeqNum(0),
            dupacks: 0,
            high_rxt: SeqNum(0),
            rtx_first_pending: false,
            frto: A::Slot::empty(),
            cc: Congestion::new(cfg.congestion, mss),
            rtt: RttEstimator::new(cfg.rtt),
            send_times: send_times::SendTimes::default(),
            rtx_high: None,
            syn_sent_at: None,
            syn_retransmitted: false,
            syn_retransmits: 0,
            syn_rto_pending: false,
            syn_pending: false,
            ack_now: false,
            delack_fired: false,
            window_update_pending: false,
            zwp_pending: false,
            keepalive_pending: false,
            pending_rst: None,
            rto_deadline: None,
            persist_deadline: None,
            persist_backoff: 0,
            probes_unanswered: 0,
            probes_since: None,
            delack_deadline: None,
            cork_deadline: None,
            cork_flush: false,
            more: false,
            keepalive_deadline: None,
            keepalive_probes: 0,
            close_deadline: None,
            tx_retry_deadline: None,
            tx_failures: 0,
            tx_failing_since: None,
            retrans_since: None,
            rtx_stamp: None,
            last_recv: now,
            last_data_send: None,
            last_data_recv: None,
            segs_out: 0,
            data_segs_out: 0,
            data_segs_in: 0,
            segs_in_merged: 0,
            challenge_window: now,
            challenge_count: 0,
            rcv_space: autotune::RcvSpace::default(),
            rcv_rtt: rcv_rtt::RcvRtt::default(),
            rate: rate::Rate::new(now),
            chrono: chrono::Chrono::default(),
            error: None,
            soft_error: None,
            stats: ConnStats::default(),
        }
    }

    /// Active open (RFC 9293 3.10.1, OPEN call in CLOSED with an active socket): a
    /// connection in SYN-SENT whose first `poll_transmit` is the SYN. The ISS and the
    /// timestamp offset come from `secret` (RFC 6528, [`crate::isn`]).
    #[must_use]
    pub fn connect(
        cfg: Config,
        local: Endpoint,
        remote: Endpoint,
        secret: &IsnSecret,
        send_buf: S,
        recv_buf: R,
        now: Instant,
    ) -> Self {
        let iss = isn::initial_seq(secret, local.tuple(), remote.tuple(), now);
        let ts_offset = isn::timestamp_offset(secret, local.tuple(), remote.tuple());
        Self::connect_with_iss(cfg, local, remote, iss, ts_offset, send_buf, recv_buf, now)
    }

    /// [`Connection::connect`] with an explicit ISS and TSval offset (for tests and for
    /// glue with its own ISN source).
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn connect_with_iss(
        cfg: Config,
        local: Endpoint,
        remote: Endpoint,
        iss: SeqNum,
        ts_offset: u32,
        send_buf: S,
        recv_buf: R,
        now: Instant,
    ) -> Self {
        let mut c = Self::blank(cfg, local, remote, send_buf, recv_buf, now);
        c.state = State::SynSent;
        c.iss = iss;
        c.snd_una = iss;
        c.snd_nxt = iss;
        c.snd_max = iss;
        c.recover = iss;
        c.high_rxt = iss;
        c.ts_offset = ts_offset;
        c.rcv_wscale = if cfg.window_scale {
            let space = c.recv_buf.capacity().max(cfg.window_space.unwrap_or(0));
            window_shift_for(space.min(cfg.window_clamp.unwrap_or(usize::MAX)))
        } else {
            0
        };
        c.syn_pending = true;
        c
    }

    /// Passive open completed by a [`crate::listener::Listener`]: a connection in
    /// ESTABLISHED (RFC 9293 3.10.7.4, SYN-RECEIVED on an acceptable ACK).
    ///
    /// The glue then passes the handshake's final ACK to [`Connection::on_segment`] too,
    /// which takes the send window from it and delivers any data it carries.
    #[must_use]
    pub fn accept(cfg: Config, hs: &Handshake, send_buf: S, recv_buf: R, now: Instant) -> Self {
        let mut c = Self::blank(cfg, hs.local, hs.remote, send_buf, recv_buf, now);
        c.iss = hs.iss;
        c.irs = hs.irs;
        c.snd_una = hs.iss + 1;
        c.snd_nxt = c.snd_una;
        c.snd_max = c.snd_una;
        c.recover = c.snd_una;
        c.high_rxt = c.snd_una;
        c.snd_wl1 = hs.irs;
        c.snd_wl2 = hs.iss;
        c.rcv_nxt = hs.irs + 1;
        c.rcv_adv = c.rcv_nxt + usize::from(hs.rcv_window);
        c.last_ack_sent = c.rcv_nxt;
        c.set_peer_mss(hs.peer_mss);
        if let Some((snd, rcv)) = hs.window_scale {
            c.wscale_ok = true;
            c.snd_wscale = snd.min(MAX_WINDOW_SCALE);
            c.rcv_wscale = rcv.min(MAX_WINDOW_SCALE);
        }
        c.sack_ok = hs.sack;
        if let Some((recent, offset)) = hs.timestamps {
            c.ts_ok = true;
            c.ts_recent = recent;
            c.ts_recent_time = now;
            c.ts_offset = offset;
        }
        c.syn_retransmitted = hs.synack_retransmitted;
        c.syn_sent_at = hs.synack_sent;
        c.establish(now);
        c
    }

    /// Record the peer's MSS option (RFC 9293 3.7.1: Eff.snd.MSS is bounded by both the
    /// peer's MSS and ours).
    pub(crate) fn set_peer_mss(&mut self, peer_mss: u16) {
        let peer = peer_mss.max(MIN_SND_MSS);
        self.snd_mss = usize::from(peer.min(self.cfg.mss.max(MIN_SND_MSS)));
    }

    /// The handshake completed: enter ESTABLISHED (or FIN-WAIT-1 if the application
    /// already shut down the write side), set up congestion control for the now known
    /// MSS, and take the handshake RTT sample if Karn's algorithm allows one.
    pub(crate) fn establish(&mut self, now: Instant) {
        let smss = self.smss();
        self.cc = Congestion::new(self.cfg.congestion, smss);
        if let Some(sent) = self.syn_sent_at.take() {
            if !self.syn_retransmitted {
                self.rtt.on_sample(now - sent);
            }
        }
        if self.syn_retransmitted {
            // RFC 6298 5.7 and RFC 6928 section 2 (IW of one segment after a lost SYN).
            self.rtt.on_handshake_after_syn_loss();
            self.cc.on_syn_loss(smss);
        }
        self.rto_deadline = None;
        self.retrans_since = None;
        self.rtx_stamp = None;
        self.syn_pending = false;
        self.last_recv = now;
        self.state = State::Established;
        self.buffers_established(now);
        if self.fin_queued {
            self.fin_seq = Some(self.snd_una + self.send_buf.len());
            self.state = State::FinWait1;
        }
    }

    /// Sender MSS for congestion control: the payload of a full-sized segment (SMSS, RFC
    /// 5681), i.e. the send MSS minus the timestamps option when it is in use.
    pub(crate) fn smss(&self) -> usize {
        let opts = if self.ts_ok { TS_OPTION_LEN } else { 0 };
        self.snd_mss.saturating_sub(opts).max(1)
    }

    /// One past the last byte in the send buffer (the FIN's sequence number).
    pub(crate) fn data_end(&self) -> SeqNum {
        self.snd_una + self.send_buf.len()
    }

    /// RFC 5681 section 2 FlightSize: sent but not cumulatively acknowledged.
    pub(crate) fn flight_size(&self) -> usize {
        self.snd_max.since(self.snd_una)
    }

    /// Our TSval clock: milliseconds plus the per-connection offset (RFC 7323 5.4).
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        // Truncation is the TSval clock wrapping.
        (now.millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Move to `state`, doing the entry actions that belong to the state itself.
    pub(crate) fn set_state(&mut self, state: State, now: Instant) {
        self.state = state;
        match state {
            State::TimeWait => {
                // RFC 9293 3.10.7.4: "Start the time-wait timer, turn off the other timers."
                self.close_deadline = Some(now + self.cfg.time_wait);
                self.rto_deadline = None;
                self.persist_deadline = None;
                self.keepalive_deadline = None;
                self.rtx_first_pending = false;
                self.zwp_pending = false;
                self.keepalive_pending = false;
            }
            State::FinWait2 if self.app_closed => {
                // Linux tcp_fin_time(): never less than 3.5 RTO, so that the peer's FIN
                // retransmitted after one lost ACK still finds the connection.
                let rto = self.rtt.rto().micros();
                let floor = Duration(rto.saturating_mul(4).saturating_sub(rto / 2));
                self.close_deadline = self.cfg.fin_wait2_timeout.map(|t| now + t.max(floor));
            }
            State::Closed => {
                self.close_deadline = None;
                self.tx_retry_deadline = None;
                self.rto_deadline = None;
                self.persist_deadline = None;
                self.delack_deadline = None;
                self.keepalive_deadline = None;
                self.syn_pending = false;
                self.ack_now = false;
                self.zwp_pending = false;
                self.keepalive_pending = false;
                self.rtx_first_pending = false;
                self.recovery = None;
            }
            _ => {}
        }
    }

    /// Fail the connection with `err` (the application sees it once).
    pub(crate) fn fail(&mut self, err: Error, now: Instant) {
        self.error = Some(err);
        self.set_state(State::Closed, now);
    }

    /// Queue a RST|ACK for the current connection (ABORT, RFC 9293 3.10.4:
    /// `<SEQ=SND.NXT><CTL=RST>`; like Linux we also acknowledge RCV.NXT).
    pub(crate) fn queue_active_reset(&mut self) {
        self.pending_rst = Some(PendingRst {
            src_port: self.local.port,
            dst_port: self.remote.port,
            seq: self.snd_max,
            ack: self.rcv_nxt,
            flags: TcpFlags::RST | TcpFlags::ACK,
        });
    }

    /// True in states where the application may queue data (established or
    /// CLOSE-WAIT, no FIN queued), whatever the room in the send buffer.
    pub fn send_open(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait) && !self.fin_queued
    }

    // ----- Application interface -----

    /// Queue data: `f` appends to the send buffer through the buffer's own API and
    /// returns how many bytes it appended, which is returned.
    ///
    /// Errors: the pending connection error (once), [`Error::BrokenPipe`] after
    /// `shutdown_write`/`close` or once closed, [`Error::WouldBlock`] while connecting or
    /// when the buffer is full.
    ///
    /// One call is one application send (`sendmsg`): it starts by checking whether the
    /// application leaves the pipe partly empty (delivery-rate sampling); a send the
    /// glue splits into several calls continues with
    /// [`Connection::send_continued_with`].
    pub fn send_with<F: FnOnce(&mut S) -> usize>(&mut self, f: F) -> Result<usize, Error> {
        self.send_inner(true, f)
    }

    /// [`Connection::send_with`] for the rest of an application send already begun
    /// (Linux's `tcp_sendmsg_locked` checks `tcp_rate_check_app_limited` once, at its
    /// start, not after waiting for room).
    pub fn send_continued_with<F: FnOnce(&mut S) -> usize>(
        &mut self,
        f: F,
    ) -> Result<usize, Error> {
        self.send_inner(false, f)
    }

    fn send_inner<F: FnOnce(&mut S) -> usize>(
        &mut self,
        call_start: bool,
        f: F,
    ) -> Result<usize, Error> {
        // The pending error goes to the call that finds it before it queued anything;
        // a call already under way returns its count and leaves the error for the
        // next one (Linux tcp_sendmsg_locked's `do_error`: with bytes copied it returns
        // them, without calling `sk_stream_error`, which would clear `sk_err`).
        let pending = if call_start {
            self.error.take()
        } else {
            self.error
        };
        if let Some(e) = pending {
            return Err(e);
        }
        if self.fin_queued {
            return Err(Error::BrokenPipe);
        }
        match self.state {
            State::SynSent | State::SynReceived => return Err(Error::WouldBlock),
            State::Established | State::CloseWait => {}
            _ => return Err(Error::BrokenPipe),
        }
        if self.send_buf.len() >= self.send_buf.capacity() {
            return Err(Error::WouldBlock);
        }
        // Linux `tcp_sendmsg_locked`: "is sending application-limited?"
        if call_start {
            self.rate_check_app_limited();
        }
        let first = self.chrono_before_queue();
        let n = f(&mut self.send_buf);
        if n > 0 && first {
            self.chrono_queued();
        }
        Ok(n)
    }

    /// Read data: `f` reads from the receive buffer through the buffer's own API (without
    /// removing anything) and returns how many bytes it consumed; the core then calls
    /// [`RecvBuffer::consume`] with that count (clamped to what is readable) and, if the
    /// window opened enough, queues a window update.
    ///
    /// Returns `Ok(0)` at end of stream (peer's FIN, or a cleanly closed connection).
    /// Errors: [`Error::WouldBlock`] when nothing is readable yet, the pending
    /// connection error (once).
    pub fn recv_with<F: FnOnce(&R) -> usize>(&mut self, f: F) -> Result<usize, Error> {
        let readable = self.recv_buf.len();
        if readable > 0 {
            let n = f(&self.recv_buf).min(readable);
            self.recv_buf.consume(n);
            self.rcv_space_adjust(self.last_recv);
            self.after_read();
            return Ok(n);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.fin_received {
            return Ok(0);
        }
        match self.state {
            State::Closed | State::TimeWait => Ok(0),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Shut the write side down (`shutdown(SHUT_WR)`): a FIN follows the queued data
    /// (RFC 9293 3.10.4 CLOSE semantics for the sending direction); reading continues.
    ///
    /// Errors: [`Error::NotConnected`] on a closed connection.
    pub fn shutdown_write(&mut self) -> Result<(), Error> {
        match self.state {
            State::Closed | State::Listen => return Err(Error::NotConnected),
            // RFC 9293 3.10.4, SYN-SENT/SYN-RECEIVED: queue it until ESTABLISHED.
            State::SynSent | State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.fin_seq = Some(self.data_end());
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.fin_seq = Some(self.data_end());
                self.state = State::LastAck;
            }
            _ => {}
        }
        Ok(())
    }

    /// Close (`close()` on the socket): no more reads or writes. Queued data is still
    /// sent, then FIN. With unread received data the connection is reset instead (RFC
    /// 2525 section 2.17, as Linux does). In SYN-SENT the connection just goes away
    /// (RFC 9293 3.10.4). Afterwards new data from the peer is answered with RST.
    pub fn close(&mut self, now: Instant) {
        self.app_closed = true;
        match self.state {
            State::Closed | State::Listen | State::TimeWait => {}
            State::SynSent => self.set_state(State::Closed, now),
            _ if !self.recv_buf.is_empty() => {
                self.queue_active_reset();
                self.set_state(State::Closed, now);
            }
            _ => {
                let _ = self.shutdown_write();
                if self.state == State::FinWait2 && self.cfg.fin_wait2_reset {
                    // Linux `__tcp_close` with `linger2 < 0`: "tcp_set_state(sk,
                    // TCP_CLOSE); tcp_send_active_reset(...)".
                    self.queue_active_reset();
                    self.set_state(State::Closed, now);
                } else if self.state == State::FinWait2 {
                    self.set_state(State::FinWait2, now);
                }
            }
        }
    }

    /// Abort (RFC 9293 3.10.5 ABORT): send RST if synchronized, drop everything, CLOSED.
    pub fn abort(&mut self, now: Instant) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        ) {
            self.queue_active_reset();
        }
        self.app_closed = true;
        self.set_state(State::Closed, now);
    }

    /// The application consumed data: RFC 9293 3.8.6.2.2 (receiver SWS avoidance) decides
    /// whether the freed space is worth a window update.
    fn after_read(&mut self) {
        if !self.synchronized_receiving() {
            return;
        }
        if self.window_update_worthwhile() {
            self.window_update_pending = true;
            self.ack_now = true;
        } else if self.delack_deadline.is_some() && self.unacked_bytes > self.rcv_mss {
            // Linux `tcp_cleanup_rbuf`: a delayed ACK for more than one full-sized
            // segment goes out once the application has read (the ACK the arrival held
            // back because the window would not have grown, `schedule_ack`).
            self.ack_now = true;
        }
    }

    /// True in states where we may (re)transmit data or our FIN.
    pub(crate) fn data_sending_state(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    /// True in states where the peer may still send data.
    fn synchronized_receiving(&self) -> bool {
        matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        )
    }

    // ----- Readiness and state -----

    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our endpoint.
    pub fn local(&self) -> Endpoint {
        self.local
    }

    /// The peer's endpoint.
    pub fn remote(&self) -> Endpoint {
        self.remote
    }

    /// True if `recv_with` would not return `WouldBlock`: data, end of stream, or an error
    /// (POLLIN).
    pub fn readable(&self) -> bool {
        !self.recv_buf.is_empty()
            || self.fin_received
            || self.error.is_some()
            || matches!(self.state, State::Closed | State::TimeWait)
    }

    /// True if `send_with` can queue at least one byte.
    pub fn writable(&self) -> bool {
        self.send_open() && self.send_buf.len() < self.send_buf.capacity()
    }

    /// True if the send buffer has enough room to report the socket writable (POLLOUT)
    /// and to wake a writer: the free space is at least half the queued bytes, i.e. at
    /// least a third of the buffer is free (Linux `__sk_stream_is_writeable`:
    /// `sk_stream_wspace() >= sk_stream_min_wspace()`). The hysteresis keeps a writer
    /// from being woken for every ACK that frees a few bytes.
    pub fn stream_writeable(&self) -> bool {
        let queued = self.send_buf.len();
        let free = self.send_buf.capacity().saturating_sub(queued);
        self.send_open() && free > 0 && free >= queued / 2
    }

    /// The peer will send nothing more (POLLRDHUP): its FIN arrived, or the connection
    /// is closed.
    pub fn read_closed(&self) -> bool {
        self.fin_received || self.state == State::Closed
    }

    /// Both directions are finished (POLLHUP): closed, or FIN received and sent.
    pub fn hung_up(&self) -> bool {
        self.state == State::Closed
            || self.state == State::TimeWait
            || (self.fin_received && self.fin_queued)
    }

    /// The pending error, if any (POLLERR; `SO_ERROR` reads it with
    /// [`Connection::take_error`]).
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// Take the pending error (`SO_ERROR`).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// True once the connection is CLOSED and has nothing left to send: the glue may
    /// drop it.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.pending_rst.is_none()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats.widen()
    }

    /// Mutable counters, for the glue's own events (checksum failures...).
    pub fn stats_mut(&mut self) -> &mut ConnStats {
        &mut self.stats
    }

    /// The send buffer (to copy payload named by a [`Transmit`]).
    pub fn send_buffer(&self) -> &S {
        &self.send_buf
    }

    /// The receive buffer.
    pub fn recv_buffer(&self) -> &R {
        &self.recv_buf
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ----- Socket options -----

    /// `TCP_NODELAY`: disable (true) or enable Nagle's algorithm.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.cfg.nodelay = nodelay;
    }

    /// `TCP_CORK`. Removing the cork lets a held partial segment go as Nagle allows
    /// (Linux `__tcp_sock_set_cork` -> `tcp_push_pending_frames`).
    pub fn set_cork(&mut self, cork: bool) {
        self.cfg.cork = cork;
    }

    /// `MSG_MORE` on the send about to be made (false: a send without it, which pushes
    /// what an earlier `MSG_MORE` held).
    pub fn set_more(&mut self, more: bool) {
        self.more = more;
    }

    /// Whether a partial segment is held now (`TCP_CORK` or `MSG_MORE`).
    pub(crate) fn corked(&self) -> bool {
        (self.cfg.cork || self.more) && !self.cork_flush
    }

    /// Bytes queued but never sent (Linux `write_seq - snd_nxt`, for
    /// `TCP_NOTSENT_LOWAT` and `SIOCOUTQNSD`). partcp's SND.NXT goes back after a
    /// timeout (go-back-N); Linux's does not, so SND.MAX is its counterpart. 0 before the
    /// handshake completes.
    pub fn notsent_bytes(&self) -> usize {
        if matches!(self.state, State::SynSent | State::SynReceived) {
            return 0;
        }
        self.send_buf
            .len()
            .saturating_sub(self.snd_max.since(self.snd_una))
    }

    /// `SO_KEEPALIVE` with `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT`.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.cfg.keepalive = keepalive;
        self.keepalive_deadline = None;
        self.keepalive_probes = 0;
    }

    /// `TCP_WINDOW_CLAMP` on an open connection: the window offered from now on is at
    /// most `clamp` (the right edge already offered never moves back, RFC 9293
    /// 3.8.6.2.2).
    pub fn set_window_clamp(&mut self, clamp: Option<usize>) {
        self.cfg.window_clamp = clamp;
    }

    /// `TCP_LINGER2`: how long an orphan may stay in FIN-WAIT-2 (Linux reads
    /// `tp->linger2` when the socket is closed, `tcp_fin_time`).
    pub fn set_fin_wait2_timeout(&mut self, timeout: Option<Duration>) {
        self.cfg.fin_wait2_timeout = timeout;
    }

    /// Negative `TCP_LINGER2`: no FIN-WAIT-2 for the orphan ([`Config::fin_wait2_reset`]).
    pub fn set_fin_wait2_reset(&mut self, on: bool) {
        self.cfg.fin_wait2_reset = on;
    }

    /// `TCP_USER_TIMEOUT`.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.cfg.user_timeout = timeout;
    }

    /// Delayed-ACK timeout; `None` acknowledges every segment at once (`TCP_QUICKACK`).
    pub fn set_delayed_ack(&mut self, delay: Option<Duration>) {
        self.cfg.delayed_ack = delay;
    }

    /// `TCP_CONGESTION`: switch algorithm. The new controller starts from the initial
    /// window unless the connection has not sent data yet.
    pub fn set_congestion(&mut self, alg: CongestionAlgorithm) {
        if alg != self.cc.algorithm() {
            self.cfg.congestion = alg;
            self.cc = Congestion::new(alg, self.smss());
        }
    }

    /// `TCP_MAXSEG`: before the handshake it sets the MSS we advertise; afterwards it can
    /// only lower the send MSS.
    pub fn set_max_segment_size(&mut self, mss: u16) {
        let mss = mss.max(MIN_SND_MSS);
        if self.state == State::SynSent && self.snd_max == self.iss {
            self.cfg.mss = mss;
        } else {
            self.snd_mss = self.snd_mss.min(usize::from(mss));
        }
    }

    /// `TCP_MAXSEG` read: the current send MSS (payload per full segment).
    pub fn max_segment_size(&self) -> usize {
        self.smss()
    }

    /// Largest payload of one [`Transmit`] (0: one segment), when the device can segment.
    pub fn set_tso_max(&mut self, bytes: usize) {
        self.cfg.tso_max = bytes;
    }

    // ----- Introspection (TCP_INFO) -----

    /// Our initial sequence number (ISS).
    pub fn iss(&self) -> SeqNum {
        self.iss
    }

    /// The peer's initial sequence number (IRS; meaningful once its SYN arrived).
    pub fn irs(&self) -> SeqNum {
        self.irs
    }

    /// SND.UNA.
    pub fn snd_una(&self) -> SeqNum {
        self.snd_una
    }

    /// SND.NXT (the next new sequence number to send; after a timeout this is where
    /// go-back-N retransmission resumes).
    pub fn snd_nxt(&self) -> SeqNum {
        self.snd_nxt
    }

    /// One past the highest sequence number sent.
    pub fn snd_max(&self) -> SeqNum {
        self.snd_max
    }

    /// RCV.NXT.
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }

    /// The peer's window in bytes.
    pub fn send_window(&self) -> usize {
        self.snd_wnd
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    /// Slow start threshold in bytes.
    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    /// Smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Current retransmission timeout (with backoff).
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// True while in fast recovery.
    pub fn in_recovery(&self) -> bool {
        self.recovery.is_some()
    }

    /// Negotiated options: (window scaling, SACK, timestamps).
    pub fn negotiated(&self) -> (bool, bool, bool) {
        (self.wscale_ok, self.sack_ok, self.ts_ok)
    }

    /// Window shifts in use: (peer's, ours).
    pub fn window_shifts(&self) -> (u8, u8) {
        (self.snd_wscale, self.rcv_wscale)
    }

    /// Bytes in flight as the sender counts them (RFC 6675 pipe with SACK).
    pub fn bytes_in_flight(&self) -> usize {
        self.cwnd_flight()
    }

    /// The side structures ([`crate::side`]) held now: out-of-order ranges, SACK
    /// scoreboard, send times, F-RTO state. An idle connection holds none.
    pub fn side_held(&self) -> SideHeld {
        SideHeld {
            ooo_ranges: self.assembler.is_held(),
            scoreboard: self.scoreboard.is_held(),
            send_times: self.send_times.is_held(),
            frto: self.frto.is_held(),
        }
    }
}
