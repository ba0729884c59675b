//! F-RTO: detecting spurious retransmission timeouts (RFC 5682) and undoing their
//! congestion response (RFC 4015), in the SACK-enhanced form Linux uses (`tcp_frto`,
//! `tcp_process_loss`), with the basic algorithm of RFC 5682 section 2 without SACK.
//!
//! After a timeout the sender retransmits only the first unacknowledged segment (step
//! 1). The ACKs that follow decide:
//!
//! * they acknowledge (cumulatively or, with SACK, selectively) data that was sent once
//!   before the timeout and never retransmitted: the original flight was not lost, the
//!   timeout was spurious. The congestion controller is put back as it was before the
//!   timeout and the connection goes on with new data where it was, without resending
//!   the flight;
//! * they are duplicates, or SACK new data without covering any such original data:
//!   segments were lost, and the connection continues the conventional recovery
//!   (go-back-N from SND.UNA, skipping what is SACKed) in slow start.
//!
//! Between the two, an ACK that acknowledges only the retransmitted data makes the
//! sender send up to two new segments (step 2b) so that the next ACK can tell.
//!
//! The episode's state (with the congestion state to undo to) is held in side storage
//! ([`crate::side`]) only while deciding; when that memory cannot be had F-RTO does not
//! start, and the conventional timeout response stands.

use super::Connection;
use crate::buffer::{RecvBuffer, SendBuffer};
use crate::congestion::Congestion;
use crate::seq::SeqNum;
use crate::side::{SideAlloc, Slot};

/// One F-RTO episode, from a timeout until the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frto {
    /// RFC 5682 "recover": the highest sequence number sent when the timeout fired
    /// (Linux `high_seq`). Data below it and from `rtx_end` on was sent before the
    /// timeout and not since.
    pub(crate) recover: SeqNum,
    /// Where the data retransmitted after the timeout ends, once step 2b left the
    /// retransmission pointer (before that, SND.NXT is that pointer).
    pub(crate) rtx_end: Option<SeqNum>,
    /// The congestion controller before the timeout's response (RFC 4015 section 3.2:
    /// `pipe_prev` and `ssthresh_prev`, here the whole state), restored if spurious.
    pub(crate) prior_cc: Congestion,
    /// RFC 6582 `recover` before the timeout, restored if spurious so that a later loss
    /// starts fast recovery as it would have.
    pub(crate) prior_recover: SeqNum,
}

/// What one ACK tells F-RTO (computed by the ACK processing before and after it updates
/// the scoreboard).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FrtoAck {
    /// It acknowledged, cumulatively or selectively, data below `recover` that was
    /// sent only once and not SACKed before (Linux `FLAG_ORIG_SACK_ACKED`).
    pub(crate) orig_acked: bool,
    /// It advanced SND.UNA.
    pub(crate) advanced: bool,
    /// It was a duplicate ACK (RFC 5681 section 2 / RFC 6675).
    pub(crate) dup: bool,
    /// It SACKed data not SACKed before.
    pub(crate) sacked_new: bool,
}

impl<S: SendBuffer, R: RecvBuffer, A: SideAlloc> Connection<S, R, A> {
    /// RFC 5682 section 2.1 step 1, at a retransmission timeout, after the conventional
    /// response (`cc.on_rto`, `go_back_to_una`) was applied: start (or, on a repeated
    /// timeout, restart) detection if `tcp_frto` allows it. `prior` is the congestion
    /// controller and RFC 6582 `recover` before the response; a repeated timeout keeps
    /// those of the first (Linux saves `prior_ssthresh` once per loss episode).
    pub(crate) fn frto_on_timeout(&mut self, prior: (Congestion, SeqNum), repeated: bool) {
        let kept = self
            .frto
            .get()
            .filter(|_| repeated)
            .map(|f| (f.prior_cc.clone(), f.prior_recover));
        let (prior_cc, prior_recover) = kept.unwrap_or(prior);
        // RFC 5682 section 2.1 step 1: "If the TCP sender is already in RTO recovery AND
        // "recover" is larger than or equal to SND.UNA, do not enter step 2 of this
        // algorithm" (a timeout during the go-back-N of an earlier one, after the
        // retransmissions made progress). A repeated timeout of the same segment starts
        // again (Linux: `icsk_retransmits`), and fast recovery is never undone this way
        // (`go_back_to_una` has ended it; Linux requires `ca_state < TCP_CA_Recovery`).
        let eligible = self.cfg.frto && (repeated || prior_recover <= self.snd_una);
        if !eligible {
            self.frto.release();
            return;
        }
        let episode = Frto {
            recover: self.snd_max,
            rtx_end: None,
            prior_cc,
            prior_recover,
        };
        // A restart reuses the memory of the episode it replaces.
        if self.frto.put(episode).is_err() {
            self.stats.side_alloc_failures = self.stats.side_alloc_failures.saturating_add(1);
        }
    }

