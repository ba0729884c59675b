// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A network namespace's TCP sysctls (`net.ipv4.tcp_*`, `tcp_max_syn_backlog`,
//! `ip_local_port_range`, `net.core.rmem_max`), read as Linux's TCP reads them
//! (`READ_ONCE(sock_net(sk)->ipv4.sysctl_tcp_*)`, in the C shim) into the core's plain
//! [`TcpSysctls`]. What partcp does with each is in `crate::sysctl` (the core) and
//! `Documentation/sysctls.md`.

use kernel::ffi::{c_int, c_uint};
use kernel::prelude::*;

use crate::congestion::CongestionAlgorithm;
use crate::glue::kernel::handles::{NetRef, SockRef};
use crate::glue::kernel::shim;
use crate::sysctl::TcpSysctls;

/// Mirror of `struct partcp_tcp_sysctls` in `partcp_shim.h`.
#[repr(C)]
pub(crate) struct RawTcpSysctls {
    timestamps: c_int,
    window_scaling: c_int,
    sack: c_int,
    dsack: c_int,
    syn_retries: c_int,
    syn_linear_timeouts: c_int,
    synack_retries: c_int,
    retries1: c_int,
    retries2: c_int,
    orphan_retries: c_int,
    fin_timeout_ms: c_uint,
    keepalive_time_ms: c_uint,
    keepalive_intvl_ms: c_uint,
    keepalive_probes: c_int,
    syncookies: c_int,
    max_syn_backlog: c_int,
    rto_min_us: c_int,
    rto_max_ms: c_int,
    slow_start_after_idle: c_int,
    reordering: c_int,
    early_retrans: c_int,
    recovery: c_int,
    frto: c_int,
    pingpong_thresh: c_int,
    rmem: [c_int; 3],
    rmem_max: c_uint,
    wmem: [c_int; 3],
    moderate_rcvbuf: c_int,
    rcvbuf_low_rtt_us: c_int,
    port_lo: c_int,
    port_hi: c_int,
    congestion: [u8; 16],
}

impl RawTcpSysctls {
    const fn zeroed() -> Self {
        RawTcpSysctls {
            timestamps: 0,
            window_scaling: 0,
            sack: 0,
            dsack: 0,
            syn_retries: 0,
            syn_linear_timeouts: 0,
            synack_retries: 0,
            retries1: 0,
            retries2: 0,
            orphan_retries: 0,
            fin_timeout_ms: 0,
            keepalive_time_ms: 0,
            keepalive_intvl_ms: 0,
            keepalive_probes: 0,
            syncookies: 0,
            max_syn_backlog: 0,
            rto_min_us: 0,
            rto_max_ms: 0,
            slow_start_after_idle: 0,
            reordering: 0,
            early_retrans: 0,
            recovery: 0,
            frto: 0,
            pingpong_thresh: 0,
            rmem: [0; 3],
            rmem_max: 0,
            wmem: [0; 3],
            moderate_rcvbuf: 0,
            rcvbuf_low_rtt_us: 0,
            port_lo: 0,
            port_hi: 0,
            congestion: [0; 16],
        }
    }

