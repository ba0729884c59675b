//! The sender's SACK scoreboard (RFC 6675 section 3 and 4).
//!
//! It records which octets above SND.UNA the receiver reported holding (RFC 2018 SACK
//! blocks), in a fixed set of ranges ([`SideRanges`]: held in side storage only while
//! something is SACKed). From it the connection derives:
//!
//! * `IsLost` (RFC 6675 section 4): because the SACKed data above a given hole is the same
//!   for every octet of that hole, `IsLost` is monotone: there is a *loss boundary* below
//!   which every un-SACKed octet is deemed lost and above which none is. It is computed
//!   from the highest range downwards in one pass.
//! * `pipe` (RFC 6675 section 4, SetPipe), in bytes instead of segments, like Linux's
//!   `packets_in_flight`: un-SACKed octets not deemed lost, plus octets retransmitted
//!   (below HighRxt) and not SACKed since.
//! * The holes to retransmit (NextSeg rules 1 and 3).

use crate::assembler::{InsertError, SeqRange, SideRanges};
use crate::seq::SeqNum;
use crate::side::SideAlloc;

/// SACKed ranges the sender tracks. The receiver reports at most 4 per ACK; 32 distinct
/// ranges need at least 32 distinct losses in one window. When full, new information is
/// dropped (counted) and at worst causes an unnecessary retransmission.
pub const SCOREBOARD_RANGES: usize = 32;

/// RFC 6675 section 2: "DupThresh: The number of duplicate acknowledgments required to
/// trigger a fast retransmission ... we use a DupThresh of 3."
pub const DUP_THRESH: u32 = 3;

/// The sender's record of SACKed sequence space above SND.UNA, its ranges in side
/// storage `A` while there are any.
pub struct Scoreboard<A: SideAlloc> {
    sacked: SideRanges<A, SCOREBOARD_RANGES>,
}

impl<A: SideAlloc> Clone for Scoreboard<A>
where
    SideRanges<A, SCOREBOARD_RANGES>: Clone,
{
    fn clone(&self) -> Self {
        Scoreboard {
            sacked: self.sacked.clone(),
        }
    }
}

impl<A: SideAlloc> core::fmt::Debug for Scoreboard<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scoreboard")
            .field("sacked", &self.sacked)
            .finish()
    }
}

impl<A: SideAlloc> Default for Scoreboard<A> {
    fn default() -> Self {
        Self::new()
    }
}

/// Outcome of feeding one SACK block to the scoreboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// The block added octets not SACKed before.
    NewData,
    /// The block was valid but told nothing new.
    Known,
    /// The block was outside `[una, max)` or inverted: ignored (RFC 2883 D-SACKs land
    /// here when below SND.UNA).
    Invalid,
    /// The block was valid but the scoreboard had no room left.
    Overflow,
    /// The block was valid but the scoreboard was empty and could not get the memory
    /// for its ranges ([`crate::side`]): ignored as if never received.
    NoMemory,
}

impl<A: SideAlloc> Scoreboard<A> {
    /// An empty scoreboard, holding no memory.
    pub fn new() -> Self {
        Scoreboard {
            sacked: SideRanges::new(),
        }
    }

    /// True if the scoreboard holds memory for its ranges (exactly while not empty).
    pub fn is_held(&self) -> bool {
        self.sacked.is_held()
    }

    /// Forget everything (RFC 2018 section 8: after a retransmission timeout the sender
    /// "SHOULD turn off all of the SACKed bits", as the receiver may have reneged) and
    /// give the memory back.
    pub fn clear(&mut self) {
        self.sacked.clear();
    }

