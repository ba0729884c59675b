// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! Kernel-side send storage for the TCP core: a byte ring allocated once per connection
//! (kvmalloc), sized by the socket's SO_SNDBUF at connection setup. The core drives it
//! through the `buffer` traits; `sendmsg` copies user memory into it through a bounce
//! buffer (user copies can fault and sleep, and the ring is only touched under the
//! connection's guard), and transmission copies from it into skbs. Received data does
//! not pass through a ring: see `rxq.rs`.

use kernel::prelude::*;

use crate::buffer::SendBuffer;

/// A byte ring over a kvmalloc'd array.
///
/// # Invariants
///
/// `head < storage.len()` (or 0 when empty storage) and `len <= storage.len()`.
pub(crate) struct ByteRing {
    storage: KVVec<u8>,
    head: usize,
    len: usize,
}

impl ByteRing {
    /// A ring of `capacity` zeroed bytes.
    pub(crate) fn new(capacity: usize, flags: kernel::alloc::Flags) -> Result<Self> {
        Ok(ByteRing {
            storage: KVVec::from_elem(0u8, capacity, flags)?,
            head: 0,
            len: 0,
        })
    }

    fn cap(&self) -> usize {
        self.storage.len()
    }

    /// Physical index of logical position `pos` (from `head`), `pos < cap`.
    fn index(&self, pos: usize) -> usize {
        let cap = self.cap();
        let i = self.head + pos;
        if i >= cap {
            i - cap
        } else {
            i
        }
    }

    /// The (at most two) physical pieces of logical range `pos..pos + n`, clamped to
    /// the capacity, as `(start, len)` pairs.
    fn pieces(&self, pos: usize, n: usize) -> [(usize, usize); 2] {
        let cap = self.cap();
        if cap == 0 || pos >= cap {
            return [(0, 0), (0, 0)];
        }
        let n = n.min(cap - pos);
        let start = self.index(pos);
        let first = n.min(cap - start);
        [(start, first), (0, n - first)]
    }

    /// Calls `f` with the (at most two) slices holding logical bytes `pos..pos + n`.
    pub(crate) fn with_pieces(&self, pos: usize, n: usize, mut f: impl FnMut(&[u8])) {
        for (start, len) in self.pieces(pos, n) {
            if len > 0 {
                if let Some(s) = self.storage.get(start..start + len) {
                    f(s);
                }
            }
        }
    }

    /// Copies logical bytes `pos..pos + dst.len()` into `dst`.
    pub(crate) fn read_at(&self, pos: usize, dst: &mut [u8]) {
        let mut done = 0;
        for (start, n) in self.pieces(pos, dst.len()) {
            if let (Some(d), Some(s)) = (dst.get_mut(done..done + n), self.storage.get(start..start + n)) {
                d.copy_from_slice(s);
            }
            done += n;
        }
    }

    /// Copies `src` to logical position `pos`.
    fn write_at(&mut self, pos: usize, src: &[u8]) {
        let mut done = 0;
        for (start, n) in self.pieces(pos, src.len()) {
            if let (Some(d), Some(s)) = (self.storage.get_mut(start..start + n), src.get(done..done + n)) {
                d.copy_from_slice(s);
            }
            done += n;
        }
    }

    /// Appends as much of `src` as fits; returns the count.
    pub(crate) fn append(&mut self, src: &[u8]) -> usize {
        let n = src.len().min(self.cap() - self.len);
        self.write_at(self.len, &src[..n]);
        self.len += n;
        n
    }

