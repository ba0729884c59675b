//! Linux's TCP sysctls (`net.ipv4.tcp_*` of a network namespace, and the few others
//! Linux's TCP reads), as plain values, and how partcp's settings follow them.
//!
//! The glue reads a namespace's values into a [`TcpSysctls`] (the kernel stores some in
//! jiffies; here every duration is in milliseconds or microseconds, as named) and applies
//! them where Linux reads them:
//!
//! * when a socket is created (`tcp_init_sock`): [`TcpSysctls::apply_socket_init`]
//!   (`tcp_rto_min_us`, `tcp_rto_max_ms`, `tcp_reordering`, `tcp_congestion_control`);
//! * when it connects or listens: [`TcpSysctls::apply_connect`] and
//!   [`TcpSysctls::apply_listener`] for the rest. Linux reads these later, at the event
//!   they govern (the options when the SYN is built or parsed, the retry limits at each
//!   timeout, `tcp_fin_timeout` at close); partcp takes them when the connection or the
//!   listener is made, and an accepted connection takes its listener's;
//! * when a passive open completes: [`TcpSysctls::apply_accept`] (the congestion
//!   control, as Linux's `tcp_ca_openreq_child`).
//!
//! Keepalive values are defaults for sockets that did not set `TCP_KEEPIDLE`,
//! `TCP_KEEPINTVL` and `TCP_KEEPCNT` ([`TcpSysctls::keepalive`]). `Documentation/sysctls.md`
//! lists every `net.ipv4.tcp_*` sysctl of Linux 7.3 and what partcp does with it.

use crate::congestion::CongestionAlgorithm;
use crate::connection::{Config, Keepalive, RcvBufAuto, SndBufAuto};
use crate::listener::{ListenerConfig, SynCookies};
use crate::time::Duration;

/// A namespace's TCP sysctls. `Default` gives Linux 7.3's defaults for a machine whose
/// `tcp_rmem[2]` is 6 MB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSysctls {
    /// `tcp_timestamps`: 0 off, 1 on with a random offset per connection, 2 on without
    /// (partcp always uses RFC 7323's per-connection offset).
    pub timestamps: u8,
    /// `tcp_window_scaling`.
    pub window_scaling: bool,
    /// `tcp_sack`.
    pub sack: bool,
    /// `tcp_dsack`.
    pub dsack: bool,
    /// `tcp_pingpong_thresh`: replies within the delayed-ACK timeout that make a
    /// connection interactive (pingpong mode).
    pub pingpong_thresh: u8,
    /// `tcp_frto`: F-RTO (RFC 5682) on when nonzero (Linux 7.3 has one variant, the
    /// SACK-enhanced one with SACK; its default is 2).
    pub frto: u8,
    /// `tcp_syn_retries`.
    pub syn_retries: u8,
    /// `tcp_syn_linear_timeouts`.
    pub syn_linear_timeouts: u8,
    /// `tcp_synack_retries`.
    pub synack_retries: u8,
    /// `tcp_retries1` (read, not used: see `Documentation/sysctls.md`).
    pub retries1: u8,
    /// `tcp_retries2`.
    pub retries2: u8,
    /// `tcp_orphan_retries` (0: 8 while the RTO is below its maximum).
    pub orphan_retries: u8,
    /// `tcp_fin_timeout`, in milliseconds.
    pub fin_timeout_ms: u32,
    /// `tcp_keepalive_time`, in milliseconds.
    pub keepalive_time_ms: u32,
    /// `tcp_keepalive_intvl`, in milliseconds.
    pub keepalive_intvl_ms: u32,
    /// `tcp_keepalive_probes`.
    pub keepalive_probes: u8,
    /// `tcp_syncookies`: 0 never, 1 when the SYN queue is full, 2 always.
    pub syncookies: u8,
    /// `tcp_max_syn_backlog`.
    pub max_syn_backlog: u32,
    /// `tcp_rto_min_us`.
    pub rto_min_us: u32,
    /// `tcp_rto_max_ms`.
    pub rto_max_ms: u32,
    /// `tcp_slow_start_after_idle`.
    pub slow_start_after_idle: bool,
    /// `tcp_reordering`.
    pub reordering: u32,
    /// `tcp_early_retrans` (read, not used: partcp has no tail loss probe).
    pub early_retrans: u8,
    /// `tcp_recovery` (read, not used: partcp has no RACK).
    pub recovery: u8,
    /// `tcp_rmem`: minimum, default and maximum receive buffer.
    pub rmem: [u32; 3],
    /// `net.core.rmem_max`.
    pub rmem_max: u32,
    /// `tcp_wmem`: minimum, default and maximum send buffer.
    pub wmem: [u32; 3],
    /// `tcp_moderate_rcvbuf`: receive buffer autotuning.
    pub moderate_rcvbuf: bool,
    /// `tcp_rcvbuf_low_rtt`, in microseconds.
    pub rcvbuf_low_rtt_us: u32,
    /// `ip_local_port_range` (read, not used: partcp's ephemeral ports are its own, see
    /// `Documentation/design.md`, "Coexistence with Linux TCP").
    pub local_port_range: (u16, u16),
    /// `tcp_congestion_control`, if it is an algorithm partcp has (`reno`, `cubic`);
    /// `None` for any other, for which partcp uses CUBIC.
    pub congestion: Option<CongestionAlgorithm>,
}