    /// True if nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.sacked.is_empty()
    }

    /// The SACKed ranges, ascending.
    pub fn ranges(&self) -> &[SeqRange] {
        self.sacked.ranges()
    }

    /// Record one SACK block, valid only within `[una, max)`.
    pub fn add_block(
        &mut self,
        left: SeqNum,
        right: SeqNum,
        una: SeqNum,
        max: SeqNum,
    ) -> BlockOutcome {
        // RFC 2018 section 3 / RFC 2883: a block whose left edge is not below its right
        // edge, or that reaches beyond what was sent, is bogus; one at or below SND.UNA
        // is a D-SACK or stale.
        if right <= left || right <= una || right > max {
            return BlockOutcome::Invalid;
        }
        let left = left.max(una);
        if self.sacked.covers(left, right) {
            return BlockOutcome::Known;
        }
        match self.sacked.insert(left, right) {
            Ok(()) => BlockOutcome::NewData,
            Err(InsertError::Full) => BlockOutcome::Overflow,
            Err(InsertError::NoMemory) => BlockOutcome::NoMemory,
        }
    }

    /// The cumulative ACK moved to `una`: forget what it covers (and give the memory
    /// back once nothing is left).
    pub fn on_cumulative_ack(&mut self, una: SeqNum) {
        self.sacked.remove_before(una);
    }

    /// True if `seq` is SACKed.
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        self.sacked.find(seq).is_some()
    }

    /// SACKed octets within `[start, end)`.
    pub fn sacked_within(&self, start: SeqNum, end: SeqNum) -> usize {
        self.sacked.bytes_within(start, end)
    }

    /// Un-SACKed octets within `[start, end)`.
    pub fn unsacked_within(&self, start: SeqNum, end: SeqNum) -> usize {
        end.since(start)
            .saturating_sub(self.sacked_within(start, end))
    }

    /// Highest SACKed sequence number plus one (RFC 6675 "HighACK" is SND.UNA; this is the
    /// top of the SACKed space, used by NextSeg rule 3).
    pub fn highest_sacked(&self) -> Option<SeqNum> {
        self.sacked.highest()
    }

    /// The loss boundary: RFC 6675 section 4, IsLost(SeqNum) "returns true if DupThresh
    /// discontiguous SACKed sequences have arrived above 'SeqNum' or more than
    /// (DupThresh - 1) * SMSS bytes with sequence numbers greater than 'SeqNum' have been
    /// SACKed". Every un-SACKed octet below the returned value is lost, none above.
    /// Returns `una` when nothing is lost. SACKed segments are counted as the number of
    /// SMSS-sized pieces of each range, rounded up.
    pub fn loss_boundary(&self, una: SeqNum, smss: usize) -> SeqNum {
        self.loss_boundary_with(una, smss, DUP_THRESH)
    }

    /// [`Scoreboard::loss_boundary`] with DupThresh `dupthresh` (at least 1).
    pub fn loss_boundary_with(&self, una: SeqNum, smss: usize, dupthresh: u32) -> SeqNum {
        let smss = smss.max(1);
        let dupthresh = dupthresh.max(1) as usize;
        let byte_limit = smss.saturating_mul(dupthresh - 1);
        let mut bytes = 0usize;
        let mut segments = 0usize;
        for r in self.sacked.ranges().iter().rev() {
            let len = r.len();
            bytes = bytes.saturating_add(len);
            segments = segments.saturating_add(len.div_ceil(smss));
            if bytes > byte_limit || segments >= dupthresh {
                return r.start.max(una);
            }
        }
        una
    }

    /// RFC 6675 section 4, SetPipe, in bytes: for every un-SACKed octet in `[una, max)`,
    /// one if it is not deemed lost, plus one if it was retransmitted (below `high_rxt`).
    pub fn pipe(&self, una: SeqNum, max: SeqNum, high_rxt: SeqNum, smss: usize) -> usize {
        self.pipe_with(una, max, high_rxt, smss, DUP_THRESH)
    }

    /// [`Scoreboard::pipe`] with DupThresh `dupthresh`.
    pub fn pipe_with(
        &self,
        una: SeqNum,
        max: SeqNum,
        high_rxt: SeqNum,
        smss: usize,
        dupthresh: u32,
    ) -> usize {
        let boundary = self.loss_boundary_with(una, smss, dupthresh).min(max);
        let high_rxt = high_rxt.max(una).min(max);
        self.unsacked_within(boundary, max)
            .saturating_add(self.unsacked_within(una, high_rxt))
    }

    /// The first un-SACKed hole at or above `from` and below `limit`, as `[start, end)`
    /// with `end` the next SACKed range's start (or `limit`).
    pub fn next_hole(&self, from: SeqNum, limit: SeqNum) -> Option<SeqRange> {
        let mut start = from;
        while start < limit {
            match self.sacked.next_at_or_after(start) {
                Some(r) if r.start <= start => start = r.end,
                Some(r) => {
                    return Some(SeqRange {
                        start,
                        end: r.start.min(limit),
                    })
                }
                None => return Some(SeqRange { start, end: limit }),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::side::Inline;

    type Scoreboard = super::Scoreboard<Inline>;

    const MSS: usize = 100;

    fn s(n: u32) -> SeqNum {
        SeqNum(1000 + n)
    }

    fn board(blocks: &[(u32, u32)]) -> Scoreboard {
        let mut b = Scoreboard::new();
        for &(l, r) in blocks {
            assert_eq!(
                b.add_block(s(l), s(r), s(0), s(10_000)),
                BlockOutcome::NewData
            );
        }
        b
    }

    #[test]
    fn invalid_blocks_rejected() {
        let mut b = Scoreboard::new();
        assert_eq!(
            b.add_block(s(50), s(40), s(0), s(1000)),
            BlockOutcome::Invalid
        );
        assert_eq!(
            b.add_block(s(0), s(0), s(0), s(1000)),
            BlockOutcome::Invalid
        );
        assert_eq!(
            b.add_block(s(10), s(2000), s(0), s(1000)),
            BlockOutcome::Invalid
        );
        // Entirely below SND.UNA: a D-SACK.
        assert_eq!(
            b.add_block(s(0), s(100), s(100), s(1000)),
            BlockOutcome::Invalid
        );
        assert!(b.is_empty());
    }

    #[test]
    fn block_straddling_una_is_trimmed() {
        let mut b = Scoreboard::new();
        assert_eq!(
            b.add_block(s(50), s(150), s(100), s(1000)),
            BlockOutcome::NewData
        );
        assert_eq!(b.ranges()[0].start, s(100));
        assert_eq!(
            b.add_block(s(100), s(150), s(100), s(1000)),
            BlockOutcome::Known
        );
    }

    #[test]
    fn overflow_reported() {
        let mut b = Scoreboard::new();
        for i in 0..SCOREBOARD_RANGES as u32 {
            b.add_block(s(i * 10 + 1), s(i * 10 + 5), s(0), s(100_000));
        }
        assert_eq!(
            b.add_block(s(5000), s(5001), s(0), s(100_000)),
            BlockOutcome::Overflow
        );
    }

    #[test]
    fn no_sack_nothing_lost() {
        let b = Scoreboard::new();
        assert_eq!(b.loss_boundary(s(0), MSS), s(0));
        assert_eq!(b.pipe(s(0), s(1000), s(0), MSS), 1000);
    }

    #[test]
    fn one_sacked_segment_is_not_enough() {
        let b = board(&[(100, 200)]);
        assert_eq!(b.loss_boundary(s(0), MSS), s(0));
        assert_eq!(b.pipe(s(0), s(1000), s(0), MSS), 900);
    }

    #[test]
    fn three_segments_above_mark_loss() {
        // Three discontiguous SACKed segments above the hole at 0..100.
        let b = board(&[(100, 200), (300, 400), (500, 600)]);
        assert_eq!(b.loss_boundary(s(0), MSS), s(100));
        // Holes 200..300 and 400..500 are above fewer than 3 SACKed segments: not lost.
        assert_eq!(b.pipe(s(0), s(600), s(0), MSS), 200);
    }

    #[test]
    fn more_than_two_mss_bytes_mark_loss() {
        let b = board(&[(100, 301)]);
        assert_eq!(b.loss_boundary(s(0), MSS), s(100));
        let b = board(&[(100, 300)]);
        // Exactly 2*SMSS bytes but two segments: not lost by bytes, not by count.
        assert_eq!(b.loss_boundary(s(0), MSS), s(0));
    }

    #[test]
    fn retransmitted_octets_count_again() {
        let b = board(&[(100, 400)]);
        // 0..100 lost, retransmitted: counts once (retransmission), not as original.
        assert_eq!(b.pipe(s(0), s(400), s(100), MSS), 100);
        // 400..500 not lost and unsacked: counts; retransmission below high_rxt too.
        assert_eq!(b.pipe(s(0), s(500), s(100), MSS), 200);
    }

    #[test]
    fn holes_walk() {
        let b = board(&[(100, 200), (300, 400)]);
        assert_eq!(
            b.next_hole(s(0), s(500)),
            Some(SeqRange {
                start: s(0),
                end: s(100)
            })
        );
        assert_eq!(
            b.next_hole(s(150), s(500)),
            Some(SeqRange {
                start: s(200),
                end: s(300)
            })
        );
        assert_eq!(
            b.next_hole(s(350), s(500)),
            Some(SeqRange {
                start: s(400),
                end: s(500)
            })
        );
        assert_eq!(b.next_hole(s(350), s(400)), None);
        assert_eq!(b.next_hole(s(500), s(500)), None);
    }

    #[test]
    fn cumulative_ack_trims() {
        let mut b = board(&[(100, 200), (300, 400)]);
        b.on_cumulative_ack(s(350));
        assert_eq!(b.ranges().len(), 1);
        assert_eq!(b.sacked_within(s(0), s(1000)), 50);
        assert!(b.is_sacked(s(399)));
        assert!(!b.is_sacked(s(400)));
        assert_eq!(b.highest_sacked(), Some(s(400)));
        b.clear();
        assert!(b.is_empty());
    }
}
