// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! The send queue: the TCP core's send buffer in the kernel. `sendmsg` copies the user's
//! bytes once, into the current task's page fragment (`current->task_frag`, as Linux's
//! TCP: a 32 KB compound page when one is available at once, else a 4 KB page, filled
//! by successive writes of all the task's sockets), with no lock held; the connection's
//! queue then takes a reference to the bytes ([`Chunk`]) under its guard. Transmitted skbs carry a small
//! linear head for the headers and reference the same pages as fragments, and so do
//! retransmissions: no copy, and no high-order allocation in atomic context. Only if a
//! segment would need more fragments than an skb has slots are its first bytes copied
//! into the head.
//!
//! # Page contents
//!
//! A fragment page's bytes below the fragment's offset have been handed out (to the
//! queue, then to skbs) and are never written again; bytes from the offset on are
//! written only by the task that owns the fragment, and are not referenced by anything
//! yet (`skb_page_frag_refill` reuses a page from offset 0 only when no one else holds
//! a reference to it). Readers (the device, a receiving partcp or Linux socket on a
//! local path) therefore see stable bytes.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

use crate::buffer::SendBuffer;
use crate::glue::kernel::frontvec::{FrontVec, Span};
use crate::glue::kernel::mem::{self, Charge};
use crate::glue::kernel::shim;

/// A counted reference to a page of send data (compound or not).
///
/// # Invariants
///
/// `0` is a valid page on which this value holds one reference.
pub(crate) struct PageRef(NonNull<bindings::page>);

// SAFETY: A page reference may be used and released from any context.
unsafe impl Send for PageRef {}

impl PageRef {
    fn same(&self, other: &PageRef) -> bool {
        self.0 == other.0
    }
}

impl Drop for PageRef {
    fn drop(&mut self) {
        // SAFETY: We hold one reference (type invariants); this releases it.
        unsafe { shim::partcp_put_page(self.0.as_ptr()) };
    }
}

/// Bytes `off..off + len` of a page, written once and referenced from then on.
///
/// # Invariants
///
/// The range is inside the page and its bytes are never written again.
pub(crate) struct Chunk {
    page: PageRef,
    off: usize,
    len: usize,
}

impl Span for Chunk {
    fn len(&self) -> usize {
        self.len
    }

    fn trim_front(&mut self, n: usize) {
        // INVARIANT: A sub-range of the chunk's range.
        self.off += n;
        self.len -= n;
    }
}

impl Chunk {
    /// The chunk the shim reports, `None` for no page or no bytes.
    fn from_frag(page: *mut bindings::page, off: core::ffi::c_uint, got: core::ffi::c_uint) -> Option<Chunk> {
        let page = NonNull::new(page)?;
        // INVARIANT: The shim took a reference for us on a valid page.
        let page = PageRef(page);
        let len = usize::try_from(got).ok().filter(|n| *n > 0)?;
        // INVARIANT: The shim wrote `off..off + got` inside the page and moved the
        // fragment's offset past it: no one writes those bytes again.
        Some(Chunk { page, off: usize::try_from(off).ok()?, len })
    }

    /// Copies up to `max` bytes from the user's iterator into the current task's page
    /// fragment, as Linux's `tcp_sendmsg_locked` (the task's pages are shared by all
    /// of its sockets, so an idle socket holds none): the bytes as a chunk, `None` if
    /// nothing could be copied (a fault), ENOMEM if no page could be had. Process
    /// context.
    pub(crate) fn from_iter(max: usize, src: &mut kernel::iov::IovIterSource<'_>) -> Result<Option<Chunk>> {
        let (mut off, mut got) = (0, 0);
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        // SAFETY: `src` is a live iterator; `off`/`got` are valid for writing. The task
        // fragment is the current task's, used in process context by this task only.
        let page = unsafe { shim::partcp_frag_copy_from_iter(max, src.as_raw(), &mut off, &mut got) };
        if page.is_null() {
            return Err(ENOMEM);
        }
        Ok(Chunk::from_frag(page, off, got))
    }

    /// Copies `data` (as much as the task's fragment has room for) into the current
    /// task's page fragment. Process context.
    pub(crate) fn from_slice(data: &[u8]) -> Result<Chunk> {
        let (mut off, mut got) = (0, 0);
        let n = u32::try_from(data.len()).map_err(|_| EINVAL)?;
        // SAFETY: `data` is valid for `n` bytes; `off`/`got` for writing; as above for
        // the task fragment.
        let page = unsafe { shim::partcp_frag_write(data.as_ptr().cast(), n, &mut off, &mut got) };
        if page.is_null() {
            return Err(ENOMEM);
        }
        Chunk::from_frag(page, off, got).ok_or(ENOMEM)
    }