impl Default for TcpSysctls {
    fn default() -> Self {
        TcpSysctls {
            timestamps: 1,
            window_scaling: true,
            sack: true,
            dsack: true,
            frto: 2,
            pingpong_thresh: 1,
            syn_retries: 6,
            syn_linear_timeouts: 4,
            synack_retries: 5,
            retries1: 3,
            retries2: 15,
            orphan_retries: 0,
            fin_timeout_ms: 60_000,
            keepalive_time_ms: 7_200_000,
            keepalive_intvl_ms: 75_000,
            keepalive_probes: 9,
            syncookies: 1,
            max_syn_backlog: 128,
            rto_min_us: 200_000,
            rto_max_ms: 120_000,
            slow_start_after_idle: true,
            reordering: 3,
            early_retrans: 3,
            recovery: 1,
            rmem: [4096, 131_072, 6 << 20],
            rmem_max: 4 << 20,
            wmem: [4096, 16384, 4 << 20],
            moderate_rcvbuf: true,
            rcvbuf_low_rtt_us: 1000,
            local_port_range: (32768, 60999),
            congestion: Some(CongestionAlgorithm::Cubic),
        }
    }
}

impl CongestionAlgorithm {
    /// The algorithm Linux calls `name` (`tcp_congestion_control`, `TCP_CONGESTION`):
    /// `reno` (Linux's built-in NewReno) or `cubic`; `None` for any other.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"reno" => Some(CongestionAlgorithm::NewReno),
            b"cubic" => Some(CongestionAlgorithm::Cubic),
            _ => None,
        }
    }

    /// Linux's name for the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            CongestionAlgorithm::NewReno => "reno",
            CongestionAlgorithm::Cubic => "cubic",
        }
    }
}

/// The sysctls Linux reads when a socket is created (`tcp_init_sock`), as a socket
/// keeps them until it connects or listens (a fifth of the whole [`TcpSysctls`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketInit {
    /// `tcp_rto_min_us`.
    pub rto_min_us: u32,
    /// `tcp_rto_max_ms`.
    pub rto_max_ms: u32,
    /// `tcp_reordering`.
    pub reordering: u32,
    /// `tcp_congestion_control`.
    pub congestion: Option<CongestionAlgorithm>,
}

impl TcpSysctls {
    /// What a socket created now keeps ([`SocketInit`]).
    pub fn socket_init(&self) -> SocketInit {
        SocketInit {
            rto_min_us: self.rto_min_us,
            rto_max_ms: self.rto_max_ms,
            reordering: self.reordering,
            congestion: self.congestion,
        }
    }

