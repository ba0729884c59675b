//! Taking back a transmit the glue could not build.
//!
//! [`Connection::poll_transmit`] commits a segment as it hands it out: SND.NXT moves
//! past new data, a fast retransmission raises HighRxt, an ACK clears the delayed-ACK
//! state, the timers follow. If the glue then cannot build the segment (no memory for
//! the skb), the segment must not count as sent, or the sender would take its own
//! allocation failure for a loss on the path and wait a retransmission timeout for it.
//! Linux's `tcp_write_xmit` stops at such a failure with SND.NXT unchanged and tries
//! again later; so does partcp: [`Connection::poll_transmit_undoable`] also returns a
//! [`TransmitUndo`], the values the poll changed as they were before it, and
//! [`Connection::transmit_failed`] puts them back, which makes the connection exactly
//! what it was before the poll (the host tests compare the whole connection), and arms
//! a short retry: the next poll builds the same segment again.

use super::timers::{model_timeout, LINUX_RTO_BASE};
use super::{Connection, State, Transmit};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::Congestion;
use crate::seq::SeqNum;
use crate::side::SideAlloc;
use crate::stats::ConnStats;
use crate::time::{Duration, Instant};
use crate::wire::SackBlock;

/// The first retry after a transmit could not be built; it doubles with each failure
/// in a row.
pub const TX_RETRY_MIN: Duration = Duration::from_millis(1);

/// The longest wait between retries: Linux's `TCP_RESOURCE_PROBE_INTERVAL` (HZ / 2),
/// its retry interval when a transmission fails for lack of local resources.
pub const TX_RETRY_MAX: Duration = Duration::from_millis(500);

/// Everything [`Connection::poll_transmit`] may change, as it was before the poll that
/// returned the transmit this undo goes with. Only [`Connection::transmit_failed`] uses
/// it, and only right after that poll, before any other call on the connection.
#[derive(Clone, Debug)]
#[must_use]
pub struct TransmitUndo {
    pending_rst: Option<super::PendingRst>,
    syn_pending: bool,
    syn_rto_pending: bool,
    syn_sent_at: Option<Instant>,
    snd_nxt: SeqNum,
    snd_max: SeqNum,
    rcv_adv: SeqNum,
    last_ack_sent: SeqNum,
    zwp_pending: bool,
    keepalive_pending: bool,
    ack_now: bool,
    delack_fired: bool,
    window_update_pending: bool,
    delack_deadline: Option<Instant>,
    unacked_bytes: usize,
    dsack: Option<SackBlock>,
    rtx_first_pending: bool,
    high_rxt: SeqNum,
    /// Ranges timed for RTT samples: a poll only appends one (`SendTimes::on_send`).
    send_times_len: usize,
    /// Delivery-rate phases: new data sent with nothing in flight restarts them.
    rate: super::rate::Rate,
    /// Chronographs: a poll starts busy, and its end may start or stop the others.
    chrono: super::chrono::Chrono,
    /// Karn's rule: the end of the data retransmitted (a retransmission raises it).
    rtx_high: Option<SeqNum>,
    /// Delayed-ACK state: quick ACKs left and the ATO (an ACK sent uses a quick ACK),
    /// pingpong mode (data sent counts towards it).
    quick: u32,
    ato: Duration,
    pingpong: u8,
    cork_flush: bool,
    last_data_send: Option<Instant>,
    /// The idle restart (RFC 5681 4.1) is decided at the poll and must be decided
    /// again at the retry, from the same congestion state.
    cc: Congestion,
    segs_out: u64,
    data_segs_out: u64,
    counters: PollCounters,
    rto_deadline: Option<Instant>,
    persist_deadline: Option<Instant>,
    persist_backoff: u32,
    cork_deadline: Option<Instant>,
    keepalive_deadline: Option<Instant>,
    keepalive_probes: u32,
    tx_retry_deadline: Option<Instant>,
    tx_failures: u32,
    tx_failing_since: Option<Instant>,
}

/// The [`Stats`] counters a poll may add to (the rest of `Stats` is left alone, and
/// saving only these keeps the undo small: it lives on the kernel stack).
#[derive(Clone, Copy, Debug)]
struct PollCounters {
    segments_out: u64,
    rsts_out: u32,
    pure_acks_out: u64,
    delayed_acks: u64,
    window_updates: u64,
    zero_window_probes: u32,
    keepalives: u32,
    bytes_out: u64,
    rto_retransmits: u32,
    fast_retransmits: u32,
    bytes_retransmitted: u64,
}