    /// Copies `dst.len()` bytes at `off` of the page into `dst`, inside the chunk.
    fn read(&self, off: usize, dst: &mut [u8]) -> bool {
        if off < self.off || off.saturating_add(dst.len()) > self.off + self.len {
            return false;
        }
        let (Ok(o), Ok(n)) = (u32::try_from(off), u32::try_from(dst.len())) else {
            return false;
        };
        // SAFETY: The page is valid and the range inside the chunk, hence the page
        // (type invariants); `dst` is valid for `n` bytes.
        unsafe { shim::partcp_page_read(self.page.0.as_ptr(), o, dst.as_mut_ptr().cast(), n) };
        true
    }
}

/// The most fragment slots [`SendQueue::linear_bytes`] counts on (Linux's
/// `CONFIG_MAX_SKB_FRAGS` is at most 45; the default is 17).
const FRAG_RING: usize = 48;

/// The bytes from SND.UNA on, acknowledged or not yet sent, as chunks of pages.
///
/// # Invariants
///
/// `len` is the sum of the chunks' lengths, every chunk has `len > 0`, and `len <= cap`;
/// `charge` covers `len` in the module's memory account (`kernel/mem.rs`).
pub(crate) struct SendQueue {
    cap: usize,
    chunks: FrontVec<Chunk>,
    len: usize,
    charge: Charge,
}

impl SendQueue {
    /// An empty queue for `cap` bytes (SO_SNDBUF's payload share; it grows when the
    /// core asks, send buffer autotuning, unless the module is under memory pressure).
    /// It allocates nothing until data is queued.
    pub(crate) fn new(cap: usize) -> Self {
        SendQueue { cap, chunks: FrontVec::new(), len: 0, charge: Charge::new() }
    }

    /// Room for more bytes.
    pub(crate) fn free(&self) -> usize {
        self.cap - self.len
    }

    /// Number of chunks queued.
    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Queues the chunk's bytes after the others (as many as there is room for): the
    /// number queued, 0 if the index cannot grow (atomic allocation).
    pub(crate) fn append(&mut self, c: Chunk) -> usize {
        self.append_gfp(c, GFP_ATOMIC | __GFP_NOWARN)
    }

    /// [`Self::append`], growing the index with `flags` (GFP_KERNEL on a ConnP-T
    /// protocol thread, which may sleep: an asynchronous send's bytes were promised to
    /// the application and must not be lost to an atomic allocation's failure).
    pub(crate) fn append_gfp(&mut self, mut c: Chunk, flags: kernel::alloc::Flags) -> usize {
        c.len = c.len.min(self.free());
        if c.len == 0 {
            return 0;
        }
        if let Some(last) = self.chunks.last_mut() {
            if last.page.same(&c.page) && last.off + last.len == c.off {
                // The next bytes of the same page: extend (and drop the extra reference).
                last.len += c.len;
                self.len += c.len;
                self.charge.cover(self.len);
                return c.len;
            }
        }
        let n = c.len;
        if self.chunks.push(c, flags).is_err() {
            return 0;
        }
        self.len += n;
        self.charge.cover(self.len);
        n
    }

