// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! The receive queue: the TCP core's receive buffer in the kernel. Received payload stays
//! in the skbs it arrived in (a counted reference per piece), in order and out of order
//! alike, and `recvmsg` copies it once, straight from the skbs to the user's memory
//! (`skb_copy_datagram_iter`), as Linux's `tcp_recvmsg` does. Only small pieces carried
//! by big skbs are copied on arrival, into compact skbs of the queue's own, as
//! `tcp_try_coalesce` copies small skbs into the tail of the queue: a peer that sends
//! one byte per segment cannot pin a kilobyte of skb per byte.
//!
//! # Memory
//!
//! Every piece is charged the true size of its skb (`skb->truesize`). Out-of-order text
//! is refused once the charge would pass twice the capacity plus [`MEM_SLACK`] (the core
//! then treats it as lost: nothing is acknowledged or SACKed for it). In-order text is
//! never refused for memory: the window bounds it, and when keeping its skb would pass
//! the limit it is copied densely instead, so a peer cannot wedge the connection by
//! filling the queue with out-of-order data.
//!
//! The charge also goes to the module's account (`kernel/mem.rs`, Linux's
//! `tcp_memory_allocated`): above `tcp_mem[2]` out-of-order text is refused whatever
//! the queue's own limit. The capacity grows when the core asks (receive buffer
//! autotuning) unless the module is under memory pressure; it never shrinks.

use kernel::prelude::*;

use crate::buffer::{RecvBuffer, WriteAt};
use crate::glue::kernel::frontvec::{FrontVec, Span};
use crate::glue::kernel::mem::{self, Charge};
use crate::glue::kernel::skb::{RxPayload, SkbRef};

/// Data room of the queue's own compact skbs (with `struct skb_shared_info` this fits
/// a 4 KB slab object).
const COMPACT: usize = 3 * 1024;
/// A piece is kept in its skb if the skb's true size is at most twice the piece plus
/// this; otherwise it is copied into a compact skb.
const KEEP_SLACK: usize = 2048;
/// Memory the queue may be charged beyond twice its capacity before it refuses
/// out-of-order text.
const MEM_SLACK: usize = 64 * 1024;

/// A run of stream bytes in an skb.
struct Piece {
    /// Stream position of the first byte (bytes since the queue was created).
    pos: u64,
    skb: SkbRef,
    /// Offset of the first byte in the skb's data.
    off: usize,
    len: usize,
    /// Memory charged for it (its skb's true size when it was queued).
    charge: usize,
    /// The queue's own compact skb, which later pieces may be appended to.
    own: bool,
}

impl Piece {
    fn end(&self) -> u64 {
        self.pos + self.len as u64
    }
}

impl Span for Piece {
    fn len(&self) -> usize {
        self.len
    }

    fn trim_front(&mut self, n: usize) {
        self.pos += n as u64;
        self.off += n;
        self.len -= n;
    }
}

/// A reader's reference to readable bytes (see [`RecvQueue::collect`]): copied to the
/// user with no lock held, then consumed.
pub(crate) struct ReadPiece {
    skb: SkbRef,
    off: usize,
    len: usize,
}

impl ReadPiece {
    /// Bytes in the piece.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies the piece to the user's iterator; false on a fault.
    pub(crate) fn copy_to_iter(&self, dst: &mut kernel::iov::IovIterDest<'_>) -> bool {
        self.skb.copy_to_iter(self.off, self.len, dst)
    }

    /// Copies the piece's first `dst.len()` bytes into `dst`; false if out of range.
    pub(crate) fn copy_bits(&self, dst: &mut [u8]) -> bool {
        dst.len() <= self.len && self.skb.copy_bits(self.off, dst)
    }
}

/// Received stream bytes, kept in skbs: the readable bytes (stream positions
/// `base..base + len`) followed by out-of-order pieces.
///
/// # Invariants
///
/// `pieces` is sorted by `pos` and pieces do not overlap; every piece has `len > 0` and
/// `pos >= base`; `mem` is the sum of the pieces' charges, and `charge` covers it.
pub(crate) struct RecvQueue {
    cap: usize,
    pieces: FrontVec<Piece>,
    base: u64,
    len: usize,
    mem: usize,
    limit: usize,
    charge: Charge,
}

/// The memory a queue of capacity `cap` may be charged.
fn mem_limit(cap: usize) -> usize {
    cap.saturating_mul(2).saturating_add(MEM_SLACK)
}