    /// The values Linux reads when a socket is created (`tcp_init_sock`) taken from
    /// `created`, the rest from `self`: a connection made now by a socket created then.
    #[must_use]
    pub fn with_socket_init(self, created: &SocketInit) -> TcpSysctls {
        TcpSysctls {
            rto_min_us: created.rto_min_us,
            rto_max_ms: created.rto_max_ms,
            reordering: created.reordering,
            congestion: created.congestion,
            ..self
        }
    }

    /// What Linux's `tcp_init_sock` reads: the RTO bounds (`icsk_rto_min`,
    /// `icsk_rto_max`), the initial reordering degree (`tp->reordering`, DupThresh) and
    /// the congestion control algorithm.
    pub fn apply_socket_init(&self, cfg: &mut Config) {
        // Linux bounds the degree it adapts to by `tcp_max_reordering` (300).
        cfg.dupthresh = self.reordering.clamp(1, 300);
        let max = Duration::from_millis(u64::from(self.rto_max_ms.max(1)));
        cfg.rtt.max_rto = max;
        cfg.rtt.min_rto = Duration::from_micros(u64::from(self.rto_min_us.max(1))).min(max);
        cfg.congestion = self.congestion.unwrap_or(CongestionAlgorithm::Cubic);
    }

    /// What an accepted connection takes from the namespace when the handshake
    /// completes rather than from its listener: the congestion control (Linux
    /// `tcp_ca_openreq_child` assigns the namespace's default unless the listener set
    /// `TCP_CONGESTION`).
    pub fn apply_accept(&self, cfg: &mut Config) {
        cfg.congestion = self.congestion.unwrap_or(CongestionAlgorithm::Cubic);
    }

    /// The largest receive window Linux would scale for: `tcp_select_initial_window`
    /// takes the larger of `tcp_rmem[2]` and `net.core.rmem_max` (for a socket whose
    /// `SO_RCVBUF` is not set).
    pub fn window_space(&self) -> usize {
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        self.rmem[2].max(self.rmem_max) as usize
    }

    /// The connection settings Linux reads from these sysctls for a connection (see the
    /// module documentation for when). `rcvbuf_locked`: the socket set `SO_RCVBUF`,
    /// which fixes the window scale to what its buffer needs.
    pub fn apply_connect(&self, cfg: &mut Config, rcvbuf_locked: bool) {
        cfg.timestamps = self.timestamps != 0;
        cfg.window_scale = self.window_scaling;
        cfg.window_space = if rcvbuf_locked {
            None
        } else {
            Some(self.window_space())
        };
        cfg.sack = self.sack;
        cfg.dsack = self.dsack;
        cfg.frto = self.frto != 0;
        cfg.pingpong_thresh = self.pingpong_thresh.max(1);
        cfg.syn_retries = u32::from(self.syn_retries);
        cfg.syn_linear_timeouts = u32::from(self.syn_linear_timeouts);
        cfg.max_retries = u32::from(self.retries2);
        cfg.orphan_retries = u32::from(self.orphan_retries);
        cfg.fin_wait2_timeout = Some(Duration::from_millis(u64::from(self.fin_timeout_ms)));
        cfg.slow_start_after_idle = self.slow_start_after_idle;
    }