    /// The pieces of bytes `offset..offset + len` (from SND.UNA), in order, as
    /// `(page, offset in page, length)`.
    fn pieces(&self, offset: usize, len: usize) -> impl Iterator<Item = (&Chunk, usize, usize)> + '_ {
        let mut skip = offset;
        let mut left = len;
        self.chunks.iter().filter_map(move |c| {
            if left == 0 {
                return None;
            }
            if skip >= c.len {
                skip -= c.len;
                return None;
            }
            let n = (c.len - skip).min(left);
            let item = (c, c.off + skip, n);
            skip = 0;
            left -= n;
            Some(item)
        })
    }

    /// Bytes of `offset..offset + len` that a segment must carry in its linear head
    /// because the rest already takes every fragment slot of an skb: the pieces before
    /// the last `MAX_SKB_FRAGS`, found in one walk (the lengths of the last pieces seen
    /// wait in a ring, and a piece pushed out of it is counted as linear).
    pub(crate) fn linear_bytes(&self, offset: usize, len: usize) -> usize {
        // SAFETY: A constant; no preconditions.
        let frags = unsafe { shim::partcp_max_skb_frags() };
        // More slots than the ring holds are used as the ring's size: more bytes go
        // linear than needed, never fewer.
        let max = usize::try_from(frags).unwrap_or(1).clamp(1, FRAG_RING);
        let mut last = [0usize; FRAG_RING];
        let mut lin = 0usize;
        for (k, (_, _, n)) in self.pieces(offset, len).enumerate() {
            if let Some(slot) = last.get_mut(k % max) {
                if k >= max {
                    lin += *slot;
                }
                *slot = n;
            }
        }
        lin
    }

    /// Appends bytes `offset..offset + len` to `skb`: the pieces within the first `lin`
    /// bytes ([`Self::linear_bytes`]) copied into its linear part, the rest as page
    /// fragments. False if it ran out of fragment slots (then the skb must be
    /// discarded).
    ///
    /// # Safety
    ///
    /// `skb` is an unshared skb from `partcp_tx_alloc` owned by the caller, with linear
    /// room for `lin` more bytes, no fragments yet and nothing after its linear data.
    pub(crate) unsafe fn append_to_skb(&self, skb: *mut bindings::sk_buff, offset: usize, len: usize, lin: usize) -> bool {
        let mut at = 0usize;
        for (chunk, off, n) in self.pieces(offset, len) {
            let (Ok(o), Ok(n32)) = (u32::try_from(off), u32::try_from(n)) else {
                return false;
            };
            let p = chunk.page.0.as_ptr();
            if at + n <= lin {
                // SAFETY: `skb` has linear room for the first `lin` bytes (caller), and
                // these end within them; the page is valid and the range inside it
                // (queue invariants).
                unsafe { shim::partcp_tx_append_page(skb, p, o, n32) };
            } else {
                // SAFETY: `skb` is the caller's unshared skb whose data ends with its
                // linear part or earlier fragments; the shim takes its own page
                // reference for the fragment.
                if unsafe { shim::partcp_tx_add_frag(skb, p, o, n32) } != 0 {
                    return false;
                }
            }
            at += n;
        }
        true
    }

    /// Copies bytes `offset..offset + dst.len()` into `dst` (KUnit checks).
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) -> bool {
        let mut at = 0usize;
        for (chunk, off, n) in self.pieces(offset, dst.len()) {
            let Some(d) = dst.get_mut(at..at + n) else {
                return false;
            };
            if !chunk.read(off, d) {
                return false;
            }
            at += n;
        }
        at == dst.len()
    }
}

impl SendBuffer for SendQueue {
    fn capacity(&self) -> usize {
        self.cap
    }

    fn len(&self) -> usize {
        self.len
    }

    fn consume_acked(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.chunks.consume_bytes(n, |_| {});
        self.charge.cover(self.len);
    }

    fn grow(&mut self, want: usize) {
        if want > self.cap && !mem::under_pressure() {
            self.cap = want;
        }
    }
}

/// KUnit: the send queue's bookkeeping with real pages: successive writes share a page
/// and a chunk, acknowledgements free whole and partial chunks, reads across chunk
/// boundaries, and the fragment budget.
#[kunit_tests(partcp_txq)]
mod tests {
    use super::*;

    /// Byte `i` of the test stream.
    fn byte(i: usize) -> u8 {
        (i.wrapping_mul(7) ^ (i >> 9)) as u8
    }

