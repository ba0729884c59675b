//! `TCP_INFO`: the connection's state as Linux's `tcp_get_info` reports it
//! (`include/uapi/linux/tcp.h` `struct tcp_info`), for the fields partcp has the
//! mechanism behind. The glue lays [`Info`] out as the C struct.

use super::{Connection, State};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::CongestionControl;
use crate::side::{SideAlloc, Slot};
use crate::time::Instant;

/// `tcpi_options` bits (`TCPI_OPT_*`).
pub const TCPI_OPT_TIMESTAMPS: u8 = 1;
pub const TCPI_OPT_SACK: u8 = 2;
pub const TCPI_OPT_WSCALE: u8 = 4;

/// `tcpi_ca_state` values (`enum tcp_ca_state`).
pub const TCP_CA_OPEN: u8 = 0;
pub const TCP_CA_DISORDER: u8 = 1;
pub const TCP_CA_RECOVERY: u8 = 3;
pub const TCP_CA_LOSS: u8 = 4;

/// Linux's `TCP_INFINITE_SSTHRESH`, reported while ssthresh is still "infinite".
pub const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// `net.ipv4.tcp_pacing_ss_ratio` and `tcp_pacing_ca_ratio` at their defaults (percent
/// of the current rate `cwnd * mss / srtt` that `tcp_update_pacing_rate` sets in and
/// after slow start).
pub const PACING_SS_RATIO: u64 = 200;
pub const PACING_CA_RATIO: u64 = 120;

