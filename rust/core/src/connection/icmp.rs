//! ICMP errors about this connection's segments (RFC 1122 section 4.2.3.9, RFC 5927,
//! Linux `tcp_v4_err`).
//!
//! The glue recognizes an ICMP error whose quoted datagram is one of this connection's
//! segments (by its 4-tuple) and hands over the quoted sequence number and the kind of
//! error; the core decides what it means:
//!
//! - the quoted sequence number must lie in SND.UNA..SND.MAX (RFC 5927 section 4.1),
//!   otherwise the message is ignored (blind attack or stale);
//! - in SYN-SENT and SYN-RECEIVED the connection fails with the error (as Linux, for
//!   every error it maps: `tcp_v4_err` calls `tcp_done_with_error`). RFC 1122 calls
//!   codes 0, 1 and 5 soft errors that "SHOULD NOT" abort, but RFC 5461 documents that
//!   stacks abort a connection attempt on them, as Linux does, and `connect()` to an
//!   unreachable host failing with `EHOSTUNREACH` is what applications expect;
//! - in the synchronized states the error is only remembered ("soft error", Linux
//!   `sk_err_soft`): if the connection later times out, the application sees it instead
//!   of `ETIMEDOUT`; acknowledged data clears it. RFC 1122 4.2.3.9: "TCP MUST NOT abort
//!   the connection" on soft errors; Linux treats the hard ones (protocol and port
//!   unreachable) the same way in these states (without `IP_RECVERR`), and so does partcp.
//!
//! Fragmentation needed (type 3 code 4) is path MTU discovery (RFC 1191 section 6.1,
//! Linux `tcp_v4_mtu_reduced`): partcp sends with DF set, and a router that cannot
//! forward a segment says which MTU it can. After the same sequence check, the send MSS
//! drops to fit that MTU (never below [`MIN_PATH_MTU`], which RFC 5927 section 7 asks
//! for against forged messages) and what is in flight is sent again at the new size at
//! once (Linux `tcp_simple_retransmit`), without treating it as congestion. Only in the
//! synchronized states where data is sent; a message about a SYN is ignored. Source
//! quench is ignored (RFC 6633), redirects are the IP layer's.

use super::{Connection, Error, State};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::seq::SeqNum;
use crate::side::SideAlloc;
use crate::time::Instant;

/// An ICMP error message about one of our segments (RFC 792).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination unreachable (type 3) with its code.
    DestUnreachable(u8),
    /// Time exceeded (type 11), either code.
    TimeExceeded,
    /// Parameter problem (type 12).
    ParameterProblem,
    /// Destination unreachable, fragmentation needed and DF set (type 3 code 4), with
    /// the next-hop MTU (RFC 1191 section 4; 0 from routers that predate it).
    FragmentationNeeded(u16),
}

/// The smallest path MTU a fragmentation-needed message can set (Linux `min_pmtu`,
/// 552): RFC 1191 allows 68, but forged messages could then shrink segments to a few
/// bytes (RFC 5927 section 7). A message from a router that predates RFC 1191 (MTU 0)
/// also lands here.
pub const MIN_PATH_MTU: u16 = 552;

/// IPv4 and TCP headers without options: a path MTU less this is the send MSS.
const IPV4_TCP_HEADERS: usize = 40;

impl IcmpError {
    /// The error the application sees, as Linux's `icmp_err_convert` table and
    /// `tcp_v4_err`; `None` for messages that are not errors for the application
    /// (fragmentation needed, see [`Connection::on_icmp_error`]) and unknown codes.
    pub const fn error(self) -> Option<Error> {
        Some(match self {
            IcmpError::DestUnreachable(code) => match code {
                // Net unreachable, net unknown, net administratively prohibited, net
                // unreachable for TOS.
                0 | 6 | 9 | 11 => Error::NetUnreachable,
                // Host unreachable, host administratively prohibited, host unreachable
                // for TOS, communication administratively prohibited, host precedence
                // violation, precedence cutoff (RFC 1812).
                1 | 10 | 12..=15 => Error::HostUnreachable,
                2 => Error::ProtocolUnreachable,
                3 => Error::ConnectionRefused,
                5 => Error::SourceRouteFailed,
                7 => Error::HostDown,
                8 => Error::HostIsolated,
                // 4: fragmentation needed (path MTU, see the module documentation);
                // anything above 15 is unknown.
                _ => return None,
            },
            IcmpError::TimeExceeded => Error::HostUnreachable,
            IcmpError::ParameterProblem => Error::ProtocolError,
            IcmpError::FragmentationNeeded(_) => return None,
        })
    }
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// An ICMP error arrived quoting one of our segments with sequence number `seq`.
    /// Returns true if it affected the connection (failed it, or was recorded as its soft
    /// error), false if it was ignored. Follow with the `poll_transmit` loop (nothing is
    /// sent, but a failed connection has its timers cancelled).
    pub fn on_icmp_error(&mut self, now: Instant, seq: SeqNum, icmp: IcmpError) -> bool {
        if matches!(self.state, State::Closed | State::Listen | State::TimeWait) {
            return false;
        }
        // RFC 5927 section 4.1: "TCP SHOULD check that the TCP sequence number
        // contained in the payload of the ICMP error message is within the range
        // SND.UNA =< SEG.SEQ < SND.NXT. [...] If an ICMP error message does not pass
        // this check, it SHOULD be discarded." SND.MAX here: after a timeout SND.NXT
        // goes back, but the segments above it were sent and may be quoted.
        if !(self.snd_una <= seq && seq < self.snd_max) {
            self.stats.icmp_ignored = self.stats.icmp_ignored.saturating_add(1);
            return false;
        }
        if let IcmpError::FragmentationNeeded(mtu) = icmp {
            return self.path_mtu_reduced(mtu);
        }
        let Some(err) = icmp.error() else {
            self.stats.icmp_ignored = self.stats.icmp_ignored.saturating_add(1);
            return false;
        };
        self.stats.icmp_errors = self.stats.icmp_errors.saturating_add(1);
        match self.state {
            // Linux tcp_v4_err: in SYN-SENT and SYN-RECV the attempt ends with the error
            // (RFC 5461 section 2 describes this common practice).
            State::SynSent | State::SynReceived => self.fail(err, now),
            // RFC 1122 4.2.3.9: "Since these Unreachable messages indicate soft error
            // conditions, TCP MUST NOT abort the connection, and it SHOULD make the
            // information available to the application." Kept for a later timeout.
            _ => self.soft_error = Some(err),
        }
        true
    }

    /// Fragmentation needed with next-hop MTU `mtu` (RFC 1191 section 6.1: "the
    /// sending host [...] must reduce its assumed PMTU"). Returns true if the send MSS
    /// went down.
    fn path_mtu_reduced(&mut self, mtu: u16) -> bool {
        let mss = usize::from(mtu.max(MIN_PATH_MTU)) - IPV4_TCP_HEADERS;
        if !self.data_sending_state() || mss >= self.snd_mss {
            self.stats.icmp_ignored = self.stats.icmp_ignored.saturating_add(1);
            return false;
        }
        self.snd_mss = mss;
        self.stats.pmtu_reductions = self.stats.pmtu_reductions.saturating_add(1);
        // Linux tcp_simple_retransmit: the segments in flight were too large for the
        // path and were dropped; send them again now at the new size. Not a congestion
        // signal: cwnd and ssthresh stay.
        if self.snd_max > self.snd_una {
            self.go_back_to_una();
        }
        true
    }
}
