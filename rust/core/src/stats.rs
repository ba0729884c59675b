//! Per-connection (and per-listener) counters, plain `u64`s the glue can export.
//!
//! Every counter only ever increases (saturating). Aggregate with [`Stats::add`].

/// Declares [`Stats`] with its fields, their documentation, `add` and `fields`.
macro_rules! stats_struct {
    ($( $(#[doc = $doc:expr])+ $name:ident, )+) => {
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
    };
}

stats_struct! {
    /// Segments handed to the core (any outcome).
    segments_in,
    /// Segments produced by the core (data, control and ACKs; a TSO super-segment counts
    /// once).
    segments_out,
    /// Payload bytes accepted in order or queued out of order (first copies only).
    bytes_in,
    /// Payload bytes sent, first transmissions only.
    bytes_out,
    /// Payload bytes retransmitted.
    bytes_retransmitted,
    /// Segments retransmitted by fast retransmit / SACK loss recovery (RFC 5681, 6675).
    fast_retransmits,
    /// Segments retransmitted after a retransmission timeout (RFC 6298 5.4), including
    /// SYN and SYN-ACK retransmissions and the go-back-N resends that follow a timeout.
    rto_retransmits,
    /// Retransmission timer expirations (each counted once).
    rto_expirations,
    /// Retransmission timeouts F-RTO found spurious and undid (RFC 5682; Linux
    /// `TCPSpuriousRTOs`).
    spurious_rtos,
    /// Connections aborted because retransmissions or the user timeout ran out
    /// (ETIMEDOUT), including keepalive failures.
    timeouts,
    /// Duplicate ACKs received (RFC 5681 section 2).
    dupacks_in,
    /// Fast recovery episodes entered with SACK (RFC 6675).
    sack_recoveries,
    /// Fast recovery episodes entered without SACK (RFC 6582 NewReno).
    reno_recoveries,
    /// Partial ACKs during recovery (RFC 6582).
    partial_acks,
    /// SACK blocks received.
    sack_blocks_in,
    /// SACK blocks ignored as invalid (outside SND.UNA..SND.MAX).
    sack_blocks_invalid,
    /// D-SACK blocks received (RFC 2883).
    dsacks_in,
    /// Sender scoreboard range overflow (SACK information dropped).
    sack_scoreboard_overflows,
    /// Out-of-order segments queued for reassembly.
    ooo_queued,
    /// Out-of-order segments dropped (range table or buffer full).
    ooo_dropped,
    /// Segments whose text the receive buffer refused to hold (memory accounting: the
    /// skbs it keeps would exceed its limit); treated as lost, so the peer retransmits.
    rcv_refused,
    /// Segments that carried no new data (entirely duplicate).
    duplicate_segments,
    /// Segments dropped as out of window (RFC 9293 3.10.7.4), answered with an ACK.
    out_of_window,
    /// Checksum failures (counted by the glue's parser path).
    checksum_errors,
    /// Malformed segments dropped before reaching the core (glue's parser path).
    malformed,
    /// RST segments received.
    rsts_in,
    /// RST segments sent.
    rsts_out,
    /// Challenge ACKs sent (RFC 5961 sections 3, 4, 5).
    challenge_acks,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 section 7).
    challenge_acks_suppressed,
    /// Segments dropped by PAWS (RFC 7323 section 5).
    paws_drops,
    /// Unacceptable ACKs dropped (RFC 5961 section 5; ACK of unsent data).
    bad_acks,
    /// Zero-window probes sent (RFC 9293 3.8.6.1).
    zero_window_probes,
    /// Pure ACKs sent after the delayed-ACK timer ran out (RFC 9293 3.8.6.3).
    delayed_acks,
    /// Pure ACKs sent (any reason).
    pure_acks_out,
    /// Window updates sent because the application read data.
    window_updates,
    /// Keepalive probes sent (RFC 1122 4.2.3.6).
    keepalives,
    /// SYN segments received by a listener.
    syns_in,
    /// SYN cookies sent because the SYN queue was full.
    syncookies_sent,
    /// Valid SYN cookie ACKs that created a connection.
    syncookies_ok,
    /// ACKs to a listener that carried an invalid cookie.
    syncookies_failed,
    /// SYNs dropped by a listener (SYN queue full without cookies, or accept queue full).
    listen_drops,
    /// Final ACKs dropped because the accept queue was full.
    listen_overflows,
    /// Connections handed to the glue by a listener.
    accepted,
    /// ICMP errors that failed the connection (SYN-SENT, SYN-RECEIVED) or were recorded
    /// as its soft error (RFC 1122 4.2.3.9).
    icmp_errors,
    /// ICMP errors ignored: quoted sequence number outside SND.UNA..SND.MAX (RFC 5927
    /// section 4.1), a message TCP does not act on, or a fragmentation-needed message
    /// that would not lower the send MSS.
    icmp_ignored,
    /// Send MSS reductions by ICMP fragmentation needed (path MTU discovery, RFC 1191).
    pmtu_reductions,
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