impl RecvQueue {
    /// An empty queue for `cap` bytes of stream (the receive buffer size the window is
    /// computed from). It allocates nothing until data arrives.
    pub(crate) fn new(cap: usize) -> Self {
        RecvQueue {
            cap,
            pieces: FrontVec::new(),
            base: 0,
            len: 0,
            mem: 0,
            limit: mem_limit(cap),
            charge: Charge::new(),
        }
    }

    /// Memory charged for the queued pieces (true sizes of their skbs).
    pub(crate) fn mem(&self) -> usize {
        self.mem
    }

    /// Number of pieces queued (readable and out of order).
    pub(crate) fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// References to the first readable bytes, up to `max` and as many pieces as `out`
    /// has spare capacity for (it never allocates: callers hold the connection's
    /// guard). Returns the bytes referenced. The bytes stay queued: the reader copies
    /// them without the guard and then consumes what it copied.
    ///
    /// One reference per piece, and no fewer would do: two adjacent pieces never share
    /// an skb (a payload filling several gaps is split around the pieces between them,
    /// and a compact skb grows as one piece), and the reference is what keeps NAPI from
    /// appending to a compact skb while it is being copied (`SkbRef::append` wants it
    /// unshared) and the skb alive if the connection goes meanwhile.
    pub(crate) fn collect(&self, max: usize, out: &mut KVec<ReadPiece>) -> usize {
        let want = max.min(self.len);
        let mut at = self.base;
        let mut got = 0usize;
        for p in self.pieces.iter() {
            if got >= want || p.pos != at {
                // Done, or a hole (which the core never commits past).
                break;
            }
            let n = p.len.min(want - got);
            let r = ReadPiece { skb: p.skb.clone_ref(), off: p.off, len: n };
            if out.push_within_capacity(r).is_err() {
                break;
            }
            got += n;
            at = p.end();
        }
        got
    }

    /// Stores stream bytes `from..to` (a gap: no piece covers any of it), taken from
    /// `payload` at payload offset `poff`, as pieces inserted at index `i`. `in_order`:
    /// the text extends the readable bytes (never refused for memory). Returns the
    /// number of pieces inserted, or `None` if refused (what was inserted stays: it is
    /// outside the readable range and holds the stream's own bytes).
    fn fill(&mut self, mut i: usize, from: u64, to: u64, payload: &RxPayload, poff: usize, in_order: bool) -> Option<usize> {
        let n = usize::try_from(to - from).ok()?;
        if !in_order && mem::over_limit() {
            return None;
        }
        let ts = payload.truesize();
        if ts <= n.saturating_mul(2).saturating_add(KEEP_SLACK) && self.mem.saturating_add(ts) <= self.limit {
            let p = Piece { pos: from, skb: payload.keep()?, off: payload.data_offset(poff), len: n, charge: ts, own: false };
            self.insert(i, p)?;
            return Some(1);
        }
        // Copy, as densely as the compact skbs allow: first into the tail of the piece
        // just before, if it is ours and ends here.
        let mut done = 0usize;
        let mut inserted = 0usize;
        while done < n {
            let at = from + done as u64;
            if let Some(prev) = i.checked_sub(1).and_then(|k| self.pieces.get_mut(k)) {
                let chunk = (n - done).min(COMPACT);
                if prev.own && prev.end() == at && prev.skb.append(prev.off + prev.len, payload, poff + done, chunk) {
                    prev.len += chunk;
                    done += chunk;
                    continue;
                }
            }
            let skb = SkbRef::alloc(COMPACT)?;
            let charge = skb.truesize();
            if !in_order && self.mem.saturating_add(charge) > self.limit {
                return None;
            }
            let chunk = (n - done).min(COMPACT);
            if !skb.append(0, payload, poff + done, chunk) {
                return None;
            }
            self.insert(i, Piece { pos: at, skb, off: 0, len: chunk, charge, own: true })?;
            i += 1;
            inserted += 1;
            done += chunk;
        }
        Some(inserted)
    }

    /// Inserts `p` at index `i`, charging it. `None` if the index array cannot grow.
    fn insert(&mut self, i: usize, p: Piece) -> Option<()> {
        let charge = p.charge;
        self.pieces.insert(i, p, GFP_ATOMIC | __GFP_NOWARN)?;
        self.mem = self.mem.saturating_add(charge);
        self.charge.cover(self.mem);
        Some(())
    }
}

impl RecvBuffer for RecvQueue {
    fn capacity(&self) -> usize {
        self.cap
    }

    fn len(&self) -> usize {
        self.len
    }

