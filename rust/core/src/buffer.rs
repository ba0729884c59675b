//! Send and receive storage, owned by the caller behind small traits.
//!
//! The core never holds payload bytes itself. A [`crate::connection::Connection`] owns one
//! [`SendBuffer`] and one [`RecvBuffer`] (generic parameters, no `dyn`), and only tells them
//! what happened to the byte stream:
//!
//! * Send side: the application appends through the buffer's own API (the glue's method,
//!   reached with [`crate::connection::Connection::send_with`]); the core reads
//!   [`SendBuffer::len`], hands out `(offset, len)` ranges to transmit (offsets counted from
//!   SND.UNA, see [`crate::connection::Transmit`]), and calls [`SendBuffer::consume_acked`]
//!   when bytes are cumulatively acknowledged. The bytes at offsets `0..len()` must stay
//!   unchanged until acknowledged: they may be retransmitted.
//! * Receive side: for every accepted in-window payload range the core calls
//!   [`WriteAt::write_at`] with an offset counted from the end of the readable data, then
//!   [`RecvBuffer::commit`] once the bytes just past the readable end are contiguous. The
//!   application reads through the buffer's own API inside
//!   [`crate::connection::Connection::recv_with`], and the core calls
//!   [`RecvBuffer::consume`] with the count the reader reports, which lets it reopen the
//!   receive window.
//!
//! The payload type of an incoming segment is generic (`P: ?Sized`): a byte slice on the
//! host, an skb in the kernel. [`Ring`] is a plain ring buffer over any byte storage
//! (`[u8; N]`, `&mut [u8]`, or a `Vec<u8>` in tests) implementing both sides for `P = [u8]`.

/// Storage for outgoing data: bytes from SND.UNA onward, acknowledged or not yet sent.
///
/// Contract: `len() <= capacity()`; the core never asks for offsets at or beyond `len()`;
/// `consume_acked(n)` is only called with `n <= len()` and removes the oldest `n` bytes.
pub trait SendBuffer {
    /// How many bytes the buffer can hold in total.
    fn capacity(&self) -> usize;
    /// Bytes held: sent-but-unacknowledged plus not-yet-sent, starting at SND.UNA.
    fn len(&self) -> usize;
    /// True if no byte is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The oldest `n` bytes were cumulatively acknowledged by the peer: drop them.
    fn consume_acked(&mut self, n: usize);
    /// The core would like the capacity to be `want` (more than now; send buffer
    /// autotuning, `crate::connection::autotune`). The buffer grows to at most that, or
    /// not at all (the default: a fixed buffer); it never shrinks.
    fn grow(&mut self, want: usize) {
        let _ = want;
    }
}

/// Storage for incoming data: readable in-order bytes followed by room for
/// out-of-order data.
///
/// Contract: `len() <= capacity()`; the core only writes within
/// `len()..capacity()` (as offsets `0..capacity() - len()` past the readable end).
pub trait RecvBuffer {
    /// How many bytes the buffer can hold in total (readable plus out-of-order).
    fn capacity(&self) -> usize;
    /// In-order bytes the application has not consumed yet.
    fn len(&self) -> usize;
    /// True if nothing is readable.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `n` bytes just past the readable end were written and are now in order: make
    /// them readable. The core guarantees `len() + n <= capacity()`.
    fn commit(&mut self, n: usize);
    /// The application consumed the oldest `n` readable bytes (`n <= len()`).
    fn consume(&mut self, n: usize);
    /// The core would like the capacity to be `want` (more than now; receive buffer
    /// autotuning, `crate::connection::autotune`). The buffer grows to at most that, or
    /// not at all (the default: a fixed buffer); it never shrinks, so the window offered
    /// from it never shrinks either.
    fn grow(&mut self, want: usize) {
        let _ = want;
    }
}

/// Writing a segment's payload (of the glue's payload type `P`) into a [`RecvBuffer`].
pub trait WriteAt<P: ?Sized>: RecvBuffer {
    /// Store `len` bytes of `payload`, starting `payload_offset` bytes into it, at `offset`
    /// bytes past the readable end. The core guarantees
    /// `len() + offset + len <= capacity()` and that the payload holds the range.
    /// Overwriting bytes already written there (a retransmission) must store the same
    /// data, so an implementation may skip it.
    ///
    /// Returns false if the bytes could not be stored (memory: an implementation that
    /// keeps the payload where it arrived may refuse to hold more than it can account
    /// for). The core then treats the segment's text as not received: RCV.NXT does not
    /// move and nothing is acknowledged or SACKed for it, so the peer retransmits.
    fn write_at(&mut self, offset: usize, payload: &P, payload_offset: usize, len: usize) -> bool;
}