impl PollCounters {
    fn of(s: &ConnStats) -> Self {
        PollCounters {
            segments_out: s.segments_out,
            rsts_out: s.rsts_out,
            pure_acks_out: s.pure_acks_out,
            delayed_acks: s.delayed_acks,
            window_updates: s.window_updates,
            zero_window_probes: s.zero_window_probes,
            keepalives: s.keepalives,
            bytes_out: s.bytes_out,
            rto_retransmits: s.rto_retransmits,
            fast_retransmits: s.fast_retransmits,
            bytes_retransmitted: s.bytes_retransmitted,
        }
    }

    fn restore(self, s: &mut ConnStats) {
        s.segments_out = self.segments_out;
        s.rsts_out = self.rsts_out;
        s.pure_acks_out = self.pure_acks_out;
        s.delayed_acks = self.delayed_acks;
        s.window_updates = self.window_updates;
        s.zero_window_probes = self.zero_window_probes;
        s.keepalives = self.keepalives;
        s.bytes_out = self.bytes_out;
        s.rto_retransmits = self.rto_retransmits;
        s.fast_retransmits = self.fast_retransmits;
        s.bytes_retransmitted = self.bytes_retransmitted;
    }
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// [`Connection::poll_transmit`], with what it takes to undo the transmit if the glue
    /// cannot build it ([`Connection::transmit_failed`]).
    #[must_use]
    pub fn poll_transmit_undoable(&mut self, now: Instant) -> Option<(Transmit, TransmitUndo)> {
        let undo = self.undo_record();
        self.poll_transmit(now).map(|t| (t, undo))
    }

    /// The transmit that came with `undo` was not sent (the glue could not build it):
    /// the connection goes back to what it was before that poll, as if it had not
    /// happened, and retries after [`TX_RETRY_MIN`], doubled per failure in a row up to
    /// [`TX_RETRY_MAX`] (any other event that polls retries sooner). Call it right
    /// after the poll, before any other call; the glue then stops polling until the
    /// next event, so that a failing allocation is not retried in a loop.
    ///
    /// A connection whose transmits keep failing gives up (`ETIMEDOUT`, or the soft
    /// error that explains it) once they have failed for as long as `max_retries` (an
    /// orphan's: `orphan_retries`) backed-off probes take in Linux, or `user_timeout`
    /// if set. Linux's `tcp_send_probe0` retries a head segment it cannot send on the
    /// probe timer, backing off from the RTO up to the maximum RTO (every
    /// `TCP_RESOURCE_PROBE_INTERVAL` after a qdisc drop), and `tcp_probe_timer` aborts
    /// after `tcp_retries2` probes or the user timeout; its retransmission timer, when
    /// data is in flight, keeps its own budget of the same length. partcp retries
    /// sooner (a failed allocation is usually brief) and gives up after the slowest of
    /// those budgets, from the first failure of the streak: 924.6 s with the default
    /// 15. Without this bound a retransmission that can never be built would keep a
    /// connection forever: the failed poll takes back the retransmission timer it
    /// armed, so only the retry timer is left.
    pub fn transmit_failed(&mut self, undo: TransmitUndo, now: Instant) {
        self.restore(undo);
        if self.state == State::Closed {
            // A closed connection's last segment (a RST) gets no retry timer: Linux's
            // tcp_send_active_reset does not retry either.
            return;
        }
        let since = *self.tx_failing_since.get_or_insert(now);
        if now - since >= self.tx_give_up_after() {
            self.tx_failures = 0;
            self.tx_failing_since = None;
            self.tx_retry_deadline = None;
            self.time_out(now);
            return;
        }
        let exp = self.tx_failures.min(16);
        let wait = Duration(
            TX_RETRY_MIN
                .micros()
                .saturating_mul(1u64 << exp)
                .min(TX_RETRY_MAX.micros()),
        );
        self.tx_failures = self.tx_failures.saturating_add(1);
        self.tx_retry_deadline = Some(now + wait);
    }