    /// Free bytes.
    pub(crate) fn free(&self) -> usize {
        self.cap() - self.len
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        let cap = self.cap();
        if n == 0 || cap == 0 {
            return;
        }
        // The head only moves forward: the receive ring may hold out-of-order bytes past
        // the readable end, at positions relative to the head, even when nothing is
        // readable.
        self.head = (self.head + n) % cap;
        self.len -= n;
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The send buffer: bytes from SND.UNA on.
pub(crate) struct SendRing(pub(crate) ByteRing);

impl SendBuffer for SendRing {
    fn capacity(&self) -> usize {
        self.0.cap()
    }
    fn len(&self) -> usize {
        self.0.len
    }
    fn consume_acked(&mut self, n: usize) {
        self.0.drop_front(n);
    }
}

/// KUnit: ring arithmetic of [`ByteRing`] and the send/receive buffer views the core
/// drives (wrap-around, full and empty rings, clamping at the capacity).
#[kunit_tests(partcp_kbuf)]
mod tests {
    use super::*;

    /// The ring's logical bytes `pos..pos + N`.
    fn bytes<const N: usize>(r: &ByteRing, pos: usize) -> [u8; N] {
        let mut b = [0u8; N];
        r.read_at(pos, &mut b);
        b
    }

    /// The lengths of the pieces `with_pieces` hands out for `pos..pos + n`.
    fn piece_lens(r: &ByteRing, pos: usize, n: usize) -> [usize; 3] {
        let mut lens = [0usize; 3];
        let mut i = 0;
        r.with_pieces(pos, n, |s| {
            if let Some(l) = lens.get_mut(i) {
                *l = s.len();
            }
            i += 1;
        });
        lens
    }

    #[test]
    fn append_until_full() -> Result {
        let mut r = ByteRing::new(8, GFP_KERNEL)?;
        assert!(r.len() == 0 && r.free() == 8);
        assert!(r.append(b"abcde") == 5);
        assert!(r.len() == 5 && r.free() == 3);
        // Only what fits is taken.
        assert!(r.append(b"fghij") == 3);
        assert!(r.len() == 8 && r.free() == 0);
        assert!(r.append(b"k") == 0);
        assert!(bytes::<8>(&r, 0) == *b"abcdefgh");
        Ok(())
    }

    #[test]
    fn wrap_around() -> Result {
        let mut r = ByteRing::new(8, GFP_KERNEL)?;
        assert!(r.append(b"abcdefgh") == 8);
        r.drop_front(6);
        assert!(r.len() == 2 && r.free() == 6);
        assert!(bytes::<2>(&r, 0) == *b"gh");
        // The next bytes go to the start of the storage.
        assert!(r.append(b"ijkl") == 4);
        assert!(r.len() == 6);
        assert!(bytes::<6>(&r, 0) == *b"ghijkl");
        assert!(bytes::<3>(&r, 1) == *b"hij");
        // Two pieces: the end of the storage, then its start.
        assert!(piece_lens(&r, 0, 6) == [2, 4, 0]);
        assert!(piece_lens(&r, 2, 4) == [4, 0, 0]);
        // Around the ring many times: the head stays in range and the bytes in order.
        for round in 0..20u8 {
            r.drop_front(5);
            assert!(r.append(&[round; 5]) == 5);
            assert!(r.len() == 6);
            assert!(bytes::<5>(&r, 1) == [round; 5]);
        }
        Ok(())
    }

    #[test]
    fn empty_and_clamped() -> Result {
        let mut r = ByteRing::new(8, GFP_KERNEL)?;
        // Dropping more than is held empties the ring, no more.
        assert!(r.append(b"abc") == 3);
        r.drop_front(100);
        assert!(r.len() == 0 && r.free() == 8);
        r.drop_front(1);
        assert!(r.len() == 0);
        // Reads past the capacity copy nothing; pieces are clamped to the capacity.
        let mut b = [7u8; 4];
        r.read_at(8, &mut b);
        assert!(b == [7; 4]);
        assert!(piece_lens(&r, 8, 4) == [0, 0, 0]);
        assert!(piece_lens(&r, 6, 100) == [2, 0, 0]);
        // A ring without storage holds nothing and never panics.
        let mut z = ByteRing::new(0, GFP_KERNEL)?;
        assert!(z.append(b"x") == 0);
        assert!(z.len() == 0 && z.free() == 0);
        z.drop_front(1);
        z.read_at(0, &mut b);
        assert!(piece_lens(&z, 0, 1) == [0, 0, 0]);
        Ok(())
    }

    #[test]
    fn send_view() -> Result {
        let mut s = SendRing(ByteRing::new(16, GFP_KERNEL)?);
        assert!(s.0.append(b"0123456789") == 10);
        assert!(SendBuffer::capacity(&s) == 16 && SendBuffer::len(&s) == 10);
        s.consume_acked(4);
        assert!(SendBuffer::len(&s) == 6);
        assert!(bytes::<6>(&s.0, 0) == *b"456789");
        s.consume_acked(100);
        assert!(SendBuffer::len(&s) == 0);
        Ok(())
    }
}