    fn commit(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(self.cap);
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.base += n as u64;
        let mut freed = 0usize;
        self.pieces.consume_bytes(n, |p| freed = freed.saturating_add(p.charge));
        self.mem = self.mem.saturating_sub(freed);
        self.charge.cover(self.mem);
    }

    fn grow(&mut self, want: usize) {
        if want > self.cap && !mem::under_pressure() {
            self.cap = want;
            self.limit = mem_limit(want);
        }
    }
}

impl WriteAt<RxPayload> for RecvQueue {
    fn write_at(&mut self, offset: usize, payload: &RxPayload, payload_offset: usize, len: usize) -> bool {
        let start = self.base + self.len as u64 + offset as u64;
        let end = start + len as u64;
        // The first piece that ends after `start` (usually none: text arrives in order).
        // Pieces are sorted and do not overlap, so their ends are sorted too.
        let mut i = match self.pieces.last() {
            Some(p) if p.end() > start => self.pieces.partition_point(|p| p.end() <= start),
            _ => self.pieces.len(),
        };
        let mut cur = start;
        while cur < end {
            match self.pieces.get(i) {
                // Already stored (a retransmission carries the same bytes): skip.
                Some(p) if p.pos <= cur => {
                    cur = cur.max(p.end());
                    i += 1;
                }
                next => {
                    let gap_end = next.map_or(end, |p| p.pos.min(end));
                    let poff = payload_offset + (cur - start) as usize;
                    match self.fill(i, cur, gap_end, payload, poff, offset == 0) {
                        Some(k) => i += k,
                        None => return false,
                    }
                    cur = gap_end;
                }
            }
        }
        true
    }
}

/// KUnit: the receive queue's bookkeeping with real skbs: in-order and out-of-order
/// arrival, retransmitted overlaps, partial reads, copies of small pieces, and the
/// memory limit.
#[kunit_tests(partcp_rxq)]
mod tests {
    use super::*;
    use crate::glue::kernel::skb::TestPayload;

    /// Byte `i` of the test stream.
    fn byte(i: usize) -> u8 {
        (i.wrapping_mul(31) ^ (i >> 7)) as u8
    }

    /// A payload holding stream bytes `off..off + len`, in an skb of `room` bytes.
    fn seg(off: usize, len: usize, room: usize) -> Result<TestPayload> {
        let mut v = KVec::with_capacity(len, GFP_KERNEL)?;
        for i in off..off + len {
            v.push(byte(i), GFP_KERNEL)?;
        }
        TestPayload::new(&v, room).ok_or(ENOMEM)
    }

    /// Reads all readable bytes through `collect` and checks them against the stream
    /// from `from`; returns how many.
    fn check_readable(q: &RecvQueue, from: usize) -> Result<usize> {
        let mut out = KVec::with_capacity(64, GFP_KERNEL)?;
        let n = q.collect(usize::MAX, &mut out);
        let mut at = from;
        for r in out.iter() {
            let mut buf = KVec::from_elem(0u8, r.len(), GFP_KERNEL)?;
            assert!(r.copy_bits(&mut buf));
            for (k, b) in buf.iter().enumerate() {
                assert!(*b == byte(at + k));
            }
            at += r.len();
        }
        assert!(at - from == n);
        Ok(n)
    }

    #[test]
    fn in_order_then_partial_reads() -> Result {
        let mut q = RecvQueue::new(64 * 1024);
        for k in 0..4 {
            let s = seg(k * 1000, 1000, 1000)?;
            assert!(q.write_at(0, &s.payload(), 0, 1000));
            q.commit(1000);
        }
        assert!(q.len() == 4000);
        assert!(check_readable(&q, 0)? == 4000);
        // A read that ends inside a piece.
        q.consume(1500);
        assert!(q.len() == 2500);
        assert!(check_readable(&q, 1500)? == 2500);
        q.consume(2500);
        assert!(q.len() == 0 && q.pieces() == 0 && q.mem() == 0);
        Ok(())
    }

    #[test]
    fn out_of_order_and_overlapping_retransmissions() -> Result {
        let mut q = RecvQueue::new(64 * 1024);
        // 2000..3000 arrives first, then 1500..2500 (half already there), then the hole.
        assert!(q.write_at(2000, &seg(2000, 1000, 1000)?.payload(), 0, 1000));
        assert!(q.write_at(1500, &seg(1500, 1000, 1000)?.payload(), 0, 1000));
        assert!(q.len() == 0);
        let s = seg(0, 1500, 1500)?;
        assert!(q.write_at(0, &s.payload(), 0, 1500));
        q.commit(3000);
        assert!(check_readable(&q, 0)? == 3000);
        // A retransmission of readable bytes beyond the end changes nothing.
        assert!(q.write_at(0, &seg(3000, 100, 100)?.payload(), 0, 100));
        q.commit(100);
        assert!(check_readable(&q, 0)? == 3100);
        q.consume(3100);
        assert!(q.pieces() == 0 && q.mem() == 0);
        Ok(())
    }