/// A byte ring buffer over caller-provided storage: `[u8; N]`, `&mut [u8]`, `Vec<u8>`...
///
/// It implements [`SendBuffer`] and [`RecvBuffer`]/[`WriteAt<[u8]>`], plus the application
/// side: [`Ring::enqueue_slice`], [`Ring::read_at`] and [`Ring::dequeue_slice`].
#[derive(Clone, Debug)]
pub struct Ring<B> {
    storage: B,
    /// Index of the oldest byte.
    head: usize,
    /// Bytes held, starting at `head`.
    len: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Ring<B> {
    /// An empty ring using all of `storage`.
    pub fn new(storage: B) -> Self {
        Ring {
            storage,
            head: 0,
            len: 0,
        }
    }

    /// Total capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free room in bytes.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Physical index of logical position `pos` (counted from `head`), for
    /// `pos < capacity`.
    fn index(&self, pos: usize) -> usize {
        let cap = self.capacity();
        if cap == 0 {
            return 0;
        }
        let i = self.head + pos % cap;
        if i >= cap {
            i - cap
        } else {
            i
        }
    }

    /// Copy `src` into logical positions `pos..pos + src.len()`, wrapping around.
    /// Positions beyond the capacity are not written.
    fn copy_in(&mut self, pos: usize, src: &[u8]) {
        let cap = self.capacity();
        let n = src.len().min(cap.saturating_sub(pos));
        if n == 0 {
            return;
        }
        let start = self.index(pos);
        let first = n.min(cap - start);
        let storage = self.storage.as_mut();
        storage[start..start + first].copy_from_slice(&src[..first]);
        storage[..n - first].copy_from_slice(&src[first..n]);
    }

    /// Copy logical positions `pos..pos + dst.len()` (clamped to the capacity) into
    /// `dst`; returns the number of bytes copied.
    fn copy_out(&self, pos: usize, dst: &mut [u8]) -> usize {
        let cap = self.capacity();
        let n = dst.len().min(cap.saturating_sub(pos));
        if n == 0 {
            return 0;
        }
        let start = self.index(pos);
        let first = n.min(cap - start);
        let storage = self.storage.as_ref();
        dst[..first].copy_from_slice(&storage[start..start + first]);
        dst[first..n].copy_from_slice(&storage[..n - first]);
        n
    }

    /// Append as much of `data` as fits; returns the number of bytes appended.
    pub fn enqueue_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.copy_in(self.len, &data[..n]);
        self.len += n;
        n
    }

