//! Timers: retransmission (RFC 6298), persist (RFC 9293 3.8.6.1), delayed ACK (RFC 9293
//! 3.8.6.3), keepalive (RFC 1122 4.2.3.6), TIME-WAIT (RFC 9293 3.3.2) and the orphaned
//! FIN-WAIT-2 timeout, and the retry of a transmit the glue could not build (`undo.rs`).
//! All are deadlines stored in the connection; the glue arms one
//! system timer for [`Connection::next_deadline`].

use super::{Connection, Error, State};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::CongestionControl;
use crate::side::{SideAlloc, Slot};
use crate::time::{Duration, Instant};

/// The RTO Linux's retry budgets are computed from for an established connection
/// (`TCP_RTO_MIN`, whatever `tcp_rto_min_us` says).
pub(crate) const LINUX_RTO_BASE: Duration = Duration::from_millis(200);

/// Linux `tcp_model_timeout()`: how long `boundary` retransmission timeouts take from an
/// RTO of `base`, doubled each time up to `max` and linear from there.
pub(crate) fn model_timeout(boundary: u32, base: Duration, max: Duration) -> Duration {
    let base_us = base.micros().max(1);
    let ratio = max.micros() / base_us;
    let thresh = if ratio == 0 { 0 } else { ratio.ilog2() };
    let doublings = |n: u32| {
        2u64.checked_shl(n)
            .unwrap_or(u64::MAX)
            .saturating_sub(1)
            .saturating_mul(base_us)
    };
    if boundary <= thresh {
        Duration(doublings(boundary))
    } else {
        let linear = u64::from(boundary - thresh).saturating_mul(max.micros());
        Duration(doublings(thresh).saturating_add(linear))
    }
}

