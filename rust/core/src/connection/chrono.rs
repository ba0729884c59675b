//! Send-side chronographs, as Linux's `tcp_chrono_start` / `tcp_chrono_stop`
//! (`net/ipv4/tcp_output.c`), for `TCP_INFO` `tcpi_busy_time`, `tcpi_rwnd_limited` and
//! `tcpi_sndbuf_limited`: the time the connection had data to send or in flight
//! (busy), and within it the time the peer's window stopped new data
//! (receive-window-limited) and the time the application waited for send buffer room
//! with everything sent (send-buffer-limited). One chronograph runs at a time, the
//! highest-priority condition's; `tcpi_busy_time` is the sum of all three.
//!
//! Linux counts jiffies; partcp microseconds.

use super::{Connection, State};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::CongestionControl;
use crate::side::SideAlloc;
use crate::time::Instant;

/// Linux `enum tcp_chrono`, in priority order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ChronoType {
    #[default]
    Unspec,
    Busy,
    RwndLimited,
    SndbufLimited,
}

/// Linux `tp->chrono_start`, `chrono_stat[]`, `chrono_type`, and the socket's
/// `SOCK_NOSPACE` as far as the chronographs need it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Chrono {
    kind: ChronoType,
    /// The application found the send buffer full and waits for room
    /// (`SOCK_NOSPACE`, set by the glue through [`Connection::note_nospace`]).
    nospace: bool,
    /// The application queued data with nothing unsent: the busy chronograph starts
    /// at the next transmit poll (the send call has no clock).
    busy_pending: bool,
    /// New data went out since the last time transmitting stopped (Linux
    /// `tcp_write_xmit`'s `sent_pkts`).
    sent: bool,
    start: Instant,
    /// Microseconds accumulated by the stopped runs of Busy, RwndLimited,
    /// SndbufLimited.
    stat: [u64; 3],
}

/// The chronographs' totals (`tcp_get_info_chrono_stats`), in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChronoStats {
    pub(crate) busy: u64,
    pub(crate) rwnd_limited: u64,
    pub(crate) sndbuf_limited: u64,
}

impl Chrono {
    /// `tcp_chrono_set`: the running chronograph (if any) adds its time; `new` starts.
    fn set(&mut self, now: Instant, new: ChronoType) {
        if let Some(i) = (self.kind as usize).checked_sub(1) {
            self.stat[i] = self.stat[i].saturating_add(now.saturating_since(self.start).micros());
        }
        self.start = now;
        self.kind = new;
    }

    /// `tcp_chrono_start`: "the highest priority enum takes precedence".
    fn start_kind(&mut self, now: Instant, kind: ChronoType) {
        if kind > self.kind {
            self.set(now, kind);
        }
    }

    /// The totals at `now`, the running chronograph included; busy is the sum of all
    /// three, as Linux's `tcpi_busy_time`.
    pub(crate) fn stats(&self, now: Instant) -> ChronoStats {
        let mut s = self.stat;
        if let Some(i) = (self.kind as usize).checked_sub(1) {
            s[i] = s[i].saturating_add(now.saturating_since(self.start).micros());
        }
        ChronoStats {
            busy: s[0].saturating_add(s[1]).saturating_add(s[2]),
            rwnd_limited: s[1],
            sndbuf_limited: s[2],
        }
    }
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// `tcp_chrono_stop`: with nothing queued or in flight every chronograph stops
    /// (`tcp_rtx_and_write_queues_empty`); otherwise, if `kind` is the one running,
    /// busy runs instead.
    fn chrono_stop(&mut self, now: Instant, kind: ChronoType) {
        if self.send_buf.len() == 0 && self.snd_una == self.snd_max {
            self.chrono.set(now, ChronoType::Unspec);
        } else if self.chrono.kind == kind {
            self.chrono.set(now, ChronoType::Busy);
        }
    }

