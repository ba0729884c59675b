//! When data sent once went out, for RTT samples in the connection's own (microsecond)
//! clock, as Linux samples from `tcp_skb_timestamp_us` of the acknowledged skbs: every
//! ACK of new data yields a sample, not only the ACK of one timed segment per RTT, and
//! the timestamps option's millisecond clock (which reads 0 ms on a fast path) is needed
//! only where Karn's rule forbids this one (RFC 6298 section 3, RFC 7323 4.1).
//!
//! A fixed number of ranges is kept, one per transmission of new data; while all are in
//! use further transmissions are not timed (their ACKs then sample from the ranges
//! still held, or not at all), so the memory is bounded. The ranges live in side
//! storage ([`crate::side`]) only while data is in flight; when it cannot be had, the
//! transmission is not timed, as when every slot is in use.
//!
//! Each range also carries the delivery-rate snapshot taken when it was sent
//! ([`RateSnap`], Linux `TCP_SKB_CB(skb)->tx`, `tcp_rate_skb_sent`).

use crate::seq::SeqNum;
use crate::side::{NoMemory, SideAlloc, Slot};
use crate::time::Instant;

/// Ranges kept. A TSO super-segment is one range. Eight take 256 bytes: a kmalloc-256
/// object in the kernel.
const SLOTS: usize = 8;

/// The connection's delivery state when a range was sent (Linux `tcp_rate_skb_sent`:
/// `tx.delivered`, `tx.delivered_mstamp`, `tx.first_tx_mstamp`, `tx.is_app_limited`),
/// the times kept as microseconds before the send, so a range costs 3 words more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct RateSnap {
    /// Bytes delivered (cumulatively acknowledged or SACKed) so far, modulo 2^32.
    pub(crate) delivered: u32,
    /// How long before the send the last delivering ACK arrived (`delivered_mstamp`).
    pub(crate) since_delivered_us: u32,
    /// How long before the send the most recently delivered range had been sent
    /// (`first_tx_mstamp`): the start of the send phase.
    pub(crate) since_first_tx_us: u32,
    /// Sent while the application left the pipe partly empty.
    pub(crate) app_limited: bool,
}

/// One transmission of new data: sequence range `start..end`, sent at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Sent {
    start: SeqNum,
    end: SeqNum,
    at: Instant,
    rate: RateSnap,
}

/// What an ACK tells from the ranges it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Acked {
    /// When the oldest newly acknowledged range was sent (the RTT sample).
    pub(crate) oldest: Option<Instant>,
    /// The most recently sent range among them: when, and its rate snapshot (Linux
    /// `tcp_rate_skb_delivered` keeps the most recently sent skb's).
    pub(crate) newest: Option<(Instant, RateSnap)>,
}

/// Send times of the ranges of new data in flight, oldest first; the slots past `len`
/// hold the default value. The slots are held in side storage `A` exactly while `len`
/// is not zero.
pub(crate) struct SendTimes<A: SideAlloc> {
    slots: A::Slot<[Sent; SLOTS]>,
    len: usize,
}

impl<A: SideAlloc> Clone for SendTimes<A>
where
    A::Slot<[Sent; SLOTS]>: Clone,
{
    fn clone(&self) -> Self {
        SendTimes {
            slots: self.slots.clone(),
            len: self.len,
        }
    }
}

impl<A: SideAlloc> core::fmt::Debug for SendTimes<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SendTimes")
            .field("slots", &self.held())
            .field("is_held", &self.slots.is_held())
            .finish()
    }
}

impl<A: SideAlloc> Default for SendTimes<A> {
    fn default() -> Self {
        SendTimes {
            slots: A::Slot::empty(),
            len: 0,
        }
    }
}

impl<A: SideAlloc> SendTimes<A> {
    /// The ranges held.
    fn held(&self) -> &[Sent] {
        match self.slots.get() {
            Some(s) => &s[..self.len.min(SLOTS)],
            None => &[],
        }
    }

    /// True if memory is held (exactly while a range is).
    pub(crate) fn is_held(&self) -> bool {
        self.slots.is_held()
    }

    /// New data `start..end` went out at `at` (ignored when every slot is in use or
    /// the range is empty or not after the newest range). Fails, recording nothing, if
    /// the first range in flight cannot get the memory.
    pub(crate) fn on_send(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        at: Instant,
        rate: RateSnap,
    ) -> Result<(), NoMemory> {
        if end <= start {
            return Ok(());
        }
        if let Some(last) = self.held().last() {
            if start < last.end {
                return Ok(());
            }
        }
        if self.len == 0 && self.slots.get().is_none() {
            self.slots.put([Sent::default(); SLOTS])?;
        }
        if let Some(slot) = self.slots.get_mut().and_then(|s| s.get_mut(self.len)) {
            *slot = Sent {
                start,
                end,
                at,
                rate,
            };
            self.len += 1;
        }
        Ok(())
    }

    /// Ranges held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Forgets the ranges after the first `len` (taking back the transmissions that
    /// appended them, `Connection::transmit_failed`).
    pub(crate) fn truncate(&mut self, len: usize) {
        let len = self.len.min(len);
        if let Some(s) = self.slots.get_mut() {
            s[len..self.len].fill(Sent::default());
        }
        self.len = len;
        self.release_if_empty();
    }