    /// Buffer autotuning (`crate::connection::autotune`) as Linux decides it for a
    /// socket: the receive buffer is tuned up to `tcp_rmem[2]` while
    /// `tcp_moderate_rcvbuf` is on and `SO_RCVBUF` is not set (`rcvbuf_locked`), the
    /// send buffer up to `tcp_wmem[2]` while `SO_SNDBUF` is not set (`sndbuf_locked`;
    /// `seg`: the send buffer's per-segment memory, see [`SndBufAuto`]). Capacities are
    /// payload bytes: half of the receive buffer size the sysctls give, all of the send
    /// buffer size (`crate::connection::autotune` says why). Read at
    /// `connect()` and `listen()`, as the other sysctls (Linux reads `tcp_rmem[2]` and
    /// `tcp_moderate_rcvbuf` at each growth, `tcp_wmem[2]` at each expansion).
    pub fn apply_buffers(
        &self,
        cfg: &mut Config,
        rcvbuf_locked: bool,
        sndbuf_locked: bool,
        seg: SndBufAuto,
    ) {
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        cfg.rcvbuf_auto = (self.moderate_rcvbuf && !rcvbuf_locked).then(|| RcvBufAuto {
            max: self.rmem[2] as usize / 2,
            low_rtt: Duration::from_micros(u64::from(self.rcvbuf_low_rtt_us)),
        });
        cfg.sndbuf_auto = (!sndbuf_locked).then(|| SndBufAuto {
            max: self.wmem[2] as usize,
            ..seg
        });
    }

    /// The payload capacities a socket's send and receive buffers start with when
    /// `SO_SNDBUF`/`SO_RCVBUF` did not set them: `tcp_wmem[1]` and half of
    /// `tcp_rmem[1]` (the sizes Linux's `tcp_init_sock` gives `sk_sndbuf` and
    /// `sk_rcvbuf`; see [`TcpSysctls::apply_buffers`]).
    pub fn initial_buffers(&self) -> (usize, usize) {
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        (self.wmem[1] as usize, self.rmem[1] as usize / 2)
    }

    /// The listener settings: those of [`TcpSysctls::apply_connect`] for the connections
    /// it accepts, and `tcp_synack_retries`, `tcp_syncookies` and the SYN queue limit
    /// [`TcpSysctls::syn_backlog`] for `cfg.backlog`.
    pub fn apply_listener(&self, cfg: &mut ListenerConfig, rcvbuf_locked: bool) {
        self.apply_connect(&mut cfg.conn, rcvbuf_locked);
        cfg.synack_retries = u32::from(self.synack_retries);
        cfg.syncookies = match self.syncookies {
            0 => SynCookies::Never,
            1 => SynCookies::WhenFull,
            _ => SynCookies::Always,
        };
        cfg.syn_backlog = self.syn_backlog(cfg.backlog);
    }

    /// How many half-open connections a listener with accept backlog `backlog` keeps
    /// before it answers with cookies (or, without `tcp_syncookies`, drops SYNs), as
    /// Linux's `tcp_conn_request`: the SYN queue is full once it holds more than the
    /// backlog (`inet_csk_reqsk_queue_is_full`), and without SYN cookies a SYN is also
    /// dropped when fewer than a quarter of `tcp_max_syn_backlog` entries are left (for
    /// peers not "proven" by earlier connections; partcp keeps no per-destination
    /// metrics, so it proves none).
    pub fn syn_backlog(&self, backlog: usize) -> usize {
        let full = backlog.saturating_add(1);
        if self.syncookies != 0 {
            return full;
        }
        // CAST: u32 to usize does not truncate on the targets partcp builds for.
        let max = self.max_syn_backlog as usize;
        full.min(max - (max >> 2) + 1)
    }