    /// The plain values. The sysctl handlers bound every value already (u8 fields are
    /// `proc_dou8vec_minmax`); anything out of range saturates here rather than wraps.
    fn plain(&self) -> TcpSysctls {
        let u8_of = |v: c_int| u8::try_from(v.max(0)).unwrap_or(u8::MAX);
        let u32_of = |v: c_int| u32::try_from(v.max(0)).unwrap_or(0);
        let u16_of = |v: c_int| u16::try_from(v.max(0)).unwrap_or(u16::MAX);
        let name_len = self.congestion.iter().position(|&b| b == 0).unwrap_or(self.congestion.len());
        TcpSysctls {
            timestamps: u8_of(self.timestamps),
            window_scaling: self.window_scaling != 0,
            sack: self.sack != 0,
            dsack: self.dsack != 0,
            frto: u8_of(self.frto),
            pingpong_thresh: u8_of(self.pingpong_thresh),
            syn_retries: u8_of(self.syn_retries),
            syn_linear_timeouts: u8_of(self.syn_linear_timeouts),
            synack_retries: u8_of(self.synack_retries),
            retries1: u8_of(self.retries1),
            retries2: u8_of(self.retries2),
            orphan_retries: u8_of(self.orphan_retries),
            fin_timeout_ms: self.fin_timeout_ms,
            keepalive_time_ms: self.keepalive_time_ms,
            keepalive_intvl_ms: self.keepalive_intvl_ms,
            keepalive_probes: u8_of(self.keepalive_probes),
            syncookies: u8_of(self.syncookies),
            max_syn_backlog: u32_of(self.max_syn_backlog),
            rto_min_us: u32_of(self.rto_min_us),
            rto_max_ms: u32_of(self.rto_max_ms),
            slow_start_after_idle: self.slow_start_after_idle != 0,
            reordering: u32_of(self.reordering),
            early_retrans: u8_of(self.early_retrans),
            recovery: u8_of(self.recovery),
            rmem: [u32_of(self.rmem[0]), u32_of(self.rmem[1]), u32_of(self.rmem[2])],
            rmem_max: self.rmem_max,
            wmem: [u32_of(self.wmem[0]), u32_of(self.wmem[1]), u32_of(self.wmem[2])],
            moderate_rcvbuf: self.moderate_rcvbuf != 0,
            rcvbuf_low_rtt_us: u32_of(self.rcvbuf_low_rtt_us),
            local_port_range: (u16_of(self.port_lo), u16_of(self.port_hi)),
            congestion: CongestionAlgorithm::from_name(&self.congestion[..name_len]),
        }
    }
}

impl NetRef {
    /// The namespace's TCP sysctls now.
    pub(crate) fn tcp_sysctls(&self) -> TcpSysctls {
        let mut raw = RawTcpSysctls::zeroed();
        // SAFETY: `self` holds a reference on the namespace, so it is live; `raw` is a
        // valid, writable `struct partcp_tcp_sysctls`.
        unsafe { shim::partcp_tcp_sysctls(self.as_ptr(), &mut raw) };
        raw.plain()
    }
}

impl SockRef {
    /// The TCP sysctls of the socket's namespace now (as `sock_net(sk)->ipv4`).
    pub(crate) fn tcp_sysctls(&self) -> TcpSysctls {
        let mut raw = RawTcpSysctls::zeroed();
        // SAFETY: The sock is live (`SockRef` invariants) and holds its namespace, so the
        // namespace is live; `raw` is a valid, writable `struct partcp_tcp_sysctls`.
        unsafe { shim::partcp_tcp_sysctls(self.net_ptr(), &mut raw) };
        raw.plain()
    }

    /// `tcp_notsent_lowat` of the socket's namespace now, the default of
    /// `TCP_NOTSENT_LOWAT` (Linux `tcp_notsent_lowat()` reads it at each use, so it is
    /// read apart from the others).
    pub(crate) fn tcp_notsent_lowat(&self) -> u32 {
        // SAFETY: The sock is live (`SockRef` invariants) and holds its namespace.
        unsafe { shim::partcp_tcp_notsent_lowat(self.net_ptr()) }
    }

    /// Whether the calling task may choose `alg` for a TCP socket of this socket's
    /// namespace: `Err(EPERM)` if it is not in `tcp_allowed_congestion_control` and the
    /// task lacks CAP_NET_ADMIN in the namespace's user namespace, as Linux's
    /// `tcp_set_congestion_control` decides; another error if that could not be told.
    /// Process context (it may allocate and sleep).
    pub(crate) fn tcp_ca_permitted(&self, alg: CongestionAlgorithm) -> Result {
        let mut name = [0u8; 16];
        let n = alg.name().len().min(name.len() - 1);
        name[..n].copy_from_slice(&alg.name().as_bytes()[..n]);
        // SAFETY: The sock is live (`SockRef` invariants) and holds its namespace; `name`
        // is NUL-terminated and outlives the call.
        let r = unsafe { shim::partcp_tcp_ca_permitted(self.net_ptr(), name.as_ptr().cast()) };
        kernel::error::to_result(r)
    }
}