    /// Stream bytes `from..from + n`.
    fn stream(from: usize, n: usize) -> Result<KVec<u8>> {
        let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
        for i in from..from + n {
            v.push(byte(i), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Checks queued bytes `offset..offset + n` against the stream from `base`.
    fn check(q: &SendQueue, base: usize, offset: usize, n: usize) -> Result {
        let mut buf = KVec::from_elem(0u8, n, GFP_KERNEL)?;
        assert!(q.read(offset, &mut buf));
        assert!(buf[..] == stream(base + offset, n)?[..]);
        Ok(())
    }

    /// Queues stream bytes `from..from + n` through the task's page fragment, as
    /// sendmsg does (a write may end a page and continue in the next): bytes queued.
    fn put(q: &mut SendQueue, from: usize, n: usize) -> Result<usize> {
        let data = stream(from, n)?;
        let mut done = 0;
        while done < n {
            let c = Chunk::from_slice(&data[done..])?;
            let got = c.len;
            let queued = q.append(c);
            done += queued;
            if queued < got {
                break;
            }
        }
        Ok(done)
    }

    #[test]
    fn writes_share_a_chunk_and_acks_free_it() -> Result {
        let mut q = SendQueue::new(256 * 1024);
        for k in 0..10 {
            assert!(put(&mut q, k * 100, 100)? == 100);
        }
        // Ten small writes, one chunk (two if the task's page filled up meanwhile).
        assert!(q.chunks() <= 2 && q.len() == 1000);
        check(&q, 0, 0, 1000)?;
        check(&q, 0, 250, 500)?;
        q.consume_acked(300);
        assert!(q.len() == 700 && q.chunks() <= 2);
        check(&q, 300, 0, 700)?;
        q.consume_acked(700);
        assert!(q.len() == 0 && q.chunks() == 0);
        Ok(())
    }

    #[test]
    fn pages_fill_up_and_chunks_follow() -> Result {
        let mut q = SendQueue::new(1024 * 1024);
        let mut written = 0usize;
        // 200 KB in 3000-byte writes: several pages.
        while written < 200 * 1024 {
            assert!(put(&mut q, written, 3000)? == 3000);
            written += 3000;
        }
        assert!(q.len() == written);
        assert!(q.chunks() >= 2);
        check(&q, 0, 0, written)?;
        check(&q, 0, 40_000, 70_000)?;
        q.consume_acked(50_000);
        check(&q, 50_000, 0, written - 50_000)?;
        // A segment of at most 64 KB never needs more fragments than an skb has.
        assert!(q.linear_bytes(0, 64 * 1024) == 0);
        Ok(())
    }

    /// `linear_bytes` as it was first written: count the pieces, then add up all but
    /// the last `MAX_SKB_FRAGS`.
    fn linear_bytes_two_walks(q: &SendQueue, offset: usize, len: usize) -> usize {
        // SAFETY: A constant.
        let max = usize::try_from(unsafe { shim::partcp_max_skb_frags() }).unwrap_or(1);
        let count = q.pieces(offset, len).count();
        q.pieces(offset, len).take(count.saturating_sub(max)).map(|(_, _, n)| n).sum()
    }

    #[test]
    fn many_chunks_need_linear_bytes_and_are_acked_in_steps() -> Result {
        // Two queues written in turn from the task's page fragment: neither queue's
        // writes are contiguous, so each write is a chunk of its own.
        let mut q = SendQueue::new(256 * 1024);
        let mut other = SendQueue::new(256 * 1024);
        for k in 0..60 {
            assert!(put(&mut q, k * 100, 100)? == 100);
            assert!(put(&mut other, 0, 37)? == 37);
        }
        assert!(q.chunks() >= 60 && q.len() == 6000);
        // SAFETY: A constant.
        let max = usize::try_from(unsafe { shim::partcp_max_skb_frags() }).unwrap_or(1);
        // All but the last `max` pieces go in the head: what is left after them takes
        // exactly every fragment slot.
        let lin = q.linear_bytes(0, 6000);
        assert!(q.pieces(0, 6000).count() > max && lin > 0);
        assert!(q.pieces(lin, 6000 - lin).count() == max);
        for (off, len) in [(0, 6000), (150, 2000), (50, 50), (0, 100 * max), (99, 100 * max + 2), (5999, 1)] {
            assert!(q.linear_bytes(off, len) == linear_bytes_two_walks(&q, off, len));
        }
        check(&q, 0, 0, 6000)?;
        // Acknowledgements that end inside chunks, dropping a few whole ones each time.
        let mut acked = 0usize;
        while acked < 6000 {
            let n = 730.min(6000 - acked);
            q.consume_acked(n);
            acked += n;
            assert!(q.len() == 6000 - acked);
            check(&q, acked, 0, 6000 - acked)?;
            assert!(q.linear_bytes(0, q.len()) == linear_bytes_two_walks(&q, 0, q.len()));
        }
        assert!(q.chunks() == 0);
        Ok(())
    }

    #[test]
    fn capacity_grows_never_shrinks_and_memory_is_charged() -> Result {
        let base = mem::allocated();
        let mut q = SendQueue::new(500);
        assert!(put(&mut q, 0, 400)? == 400);
        assert!(mem::allocated() >= base + 400);
        q.grow(1000);
        assert!(q.free() == 600);
        q.grow(700);
        assert!(q.capacity() == 1000);
        q.consume_acked(400);
        assert!(mem::allocated() == base);
        Ok(())
    }

    #[test]
    fn room_is_bounded_by_the_capacity() -> Result {
        let mut q = SendQueue::new(500);
        assert!(put(&mut q, 0, 400)? == 400);
        // Only 100 of the next 400 bytes fit.
        assert!(put(&mut q, 400, 400)? == 100);
        assert!(q.free() == 0 && q.len() == 500);
        check(&q, 0, 0, 500)?;
        Ok(())
    }
}