    /// Copy held bytes starting `offset` bytes after the oldest into `dst`, without
    /// removing them; returns the number of bytes copied (0 if `offset >= len`).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        let avail = self.len.saturating_sub(offset);
        let n = dst.len().min(avail);
        self.copy_out(offset, &mut dst[..n])
    }

    /// Remove up to `dst.len()` of the oldest bytes into `dst`; returns how many.
    pub fn dequeue_slice(&mut self, dst: &mut [u8]) -> usize {
        let n = self.read_at(0, dst);
        self.drop_front(n);
        n
    }

    /// Remove the oldest `n` bytes (clamped to `len`).
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        // The head is not reset when the ring empties: bytes written past the readable
        // end (out-of-order data) are positioned relative to it.
        self.head = self.index(n);
        self.len -= n;
    }

    /// The storage, for inspection.
    pub fn storage(&self) -> &B {
        &self.storage
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> SendBuffer for Ring<B> {
    fn capacity(&self) -> usize {
        Ring::capacity(self)
    }
    fn len(&self) -> usize {
        self.len
    }
    fn consume_acked(&mut self, n: usize) {
        self.drop_front(n);
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> RecvBuffer for Ring<B> {
    fn capacity(&self) -> usize {
        Ring::capacity(self)
    }
    fn len(&self) -> usize {
        self.len
    }
    fn commit(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(Ring::capacity(self));
    }
    fn consume(&mut self, n: usize) {
        self.drop_front(n);
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> WriteAt<[u8]> for Ring<B> {
    fn write_at(
        &mut self,
        offset: usize,
        payload: &[u8],
        payload_offset: usize,
        len: usize,
    ) -> bool {
        let end = payload_offset.saturating_add(len).min(payload.len());
        let Some(src) = payload.get(payload_offset..end) else {
            return true;
        };
        let pos = self.len.saturating_add(offset);
        self.copy_in(pos, src);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn enqueue_dequeue_wraps() {
        let mut r = Ring::new([0u8; 8]);
        assert_eq!(r.enqueue_slice(b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.dequeue_slice(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(r.enqueue_slice(b"ghijklmn"), 6);
        assert_eq!(r.len(), 8);
        assert_eq!(r.free(), 0);
        let mut all = [0u8; 8];
        assert_eq!(r.read_at(0, &mut all), 8);
        assert_eq!(&all, b"efghijkl");
        assert_eq!(r.read_at(6, &mut out), 2);
        assert_eq!(&out[..2], b"kl");
    }

    #[test]
    fn read_at_past_end_is_empty() {
        let mut r = Ring::new(vec![0u8; 4]);
        r.enqueue_slice(b"ab");
        let mut out = [0u8; 4];
        assert_eq!(r.read_at(2, &mut out), 0);
        assert_eq!(r.read_at(100, &mut out), 0);
    }

    #[test]
    fn zero_capacity_is_harmless() {
        let mut r = Ring::new(Vec::<u8>::new());
        assert_eq!(r.enqueue_slice(b"abc"), 0);
        let mut out = [0u8; 2];
        assert_eq!(r.dequeue_slice(&mut out), 0);
        RecvBuffer::commit(&mut r, 5);
        assert_eq!(RecvBuffer::len(&r), 0);
        r.write_at(0, b"xy", 0, 2);
        r.drop_front(3);
        assert!(r.is_empty());
    }

    #[test]
    fn write_at_then_commit_out_of_order() {
        let mut r = Ring::new([0u8; 8]);
        r.enqueue_slice(b"xyz");
        r.drop_front(3); // head moves to 3
        r.write_at(3, b"--defg", 2, 4); // "defg" at positions 3..7
        r.write_at(0, b"abc", 0, 3);
        RecvBuffer::commit(&mut r, 7);
        let mut out = [0u8; 7];
        assert_eq!(r.dequeue_slice(&mut out), 7);
        assert_eq!(&out, b"abcdefg");
    }

    #[test]
    fn out_of_order_bytes_survive_emptying_the_readable_part() {
        let mut r = Ring::new([0u8; 8]);
        r.write_at(0, b"ab", 0, 2);
        RecvBuffer::commit(&mut r, 2);
        // Out-of-order bytes two past the readable end...
        r.write_at(2, b"ef", 0, 2);
        // ...stay put when the application drains everything readable.
        RecvBuffer::consume(&mut r, 2);
        r.write_at(0, b"cd", 0, 2);
        RecvBuffer::commit(&mut r, 4);
        let mut out = [0u8; 4];
        assert_eq!(r.dequeue_slice(&mut out), 4);
        assert_eq!(&out, b"cdef");
    }

    #[test]
    fn write_at_clamps_bad_ranges() {
        let mut r = Ring::new([0u8; 4]);
        r.write_at(0, b"ab", 1, 10); // payload shorter than asked
        r.write_at(0, b"ab", 5, 1); // offset past payload
        r.write_at(3, b"abcd", 0, 4); // beyond capacity: truncated
        RecvBuffer::commit(&mut r, 4);
        let mut out = [0u8; 4];
        r.read_at(0, &mut out);
        assert_eq!(out[0], b'b');
        assert_eq!(out[3], b'a');
    }

    #[test]
    fn send_buffer_consume_acked() {
        let mut r = Ring::new([0u8; 6]);
        r.enqueue_slice(b"hello!");
        SendBuffer::consume_acked(&mut r, 2);
        assert_eq!(SendBuffer::len(&r), 4);
        SendBuffer::consume_acked(&mut r, 10);
        assert!(SendBuffer::is_empty(&r));
    }

    #[test]
    fn over_borrowed_slice() {
        let mut backing = [0u8; 5];
        let mut r = Ring::new(&mut backing[..]);
        assert_eq!(r.enqueue_slice(b"123456"), 5);
        assert_eq!(r.capacity(), 5);
        RecvBuffer::consume(&mut r, 1);
        let mut out = [0u8; 5];
        assert_eq!(r.read_at(0, &mut out), 4);
        assert_eq!(&out[..4], b"2345");
    }

    #[test]
    fn many_wraps_keep_order() {
        let mut r = Ring::new([0u8; 7]);
        let mut next_in = 0u8;
        let mut next_out = 0u8;
        for round in 0..200usize {
            let mut chunk = [0u8; 5];
            let want = round % 5 + 1;
            for b in chunk.iter_mut().take(want) {
                *b = next_in;
                next_in = next_in.wrapping_add(1);
            }
            let n = r.enqueue_slice(&chunk[..want]);
            next_in = next_in.wrapping_sub((want - n) as u8);
            let mut out = [0u8; 3];
            let m = r.dequeue_slice(&mut out[..round % 3 + 1]);
            for &b in &out[..m] {
                assert_eq!(b, next_out);
                next_out = next_out.wrapping_add(1);
            }
        }
    }
}