    /// The application is about to queue data (`send_with`): if nothing is unsent,
    /// this data starts the send queue, and busy starts (Linux
    /// `tcp_add_write_queue_tail`: `if (sk->sk_write_queue.next == skb)
    /// tcp_chrono_start(sk, TCP_CHRONO_BUSY)`), at the next poll.
    pub(crate) fn chrono_before_queue(&self) -> bool {
        self.notsent_bytes() == 0 && !self.fin_queued
    }

    pub(crate) fn chrono_queued(&mut self) {
        self.chrono.busy_pending = true;
    }

    /// The application waits for send buffer room (the glue sets the socket's
    /// `SOCK_NOSPACE`, in `sendmsg` and `poll`): what makes the time after everything
    /// queued is sent send-buffer-limited.
    pub fn note_nospace(&mut self) {
        self.chrono.nospace = true;
    }

    /// A transmit poll begins: a pending busy start takes effect.
    pub(crate) fn chrono_poll(&mut self, now: Instant) {
        if core::mem::take(&mut self.chrono.busy_pending) {
            self.chrono.start_kind(now, ChronoType::Busy);
        }
    }

    /// New data went out (for [`Connection::chrono_xmit_end`]).
    pub(crate) fn chrono_sent(&mut self) {
        self.chrono.sent = true;
    }

    /// A transmit poll found nothing more to send: the end of Linux's
    /// `tcp_write_xmit`.
    ///
    /// Receive-window-limited if new data waits, the congestion window has room, and
    /// the next segment does not fit the peer's window (the loop's `cwnd_quota` test
    /// passed and `tcp_snd_wnd_test` failed):
    ///
    /// ```c
    /// if (is_rwnd_limited)
    ///         tcp_chrono_start(sk, TCP_CHRONO_RWND_LIMITED);
    /// else
    ///         tcp_chrono_stop(sk, TCP_CHRONO_RWND_LIMITED);
    /// ```
    ///
    /// Then, if data went out, `tcp_cwnd_validate`: not limited by the congestion
    /// window, nothing left unsent and the application waiting for room
    /// (`SOCK_NOSPACE`) in ESTABLISHED or CLOSE-WAIT make it send-buffer-limited.
    pub(crate) fn chrono_xmit_end(&mut self, now: Instant) {
        if !self.data_sending_state() {
            return;
        }
        let smss = self.smss();
        let unsent = if self.data_end() > self.snd_max {
            self.data_end().since(self.snd_max)
        } else {
            0
        };
        let cwnd = self.cc.cwnd();
        let in_flight = self.cwnd_flight();
        let wnd_end = self.snd_una + self.snd_wnd;
        let rwnd_limited = unsent > 0
            && self.snd_nxt >= self.snd_max
            && in_flight < cwnd
            && self.snd_max + unsent.min(smss) > wnd_end;
        if rwnd_limited {
            self.chrono.start_kind(now, ChronoType::RwndLimited);
        } else {
            self.chrono_stop(now, ChronoType::RwndLimited);
        }
        if core::mem::take(&mut self.chrono.sent) {
            // tcp_is_cwnd_limited: the window was filled, or in slow start the window is
            // less than twice what is out.
            let in_slow_start = cwnd < self.cc.ssthresh();
            let cwnd_limited =
                in_flight >= cwnd || (in_slow_start && cwnd < in_flight.saturating_mul(2));
            if !cwnd_limited
                && unsent == 0
                && self.chrono.nospace
                && matches!(self.state, State::Established | State::CloseWait)
            {
                self.chrono.start_kind(now, ChronoType::SndbufLimited);
            }
        }
    }

    /// After an ACK: with nothing left in flight busy stops (Linux
    /// `tcp_clean_rtx_queue`: `if (!skb) tcp_chrono_stop(sk, TCP_CHRONO_BUSY)`); if the
    /// application waited for room and there is enough now, it is woken and
    /// send-buffer-limited stops (`tcp_check_space`).
    pub(crate) fn chrono_after_ack(&mut self, now: Instant) {
        if self.snd_una == self.snd_max {
            self.chrono_stop(now, ChronoType::Busy);
        }
        if self.chrono.nospace && self.stream_writeable() {
            self.chrono.nospace = false;
            self.chrono_stop(now, ChronoType::SndbufLimited);
        }
    }
}
