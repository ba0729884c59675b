//! Segment generation: SYNs, data (new, go-back-N after a timeout, fast/SACK
//! retransmissions), FIN, ACKs, probes; the advertised window; TCP options.

use super::{Connection, Retransmit, State, Transmit};
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::CongestionControl;
use crate::seq::SeqNum;
use crate::side::{SideAlloc, Slot};
use crate::time::Instant;
use crate::wire::tcp::HEADER_LEN;
use crate::wire::{SackBlock, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// Why a data segment is sent, for sequence bookkeeping and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendKind {
    /// First transmission at SND.NXT.
    New,
    /// Go-back-N resend after a retransmission timeout, at SND.NXT < SND.MAX.
    GoBack,
    /// Fast retransmit / SACK hole retransmission (SND.NXT unchanged).
    Fast,
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// The next segment to send, or `None`. Call until it returns `None` after every
    /// other call; segments come out in the order they must be sent.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.chrono_poll(now);
        let t = self.next_transmit(now);
        if let Some(t) = &t {
            // Sent (unless the glue takes it back with `transmit_failed`): no retry
            // pending any more.
            self.tx_retry_deadline = None;
            self.tx_failures = 0;
            self.tx_failing_since = None;
            self.stats.segments_out = self.stats.segments_out.saturating_add(1);
            let wire = if t.payload_len > 0 {
                t.payload_len.div_ceil(t.gso_size.max(1)) as u64
            } else {
                1
            };
            self.segs_out = self.segs_out.saturating_add(wire);
            if t.payload_len > 0 {
                self.data_segs_out = self.data_segs_out.saturating_add(wire);
            }
            if t.repr.flags.contains(TcpFlags::RST) {
                self.stats.rsts_out = self.stats.rsts_out.saturating_add(1);
            } else if t.repr.flags.contains(TcpFlags::ACK) {
                self.ack_sent();
            }
        } else {
            self.chrono_xmit_end(now);
        }
        self.update_timers(now);
        t
    }

    /// Bookkeeping after any segment carrying our current ACK went out.
    fn ack_sent(&mut self) {
        self.ack_now = false;
        self.delack_fired = false;
        self.window_update_pending = false;
        self.delack_deadline = None;
        self.delack_on_ack_sent();
        self.unacked_bytes = 0;
        self.dsack = None;
        self.last_ack_sent = self.rcv_nxt;
    }

    fn next_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(rst) = self.pending_rst.take() {
            return Some(Transmit {
                repr: rst.repr(),
                payload_offset: 0,
                payload_len: 0,
                gso_size: 0,
                retransmit: None,
            });
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent | State::SynReceived => {
                if self.syn_pending {
                    self.syn_pending = false;
                    Some(self.syn_transmit(now))
                } else {
                    None
                }
            }
            _ => {
                if self.state != State::TimeWait {
                    if let Some(t) = self.data_transmit(now) {
                        return Some(t);
                    }
                }
                if self.zwp_pending {
                    self.zwp_pending = false;
                    self.stats.zero_window_probes = self.stats.zero_window_probes.saturating_add(1);
                    return Some(self.probe_transmit(now));
                }
                if self.keepalive_pending {
                    self.keepalive_pending = false;
                    self.stats.keepalives = self.stats.keepalives.saturating_add(1);
                    return Some(self.probe_transmit(now));
                }
                if self.ack_now {
                    self.stats.pure_acks_out = self.stats.pure_acks_out.saturating_add(1);
                    if self.delack_fired {
                        self.stats.delayed_acks = self.stats.delayed_acks.saturating_add(1);
                    }
                    if self.window_update_pending {
                        self.stats.window_updates = self.stats.window_updates.saturating_add(1);
                    }
                    let repr = self.control_repr(now, self.snd_max, TcpFlags::ACK);
                    return Some(Transmit {
                        repr,
                        payload_offset: 0,
                        payload_len: 0,
                        gso_size: 0,
                        retransmit: None,
                    });
                }
                None
            }
        }
    }

    /// Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED after a simultaneous open), with the
    /// options we offer (RFC 9293 3.7.1 MSS, RFC 7323 window scale and timestamps, RFC
    /// 2018 SACK-permitted). A SYN-ACK only echoes options the peer's SYN carried.
    fn syn_transmit(&mut self, now: Instant) -> Transmit {
        let synack = self.state == State::SynReceived;
        let mut options = TcpOptions {
            mss: Some(self.cfg.mss),
            ..TcpOptions::default()
        };
        let (ws, sack, ts) = if synack {
            (self.wscale_ok, self.sack_ok, self.ts_ok)
        } else {
            (self.cfg.window_scale, self.cfg.sack, self.cfg.timestamps)
        };
        if ws {
            options.window_scale = Some(self.rcv_wscale);
        }
        options.sack_permitted = sack;
        if ts {
            options.timestamps = Some(Timestamps {
                tsval: self.ts_now(now),
                tsecr: if synack { self.ts_recent } else { 0 },
            });
        }
        let window = self.syn_window();
        let mut repr = TcpRepr {
            src_port: self.local.port,
            dst_port: self.remote.port,
            seq: self.iss,
            flags: TcpFlags::SYN,
            // syn_window() is at most 65535.
            window: u16::try_from(window).unwrap_or(u16::MAX),
            options,
            ..TcpRepr::default()
        };
        if synack {
            repr.flags |= TcpFlags::ACK;
            repr.ack = self.rcv_nxt;
            self.last_ack_sent = self.rcv_nxt;
            let edge = self.rcv_nxt + window;
            if edge > self.rcv_adv {
                self.rcv_adv = edge;
            }
        }
        if self.snd_max == self.iss {
            self.syn_sent_at = Some(now);
        }
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.iss + 1;
        let rto = core::mem::take(&mut self.syn_rto_pending);
        Transmit {
            repr,
            payload_offset: 0,
            payload_len: 0,
            gso_size: 0,
            retransmit: rto.then_some(Retransmit::Timeout),
        }
    }

    /// The options every non-SYN segment carries: timestamps (RFC 7323 3.2: "MUST be sent
    /// in every non-<RST> segment" once negotiated) and SACK blocks (RFC 2018 section 4:
    /// a D-SACK block first (RFC 2883), then the most recent blocks).
    fn segment_options(&self, now: Instant) -> TcpOptions {
        let mut options = TcpOptions::default();
        if self.ts_ok {
            options.timestamps = Some(Timestamps {
                tsval: self.ts_now(now),
                tsecr: self.ts_recent,
            });
        }
        if self.sack_ok {
            let mut n = 0usize;
            let slots = options.sack_blocks.len();
            if let Some(d) = self.dsack {
                options.sack_blocks[0] = d;
                n = 1;
            }
            for b in self.sack_recent.iter().take(self.sack_recent_len) {
                if n >= slots {
                    break;
                }
                if self.dsack == Some(*b) {
                    continue;
                }
                if let Some(slot) = options.sack_blocks.get_mut(n) {
                    *slot = *b;
                    n += 1;
                }
            }
            // n <= 4.
            options.sack_count = u8::try_from(n).unwrap_or(0);
        }
        options
    }

    /// A segment without payload: header, ACK number, window, options.
    fn control_repr(&mut self, now: Instant, seq: SeqNum, flags: TcpFlags) -> TcpRepr {
        TcpRepr {
            src_port: self.local.port,
            dst_port: self.remote.port,
            seq,
            ack: self.rcv_nxt,
            flags,
            window: self.advertise_window(),
            urgent: 0,
            options: self.segment_options(now),
            payload_len: 0,
        }
    }

    /// A zero-window probe or keepalive: an old sequence number (SND.UNA - 1) and no
    /// data, which any receiver answers with an ACK carrying its current window (RFC 1122
    /// 4.2.3.6 allows this form for keepalives; Linux probes zero windows the same way,
    /// which RFC 9293 3.8.6.1 permits as it needs no data beyond the window).
    fn probe_transmit(&mut self, now: Instant) -> Transmit {
        let repr = self.control_repr(now, self.snd_una - 1, TcpFlags::ACK);
        Transmit {
            repr,
            payload_offset: 0,
            payload_len: 0,
            gso_size: 0,
            retransmit: None,
        }
    }

    /// The window to advertise now, as the 16-bit field, and the new right edge.
    ///
    /// RFC 9293 3.8.6.2.2 (receiver SWS avoidance): the right edge only moves when it can
    /// move by at least min(RCV.BUFF / 2, Eff.snd.MSS). RFC 9293 3.8.6.2.2 / RFC 7323 2.4:
    /// the right edge never moves left. RFC 7323 2.3: the field is the window shifted
    /// right by Rcv.Wind.Shift.
    pub(crate) fn advertise_window(&mut self) -> u16 {
        let shift = self.rcv_wscale;
        let max = usize::from(u16::MAX) << shift;
        let cur = self.rcv_wnd();
        let mut wnd = self.window_room().min(max);
        if wnd > cur && wnd - cur < self.sws_threshold() {
            wnd = cur;
        }
        if wnd < cur {
            wnd = cur.min(max);
        }
        let field = (wnd >> shift).min(usize::from(u16::MAX));
        let edge = self.rcv_nxt + (field << shift);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        // field <= 65535.
        u16::try_from(field).unwrap_or(u16::MAX)
    }

    /// RFC 9293 3.8.6.2.2: min(Fr * RCV.BUFF, Eff.snd.MSS) with Fr = 1/2.
    fn sws_threshold(&self) -> usize {
        (self.recv_buf.capacity() / 2).min(self.rcv_mss).max(1)
    }

    /// Whether freed receive space warrants a window update now: the SWS rule above, and
    /// (as Linux does) only once the new window is at least twice what the peer still
    /// has, so a fast reader does not send an update per read.
    pub(crate) fn window_update_worthwhile(&self) -> bool {
        let max = usize::from(u16::MAX) << self.rcv_wscale;
        let cur = self.rcv_wnd();
        let free = self.window_room().min(max);
        free > cur && free - cur >= self.sws_threshold() && free >= cur.saturating_mul(2)
    }

    /// Bytes counted against cwnd: RFC 6675 pipe when SACK is in use, else the data
    /// between SND.UNA and SND.NXT.
    pub(crate) fn cwnd_flight(&self) -> usize {
        if let (true, Some(f)) = (self.frto_step3(), self.frto.get()) {
            // F-RTO step 3 (RFC 5682 2.1 step 2b): the flight sent before the timeout
            // counts as lost until the next ACK decides; only the new data is in flight.
            return self.scoreboard.unsacked_within(f.recover, self.snd_max);
        }
        if !self.sack_ok {
            return self.snd_nxt.since(self.snd_una);
        }
        if self.snd_nxt < self.snd_max {
            // After a timeout everything beyond SND.NXT counts as lost (RFC 5681 3.1).
            self.scoreboard.unsacked_within(self.snd_una, self.snd_nxt)
        } else {
            self.scoreboard.pipe_with(
                self.snd_una,
                self.snd_max,
                self.high_rxt,
                self.smss(),
                self.cfg.dupthresh,
            )
        }
    }

    /// cwnd plus RFC 3042 limited transmit (without SACK): on the first and second
    /// duplicate ACK "the sender can transmit new data as long as the total outstanding
    /// data does not exceed cwnd + 2*SMSS".
    fn usable_cwnd(&self, smss: usize) -> usize {
        let mut cwnd = self.cc.cwnd();
        if self.frto_step3() {
            // RFC 5682 2.1 step 2b: "transmit up to two new (previously unsent)
            // segments".
            return cwnd.min(smss.saturating_mul(2));
        }
        // With SACK, pipe already discounts SACKed segments: RFC 6675 section 5 (1.3)
        // limits limited transmit by cwnd - pipe alone.
        // Limited transmit applies to the first DupThresh - 1 duplicate ACKs.
        let dup_limit = self.cfg.dupthresh.max(1);
        if !self.sack_ok && self.recovery.is_none() && (1..dup_limit).contains(&self.dupacks) {
            cwnd = cwnd.saturating_add(smss.saturating_mul(self.dupacks as usize));
        }
        cwnd
    }

    /// A data header for a segment starting at `seq` and the payload one wire segment can
    /// carry with its options (the send MSS less the option bytes).
    fn data_header(&self, now: Instant, seq: SeqNum) -> (TcpRepr, usize) {
        let repr = TcpRepr {
            src_port: self.local.port,
            dst_port: self.remote.port,
            seq,
            flags: TcpFlags::ACK,
            options: self.segment_options(now),
            ..TcpRepr::default()
        };
        let opts = repr.header_len().saturating_sub(HEADER_LEN);
        let per_segment = self.snd_mss.saturating_sub(opts).max(1);
        (repr, per_segment)
    }

    /// The next data (or FIN) segment, if the windows and the send rules allow one.
    fn data_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if !self.data_sending_state() {
            return None;
        }
        let smss = self.smss();
        // RFC 5681 3.2 step 2 / RFC 6582 3.2 step 5 / RFC 6675 (4.3): the first
        // unacknowledged segment, now, regardless of cwnd.
        if self.rtx_first_pending {
            self.rtx_first_pending = false;
            let una = self.snd_una;
            if let Some(hole) = self.scoreboard.next_hole(una, self.snd_max) {
                if let Some(t) = self.retransmit(now, hole.start, hole.end, SendKind::Fast) {
                    return Some(t);
                }
            }
        }
        let avail = self.usable_cwnd(smss).saturating_sub(self.cwnd_flight());

        // RFC 6675 section 5 (C): "while (cwnd - pipe) >= 1 SMSS", NextSeg rule 1: the
        // first un-SACKed octet above HighRxt that IsLost.
        if self.recovery.is_some() && self.sack_ok && avail >= smss {
            let boundary = self
                .scoreboard
                .loss_boundary_with(self.snd_una, smss, self.cfg.dupthresh)
                .min(self.snd_max);
            let from = self.high_rxt.max(self.snd_una);
            if let Some(hole) = self.scoreboard.next_hole(from, boundary) {
                if let Some(t) = self.retransmit(now, hole.start, hole.end, SendKind::Fast) {
                    return Some(t);
                }
            }
        }

        // Go-back-N after a retransmission timeout (RFC 5681 3.1, RFC 6298 5.4), skipping
        // what the receiver SACKed.
        if self.snd_nxt < self.snd_max {
            match self.scoreboard.next_hole(self.snd_nxt, self.snd_max) {
                None => self.snd_nxt = self.snd_max,
                Some(hole) => {
                    self.snd_nxt = hole.start;
                    let wnd_end = self.snd_una + self.snd_wnd;
                    let fin_only = self.fin_seq == Some(hole.start);
                    if !fin_only && (avail == 0 || hole.start >= wnd_end) {
                        return None;
                    }
                    let room = avail.min(wnd_end.since(hole.start));
                    let end = if fin_only {
                        hole.end
                    } else {
                        hole.end.min(hole.start + room)
                    };
                    return self.retransmit(now, hole.start, end, SendKind::GoBack);
                }
            }
        }

        if let Some(t) = self.new_data_transmit(now, smss, avail) {
            return Some(t);
        }

        // RFC 6675 NextSeg rule 3: no loss-marked hole and no new data: an un-SACKed hole
        // above HighRxt below the highest SACKed octet.
        if self.recovery.is_some() && self.sack_ok && avail >= smss {
            if let Some(top) = self.scoreboard.highest_sacked() {
                let from = self.high_rxt.max(self.snd_una);
                if let Some(hole) = self.scoreboard.next_hole(from, top) {
                    return self.retransmit(now, hole.start, hole.end, SendKind::Fast);
                }
            }
        }
        None
    }

    /// Retransmit from `start`, at most up to `end` and one segment (GoBack may use a
    /// TSO multiple). Includes the FIN if the range reaches it and it was sent before.
    fn retransmit(
        &mut self,
        now: Instant,
        start: SeqNum,
        end: SeqNum,
        kind: SendKind,
    ) -> Option<Transmit> {
        let (repr, per_segment) = self.data_header(now, start);
        let data_end = self.data_end().min(end);
        let mut len = data_end.since(start);
        let max = if kind == SendKind::GoBack {
            self.tso_payload(per_segment)
        } else {
            per_segment
        };
        len = len.min(max);
        let fin_sent = self.fin_seq.is_some_and(|f| self.snd_max > f);
        let fin = fin_sent && self.fin_seq == Some(start + len) && end > start + len;
        if len == 0 && !fin {
            return None;
        }
        Some(self.finish_data(now, repr, start, len, fin, per_segment, kind))
    }

    /// The largest payload for one transmit: one segment, or the largest multiple of it
    /// not above `tso_max`.
    fn tso_payload(&self, per_segment: usize) -> usize {
        match self.cfg.tso_max.checked_div(per_segment) {
            Some(n) if self.cfg.tso_max > per_segment => n.saturating_mul(per_segment),
            _ => per_segment,
        }
    }

    /// New data at SND.NXT (RFC 6675 NextSeg rule 2 during recovery), subject to the
    /// peer's window, cwnd, sender SWS avoidance and Nagle.
    fn new_data_transmit(&mut self, now: Instant, smss: usize, avail: usize) -> Option<Transmit> {
        if self.snd_nxt < self.snd_max {
            return None;
        }
        let data_end = self.data_end();
        let unsent = data_end.since(self.snd_nxt);
        let fin_unsent = self.fin_seq.is_some_and(|f| self.snd_max <= f);
        if unsent == 0 && !fin_unsent {
            return None;
        }
        let mut avail = avail;
        if self.cfg.slow_start_after_idle && unsent > 0 && self.flight_size() == 0 {
            // RFC 5681 4.1: restart after an idle period longer than the RTO (Linux
            // tcp_slow_start_after_idle_check, unless `tcp_slow_start_after_idle` is 0).
            if let Some(last) = self.last_data_send {
                let idle = now - last;
                let rto = self.rtt.rto();
                if idle > rto {
                    self.cc.on_idle_restart(idle, rto, smss);
                    avail = self.usable_cwnd(smss).saturating_sub(self.cwnd_flight());
                }
            }
        }
        let (repr, per_segment) = self.data_header(now, self.snd_nxt);
        let wnd_end = self.snd_una + self.snd_wnd;
        let wnd_avail = if self.snd_nxt < wnd_end {
            wnd_end.since(self.snd_nxt)
        } else {
            0
        };
        let mut len = unsent
            .min(wnd_avail)
            .min(avail)
            .min(self.tso_payload(per_segment));
        if len > per_segment && len < unsent {
            // Keep super-segments a multiple of the segment size.
            len -= len.checked_rem(per_segment).unwrap_or(0);
        }
        if len == unsent && !fin_unsent && self.corked() {
            // TCP_CORK / MSG_MORE (Linux tcp_nagle_check: `partial && (nonagle &
            // TCP_NAGLE_CORK)`): full segments only; the partial tail waits.
            len -= len.checked_rem(per_segment).unwrap_or(0);
        }
        if len < unsent && len < per_segment {
            // RFC 9293 3.8.6.2.1 (sender SWS avoidance): send only if a full segment can
            // go, or all queued data (below), or "at least a fraction Fs of the maximum
            // window" (Fs = 1/2). The RFC's override timeout is taken as zero when
            // nothing is in flight: no ACK would come to reconsider, so waiting could
            // stall the connection behind a peer that opens its window in small steps.
            let idle = self.snd_max == self.snd_una;
            let fraction_ok = len > 0 && (len >= self.max_snd_wnd / 2 || idle);
            if !fraction_ok {
                len = 0;
            }
        } else if len == unsent && len < per_segment && len > 0 {
            // RFC 9293 3.7.4 (Nagle, RFC 896): "If there is unacknowledged data, then the
            // sending TCP buffers all user data ... until the outstanding data has been
            // acknowledged or until the TCP can send a full-sized segment"; a FIN may go
            // out with the tail (as Linux does).
            let unacked = self.snd_max > self.snd_una;
            if !self.cfg.nodelay && unacked && !fin_unsent {
                len = 0;
            }
        }
        if len == 0 && !(fin_unsent && unsent == 0) {
            return None;
        }
        let fin = fin_unsent && len == unsent;
        Some(self.finish_data(
            now,
            repr,
            self.snd_nxt,
            len,
            fin,
            per_segment,
            SendKind::New,
        ))
    }

    /// Fill in a data segment and do the send-side bookkeeping.
    #[allow(clippy::too_many_arguments)]
    fn finish_data(
        &mut self,
        now: Instant,
        mut repr: TcpRepr,
        seq: SeqNum,
        len: usize,
        fin: bool,
        per_segment: usize,
        kind: SendKind,
    ) -> Transmit {
        if fin {
            repr.flags |= TcpFlags::FIN;
        }
        if len > 0 && seq + len == self.data_end() {
            repr.flags |= TcpFlags::PSH;
        }
        repr.ack = self.rcv_nxt;
        repr.window = self.advertise_window();
        repr.payload_len = len;
        let end = seq + len + usize::from(fin);
        if len > 0 {
            self.delack_on_data_sent(now);
        }
        match kind {
            SendKind::New => {
                // Timed even with timestamps: the timestamp clock ticks in
                // milliseconds, too coarse for sub-millisecond paths, while this sample
                // has the caller's microsecond resolution.
                let snap = self.rate_on_send(now);
                if self.send_times.on_send(seq, end, now, snap).is_err() {
                    // Untimed, as when every slot is in use.
                    self.stats.side_alloc_failures =
                        self.stats.side_alloc_failures.saturating_add(1);
                }
                if len > 0 {
                    self.chrono_sent();
                }
                self.stats.bytes_out = self.stats.bytes_out.saturating_add(len as u64);
                self.snd_nxt = end;
                self.cork_flush = false;
                self.last_data_send = Some(now);
            }
            SendKind::GoBack => {
                self.stats.rto_retransmits = self.stats.rto_retransmits.saturating_add(1);
                self.stats.bytes_retransmitted =
                    self.stats.bytes_retransmitted.saturating_add(len as u64);
                self.snd_nxt = end;
                self.note_retransmitted(end);
            }
            SendKind::Fast => {
                self.stats.fast_retransmits = self.stats.fast_retransmits.saturating_add(1);
                self.stats.bytes_retransmitted =
                    self.stats.bytes_retransmitted.saturating_add(len as u64);
                if end > self.high_rxt {
                    self.high_rxt = end;
                }
                self.note_retransmitted(end);
            }
        }
        if end > self.snd_max {
            self.snd_max = end;
        }
        Transmit {
            repr,
            payload_offset: seq.since(self.snd_una),
            payload_len: len,
            gso_size: per_segment,
            retransmit: match kind {
                SendKind::New => None,
                SendKind::GoBack => Some(Retransmit::Timeout),
                SendKind::Fast => Some(Retransmit::Fast),
            },
        }
    }

    /// Data up to `end` was sent again: Karn (RFC 6298 section 3), "RTT samples MUST
    /// NOT be made using segments that were retransmitted", until it is acknowledged.
    fn note_retransmitted(&mut self, end: SeqNum) {
        if self.rtx_high.is_none_or(|h| end > h) {
            self.rtx_high = Some(end);
        }
    }

    /// SACK blocks we would send now (for tests and diagnostics).
    pub fn sack_blocks(&self) -> ([SackBlock; 4], usize) {
        let o = self.segment_options(Instant::ZERO);
        (o.sack_blocks, usize::from(o.sack_count))
    }
}