    /// How long transmits may keep failing: the time Linux's
    /// `tcp_probe_timer` takes at most to abort (`max_probes` probes backed off from
    /// 200 ms up to the maximum RTO; `max_probes` is `tcp_retries2`, for an orphan
    /// `tcp_orphan_retries`, whose "alive" limit applies while the probe interval is
    /// below the maximum RTO), or the user timeout.
    fn tx_give_up_after(&self) -> Duration {
        if let Some(limit) = self.cfg.user_timeout {
            return limit;
        }
        let probes = if self.app_closed {
            self.orphan_retries(true)
        } else {
            self.cfg.max_retries
        };
        model_timeout(probes, LINUX_RTO_BASE, self.rtt.config().max_rto)
    }

    /// The current values of everything a poll may change.
    fn undo_record(&self) -> TransmitUndo {
        TransmitUndo {
            pending_rst: self.pending_rst,
            syn_pending: self.syn_pending,
            syn_rto_pending: self.syn_rto_pending,
            syn_sent_at: self.syn_sent_at,
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            rcv_adv: self.rcv_adv,
            last_ack_sent: self.last_ack_sent,
            zwp_pending: self.zwp_pending,
            keepalive_pending: self.keepalive_pending,
            ack_now: self.ack_now,
            delack_fired: self.delack_fired,
            window_update_pending: self.window_update_pending,
            delack_deadline: self.delack_deadline,
            unacked_bytes: self.unacked_bytes,
            dsack: self.dsack,
            rtx_first_pending: self.rtx_first_pending,
            high_rxt: self.high_rxt,
            send_times_len: self.send_times.len(),
            rate: self.rate,
            chrono: self.chrono,
            rtx_high: self.rtx_high,
            quick: self.quick,
            ato: self.ato,
            pingpong: self.pingpong,
            cork_flush: self.cork_flush,
            last_data_send: self.last_data_send,
            cc: self.cc.clone(),
            segs_out: self.segs_out,
            data_segs_out: self.data_segs_out,
            counters: PollCounters::of(&self.stats),
            rto_deadline: self.rto_deadline,
            persist_deadline: self.persist_deadline,
            persist_backoff: self.persist_backoff,
            cork_deadline: self.cork_deadline,
            keepalive_deadline: self.keepalive_deadline,
            keepalive_probes: self.keepalive_probes,
            tx_retry_deadline: self.tx_retry_deadline,
            tx_failures: self.tx_failures,
            tx_failing_since: self.tx_failing_since,
        }
    }

    /// Puts back the values `u` recorded.
    fn restore(&mut self, u: TransmitUndo) {
        self.pending_rst = u.pending_rst;
        self.syn_pending = u.syn_pending;
        self.syn_rto_pending = u.syn_rto_pending;
        self.syn_sent_at = u.syn_sent_at;
        self.snd_nxt = u.snd_nxt;
        self.snd_max = u.snd_max;
        self.rcv_adv = u.rcv_adv;
        self.last_ack_sent = u.last_ack_sent;
        self.zwp_pending = u.zwp_pending;
        self.keepalive_pending = u.keepalive_pending;
        self.ack_now = u.ack_now;
        self.delack_fired = u.delack_fired;
        self.window_update_pending = u.window_update_pending;
        self.delack_deadline = u.delack_deadline;
        self.unacked_bytes = u.unacked_bytes;
        self.dsack = u.dsack;
        self.rtx_first_pending = u.rtx_first_pending;
        self.high_rxt = u.high_rxt;
        self.send_times.truncate(u.send_times_len);
        self.rate = u.rate;
        self.chrono = u.chrono;
        self.rtx_high = u.rtx_high;
        self.quick = u.quick;
        self.ato = u.ato;
        self.pingpong = u.pingpong;
        self.cork_flush = u.cork_flush;
        self.last_data_send = u.last_data_send;
        self.cc = u.cc;
        self.segs_out = u.segs_out;
        self.data_segs_out = u.data_segs_out;
        u.counters.restore(&mut self.stats);
        self.rto_deadline = u.rto_deadline;
        self.persist_deadline = u.persist_deadline;
        self.persist_backoff = u.persist_backoff;
        self.cork_deadline = u.cork_deadline;
        self.keepalive_deadline = u.keepalive_deadline;
        self.keepalive_probes = u.keepalive_probes;
        self.tx_retry_deadline = u.tx_retry_deadline;
        self.tx_failures = u.tx_failures;
        self.tx_failing_since = u.tx_failing_since;
    }
}
