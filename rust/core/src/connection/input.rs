//! Segment arrival: RFC 9293 section 3.10.7 ("SEGMENT ARRIVES"), with RFC 5961's
//! protections, RFC 7323's PAWS and timestamps, SACK (RFC 2018, 2883, 6675) and
//! NewReno (RFC 6582).

use super::{Connection, Error, Recovery, SegmentAction, State, PAWS_IDLE_LIMIT};
use crate::assembler::InsertError;
use crate::buffer::{RecvBuffer, SendBuffer, WriteAt};
use crate::congestion::CongestionControl;
use crate::connection::frto::FrtoAck;
use crate::connection::sack::BlockOutcome;
use crate::connection::send_times::RateSnap;
use crate::seq::SeqNum;
use crate::side::{SideAlloc, Slot};
use crate::time::{Duration, Instant};
use crate::wire::{SackBlock, TcpFlags, TcpRepr};

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// Process one incoming segment for this connection. `payload` holds the
    /// `seg.payload_len` payload bytes in the glue's type (a GRO-merged payload larger
    /// than the MSS is fine).
    ///
    /// Afterwards call [`Connection::poll_transmit`] until it returns `None`.
    pub fn on_segment<P: ?Sized>(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        payload: &P,
    ) -> SegmentAction
    where
        R: WriteAt<P>,
    {
        self.stats.segments_in = self.stats.segments_in.saturating_add(1);
        let action = match self.state {
            State::Closed | State::Listen => {
                // RFC 9293 3.10.7.1: a segment for a closed connection gets a RST.
                if self.pending_rst.is_none() {
                    self.pending_rst = super::PendingRst::answering(seg);
                }
                SegmentAction::Done
            }
            State::SynSent => {
                self.on_segment_syn_sent(now, seg, payload);
                SegmentAction::Done
            }
            _ => self.on_segment_synchronized(now, seg, payload),
        };
        self.update_timers(now);
        action
    }

    /// Negotiate options from the peer's SYN (RFC 9293 3.7.1 MSS; RFC 7323 2.2 window
    /// scale; RFC 2018 section 2 SACK-permitted; RFC 7323 3.2 timestamps).
    fn negotiate(&mut self, now: Instant, syn: &TcpRepr) {
        self.set_peer_mss(syn.options.mss.unwrap_or(super::DEFAULT_MSS));
        // RFC 7323 2.2: scaling is in effect only if both SYNs carried the option.
        match syn.options.window_scale {
            Some(shift) if self.cfg.window_scale => {
                // RFC 7323 2.3: "If a Window Scale option is received with a shift.cnt
                // value larger than 14, the TCP SHOULD log the error but MUST use 14".
                self.snd_wscale = shift.min(super::MAX_WINDOW_SCALE);
                self.wscale_ok = true;
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
                self.wscale_ok = false;
            }
        }
        self.sack_ok = self.cfg.sack && syn.options.sack_permitted;
        if let (true, Some(ts)) = (self.cfg.timestamps, syn.options.timestamps) {
            self.ts_ok = true;
            self.ts_recent = ts.tsval;
            self.ts_recent_time = now;
        } else {
            self.ts_ok = false;
        }
    }

    /// RFC 9293 3.10.7.3, SYN-SENT.
    fn on_segment_syn_sent<P: ?Sized>(&mut self, now: Instant, seg: &TcpRepr, payload: &P)
    where
        R: WriteAt<P>,
    {
        let has_ack = seg.flags.contains(TcpFlags::ACK);
        let rst = seg.flags.contains(TcpFlags::RST);
        // "first check the ACK bit": "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
        // (unless the RST bit is set, if so drop the segment and return)".
        if has_ack && (seg.ack <= self.iss || seg.ack > self.snd_max) {
            if !rst {
                self.pending_rst = super::PendingRst::answering(seg);
            }
            return;
        }
        // "second check the RST bit": with an acceptable ACK the connection is refused;
        // RFC 5961 section 3 adds nothing here (the ACK check already binds the RST to
        // our SYN). Without ACK, "drop the segment and return".
        if rst {
            self.stats.rsts_in = self.stats.rsts_in.saturating_add(1);
            if has_ack {
                self.fail(Error::ConnectionRefused, now);
            }
            return;
        }
        // "fourth check the SYN bit".
        if !seg.flags.contains(TcpFlags::SYN) {
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.last_ack_sent = self.rcv_nxt;
        self.negotiate(now, seg);
        // RFC 7323 2.2: "The window field in a segment where the SYN bit is set ... MUST
        // NOT be scaled."
        self.snd_wnd = usize::from(seg.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.rcv_adv = self.rcv_nxt + self.syn_window();
        if has_ack {
            // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to
            // ESTABLISHED, form an ACK segment ... and send it."
            self.snd_una = seg.ack;
            self.snd_wl2 = seg.ack;
            self.take_handshake_ts_sample(now, seg);
            self.establish(now);
            self.ack_now = true;
            // "Data or controls that were queued for transmission may be included. If
            // there are other controls or text in the segment, then continue processing
            // at the sixth step below where the URG bit is checked."
            self.process_text(now, seg, payload, seg.seq + 1);
        } else {
            // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment ... and send
            // it". Any data is left for retransmission after ESTABLISHED.
            self.snd_wl2 = self.snd_una;
            self.state = State::SynReceived;
            self.syn_pending = true;
            // The SYN-ACK is a retransmission of our SYN in sequence space: no sample.
            self.syn_sent_at = None;
        }
    }

    /// The window to advertise in a SYN or SYN-ACK (unscaled, RFC 7323 2.2).
    pub(crate) fn syn_window(&self) -> usize {
        self.window_room().min(usize::from(u16::MAX))
    }

    /// The free receive space the window may offer: `recv_free` within
    /// `TCP_WINDOW_CLAMP`.
    pub(crate) fn window_room(&self) -> usize {
        self.recv_free()
            .min(self.cfg.window_clamp.unwrap_or(usize::MAX))
    }

    /// With timestamps, the handshake's RTT comes from TSecr (RFC 7323 4.1) and is valid
    /// even after retransmissions; `establish` handles the non-timestamp case.
    fn take_handshake_ts_sample(&mut self, now: Instant, seg: &TcpRepr) {
        if let (true, Some(ts)) = (self.ts_ok, seg.options.timestamps) {
            if let Some(rtt) = self.ts_rtt(now, ts.tsecr) {
                self.rtt.on_sample(rtt);
                self.syn_sent_at = None;
            }
        }
    }

    /// RTT from an echoed TSval (RFC 7323 4.1), if the echo is plausible.
    fn ts_rtt(&self, now: Instant, tsecr: u32) -> Option<Duration> {
        let elapsed = self.ts_now(now).wrapping_sub(tsecr) as i32;
        if tsecr == 0 || elapsed < 0 {
            return None;
        }
        Some(Duration::from_millis(elapsed as u64))
    }

    /// Receive window we currently offer: from RCV.NXT to the advertised right edge.
    pub(crate) fn rcv_wnd(&self) -> usize {
        if self.rcv_adv > self.rcv_nxt {
            self.rcv_adv.since(self.rcv_nxt)
        } else {
            0
        }
    }

    /// Free receive-buffer space past the readable data.
    pub(crate) fn recv_free(&self) -> usize {
        self.recv_buf.capacity().saturating_sub(self.recv_buf.len())
    }

    /// RFC 5961 section 7: send a challenge ACK unless the per-second budget is spent.
    pub(crate) fn challenge_ack(&mut self, now: Instant) {
        if now - self.challenge_window >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.cfg.challenge_ack_limit {
            self.challenge_count += 1;
            self.ack_now = true;
            self.stats.challenge_acks = self.stats.challenge_acks.saturating_add(1);
        } else {
            self.stats.challenge_acks_suppressed =
                self.stats.challenge_acks_suppressed.saturating_add(1);
        }
    }

    /// RFC 9293 3.10.7.4 "first check sequence number": the four-case acceptability test.
    /// RFC 9293: "If the RCV.WND is zero, no segments will be acceptable, but special
    /// allowance should be made to accept valid ACKs, URGs, and RSTs": a segment with
    /// text starting exactly at RCV.NXT is let through so its ACK is processed; its text
    /// is then trimmed away by the window.
    fn seq_acceptable(&self, seg: &TcpRepr) -> bool {
        let wnd = self.rcv_wnd();
        let len = seg.seg_len();
        let lo = self.rcv_nxt;
        let hi = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seg.seq == lo,
            (0, _) => seg.seq.in_range(lo, hi),
            (_, 0) => seg.seq == lo,
            (_, _) => seg.seq.in_range(lo, hi) || (seg.seq + (len - 1)).in_range(lo, hi),
        }
    }

    /// All states after SYN-SENT (RFC 9293 3.10.7.4 "Otherwise").
    fn on_segment_synchronized<P: ?Sized>(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        payload: &P,
    ) -> SegmentAction
    where
        R: WriteAt<P>,
    {
        let rst = seg.flags.contains(TcpFlags::RST);
        let syn = seg.flags.contains(TcpFlags::SYN);
        // RFC 9293 3.10.7.4 (TIME-WAIT) and RFC 6191: a new SYN with a higher sequence
        // number (or newer timestamp) may reopen the connection through the listener.
        if self.state == State::TimeWait && syn && !rst && !seg.flags.contains(TcpFlags::ACK) {
            let newer_ts = match (self.ts_ok, seg.options.timestamps) {
                (true, Some(ts)) => (ts.tsval.wrapping_sub(self.ts_recent) as i32) > 0,
                _ => false,
            };
            if seg.seq > self.rcv_nxt || newer_ts {
                return SegmentAction::Reopen;
            }
        }

        // RFC 7323 5.3 R1 (PAWS): "If there is a Timestamps option in the arriving segment,
        // SEG.TSval < TS.Recent, TS.Recent is valid ..., and the RST bit is not set, then
        // treat the arriving segment as not acceptable: Send an acknowledgment in reply
        // ... and drop the segment."
        if let (true, Some(ts), false) = (self.ts_ok, seg.options.timestamps, rst) {
            let recent_valid = now - self.ts_recent_time < PAWS_IDLE_LIMIT;
            if recent_valid && (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                self.stats.paws_drops = self.stats.paws_drops.saturating_add(1);
                self.ack_now = true;
                return SegmentAction::Done;
            }
        }

        // RFC 5961 section 3.2: "If the RST bit is set and the sequence number is outside
        // the current receive window, silently drop the segment. If the RST bit is set and
        // the sequence number exactly matches the next expected sequence number (RCV.NXT),
        // then TCP MUST reset the connection. If the RST bit is set and the sequence number
        // does not exactly match the next expected sequence value, yet is within the
        // current receive window, TCP MUST send an acknowledgment (challenge ACK)".
        if rst {
            self.stats.rsts_in = self.stats.rsts_in.saturating_add(1);
            let wnd = self.rcv_wnd().max(1);
            if seg.seq == self.rcv_nxt {
                self.reset_received(now);
            } else if seg.seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd) {
                self.challenge_ack(now);
            }
            return SegmentAction::Done;
        }

        // RFC 5961 section 4.2: "If the SYN bit is set, irrespective of the sequence number,
        // TCP MUST send an ACK (also referred to as challenge ACK) to the remote peer".
        // In SYN-RECEIVED (simultaneous open) a retransmitted SYN instead gets our
        // SYN-ACK again.
        if syn {
            if self.state == State::SynReceived && seg.seq == self.irs {
                // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK acknowledges
                // our SYN and completes the handshake; a bare retransmitted SYN gets our
                // SYN-ACK again.
                let acks_syn = seg.flags.contains(TcpFlags::ACK)
                    && self.snd_una < seg.ack
                    && seg.ack <= self.snd_max;
                if acks_syn {
                    self.complete_syn_received(now, seg);
                    self.ack_now = true;
                } else {
                    self.syn_pending = true;
                }
            } else {
                self.challenge_ack(now);
            }
            return SegmentAction::Done;
        }

        if !self.seq_acceptable(seg) {
            // RFC 9293 3.10.7.4: "If an incoming segment is not acceptable, an
            // acknowledgment should be sent in reply (unless the RST bit is set ...)".
            let end = seg.seq + seg.payload_len;
            if seg.payload_len > 0 && end <= self.rcv_nxt {
                self.stats.duplicate_segments = self.stats.duplicate_segments.saturating_add(1);
                self.note_dsack(seg.seq, end);
                self.enter_quickack_mode();
            } else {
                self.stats.out_of_window = self.stats.out_of_window.saturating_add(1);
            }
            if self.state == State::SynReceived {
                self.syn_pending = true;
            } else {
                self.ack_now = true;
            }
            // TIME-WAIT: a retransmitted FIN restarts the 2 MSL timeout (RFC 9293
            // 3.10.7.4, eighth step; Linux does this for the duplicate FIN too).
            if self.state == State::TimeWait
                && seg.flags.contains(TcpFlags::FIN)
                && seg.seq + seg.seg_len() == self.rcv_nxt
            {
                self.close_deadline = Some(now + self.cfg.time_wait);
            }
            return SegmentAction::Done;
        }

        // "fifth check the ACK field": "if the ACK bit is off, drop the segment and return".
        if !seg.flags.contains(TcpFlags::ACK) {
            return SegmentAction::Done;
        }

        if self.state == State::SynReceived {
            // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state ... If the
            // segment acknowledgment is not acceptable, form a reset segment
            // <SEQ=SEG.ACK><CTL=RST> and send it."
            if self.snd_una < seg.ack && seg.ack <= self.snd_max {
                self.complete_syn_received(now, seg);
            } else {
                self.pending_rst = super::PendingRst::answering(seg);
                return SegmentAction::Done;
            }
        }

        // RFC 5961 section 5.2: the ACK value is acceptable only if
        // (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT.
        if seg.ack > self.snd_max {
            // RFC 9293: "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then
            // send an ACK, drop the segment, and return."
            self.stats.bad_acks = self.stats.bad_acks.saturating_add(1);
            self.ack_now = true;
            return SegmentAction::Done;
        }
        if seg.ack < self.snd_una - self.max_snd_wnd.min(1 << 30) {
            // RFC 5961 5.2: "All incoming segments whose ACK value doesn't satisfy the
            // above condition MUST be discarded and an ACK sent back."
            self.stats.bad_acks = self.stats.bad_acks.saturating_add(1);
            self.challenge_ack(now);
            return SegmentAction::Done;
        }

        // The segment is acceptable: note it for keepalive and probing.
        self.last_recv = now;
        self.keepalive_probes = 0;
        self.keepalive_deadline = None;
        self.probes_unanswered = 0;
        self.probes_since = None;

        // RFC 7323 4.3 (2): "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent then
        // SEG.TSval is copied to TS.Recent".
        if let (true, Some(ts)) = (self.ts_ok, seg.options.timestamps) {
            if (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0 && seg.seq <= self.last_ack_sent
            {
                self.ts_recent = ts.tsval;
                self.ts_recent_time = now;
            }
        }

        self.process_ack(now, seg);
        if self.state == State::Closed {
            return SegmentAction::Done;
        }

        if self.state == State::TimeWait {
            // RFC 9293 3.10.7.4 TIME-WAIT: "The only thing that can arrive in this state is
            // a retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL
            // timeout."
            if seg.flags.contains(TcpFlags::FIN) {
                self.ack_now = true;
                self.close_deadline = Some(now + self.cfg.time_wait);
            }
            return SegmentAction::Done;
        }

        self.process_text(now, seg, payload, seg.seq);
        SegmentAction::Done
    }

    /// SYN-RECEIVED: our SYN is acknowledged by `seg`; enter ESTABLISHED.
    fn complete_syn_received(&mut self, now: Instant, seg: &TcpRepr) {
        self.snd_una = seg.ack;
        // The window of a SYN-ACK is never scaled (RFC 7323 2.2).
        let shift = if seg.flags.contains(TcpFlags::SYN) {
            0
        } else {
            self.snd_wscale
        };
        self.snd_wnd = usize::from(seg.window) << shift;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        self.take_handshake_ts_sample(now, seg);
        self.establish(now);
    }

    /// An acceptable RST arrived (RFC 9293 3.10.7.4 "second, check the RST bit").
    fn reset_received(&mut self, now: Instant) {
        let err = match self.state {
            // "If this connection was initiated with an active OPEN (i.e., came from
            // SYN-SENT state), then the connection was refused"; a SYN-RECEIVED
            // connection object only exists after a simultaneous open here.
            State::SynReceived => Some(Error::ConnectionRefused),
            // "any outstanding RECEIVEs and SEND should receive 'reset' responses".
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                Some(Error::ConnectionReset)
            }
            // CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB".
            _ => None,
        };
        self.error = err.or(self.error);
        self.set_state(State::Closed, now);
    }

    /// Remember a duplicate range for a D-SACK block (RFC 2883 section 4).
    fn note_dsack(&mut self, start: SeqNum, end: SeqNum) {
        if self.sack_ok && self.cfg.dsack && start < end {
            self.dsack = Some(SackBlock {
                left: start,
                right: end,
            });
            self.ack_now = true;
        }
    }

    /// RFC 9293 3.10.7.4 "fifth, check the ACK field" for synchronized states, with
    /// RFC 6675 / RFC 6582 loss recovery and RFC 6298 timer and RTT handling.
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr) {
        let ack = seg.ack;
        let flight_before = self.flight_size();
        let smss = self.smss();

        // F-RTO (RFC 5682): data sent once before the timeout and not retransmitted
        // since lies from the end of the retransmissions to "recover"; note whether this
        // ACK covers such data not SACKed before, or SACKs more of it.
        let una_before = self.snd_una;
        let delivered_before = self.delivered_bytes();
        let mut rate_newest = None;
        let frto_range = self.frto.get().map(|f| (self.frto_rtx_end(f), f.recover));
        let mut orig_acked = false;
        let mut orig_sacked = 0;
        if let Some((rtx_end, recover)) = frto_range {
            let lo = rtx_end.max(self.snd_una);
            let hi = ack.min(recover);
            orig_acked = hi > lo && self.scoreboard.unsacked_within(lo, hi) > 0;
            if recover > rtx_end {
                orig_sacked = self.scoreboard.sacked_within(rtx_end, recover);
            }
        }

        // SACK information (RFC 2018 section 4, RFC 2883 D-SACK detection).
        let mut sack_new = false;
        if self.sack_ok {
            let sacks = seg.options.sacks();
            for (i, b) in sacks.iter().enumerate() {
                self.stats.sack_blocks_in = self.stats.sack_blocks_in.saturating_add(1);
                // RFC 2883 section 4: a first block below the cumulative ACK, or inside
                // the second block, reports a duplicate.
                let inside_second = sacks
                    .get(1)
                    .is_some_and(|s| s.left <= b.left && b.right <= s.right);
                if i == 0 && (b.right <= ack || inside_second) {
                    self.stats.dsacks_in = self.stats.dsacks_in.saturating_add(1);
                    continue;
                }
                match self.scoreboard.add_block(
                    b.left,
                    b.right,
                    ack.max(self.snd_una),
                    self.snd_max,
                ) {
                    BlockOutcome::NewData => sack_new = true,
                    BlockOutcome::Known => {}
                    BlockOutcome::Invalid => {
                        self.stats.sack_blocks_invalid =
                            self.stats.sack_blocks_invalid.saturating_add(1)
                    }
                    BlockOutcome::Overflow => {
                        self.stats.sack_scoreboard_overflows =
                            self.stats.sack_scoreboard_overflows.saturating_add(1)
                    }
                    BlockOutcome::NoMemory => {
                        self.stats.side_alloc_failures =
                            self.stats.side_alloc_failures.saturating_add(1)
                    }
                }
            }
        }

        if let Some((rtx_end, recover)) = frto_range {
            if recover > rtx_end && self.scoreboard.sacked_within(rtx_end, recover) > orig_sacked {
                orig_acked = true;
            }
        }

        let new_wnd = usize::from(seg.window) << self.snd_wscale;
        let mut dup = false;
        if ack > self.snd_una {
            rate_newest = self.on_new_ack(now, seg, flight_before, smss);
        } else if ack == self.snd_una {
            // RFC 5681 section 2, DUPLICATE ACKNOWLEDGMENT: outstanding data, no data, no
            // SYN/FIN, ACK = SND.UNA, same advertised window. RFC 6675 section 2 counts an
            // ACK as duplicate when it SACKs new data.
            let classic = self.snd_max > self.snd_una
                && seg.payload_len == 0
                && !seg.flags.contains(TcpFlags::FIN)
                && new_wnd == self.snd_wnd;
            dup = classic && (!self.sack_ok || sack_new || seg.options.sack_count == 0);
            if dup {
                self.on_dupack(now, smss);
            }
        }

        // RFC 9293 3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
        // updated. If (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)),
        // set SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
        if ack >= self.snd_una
            && (self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= ack))
        {
            self.snd_wnd = new_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(new_wnd);
            if new_wnd > 0 {
                self.persist_backoff = 0;
                self.persist_deadline = None;
            }
        }

        self.frto_on_ack(FrtoAck {
            orig_acked,
            advanced: self.snd_una > una_before,
            dup,
            sacked_new: sack_new,
        });
        // Linux `tcp_ack` -> `tcp_rate_gen`.
        self.rate_gen(now, delivered_before, rate_newest);
        self.chrono_after_ack(now);
    }

    /// An ACK that advances SND.UNA. Returns the most recently sent range it delivers
    /// and that range's rate snapshot, unless the ACK may be for a retransmission.
    fn on_new_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        flight_before: usize,
        smss: usize,
    ) -> Option<(Instant, RateSnap)> {
        let ack = seg.ack;
        let mut advanced = ack.since(self.snd_una);
        let fin_acked = self.fin_seq.is_some_and(|f| ack > f);
        if fin_acked {
            advanced = advanced.saturating_sub(1);
        }
        let data_acked = advanced.min(self.send_buf.len());
        self.send_buf.consume_acked(data_acked);
        let una_before = self.snd_una;
        self.snd_una = ack;
        // MSG_MORE corks only the push of its own send: an ACK that frees the window
        // runs Linux's tcp_data_snd_check with the socket's own Nagle setting.
        self.more = false;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        if self.high_rxt < ack {
            self.high_rxt = ack;
        }
        self.scoreboard.on_cumulative_ack(ack);
        self.dupacks = 0;

        // RTT: RFC 6298 from the send time of the oldest newly acknowledged data, in
        // the connection's microsecond clock (Linux `seq_rtt_us`), unless the ACK may be
        // for retransmitted data (Karn's rule, RFC 6298 section 3); then RFC 7323 4.1,
        // the echoed timestamp, whose millisecond clock is too coarse to be preferred
        // (Linux uses it only when it has no `seq_rtt_us` either).
        let acked = self.send_times.on_ack(una_before, ack, now);
        let rate_newest = acked.newest.filter(|_| self.rtx_high.is_none());
        let sample = match self.rtx_high {
            None => acked.oldest.map(|at| now - at),
            Some(high) => {
                if ack >= high {
                    self.rtx_high = None;
                }
                match (self.ts_ok, seg.options.timestamps) {
                    (true, Some(ts)) => self.ts_rtt(now, ts.tsecr),
                    _ => None,
                }
            }
        };
        match sample {
            Some(rtt) => self.rtt.on_sample(rtt),
            None => self.rtt.clear_backoff(),
        }
        // RFC 6298 5.3: "When an ACK is received that acknowledges new data, restart the
        // retransmission timer"; `update_timers` re-arms it if data is still outstanding.
        self.rto_deadline = None;
        self.retrans_since = None;
        self.rtx_stamp = None;
        // New data acknowledged: the path works, forget any ICMP soft error (as Linux's
        // tcp_ack).
        self.soft_error = None;

        match self.recovery {
            Some(r) if ack >= r.point => {
                // RFC 6582 3.2 step 6 / RFC 6675 section 5: full acknowledgment ends
                // recovery.
                self.recovery = None;
                self.high_rxt = ack;
                let flight = self.flight_size();
                self.cc.on_exit_recovery(now, flight, smss);
            }
            Some(_) => {
                // RFC 6582 3.2 step 5 (partial ACK): "retransmit the first unacknowledged
                // segment ... deflate the congestion window by the amount of new data
                // acknowledged ... add back SMSS bytes". With SACK (RFC 6675) the pipe
                // algorithm keeps sending holes; cwnd stays at ssthresh.
                self.stats.partial_acks = self.stats.partial_acks.saturating_add(1);
                if !self.sack_ok {
                    self.cc.on_partial_ack(data_acked, smss);
                    self.rtx_first_pending = true;
                }
            }
            // RFC 7661 section 4.3: while the sender uses less than half of cwnd
            // ("non-validated"), cwnd must not grow, or an application-limited or
            // receive-window-limited connection inflates it without bound (as Linux's
            // tcp_is_cwnd_limited).
            None if flight_before.saturating_mul(2) >= self.cc.cwnd() => {
                self.cc.on_ack(now, data_acked, flight_before, smss, sample)
            }
            None => {}
        }
        self.sndbuf_after_ack();

        if fin_acked {
            match self.state {
                // Linux `tcp_rcv_state_process`, `TCP_FIN_WAIT1`, for an orphan with
                // `linger2 < 0`: `tcp_done`, and the segment is answered with a RST
                // (`tcp_v4_send_reset`: `<SEQ=SEG.ACK><CTL=RST>`).
                State::FinWait1 if self.app_closed && self.cfg.fin_wait2_reset => {
                    self.pending_rst = super::PendingRst::answering(seg);
                    self.set_state(State::Closed, now);
                }
                // RFC 9293 3.10.7.4 FIN-WAIT-1: "if the FIN segment is now acknowledged,
                // then enter FIN-WAIT-2 and continue processing in that state."
                State::FinWait1 => self.set_state(State::FinWait2, now),
                // CLOSING: "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
                State::Closing => self.set_state(State::TimeWait, now),
                // LAST-ACK: "If our FIN is now acknowledged, delete the TCB, enter the
                // CLOSED state, and return."
                State::LastAck => self.set_state(State::Closed, now),
                _ => {}
            }
        }
        rate_newest
    }

    /// A duplicate ACK (RFC 5681 3.2, RFC 6582, RFC 6675 section 5, RFC 3042).
    fn on_dupack(&mut self, now: Instant, smss: usize) {
        self.stats.dupacks_in = self.stats.dupacks_in.saturating_add(1);
        self.dupacks = self.dupacks.saturating_add(1);
        if self.recovery.is_some() {
            if !self.sack_ok {
                // RFC 6582 3.2 step 4: "For each additional duplicate ACK received (after
                // the third), cwnd is incremented by SMSS."
                self.cc.on_recovery_dupack(smss);
            }
            return;
        }
        // RFC 6675 section 5: "(DupAcks >= DupThresh) or IsLost(HighACK + 1)"; RFC 6582
        // 3.2 step 2: only "if the Cumulative Acknowledgment field covers more than
        // recover".
        let dupthresh = self.cfg.dupthresh.max(1);
        let lost = self.sack_ok
            && self
                .scoreboard
                .loss_boundary_with(self.snd_una, smss, dupthresh)
                > self.snd_una;
        if (self.dupacks >= dupthresh || lost) && self.snd_una >= self.recover {
            self.enter_recovery(now, smss);
        }
    }

    /// Begin fast retransmit / fast recovery.
    fn enter_recovery(&mut self, now: Instant, smss: usize) {
        // RFC 6675 section 5 (4.1): "RecoveryPoint = HighData"; RFC 6582: "recover" too.
        self.recovery = Some(Recovery {
            point: self.snd_max,
        });
        self.recover = self.snd_max;
        let flight = self.flight_size();
        self.cc.on_enter_recovery(now, flight, smss);
        if self.sack_ok {
            self.stats.sack_recoveries = self.stats.sack_recoveries.saturating_add(1);
        } else {
            self.stats.reno_recoveries = self.stats.reno_recoveries.saturating_add(1);
            // RFC 6582 3.2 step 3: "set cwnd to ssthresh plus 3*SMSS" (DupThresh
            // segments have left the network).
            for _ in 0..self.cfg.dupthresh.max(1) {
                self.cc.on_recovery_dupack(smss);
            }
        }
        self.high_rxt = self.snd_una;
        // RFC 5681 3.2 step 2 / RFC 6675 (4.3): retransmit the first lost segment now,
        // regardless of cwnd.
        self.rtx_first_pending = true;
    }

    /// RFC 9293 3.10.7.4 "sixth" to "eighth": segment text and FIN, starting at sequence
    /// number `data_seq` (after a SYN, one past the segment's sequence number).
    fn process_text<P: ?Sized>(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        payload: &P,
        data_seq: SeqNum,
    ) where
        R: WriteAt<P>,
    {
        let len = seg.payload_len;
        let fin = seg.flags.contains(TcpFlags::FIN);
        if len > 0 {
            // Linux `tcp_rcv_established` -> `tcp_rcv_rtt_measure_ts` (ESTABLISHED only;
            // the segment is acceptable).
            if let (true, State::Established, Some(ts)) =
                (self.ts_ok, self.state, seg.options.timestamps)
            {
                self.rcv_rtt_measure_ts(now, ts.tsecr, len);
            }
            if self.synchronized_receiving() {
                if self.app_closed && data_seq + len > self.rcv_nxt {
                    // Linux (tcp_rcv_state_process): new data after close() cannot be
                    // delivered; reset the connection (RFC 9293 3.10.4, RFC 2525 2.17).
                    self.queue_active_reset();
                    self.set_state(State::Closed, now);
                    return;
                }
                self.accept_text(now, data_seq, len, payload);
            } else {
                // CLOSE-WAIT, CLOSING, LAST-ACK: "This should not occur since a FIN has
                // been received from the remote side. Ignore the segment text."
                self.ack_now = true;
            }
        }
        if fin {
            let fin_at = data_seq + len;
            let limit = self.rcv_nxt + self.rcv_wnd().max(1);
            if fin_at >= self.rcv_nxt && fin_at < limit && !self.fin_received {
                self.pending_fin = Some(fin_at);
            } else if self.fin_received {
                // A retransmitted FIN: acknowledge it again.
                self.ack_now = true;
            }
        }
        self.try_process_fin(now);
    }

    /// Process a FIN once all data before it has arrived (RFC 9293 3.10.7.4 "eighth").
    fn try_process_fin(&mut self, now: Instant) {
        let Some(fin_at) = self.pending_fin else {
            return;
        };
        if fin_at != self.rcv_nxt {
            if fin_at < self.rcv_nxt {
                // Data past the FIN arrived (a misbehaving peer): forget the FIN.
                self.pending_fin = None;
            }
            return;
        }
        self.pending_fin = None;
        self.fin_received = true;
        // "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN".
        self.rcv_nxt += 1;
        self.ack_now = true;
        match self.state {
            State::SynReceived | State::Established => {
                self.set_state(State::CloseWait, now);
                self.enter_pingpong_mode();
            }
            // FIN-WAIT-1: "If our FIN has been ACKed (perhaps in this segment), then enter
            // TIME-WAIT, start the time-wait timer, turn off the other timers; otherwise,
            // enter the CLOSING state."
            State::FinWait1 => {
                let ours_acked = self.fin_seq.is_some_and(|f| self.snd_una > f);
                let next = if ours_acked {
                    State::TimeWait
                } else {
                    State::Closing
                };
                self.set_state(next, now);
            }
            // FIN-WAIT-2: "Enter the TIME-WAIT state."
            State::FinWait2 => self.set_state(State::TimeWait, now),
            _ => {}
        }
    }

    /// Place in-window payload into the receive buffer (RFC 9293 3.10.7.4 "seventh,
    /// process the segment text"), reassembling out-of-order data (assembler) and
    /// deciding how soon to acknowledge (RFC 9293 3.8.6.3, RFC 5681 4.2).
    fn accept_text<P: ?Sized>(&mut self, now: Instant, seq: SeqNum, len: usize, payload: &P)
    where
        R: WriteAt<P>,
    {
        let seg_end = seq + len;
        // Accept only up to the advertised edge and what the buffer can hold.
        let room = self.rcv_wnd().min(self.recv_free());
        let limit = self.rcv_nxt + room;
        let start = seq.max(self.rcv_nxt);
        let end = seg_end.min(limit);
        if start > seq {
            // RFC 2883: report the already received part in a D-SACK block.
            self.note_dsack(seq, start.min(seg_end));
        }
        if end <= start {
            // Entirely duplicate or beyond the window: acknowledge at once.
            if seg_end <= self.rcv_nxt {
                self.stats.duplicate_segments = self.stats.duplicate_segments.saturating_add(1);
                // Linux tcp_data_queue: "A retransmit ... Force an immediate ack",
                // and quick ACKs for what follows.
                self.enter_quickack_mode();
            } else {
                self.stats.ooo_dropped = self.stats.ooo_dropped.saturating_add(1);
            }
            self.ack_now = true;
            return;
        }
        let take = end.since(start);
        let payload_offset = start.since(seq);
        let offset = start.since(self.rcv_nxt);
        // "full-sized" for the delayed-ACK rule: the largest segment seen, at most our MSS.
        self.rcv_mss = self.rcv_mss.max(len.min(usize::from(self.cfg.mss)));
        // TCP_INFO: a GRO-merged segment counts as the wire segments it was (Linux
        // counts `gso_segs`).
        let wire = len.div_ceil(self.rcv_mss.max(1)) as u64;
        self.data_segs_in = self.data_segs_in.saturating_add(wire);
        self.segs_in_merged = self.segs_in_merged.saturating_add(wire.saturating_sub(1));
        self.last_data_recv = Some(now);

        if offset == 0 {
            if !self.recv_buf.write_at(0, payload, payload_offset, take) {
                // The buffer could not hold it: as if the segment were lost.
                self.stats.rcv_refused = self.stats.rcv_refused.saturating_add(1);
                return;
            }
            let had_holes = !self.assembler.is_empty();
            self.rcv_nxt = end;
            // Linux `tcp_event_data_recv` -> `tcp_rcv_rtt_measure`, after
            // `tcp_queue_rcv` moved RCV.NXT past this segment (before the out-of-order
            // queue is drained).
            self.rcv_rtt_measure(now);
            self.recv_buf.commit(take);
            self.stats.bytes_in = self.stats.bytes_in.saturating_add(take as u64);
            while let Some(next) = self.assembler.pop_contiguous(self.rcv_nxt) {
                let more = next.since(self.rcv_nxt);
                self.recv_buf.commit(more);
                self.rcv_nxt = next;
            }
            self.refresh_sack_recent();
            self.unacked_bytes = self.unacked_bytes.saturating_add(take);
            self.delack_on_data(now);
            if had_holes {
                // RFC 5681 4.2: "an immediate ACK SHOULD be generated when a segment
                // fills in all or part of a gap in the sequence space".
                self.ack_now = true;
            } else {
                self.schedule_ack(now);
            }
        } else {
            // Out of order: RFC 5681 4.2 "A TCP receiver SHOULD send an immediate
            // duplicate ACK when an out-of-order segment arrives."
            self.ack_now = true;
            if self.assembler.covers(start, end) {
                self.stats.duplicate_segments = self.stats.duplicate_segments.saturating_add(1);
                self.note_dsack(start, end);
                return;
            }
            // Store the range only if the assembler has room (and, for its first range,
            // memory) for it, and keep it only once the text is stored.
            let before = self.assembler.to_set();
            if let Err(e) = self.assembler.insert(start, end) {
                self.stats.ooo_dropped = self.stats.ooo_dropped.saturating_add(1);
                if e == InsertError::NoMemory {
                    self.stats.side_alloc_failures =
                        self.stats.side_alloc_failures.saturating_add(1);
                }
                return;
            }
            if !self
                .recv_buf
                .write_at(offset, payload, payload_offset, take)
            {
                // Back to the ranges before: their memory is held (or, with none,
                // given back), so this cannot fail.
                let _ = self.assembler.assign(&before);
                self.stats.rcv_refused = self.stats.rcv_refused.saturating_add(1);
                return;
            }
            self.stats.ooo_queued = self.stats.ooo_queued.saturating_add(1);
            self.stats.bytes_in = self.stats.bytes_in.saturating_add(take as u64);
            self.note_sack_block(start);
        }
    }

    /// RFC 2018 section 4: "The first SACK block ... MUST specify the contiguous block of
    /// data containing the segment which triggered this ACK"; the others repeat the most
    /// recently reported blocks.
    fn note_sack_block(&mut self, seq: SeqNum) {
        let Some(range) = self.assembler.find(seq) else {
            return;
        };
        let first = SackBlock {
            left: range.start,
            right: range.end,
        };
        let mut list = [SackBlock::default(); 4];
        list[0] = first;
        let mut n = 1;
        for b in self.sack_recent.iter().take(self.sack_recent_len) {
            if n >= list.len() {
                break;
            }
            // Drop blocks now merged into the first one.
            if b.left >= first.left && b.right <= first.right {
                continue;
            }
            list[n] = *b;
            n += 1;
        }
        self.sack_recent = list;
        self.sack_recent_len = n;
        self.refresh_sack_recent();
    }

    /// Bring the remembered SACK blocks in line with the assembler after RCV.NXT moved or
    /// ranges merged: each block becomes the current range holding its left edge, blocks
    /// no longer held (now in order) are removed, duplicates dropped.
    pub(crate) fn refresh_sack_recent(&mut self) {
        let mut out = [SackBlock::default(); 4];
        let mut n = 0;
        for b in self.sack_recent.iter().take(self.sack_recent_len) {
            let Some(r) = self.assembler.find(b.left).or_else(|| {
                // The block's left edge may have been merged leftwards.
                self.assembler
                    .next_at_or_after(b.left)
                    .filter(|r| r.start < b.right)
            }) else {
                continue;
            };
            let blk = SackBlock {
                left: r.start,
                right: r.end,
            };
            if out.iter().take(n).any(|o| *o == blk) {
                continue;
            }
            if let Some(slot) = out.get_mut(n) {
                *slot = blk;
                n += 1;
            }
        }
        self.sack_recent = out;
        self.sack_recent_len = n;
    }
}