    /// Where the data retransmitted since the timeout ends.
    pub(crate) fn frto_rtx_end(&self, f: &Frto) -> SeqNum {
        f.rtx_end.unwrap_or(self.snd_nxt)
    }

    /// True while step 3 runs: new data was sent after the retransmission.
    pub(crate) fn frto_step3(&self) -> bool {
        self.frto.get().is_some_and(|f| f.rtx_end.is_some())
    }

    /// Steps 2 and 3 for one ACK (RFC 5682 sections 2.1 and 4.1; Linux
    /// `tcp_process_loss`), after the ACK's cumulative and selective information was
    /// applied.
    pub(crate) fn frto_on_ack(&mut self, a: FrtoAck) {
        let Some(f) = self.frto.get() else {
            return;
        };
        let recover = f.recover;
        let step3 = f.rtx_end.is_some();
        // Section 4.1 step 3b (and Linux in step 2 too, with SACK): never-retransmitted
        // data below "recover" arrived, so the timeout was spurious. Without SACK
        // (section 2.1) only an ACK advancing the window in step 3 tells; in step 2 it
        // leads to step 2b below.
        if a.orig_acked && (self.sack_ok || step3) {
            self.frto_undo();
            return;
        }
        if step3 && (a.dup || a.sacked_new) {
            // Section 2.1 step 3a / 4.1 step 3a: a duplicate ACK (or SACK of the new
            // data alone): segments were lost; "continue with slow start
            // retransmissions following the conventional RTO recovery algorithm", from
            // SND.UNA (what is SACKed is skipped).
            self.frto.release();
            self.snd_nxt = self.snd_una;
            return;
        }
        if !step3 && !self.sack_ok && a.dup {
            // Section 2.1 step 2a: "If ... the ACK is a duplicate ACK ... revert to the
            // conventional RTO recovery".
            self.frto.release();
            return;
        }
        if self.snd_una >= recover {
            // Section 2.1 step 2a: the ACK covers "recover": everything sent before the
            // timeout is acknowledged, there is nothing to decide or resend; the
            // conventional response stands (Linux undoes it then only with timestamp or
            // D-SACK evidence, `tcp_try_undo_recovery`, which partcp does not collect).
            self.frto.release();
            return;
        }
        if !step3 && a.advanced {
            // Section 2.1 step 2b: "transmit up to two new (previously unsent) segments
            // and enter step 3 ... If the TCP sender is not able to transmit any
            // previously unsent data -- either due to receiver window limitation or
            // because it does not have any new data to send -- the recommended action
            // is to refrain from entering step 3 of this algorithm."
            let wnd_end = self.snd_una + self.snd_wnd;
            if self.data_end() > self.snd_max && wnd_end > self.snd_max {
                let rtx_end = self.snd_nxt;
                if let Some(f) = self.frto.get_mut() {
                    f.rtx_end = Some(rtx_end);
                }
                self.snd_nxt = self.snd_max;
            } else {
                self.frto.release();
            }
        }
    }

    /// The timeout was spurious: RFC 4015 section 3.2 / Linux `tcp_undo_cwnd_reduction`
    /// restore the congestion state, and the sender resumes "transmission with
    /// previously unsent data" (RFC 5682 section 3): SND.NXT returns to SND.MAX, so
    /// nothing of the original flight is sent again.
    fn frto_undo(&mut self) {
        let Some(f) = self.frto.take() else {
            return;
        };
        self.cc = f.prior_cc;
        self.recover = f.prior_recover;
        self.snd_nxt = self.snd_max;
        self.dupacks = 0;
        self.stats.spurious_rtos = self.stats.spurious_rtos.saturating_add(1);
    }
}