    /// Keepalive timing for a socket that did not set `TCP_KEEPIDLE`, `TCP_KEEPINTVL` or
    /// `TCP_KEEPCNT` (Linux `keepalive_time_when` and friends).
    pub fn keepalive(&self) -> Keepalive {
        Keepalive {
            idle: Duration::from_millis(u64::from(self.keepalive_time_ms)),
            interval: Duration::from_millis(u64::from(self.keepalive_intvl_ms)),
            count: u32::from(self.keepalive_probes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::window_shift_for;

    #[test]
    fn defaults_give_the_default_config() {
        let s = TcpSysctls::default();
        let mut cfg = Config::default();
        s.apply_socket_init(&mut cfg);
        s.apply_connect(&mut cfg, true);
        assert_eq!(cfg, Config::default());
        assert_eq!(s.keepalive(), Keepalive::default());
        let mut l = ListenerConfig::default();
        s.apply_listener(&mut l, true);
        assert_eq!(l.synack_retries, ListenerConfig::default().synack_retries);
        assert_eq!(l.syncookies, ListenerConfig::default().syncookies);
    }

    #[test]
    fn options_follow() {
        let s = TcpSysctls {
            timestamps: 0,
            window_scaling: false,
            sack: false,
            dsack: false,
            frto: 0,
            pingpong_thresh: 3,
            ..TcpSysctls::default()
        };
        let mut cfg = Config::default();
        s.apply_connect(&mut cfg, false);
        assert_eq!(cfg.pingpong_thresh, 3);
        assert!(!cfg.timestamps && !cfg.window_scale && !cfg.sack && !cfg.dsack && !cfg.frto);
        let s = TcpSysctls {
            timestamps: 2,
            frto: 1,
            ..TcpSysctls::default()
        };
        s.apply_connect(&mut cfg, false);
        assert!(cfg.timestamps && cfg.window_scale && cfg.sack && cfg.dsack && cfg.frto);
    }

    #[test]
    fn window_space_is_linux_max_possible_window() {
        // tcp_select_initial_window: ilog2(max(tcp_rmem[2], rmem_max)) - 15.
        let mut s = TcpSysctls::default();
        let mut cfg = Config::default();
        s.apply_connect(&mut cfg, false);
        assert_eq!(cfg.window_space, Some(6 << 20));
        assert_eq!(window_shift_for(6 << 20), 7);
        s.rmem[2] = 32 << 20;
        assert_eq!(window_shift_for(s.window_space()), 10);
        s.rmem[2] = 4096;
        s.rmem_max = 4 << 20;
        assert_eq!(window_shift_for(s.window_space()), 7);
        // SO_RCVBUF set: the buffer alone.
        s.apply_connect(&mut cfg, true);
        assert_eq!(cfg.window_space, None);
    }

    #[test]
    fn buffers_follow_moderate_rcvbuf_and_locks() {
        let seg = SndBufAuto {
            max: 0,
            seg_head: 640,
            seg_skb: 256,
        };
        let mut s = TcpSysctls::default();
        let mut cfg = Config::default();
        s.apply_buffers(&mut cfg, false, false, seg);
        assert_eq!(
            cfg.rcvbuf_auto,
            Some(RcvBufAuto {
                max: 3 << 20,
                low_rtt: Duration::from_millis(1)
            })
        );
        assert_eq!(
            cfg.sndbuf_auto,
            Some(SndBufAuto {
                max: 4 << 20,
                ..seg
            })
        );
        assert_eq!(s.initial_buffers(), (16384, 65536));
        // SO_RCVBUF / SO_SNDBUF: that buffer is not tuned.
        s.apply_buffers(&mut cfg, true, false, seg);
        assert!(cfg.rcvbuf_auto.is_none() && cfg.sndbuf_auto.is_some());
        s.apply_buffers(&mut cfg, false, true, seg);
        assert!(cfg.rcvbuf_auto.is_some() && cfg.sndbuf_auto.is_none());
        // tcp_moderate_rcvbuf=0: the receive buffer is not tuned.
        s.moderate_rcvbuf = false;
        s.rmem[2] = 1 << 20;
        s.wmem[2] = 1 << 20;
        s.apply_buffers(&mut cfg, false, false, seg);
        assert!(cfg.rcvbuf_auto.is_none());
        assert_eq!(cfg.sndbuf_auto.map(|a| a.max), Some(1 << 20));
    }

    #[test]
    fn window_shift_for_is_linux_ilog2_minus_15() {
        for space in [
            1usize,
            65535,
            65536,
            131_071,
            131_072,
            6 << 20,
            (6 << 20) + 1,
            1 << 30,
            usize::MAX,
        ] {
            let ilog2 = usize::BITS - 1 - space.leading_zeros();
            let linux = (ilog2 as i64 - 15).clamp(0, 14) as u8;
            assert_eq!(window_shift_for(space), linux, "space {space}");
        }
    }

    #[test]
    fn retries_and_timeouts_follow() {
        let s = TcpSysctls {
            syn_retries: 2,
            syn_linear_timeouts: 0,
            retries2: 5,
            orphan_retries: 1,
            fin_timeout_ms: 2000,
            slow_start_after_idle: false,
            ..TcpSysctls::default()
        };
        let mut cfg = Config::default();
        s.apply_connect(&mut cfg, false);
        assert_eq!(
            (
                cfg.syn_retries,
                cfg.syn_linear_timeouts,
                cfg.max_retries,
                cfg.orphan_retries
            ),
            (2, 0, 5, 1)
        );
        assert_eq!(cfg.fin_wait2_timeout, Some(Duration::from_secs(2)));
        assert!(!cfg.slow_start_after_idle);
    }

    #[test]
    fn socket_init_values() {
        let created = TcpSysctls {
            rto_min_us: 1_000_000,
            rto_max_ms: 5000,
            congestion: Some(CongestionAlgorithm::NewReno),
            ..TcpSysctls::default()
        };
        let now = TcpSysctls::default().with_socket_init(&created.socket_init());
        assert_eq!(now.rto_min_us, 1_000_000);
        let mut cfg = Config::default();
        now.apply_socket_init(&mut cfg);
        assert_eq!(cfg.rtt.min_rto, Duration::from_secs(1));
        assert_eq!(cfg.rtt.max_rto, Duration::from_secs(5));
        assert_eq!(cfg.congestion, CongestionAlgorithm::NewReno);
        // An algorithm partcp lacks: CUBIC. A minimum above the maximum: the maximum.
        let odd = TcpSysctls {
            congestion: None,
            rto_min_us: 9_000_000,
            rto_max_ms: 1000,
            ..TcpSysctls::default()
        };
        odd.apply_socket_init(&mut cfg);
        assert_eq!(cfg.congestion, CongestionAlgorithm::Cubic);
        assert_eq!(cfg.rtt.min_rto, Duration::from_secs(1));
    }

    #[test]
    fn congestion_names() {
        assert_eq!(
            CongestionAlgorithm::from_name(b"reno"),
            Some(CongestionAlgorithm::NewReno)
        );
        assert_eq!(
            CongestionAlgorithm::from_name(b"cubic"),
            Some(CongestionAlgorithm::Cubic)
        );
        assert_eq!(CongestionAlgorithm::from_name(b"bbr"), None);
        for a in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            assert_eq!(CongestionAlgorithm::from_name(a.name().as_bytes()), Some(a));
        }
    }

    #[test]
    fn syn_backlog_as_tcp_conn_request() {
        let mut s = TcpSysctls::default();
        // With cookies: the queue is full when it holds more than the backlog.
        assert_eq!(s.syn_backlog(2), 3);
        assert_eq!(s.syn_backlog(128), 129);
        // Without: also "max_syn_backlog - qlen < max_syn_backlog >> 2" drops.
        s.syncookies = 0;
        s.max_syn_backlog = 8;
        assert_eq!(s.syn_backlog(128), 7);
        assert_eq!(s.syn_backlog(2), 3);
        s.max_syn_backlog = 0;
        assert_eq!(s.syn_backlog(128), 1);
        let mut l = ListenerConfig {
            backlog: 10,
            ..ListenerConfig::default()
        };
        s.max_syn_backlog = 1024;
        s.syncookies = 2;
        s.synack_retries = 1;
        s.apply_listener(&mut l, false);
        assert_eq!(
            (l.syn_backlog, l.syncookies, l.synack_retries),
            (11, SynCookies::Always, 1)
        );
    }

    #[test]
    fn keepalive_defaults_follow() {
        let s = TcpSysctls {
            keepalive_time_ms: 1000,
            keepalive_intvl_ms: 2000,
            keepalive_probes: 3,
            ..TcpSysctls::default()
        };
        assert_eq!(
            s.keepalive(),
            Keepalive {
                idle: Duration::from_secs(1),
                interval: Duration::from_secs(2),
                count: 3
            }
        );
    }
}