    #[test]
    fn reads_from_a_long_queue_then_out_of_order_inserts() -> Result {
        let mut q = RecvQueue::new(256 * 1024);
        // Forty pieces of 1000 bytes, read in steps that end inside pieces.
        for k in 0..40 {
            assert!(q.write_at(0, &seg(k * 1000, 1000, 1000)?.payload(), 0, 1000));
            q.commit(1000);
        }
        assert!(q.pieces() == 40);
        let mut read = 0usize;
        for step in [1500, 3000, 700, 10_300] {
            q.consume(step);
            read += step;
            assert!(check_readable(&q, read)? == 40_000 - read);
        }
        assert!(q.pieces() == 40 - read / 1000);
        // Out of order after the readable bytes, found by position among the pieces
        // left: 44000..45000 and 42000..43000, then a retransmission over both and the
        // holes around them (41000..46000 as one payload).
        // (`write_at` offsets count from the end of the readable bytes, 40000.)
        assert!(q.write_at(4000, &seg(44_000, 1000, 1000)?.payload(), 0, 1000));
        assert!(q.write_at(2000, &seg(42_000, 1000, 1000)?.payload(), 0, 1000));
        assert!(q.write_at(1000, &seg(41_000, 5000, 5000)?.payload(), 0, 5000));
        assert!(q.len() == 40_000 - read);
        assert!(q.write_at(0, &seg(40_000, 1000, 1000)?.payload(), 0, 1000));
        q.commit(6000);
        assert!(check_readable(&q, read)? == 46_000 - read);
        q.consume(q.len());
        assert!(q.pieces() == 0 && q.mem() == 0);
        Ok(())
    }

    #[test]
    fn small_pieces_of_big_skbs_are_copied_densely() -> Result {
        let mut q = RecvQueue::new(64 * 1024);
        // One byte per 16 KB skb: kept, each would charge 16 KB per byte.
        for k in 0..100 {
            let s = seg(k, 1, 16 * 1024)?;
            assert!(q.write_at(0, &s.payload(), 0, 1));
            q.commit(1);
        }
        assert!(check_readable(&q, 0)? == 100);
        // Appended to one compact skb.
        assert!(q.pieces() == 1);
        assert!(q.mem() < 8 * 1024);
        Ok(())
    }

    #[test]
    fn capacity_grows_never_shrinks_and_memory_is_charged() -> Result {
        let base = mem::allocated();
        let mut q = RecvQueue::new(16 * 1024);
        q.grow(64 * 1024);
        assert!(q.capacity() == 64 * 1024 && q.limit == mem_limit(64 * 1024));
        q.grow(32 * 1024);
        assert!(q.capacity() == 64 * 1024);
        // Queued skbs are charged to the module's account, and released when read.
        let s = seg(0, 1000, 1000)?;
        assert!(q.write_at(0, &s.payload(), 0, 1000));
        q.commit(1000);
        assert!(mem::allocated() >= base + q.mem() && q.mem() > 0);
        q.consume(1000);
        assert!(mem::allocated() == base);
        Ok(())
    }

    #[test]
    fn out_of_order_text_is_refused_past_the_limit() -> Result {
        let cap = 16 * 1024;
        let mut q = RecvQueue::new(cap);
        // Single out-of-order bytes, two apart, each in its own compact skb: refused
        // once the charge passes the limit.
        let mut refused = None;
        for k in 0..cap / 2 {
            let s = seg(1 + 2 * k, 1, 16 * 1024)?;
            if !q.write_at(1 + 2 * k, &s.payload(), 0, 1) {
                refused = Some(k);
                break;
            }
        }
        let Some(k) = refused else {
            return Err(EINVAL);
        };
        assert!(q.mem() <= cap * 2 + MEM_SLACK);
        // In-order text is still accepted, even where it spans the queued out-of-order
        // bytes (the gaps between them are copied past the limit).
        let n = 2 * k + 1;
        assert!(q.write_at(0, &seg(0, n, 16 * 1024)?.payload(), 0, n));
        q.commit(n);
        assert!(check_readable(&q, 0)? == n);
        Ok(())
    }
}