    /// Keeps the invariant: no memory without a range.
    fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.slots.release();
        }
    }

    /// The cumulative ACK moved from `una` to `ack` at `now`: the RTT of the oldest timed
    /// range among the newly acknowledged bytes (Linux's `seq_rtt_us` from the first
    /// acknowledged skb, so that the delay of a delayed ACK is in it), the newest such
    /// range's send time and rate snapshot, and forget the ranges acknowledged. The
    /// caller applies Karn's rule.
    pub(crate) fn on_ack(&mut self, una: SeqNum, ack: SeqNum, now: Instant) -> Acked {
        let mut covered = self.held().iter().filter(|s| s.end > una && s.start < ack);
        let first = covered.next();
        let last = covered.next_back().or(first);
        let acked = Acked {
            oldest: first.map(|s| s.at).filter(|&at| at <= now),
            newest: last.filter(|s| s.at <= now).map(|s| (s.at, s.rate)),
        };
        let done = self.held().iter().take_while(|s| s.end <= ack).count();
        if let Some(slots) = self.slots.get_mut() {
            slots.copy_within(done..self.len, 0);
            // Slots past `len` are kept at their default, so that equal histories
            // compare equal (`Connection::transmit_failed` is checked that way).
            slots[self.len - done..self.len].fill(Sent::default());
        }
        self.len -= done;
        self.release_if_empty();
        acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::side::Inline;

    type SendTimes = super::SendTimes<Inline>;

    fn t(ms: u64) -> Instant {
        Instant(ms * 1000)
    }

    fn snap(delivered: u32) -> RateSnap {
        RateSnap {
            delivered,
            ..RateSnap::default()
        }
    }

    #[test]
    fn ack_gives_the_newest_acknowledged_ranges_rate_snapshot() {
        let mut s = SendTimes::default();
        s.on_send(SeqNum(0), SeqNum(100), t(1), snap(7)).unwrap();
        s.on_send(SeqNum(100), SeqNum(200), t(2), snap(8)).unwrap();
        s.on_send(SeqNum(200), SeqNum(300), t(3), snap(9)).unwrap();
        let a = s.on_ack(SeqNum(0), SeqNum(150), t(10));
        assert_eq!(a.oldest, Some(t(1)));
        assert_eq!(a.newest, Some((t(2), snap(8))));
        // The partly acknowledged range is still held.
        let a = s.on_ack(SeqNum(150), SeqNum(300), t(11));
        assert_eq!(a.oldest, Some(t(2)));
        assert_eq!(a.newest, Some((t(3), snap(9))));
        assert_eq!(s.on_ack(SeqNum(300), SeqNum(301), t(12)), Acked::default());
    }

    #[test]
    fn ack_samples_the_oldest_acknowledged_range() {
        let mut s = SendTimes::default();
        s.on_send(SeqNum(0), SeqNum(100), t(1), snap(1)).unwrap();
        s.on_send(SeqNum(100), SeqNum(200), t(2), RateSnap::default())
            .unwrap();
        s.on_send(SeqNum(200), SeqNum(300), t(3), RateSnap::default())
            .unwrap();
        assert_eq!(s.on_ack(SeqNum(0), SeqNum(200), t(10)).oldest, Some(t(1)));
        // A partial ACK of a range samples it and keeps it.
        assert_eq!(s.on_ack(SeqNum(200), SeqNum(250), t(11)).oldest, Some(t(3)));
        assert_eq!(s.on_ack(SeqNum(250), SeqNum(300), t(12)).oldest, Some(t(3)));
        assert_eq!(s.on_ack(SeqNum(300), SeqNum(301), t(13)).oldest, None);
    }

    #[test]
    fn untimed_data_is_skipped_when_the_slots_are_full() {
        let mut s = SendTimes::default();
        for i in 0..SLOTS as u32 + 2 {
            s.on_send(
                SeqNum(i * 10),
                SeqNum(i * 10 + 10),
                t(u64::from(i)),
                RateSnap::default(),
            )
            .unwrap();
        }
        // The last two ranges were not recorded: their ACK gives no sample.
        let end = SLOTS as u32 * 10;
        assert_eq!(s.on_ack(SeqNum(0), SeqNum(end), t(50)).oldest, Some(t(0)));
        assert_eq!(s.on_ack(SeqNum(end), SeqNum(end + 20), t(51)).oldest, None);
        // Room again: recorded.
        s.on_send(
            SeqNum(end + 20),
            SeqNum(end + 30),
            t(52),
            RateSnap::default(),
        )
        .unwrap();
        assert_eq!(
            s.on_ack(SeqNum(end + 20), SeqNum(end + 30), t(60)).oldest,
            Some(t(52))
        );
    }

    #[test]
    fn out_of_order_or_empty_ranges_are_ignored() {
        let mut s = SendTimes::default();
        s.on_send(SeqNum(100), SeqNum(200), t(1), RateSnap::default())
            .unwrap();
        s.on_send(SeqNum(50), SeqNum(150), t(2), RateSnap::default())
            .unwrap();
        s.on_send(SeqNum(200), SeqNum(200), t(3), RateSnap::default())
            .unwrap();
        assert_eq!(s.len, 1);
        assert_eq!(s.on_ack(SeqNum(100), SeqNum(200), t(9)).oldest, Some(t(1)));
        assert_eq!(s.len, 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = SendTimes::default();
        s.on_send(SeqNum(u32::MAX - 10), SeqNum(5), t(1), RateSnap::default())
            .unwrap();
        s.on_send(SeqNum(5), SeqNum(20), t(2), RateSnap::default())
            .unwrap();
        assert_eq!(
            s.on_ack(SeqNum(u32::MAX - 10), SeqNum(10), t(5)).oldest,
            Some(t(1))
        );
        assert_eq!(s.on_ack(SeqNum(10), SeqNum(20), t(6)).oldest, Some(t(2)));
    }
}
