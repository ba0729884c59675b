//! Per-connection (and per-listener) counters, plain `u64`s the glue can export.
//!
//! Every counter only ever increases (saturating). Aggregate with [`Stats::add`].
//!
//! A connection keeps its counters as [`ConnStats`]: the per-segment and per-byte ones
//! as `u64`, the counters of rarer events (retransmissions, recoveries, RSTs, invalid
//! segments...) as `u32`, saturating at `u32::MAX`, and none of the listener-only
//! ones; [`ConnStats::widen`] gives them as a [`Stats`]. That keeps an idle connection
//! 160 bytes smaller (Documentation/design.md, per-connection memory).

/// A counter a connection never has (a listener's): zero bytes in [`ConnStats`], read
/// as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotCounted;

impl From<NotCounted> for u64 {
    fn from(_: NotCounted) -> u64 {
        0
    }
}

/// Declares [`Stats`] and [`ConnStats`] with their fields (each with its type in
/// [`ConnStats`]), their documentation, `add`, `fields` and `widen`.
macro_rules! stats_struct {
    ($( $(#[doc = $doc:expr])+ $name:ident: $conn_ty:ty, )+) => {
        /// Counters for one connection, one listener, or an aggregate of many.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $( $(#[doc = $doc])+ pub $name: u64, )+
        }

        impl Stats {
            /// Add every counter of `other` to this one (saturating).
            pub fn add(&mut self, other: &Stats) {
                $( self.$name = self.$name.saturating_add(other.$name); )+
            }

            /// Every counter with its name, for export (e.g. a procfs/netlink dump).
            pub fn fields(&self) -> [(&'static str, u64); STATS_FIELDS] {
                [$( (stringify!($name), self.$name), )+]
            }
        }

        /// Number of counters in [`Stats`].
        pub const STATS_FIELDS: usize = [$( stringify!($name), )+].len();

        /// A connection's counters as it keeps them (see the module documentation).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ConnStats {
            $( $(#[doc = $doc])+ pub $name: $conn_ty, )+
        }

        impl ConnStats {
            /// The counters as a [`Stats`] (the listener-only ones 0).
            pub fn widen(&self) -> Stats {
                Stats { $( $name: u64::from(self.$name), )+ }
            }
        }
    };
}

stats_struct! {
    /// Segments handed to the core (any outcome).
    segments_in: u64,
    /// Segments produced by the core (data, control and ACKs; a TSO super-segment counts
    /// once).
    segments_out: u64,
    /// Payload bytes accepted in order or queued out of order (first copies only).
    bytes_in: u64,
    /// Payload bytes sent, first transmissions only.
    bytes_out: u64,
    /// Payload bytes retransmitted.
    bytes_retransmitted: u64,
    /// Segments retransmitted by fast retransmit / SACK loss recovery (RFC 5681, 6675).
    fast_retransmits: u32,
    /// Segments retransmitted after a retransmission timeout (RFC 6298 5.4), including
    /// SYN and SYN-ACK retransmissions and the go-back-N resends that follow a timeout.
    rto_retransmits: u32,
    /// Retransmission timer expirations (each counted once).
    rto_expirations: u32,
    /// Retransmission timeouts F-RTO found spurious and undid (RFC 5682; Linux
    /// `TCPSpuriousRTOs`).
    spurious_rtos: u32,
    /// Connections aborted because retransmissions or the user timeout ran out
    /// (ETIMEDOUT), including keepalive failures.
    timeouts: u32,
    /// Duplicate ACKs received (RFC 5681 section 2).
    dupacks_in: u64,
    /// Fast recovery episodes entered with SACK (RFC 6675).
    sack_recoveries: u32,
    /// Fast recovery episodes entered without SACK (RFC 6582 NewReno).
    reno_recoveries: u32,
    /// Partial ACKs during recovery (RFC 6582).
    partial_acks: u32,
    /// SACK blocks received.
    sack_blocks_in: u64,
    /// SACK blocks ignored as invalid (outside SND.UNA..SND.MAX).
    sack_blocks_invalid: u32,
    /// D-SACK blocks received (RFC 2883).
    dsacks_in: u32,
    /// Sender scoreboard range overflow (SACK information dropped).
    sack_scoreboard_overflows: u32,
    /// Out-of-order segments queued for reassembly.
    ooo_queued: u64,
    /// Out-of-order segments dropped (range table full, or no memory for it).
    ooo_dropped: u32,
    /// Side structures not held for want of memory (`crate::side`): out-of-order
    /// segments dropped (also counted in `ooo_dropped`), SACK blocks and send times not
    /// recorded, F-RTO episodes not started.
    side_alloc_failures: u32,
    /// Segments whose text the receive buffer refused to hold (memory accounting: the
    /// skbs it keeps would exceed its limit); treated as lost, so the peer retransmits.
    rcv_refused: u32,
    /// Segments that carried no new data (entirely duplicate).
    duplicate_segments: u64,
    /// Segments dropped as out of window (RFC 9293 3.10.7.4), answered with an ACK.
    out_of_window: u64,
    /// Checksum failures (counted by the glue's parser path).
    checksum_errors: u32,
    /// Malformed segments dropped before reaching the core (glue's parser path).
    malformed: u32,
    /// RST segments received.
    rsts_in: u32,
    /// RST segments sent.
    rsts_out: u32,
    /// Challenge ACKs sent (RFC 5961 sections 3, 4, 5).
    challenge_acks: u32,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 section 7).
    challenge_acks_suppressed: u32,
    /// Segments dropped by PAWS (RFC 7323 section 5).
    paws_drops: u32,
    /// Unacceptable ACKs dropped (RFC 5961 section 5; ACK of unsent data).
    bad_acks: u32,
    /// Zero-window probes sent (RFC 9293 3.8.6.1).
    zero_window_probes: u32,
    /// Pure ACKs sent after the delayed-ACK timer ran out (RFC 9293 3.8.6.3).
    delayed_acks: u64,
    /// Pure ACKs sent (any reason).
    pure_acks_out: u64,
    /// Window updates sent because the application read data.
    window_updates: u64,
    /// Keepalive probes sent (RFC 1122 4.2.3.6).
    keepalives: u32,
    /// SYN segments received by a listener.
    syns_in: NotCounted,
    /// SYN cookies sent because the SYN queue was full.
    syncookies_sent: NotCounted,
    /// Valid SYN cookie ACKs that created a connection.
    syncookies_ok: NotCounted,
    /// ACKs to a listener that carried an invalid cookie.
    syncookies_failed: NotCounted,
    /// SYNs dropped by a listener (SYN queue full without cookies, or accept queue full).
    listen_drops: NotCounted,
    /// Final ACKs dropped because the accept queue was full.
    listen_overflows: NotCounted,
    /// Connections handed to the glue by a listener.
    accepted: NotCounted,
    /// ICMP errors that failed the connection (SYN-SENT, SYN-RECEIVED) or were recorded
    /// as its soft error (RFC 1122 4.2.3.9).
    icmp_errors: u32,
    /// ICMP errors ignored: quoted sequence number outside SND.UNA..SND.MAX (RFC 5927
    /// section 4.1), a message TCP does not act on, or a fragmentation-needed message
    /// that would not lower the send MSS.
    icmp_ignored: u32,
    /// Send MSS reductions by ICMP fragmentation needed (path MTU discovery, RFC 1191).
    pmtu_reductions: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sums_every_field() {
        let mut a = Stats {
            segments_in: 3,
            keepalives: 1,
            ..Stats::default()
        };
        let b = Stats {
            segments_in: 4,
            rsts_out: 2,
            ..Stats::default()
        };
        a.add(&b);
        assert_eq!(a.segments_in, 7);
        assert_eq!(a.rsts_out, 2);
        assert_eq!(a.keepalives, 1);
    }

    #[test]
    fn add_saturates() {
        let mut a = Stats {
            bytes_in: u64::MAX - 1,
            ..Stats::default()
        };
        a.add(&Stats {
            bytes_in: 10,
            ..Stats::default()
        });
        assert_eq!(a.bytes_in, u64::MAX);
    }

    #[test]
    fn fields_names_and_values() {
        let s = Stats {
            paws_drops: 9,
            ..Stats::default()
        };
        let f = s.fields();
        assert_eq!(f.len(), STATS_FIELDS);
        assert!(f.contains(&("paws_drops", 9)));
        assert_eq!(f[0].0, "segments_in");
    }
}