/// True if `deadline` is set and has passed.
fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// The earliest instant at which [`Connection::on_timer`] has work to do, if any.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.rto_deadline,
            self.persist_deadline,
            self.delack_deadline,
            self.cork_deadline,
            self.keepalive_deadline,
            self.close_deadline,
            self.tx_retry_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run every timer that has expired by `now`. Calling it early, late or repeatedly is
    /// harmless. Follow with the `poll_transmit` loop.
    pub fn on_timer(&mut self, now: Instant) {
        if due(self.close_deadline, now) {
            self.close_deadline = None;
            if matches!(self.state, State::TimeWait | State::FinWait2) {
                self.set_state(State::Closed, now);
            }
        }
        if due(self.rto_deadline, now) {
            self.rto_deadline = None;
            self.on_rto(now);
        }
        if due(self.persist_deadline, now) {
            self.persist_deadline = None;
            self.on_persist(now);
        }
        if due(self.delack_deadline, now) {
            self.delack_deadline = None;
            if !self.ack_now {
                self.delack_fired = true;
            }
            self.delack_on_timer();
            self.ack_now = true;
        }
        if due(self.cork_deadline, now) {
            self.cork_deadline = None;
            self.cork_flush = true;
        }
        if due(self.keepalive_deadline, now) {
            self.keepalive_deadline = None;
            self.on_keepalive(now);
        }
        if due(self.tx_retry_deadline, now) {
            // A transmit could not be built: the poll that follows builds it again.
            self.tx_retry_deadline = None;
        }
        self.update_timers(now);
    }

    /// Give up on the connection: `ETIMEDOUT`, or the ICMP error that explains it
    /// (Linux `tcp_write_err`: `sk_err_soft ?: ETIMEDOUT`).
    pub(super) fn time_out(&mut self, now: Instant) {
        self.stats.timeouts = self.stats.timeouts.saturating_add(1);
        let err = self.soft_error.take().unwrap_or(Error::TimedOut);
        self.fail(err, now);
    }

    /// The retransmission timer expired (RFC 6298 5.4-5.6, RFC 5681 3.1).
    fn on_rto(&mut self, now: Instant) {
        self.stats.rto_expirations = self.stats.rto_expirations.saturating_add(1);
        match self.state {
            State::SynSent | State::SynReceived => {
                // The SYN went out about one RTO ago.
                let start = *self
                    .retrans_since
                    .get_or_insert(Instant(now.0.saturating_sub(self.rtt.rto().0)));
                // Linux applies TCP_USER_TIMEOUT to the handshake too; otherwise
                // `syn_retries` (tcp_syn_retries) bounds it, as a count that the linear
                // timeouts add to (SYN-SENT only) and as a time budget from the initial
                // RTO (tcp_write_timeout: `icsk_retransmits >= max_retransmits`, else
                // `retransmits_timed_out(sk, retry_until, user_timeout)`).
                let give_up = match self.cfg.user_timeout {
                    Some(limit) => now - start >= limit,
                    None => {
                        let linear = if self.state == State::SynSent {
                            self.cfg.syn_linear_timeouts
                        } else {
                            0
                        };
                        let budget = model_timeout(
                            self.cfg.syn_retries,
                            self.rtt.config().initial_rto,
                            self.rtt.config().max_rto,
                        );
                        self.syn_retransmits >= self.cfg.syn_retries.saturating_add(linear)
                            || (self.syn_retransmits > 0 && now - start >= budget)
                    }
                };
                if give_up {
                    self.time_out(now);
                    return;
                }
                self.syn_retransmits = self.syn_retransmits.saturating_add(1);
                // RFC 6298 5.5: back off; resend the SYN (or SYN-ACK). Linux keeps the
                // initial RTO for the first `tcp_syn_linear_timeouts` SYN retransmissions
                // (tcp_retransmit_timer: `tp->total_rto > sysctl_tcp_syn_linear_timeouts`).
                if self.state != State::SynSent
                    || self.syn_retransmits > self.cfg.syn_linear_timeouts
                {
                    self.rtt.on_timeout();
                }
                self.syn_pending = true;
                self.syn_retransmitted = true;
                self.syn_rto_pending = true;
                self.syn_sent_at = None;
                self.stats.rto_retransmits = self.stats.rto_retransmits.saturating_add(1);
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                if self.snd_max == self.snd_una {
                    return;
                }
                // The oldest outstanding data went out about one RTO ago.
                let start = *self
                    .retrans_since
                    .get_or_insert(Instant(now.0.saturating_sub(self.rtt.rto().0)));
                // Linux's retrans_stamp: this expiry's retransmission, if it is the first.
                let first_rtx = *self.rtx_stamp.get_or_insert(now);
                // RFC 9293 3.8.3 (R2) and Linux TCP_USER_TIMEOUT; an orphan has its own
                // limit (Linux tcp_write_timeout with SOCK_DEAD).
                let give_up = match self.cfg.user_timeout {
                    Some(limit) => now - start >= limit,
                    None => {
                        let retries = if self.app_closed {
                            self.orphan_retries(self.rtt.rto() < self.rtt.config().max_rto)
                        } else {
                            self.cfg.max_retries
                        };
                        self.retransmits_timed_out(retries, first_rtx, now)
                    }
                };
                if give_up {
                    self.time_out(now);
                    return;
                }
                let smss = self.smss();
                let repeated = self.rtt.backoff_count() > 0;
                let prior = (self.cc.clone(), self.recover);
                // RFC 5681 3.1 equation (4) and "LW": ssthresh and cwnd on a timeout.
                self.cc.on_rto(now, self.flight_size(), smss);
                if repeated {
                    // RFC 2018 section 8: after a timeout the receiver may have reneged;
                    // on a repeated timeout forget the SACK information entirely.
                    self.scoreboard.clear();
                }
                // RFC 6298 5.5: "set RTO <- RTO * 2".
                self.rtt.on_timeout();
                // RFC 5682 step 1: "retransmit the first unacknowledged segment", which
                // go-back-N with a cwnd of one segment does; F-RTO then watches the
                // ACKs before the rest is sent again.
                let frto = core::mem::replace(&mut self.frto, A::Slot::empty());
                self.go_back_to_una();
                self.frto = frto;
                self.frto_on_timeout(prior, repeated);
            }
        }
    }

    /// Whether `retries` retransmission timeouts are used up, as Linux's
    /// `retransmits_timed_out` decides for an established connection: not before the first
    /// retransmission, then once the time since `start` (that first retransmission, Linux
    /// `retrans_stamp`) reaches the time `retries` timeouts take from an RTO of 200 ms
    /// ([`LINUX_RTO_BASE`]) backed off up to the maximum RTO.
    fn retransmits_timed_out(&self, retries: u32, start: Instant, now: Instant) -> bool {
        self.rtt.backoff_count() > 0
            && now - start >= model_timeout(retries, LINUX_RTO_BASE, self.rtt.config().max_rto)
    }

    /// Linux `tcp_orphan_retries()`: the retry limit of an orphan. `alive` says the
    /// backed-off interval is still below the maximum RTO. The configured 0 means 8 while
    /// alive, none after; an ICMP error (a soft error) also means none once not alive.
    pub(super) fn orphan_retries(&self, alive: bool) -> u32 {
        let mut retries = self.cfg.orphan_retries;
        if self.soft_error.is_some() && !alive {
            retries = 0;
        }
        if retries == 0 && alive {
            retries = 8;
        }
        retries
    }

    /// Send everything from SND.UNA again, go-back-N (after a timeout, or when the path
    /// MTU shrank). RFC 6582 section 4 / RFC 6675 5.1: this ends recovery, and no new
    /// fast recovery starts until everything sent so far is acknowledged. RFC 6298 5.4:
    /// "Retransmit the earliest segment that has not been acknowledged"; the rest
    /// follows as cwnd allows. Karn: no RTT sample from what is sent again.
    pub(crate) fn go_back_to_una(&mut self) {
        self.recovery = None;
        self.frto.release();
        self.recover = self.snd_max;
        self.dupacks = 0;
        self.rtx_first_pending = false;
        self.snd_nxt = self.snd_una;
        self.high_rxt = self.snd_una;
    }

    /// The persist timer expired (RFC 9293 3.8.6.1): probe the zero window.
    fn on_persist(&mut self, now: Instant) {
        if self.snd_wnd != 0 {
            return;
        }
        self.probes_unanswered = self.probes_unanswered.saturating_add(1);
        // Linux applies TCP_USER_TIMEOUT to unanswered zero-window probes too
        // (tcp_probe_timer): a peer that vanished while its window was closed is given
        // up after the user timeout, not after `max_retries` backed-off probes.
        let since = *self.probes_since.get_or_insert(now);
        let max_probes = if self.app_closed {
            self.orphan_retries(self.persist_interval() < self.rtt.config().max_rto)
        } else {
            self.cfg.max_retries
        };
        // An orphan also gives up after `orphan_retries` backed-off probes, answered or
        // not (Linux tcp_probe_timer with SOCK_DEAD): a peer that answers every probe
        // with a zero window cannot hold it forever.
        let give_up = match self.cfg.user_timeout {
            Some(limit) => now - since >= limit,
            None => self.probes_unanswered > max_probes,
        } || self.orphan_expired(self.persist_backoff, self.persist_interval());
        if give_up {
            self.time_out(now);
            return;
        }
        self.zwp_pending = true;
        self.persist_backoff = self.persist_backoff.saturating_add(1);
    }

    /// True if this is an orphan (closed by the application) whose zero-window probing
    /// has been backed off `backoffs` times, answered or not, and that is its limit
    /// ([`Connection::orphan_retries`] for an `interval` below or at the maximum RTO;
    /// Linux tcp_probe_timer with SOCK_DEAD).
    fn orphan_expired(&self, backoffs: u32, interval: Duration) -> bool {
        self.app_closed && backoffs >= self.orphan_retries(interval < self.rtt.config().max_rto)
    }

    /// The keepalive timer expired (RFC 1122 4.2.3.6).
    fn on_keepalive(&mut self, now: Instant) {
        let Some(ka) = self.cfg.keepalive else {
            return;
        };
        if self.keepalive_probes >= ka.count {
            // Like Linux, tell the peer (if it is still there) with a RST.
            self.queue_active_reset();
            self.time_out(now);
            return;
        }
        self.keepalive_pending = true;
        self.keepalive_probes = self.keepalive_probes.saturating_add(1);
        self.keepalive_deadline = Some(now + ka.interval);
    }

    /// The persist interval: the RTO, doubled per unanswered probe, at most the maximum
    /// RTO (RFC 9293 3.8.6.1: "the transmitting host SHOULD send the first zero-window
    /// probe when a zero window has existed for the retransmission timeout period ... and
    /// SHOULD increase exponentially the interval between successive probes").
    fn persist_interval(&self) -> Duration {
        let base = self.rtt.base_rto().0;
        let max = self.rtt.config().max_rto.0;
        let factor = 1u64
            .checked_shl(self.persist_backoff.min(32))
            .unwrap_or(u64::MAX);
        Duration(base.saturating_mul(factor).min(max))
    }

    /// Arm or disarm the timers to match the current state (RFC 6298 5.1-5.3 for the
    /// retransmission timer). Called after every event.
    pub(crate) fn update_timers(&mut self, now: Instant) {
        if self.state == State::Closed {
            self.set_state(State::Closed, now);
            return;
        }
        // Retransmission timer: "(5.1) Every time a packet containing data is sent ... if
        // the timer is not running, start it ... (5.2) When all outstanding data has been
        // acknowledged, turn off the retransmission timer."
        let outstanding = match self.state {
            State::SynSent | State::SynReceived => self.snd_max != self.snd_una,
            State::TimeWait | State::Closed | State::Listen => false,
            _ => self.snd_nxt > self.snd_una,
        };
        if !outstanding {
            self.rto_deadline = None;
        } else if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }

        // Persist timer: a zero window with data waiting and nothing in flight.
        let sending_state = self.data_sending_state();
        let waiting = self.data_end() > self.snd_nxt;
        if sending_state && self.snd_wnd == 0 && !outstanding && waiting {
            if self.persist_deadline.is_none() {
                self.persist_deadline = Some(now + self.persist_interval());
            }
        } else {
            self.persist_deadline = None;
            if self.snd_wnd != 0 {
                self.persist_backoff = 0;
            }
        }

        // Cork: a held partial segment with nothing in flight and an open window goes
        // after one RTO (Linux tcp_check_probe_timer arms ICSK_TIME_PROBE0 when
        // tcp_write_xmit leaves data queued and nothing is in flight).
        let held = sending_state && waiting && !outstanding && self.snd_wnd != 0 && self.corked();
        if !held {
            self.cork_deadline = None;
        } else if self.cork_deadline.is_none() {
            self.cork_deadline = Some(now + self.rtt.rto());
        }

        // Keepalive: only on an idle connection with nothing to send (as Linux).
        let keepalive_state = matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        );
        match self.cfg.keepalive {
            Some(ka)
                if keepalive_state && self.snd_max == self.snd_una && self.send_buf.is_empty() =>
            {
                if self.keepalive_deadline.is_none() {
                    self.keepalive_deadline = Some(self.last_recv + ka.idle);
                }
            }
            _ => {
                self.keepalive_deadline = None;
                self.keepalive_probes = 0;
            }
        }
    }
}