/// What `TCP_INFO` reports, field by field (`tcpi_` names without the prefix; times in
/// microseconds unless named otherwise; counts of segments are MSS-sized units as
/// Linux's `packets_out` for the byte-based quantities partcp keeps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub state: u8,
    pub ca_state: u8,
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub options: u8,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub rto: u32,
    pub ato: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
    /// Milliseconds since the last data segment was sent / received, and since the
    /// last acceptable segment (ACK) arrived.
    pub last_data_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub last_ack_recv_ms: u32,
    pub pmtu: u32,
    pub rcv_ssthresh: u32,
    /// The most the application read in one RTT (receive buffer autotuning's
    /// measurement, Linux `rcvq_space.space`).
    pub rcv_space: u32,
    /// The receiver's RTT estimate (Linux `rcv_rtt_est.rtt_us >> 3`), 0 before any
    /// sample.
    pub rcv_rtt: u32,
    pub rtt: u32,
    pub rttvar: u32,
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    pub advmss: u32,
    pub reordering: u32,
    pub total_retrans: u32,
    /// Bytes per second (Linux `sk_pacing_rate`); `u64::MAX` before an RTT sample.
    pub pacing_rate: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub notsent_bytes: u32,
    pub min_rtt: u32,
    pub data_segs_in: u32,
    pub data_segs_out: u32,
    pub delivered: u32,
    /// The kept delivery-rate sample in bytes per second (Linux
    /// `tcp_compute_delivery_rate`), 0 before one; whether it was application-limited
    /// (`tcpi_delivery_rate_app_limited`).
    pub delivery_rate: u64,
    pub delivery_rate_app_limited: bool,
    /// Microseconds with data queued or in flight, and within them limited by the
    /// peer's window or by the send buffer (Linux's chronographs).
    pub busy_time: u64,
    pub rwnd_limited: u64,
    pub sndbuf_limited: u64,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub dsack_dups: u32,
    pub rcv_ooopack: u32,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub total_rto: u16,
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn usize32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn ms_since(now: Instant, then: Option<Instant>) -> u32 {
    then.map_or(0, |t| sat32((now - t).millis()))
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// The pacing rate Linux would set, in bytes per second (`tcp_update_pacing_rate`,
    /// `net/ipv4/tcp_input.c`), though partcp does not pace (Linux sets and reports it
    /// without the fq qdisc too):
    ///
    /// ```c
    /// /* set sk_pacing_rate to 200 % of current rate (mss * cwnd / srtt) */
    /// rate = (u64)tp->mss_cache * ((USEC_PER_SEC / 100) << 3);
    /// if (tcp_snd_cwnd(tp) < tp->snd_ssthresh / 2)
    ///         rate *= READ_ONCE(sock_net(sk)->ipv4.sysctl_tcp_pacing_ss_ratio);
    /// else
    ///         rate *= READ_ONCE(sock_net(sk)->ipv4.sysctl_tcp_pacing_ca_ratio);
    /// rate *= max(tcp_snd_cwnd(tp), tp->packets_out);
    /// if (likely(tp->srtt_us))
    ///         do_div(rate, tp->srtt_us);
    /// WRITE_ONCE(sk->sk_pacing_rate,
    ///            min_t(u64, rate, READ_ONCE(sk->sk_max_pacing_rate)));
    /// ```
    ///
    /// Linux recomputes it on every ACK (`tcp_cong_control`); partcp computes it when
    /// asked, from the same state, which differs only after a retransmission timeout
    /// cut the window before the next ACK. `sk_max_pacing_rate` is ~0 (partcp has no
    /// `SO_MAX_PACING_RATE`). Before the first RTT sample (no ACK processed), `~0` as
    /// Linux's initial `sk_pacing_rate`.
    pub fn pacing_rate(&self) -> u64 {
        let srtt8 = self.rtt.srtt_us8();
        if srtt8 == 0 {
            return u64::MAX;
        }
        let mss = self.smss().max(1);
        let cwnd = self.cc.cwnd().div_ceil(mss) as u64;
        let packets_out = self.flight_size().div_ceil(mss) as u64;
        let ssthresh = self.cc.ssthresh();
        let ssthresh = if ssthresh >= usize::MAX / 2 {
            u64::from(INFINITE_SSTHRESH)
        } else {
            ssthresh.div_ceil(mss) as u64
        };
        let ratio = if cwnd < ssthresh / 2 {
            PACING_SS_RATIO
        } else {
            PACING_CA_RATIO
        };
        // CAST: usize to u64 does not truncate.
        (mss as u64)
            .saturating_mul((1_000_000 / 100) << 3)
            .saturating_mul(ratio)
            .saturating_mul(cwnd.max(packets_out))
            / srtt8
    }

    /// The connection's `TCP_INFO` at `now` (Linux `tcp_get_info`).
    pub fn info(&self, now: Instant) -> Info {
        let mss = self.smss().max(1);
        let segs = |bytes: usize| usize32(bytes.div_ceil(mss));
        let st = self.stats.widen();
        let ca_state = if self.recovery.is_some() {
            TCP_CA_RECOVERY
        } else if self.snd_nxt < self.snd_max || self.frto.is_held() {
            // Go-back-N after a retransmission timeout, or F-RTO deciding whether it
            // was spurious (Linux TCP_CA_Loss).
            TCP_CA_LOSS
        } else if self.dupacks > 0 {
            TCP_CA_DISORDER
        } else {
            TCP_CA_OPEN
        };
        let mut options = 0;
        if self.ts_ok {
            options |= TCPI_OPT_TIMESTAMPS;
        }
        if self.sack_ok {
            options |= TCPI_OPT_SACK;
        }
        if self.wscale_ok {
            options |= TCPI_OPT_WSCALE;
        }
        let (snd_wscale, rcv_wscale) = if self.wscale_ok {
            (self.snd_wscale, self.rcv_wscale)
        } else {
            (0, 0)
        };
        let ssthresh = self.cc.ssthresh();
        let snd_ssthresh = if ssthresh >= usize::MAX / 2 {
            INFINITE_SSTHRESH
        } else {
            segs(ssthresh)
        };
        let flight = self.flight_size();
        let retransmitting = if self.snd_nxt < self.snd_max {
            self.snd_nxt.since(self.snd_una)
        } else {
            0
        };
        // Options carried by every segment (timestamps: 12 bytes), as Linux's
        // `advmss` and `snd_mss` exclude them.
        let opts = if self.ts_ok { 12 } else { 0 };
        let handshaking = matches!(self.state, State::SynSent | State::SynReceived);
        let chrono = self.chrono.stats(now);
        Info {
            state: self.state.linux_number(),
            ca_state,
            retransmits: u8::try_from(self.rtt.backoff_count()).unwrap_or(u8::MAX),
            probes: u8::try_from(self.probes_unanswered).unwrap_or(u8::MAX),
            backoff: u8::try_from(self.rtt.backoff_count()).unwrap_or(u8::MAX),
            options,
            snd_wscale,
            rcv_wscale,
            rto: sat32(self.rtt.rto().micros()),
            ato: sat32(self.ato().micros()),
            snd_mss: usize32(mss),
            // The largest segment seen, as payload (Linux caps its estimate at advmss,
            // which excludes the timestamp option; a GRO-merged segment is larger).
            rcv_mss: usize32(
                self.rcv_mss
                    .min(usize::from(self.cfg.mss).saturating_sub(opts)),
            ),
            unacked: segs(flight),
            sacked: segs(self.scoreboard.sacked_within(self.snd_una, self.snd_max)),
            lost: segs(retransmitting),
            retrans: segs(retransmitting),
            last_data_sent_ms: ms_since(now, self.last_data_send),
            last_data_recv_ms: ms_since(now, self.last_data_recv),
            last_ack_recv_ms: ms_since(now, Some(self.last_recv)),
            pmtu: usize32(usize::from(self.cfg.mss) + 40),
            rcv_ssthresh: usize32(self.rcv_wnd()),
            rcv_space: usize32(self.rcv_space.space),
            rcv_rtt: self.rcv_rtt.us(),
            rtt: self.rtt.srtt().map_or(0, |d| sat32(d.micros())),
            rttvar: sat32(self.rtt.rttvar().micros()),
            snd_ssthresh,
            snd_cwnd: segs(self.cc.cwnd()),
            advmss: usize32(usize::from(self.cfg.mss).saturating_sub(opts)),
            reordering: self.cfg.dupthresh,
            total_retrans: sat32(st.fast_retransmits.saturating_add(st.rto_retransmits)),
            pacing_rate: self.pacing_rate(),
            bytes_acked: st.bytes_out.saturating_sub(flight as u64),
            bytes_received: st.bytes_in,
            segs_out: sat32(self.segs_out),
            segs_in: sat32(st.segments_in.saturating_add(self.segs_in_merged)),
            notsent_bytes: usize32(if handshaking { 0 } else { self.notsent_bytes() }),
            // A zero sample (below the timestamp clock's millisecond) counts as one
            // tick, as Linux's `tcp_update_rtt_min` (`rtt_us ? : jiffies_to_usecs(1)`);
            // ~0 before any sample.
            min_rtt: self
                .rtt
                .min_rtt()
                .map_or(u32::MAX, |d| sat32(d.micros()).max(1)),
            data_segs_in: sat32(self.data_segs_in),
            data_segs_out: sat32(self.data_segs_out),
            delivered: sat32(
                st.bytes_out
                    .saturating_sub(flight as u64)
                    .div_ceil(mss as u64),
            ),
            delivery_rate: self.rate.delivery_rate(),
            delivery_rate_app_limited: self.rate.app_limited(),
            busy_time: chrono.busy,
            rwnd_limited: chrono.rwnd_limited,
            sndbuf_limited: chrono.sndbuf_limited,
            bytes_sent: st.bytes_out.saturating_add(st.bytes_retransmitted),
            bytes_retrans: st.bytes_retransmitted,
            dsack_dups: sat32(st.dsacks_in),
            rcv_ooopack: sat32(st.ooo_queued),
            snd_wnd: usize32(self.snd_wnd),
            rcv_wnd: usize32(self.rcv_wnd()),
            total_rto: u16::try_from(st.rto_expirations).unwrap_or(u16::MAX),
        }
    }
}
