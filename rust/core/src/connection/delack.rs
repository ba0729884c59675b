//! When the receiver acknowledges: RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2 delayed ACKs
//! ("at least every second full-sized segment", within 0.5 s), with Linux's engine
//! around them (`tcp_event_data_recv`, `__tcp_ack_snd_check`, `tcp_send_delayed_ack`,
//! `tcp_delack_timer_handler`):
//!
//! * quick-ACK mode: at the start of a connection, after an idle period longer than the
//!   RTO, and after a duplicate segment, the next segments (up to 16, or as many as half
//!   the offered window holds) are acknowledged at once, so that a sender in slow start
//!   is not held back by the delayed-ACK timer (Linux `tcp_incr_quickack`,
//!   `tcp_enter_quickack_mode`);
//! * the delayed-ACK timeout (ATO) adapts to the spacing of arriving segments: it starts
//!   at 40 ms, halves towards 40 ms while segments come closer than 20 ms apart, grows
//!   with larger gaps and doubles when the timer fires (at most the RTO and 200 ms), and
//!   is bounded when armed by the smoothed RTT (at least 40 ms) and by the maximum delay
//!   (`Config::delayed_ack`, Linux `TCP_DELACK_MAX` 200 ms);
//! * pingpong (interactive) mode: once the connection answers received data within the
//!   ATO `pingpong_thresh` times (Linux `tcp_pingpong_thresh`), the peer's FIN arrives
//!   in ESTABLISHED, or the application sets `TCP_QUICKACK` to 0, quick-ACK mode is
//!   suspended so that ACKs ride on replies; a delayed-ACK timer that fires anyway
//!   leaves the mode.

use super::Connection;
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::side::SideAlloc;
use crate::time::{Duration, Instant};

/// Linux `TCP_ATO_MIN`: the ATO's starting and smallest value.
pub const ATO_MIN: Duration = Duration::from_millis(40);
/// Linux `TCP_DELACK_MIN`: an ATO at or below it is used without the RTT bound.
const DELACK_MIN: Duration = Duration::from_millis(40);
/// Linux `TCP_DELACK_MAX`: the default maximum delay, and the bound in pingpong mode.
pub const DELACK_MAX: Duration = Duration::from_millis(200);
/// Linux `HZ / 2`: the bound outside pingpong mode before the maximum delay applies
/// (RFC 9293 3.8.6.3: "MUST be less than 0.5 seconds").
const ATO_BOUND: Duration = Duration::from_millis(500);
/// Linux `TCP_MAX_QUICKACKS`.
pub const MAX_QUICKACKS: u32 = 16;

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// In-order data arrived (Linux `tcp_event_data_recv`): initialize or adapt the
    /// ATO from the time since the previous arrival.
    pub(crate) fn delack_on_data(&mut self, now: Instant) {
        if self.ato == Duration::ZERO {
            // The first data segment: quick ACKs for the sender's slow start.
            self.incr_quickack(MAX_QUICKACKS);
            self.ato = ATO_MIN;
        } else {
            let gap = now - self.ato_lrcv;
            let rto = self.rtt.rto();
            if gap <= Duration(ATO_MIN.micros() / 2) {
                self.ato = Duration(self.ato.micros() / 2 + ATO_MIN.micros() / 2);
            } else if gap < self.ato {
                self.ato = (Duration(self.ato.micros() / 2) + gap)
                    .min(rto)
                    .min(DELACK_MAX);
            } else if gap > rto {
                // A gap longer than the RTO: the sender restarts from a small window.
                self.incr_quickack(MAX_QUICKACKS);
            }
        }
        self.ato_lrcv = now;
    }

    /// Linux `tcp_incr_quickack`: at least as many quick ACKs as half the offered window
    /// holds full segments (2 if none), at most `max`.
    fn incr_quickack(&mut self, max: u32) {
        let wnd = if self.rcv_adv > self.last_ack_sent {
            self.rcv_adv.since(self.last_ack_sent)
        } else {
            0
        };
        let n = wnd / self.rcv_mss.saturating_mul(2).max(1);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let n = if n == 0 { 2 } else { n.min(max) };
        self.quick = self.quick.max(n);
    }

    /// Linux `tcp_enter_quickack_mode`: quick ACKs, out of pingpong mode, ATO reset.
    pub(crate) fn enter_quickack_mode(&mut self) {
        self.incr_quickack(MAX_QUICKACKS);
        self.pingpong = 0;
        self.ato = ATO_MIN;
    }

    /// Linux `inet_csk_enter_pingpong_mode`: `TCP_QUICKACK` 0, or the peer's FIN in
    /// ESTABLISHED (`tcp_fin`: the rest of the exchange is the application's answer).
    pub(crate) fn enter_pingpong_mode(&mut self) {
        self.pingpong = self.cfg.pingpong_thresh.max(1);
    }

    /// True in pingpong (interactive) mode (Linux `inet_csk_in_pingpong_mode`).
    pub fn pingpong_mode(&self) -> bool {
        self.pingpong >= self.cfg.pingpong_thresh.max(1)
    }

    /// Acknowledge every segment now (Linux `tcp_in_quickack_mode`).
    fn in_quickack_mode(&self) -> bool {
        self.quick > 0 && !self.pingpong_mode()
    }

    /// RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2: acknowledge at least every second
    /// full-sized segment, at once in quick-ACK mode, otherwise within the ATO (Linux
    /// `__tcp_ack_snd_check`, `tcp_send_delayed_ack`).
    pub(crate) fn schedule_ack(&mut self, now: Instant) {
        let Some(max) = self.cfg.delayed_ack else {
            self.ack_now = true;
            return;
        };
        // Linux `__tcp_ack_snd_check`: the second full-sized segment is acknowledged at
        // once only if the window the ACK carries is no smaller than the one last
        // advertised (the application keeps up with the data); otherwise the ACK waits
        // for the read that frees the room (`after_read`, Linux `tcp_cleanup_rbuf`) or
        // for the delayed-ACK timer, and a bulk sender gets stretch ACKs, as from Linux.
        if (self.unacked_bytes >= self.rcv_mss.saturating_mul(2) && self.window_keeps_up())
            || self.in_quickack_mode()
        {
            self.ack_now = true;
            return;
        }
        let delay = self.delack_timeout(max);
        match self.delack_deadline {
            // A timer about to expire (within a quarter of the delay): send now.
            Some(d) if d <= now + Duration(delay.micros() / 4) => self.ack_now = true,
            // The earlier deadline stands.
            Some(d) => self.delack_deadline = Some(d.min(now + delay)),
            None => self.delack_deadline = Some(now + delay),
        }
    }

    /// The window an ACK sent now would carry is at least the size of the one last
    /// advertised (Linux `__tcp_select_window(sk) >= tp->rcv_wnd`).
    fn window_keeps_up(&self) -> bool {
        let max = usize::from(u16::MAX) << self.rcv_wscale;
        let last = if self.rcv_adv > self.last_ack_sent {
            self.rcv_adv.since(self.last_ack_sent)
        } else {
            0
        };
        self.window_room().min(max) >= last
    }

    /// The delay to arm (Linux `tcp_send_delayed_ack`): the ATO; above 40 ms at most
    /// 500 ms (200 ms in pingpong mode) and at most the smoothed RTT (but not below 40
    /// ms); never above `max`.
    fn delack_timeout(&self, max: Duration) -> Duration {
        let mut ato = self.ato.max(ATO_MIN);
        if ato > DELACK_MIN {
            let mut bound = if self.pingpong_mode() {
                DELACK_MAX
            } else {
                ATO_BOUND
            };
            if let Some(srtt) = self.rtt.srtt() {
                bound = bound.min(srtt.max(DELACK_MIN));
            }
            ato = ato.min(bound);
        }
        ato.min(max)
    }

    /// An ACK of our current RCV.NXT went out (Linux `tcp_dec_quickack_mode`): one
    /// quick ACK is used if it acknowledged data; the last one resets the ATO.
    pub(crate) fn delack_on_ack_sent(&mut self) {
        if self.quick > 0 && self.unacked_bytes > 0 {
            self.quick -= 1;
            if self.quick == 0 {
                self.ato = ATO_MIN;
            }
        }
    }

    /// The delayed-ACK timer fired with an ACK owed (Linux `tcp_delack_timer_handler`):
    /// "Delayed ACK missed: inflate ATO", or in pingpong mode "leave pingpong mode and
    /// deflate ATO".
    pub(crate) fn delack_on_timer(&mut self) {
        if self.pingpong_mode() {
            self.pingpong = 0;
            self.ato = ATO_MIN;
        } else {
            self.ato = self.ato.doubled().min(self.rtt.rto()).min(DELACK_MAX);
        }
    }

    /// Data is going out (Linux `tcp_event_data_sent`): a reply within the ATO of the
    /// last arrival counts towards pingpong mode.
    pub(crate) fn delack_on_data_sent(&mut self, now: Instant) {
        if self.ato != Duration::ZERO && now - self.ato_lrcv < self.ato {
            self.pingpong = self.pingpong.saturating_add(1);
        }
    }

    /// `TCP_QUICKACK` (Linux `__tcp_sock_set_quickack`): 0 enters pingpong mode;
    /// nonzero leaves it and sends an ACK the delayed-ACK timer holds now (in
    /// ESTABLISHED and CLOSE-WAIT, `ICSK_ACK_PUSHED`), then re-enters it if the value
    /// is even.
    pub fn set_quickack(&mut self, val: i32) {
        if val == 0 {
            self.enter_pingpong_mode();
            return;
        }
        self.pingpong = 0;
        if matches!(
            self.state,
            super::State::Established | super::State::CloseWait
        ) && self.delack_deadline.is_some()
        {
            self.ack_now = true;
            if val & 1 == 0 {
                self.enter_pingpong_mode();
            }
        }
    }

    /// The delayed-ACK timeout now, 0 before any data arrived (`tcpi_ato`: Linux
    /// reports `min(ato, delack_max)`).
    pub fn ato(&self) -> Duration {
        match self.cfg.delayed_ack {
            Some(max) => self.ato.min(max),
            None => Duration::ZERO,
        }
    }
}
