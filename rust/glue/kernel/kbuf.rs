// SPDX-License-Identifier: GPL-2.0

//! Kernel-side send and receive storage for the TCP core: byte rings allocated once per
//! connection (kvmalloc), sized by the socket's SO_SNDBUF/SO_RCVBUF at connection setup.
//! Memory per connection is therefore bounded by its buffer sizes, whatever the peer does.
//!
//! The core drives both rings through the `buffer` traits; the syscall paths copy
//! between them and user memory through a bounce buffer (user copies can fault and sleep,
//! and the rings are only touched under the connection's lock).

use kernel::prelude::*;

use crate::glue::kernel::skb::RxPayload;
use crate::buffer::{RecvBuffer, SendBuffer, WriteAt};

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

/// The receive buffer: readable bytes, then room for out-of-order data.
pub(crate) struct RecvRing(pub(crate) ByteRing);

impl RecvBuffer for RecvRing {
    fn capacity(&self) -> usize {
        self.0.cap()
    }
    fn len(&self) -> usize {
        self.0.len
    }
    fn commit(&mut self, n: usize) {
        self.0.len = (self.0.len + n).min(self.0.cap());
    }
    fn consume(&mut self, n: usize) {
        self.0.drop_front(n);
    }
}

impl WriteAt<RxPayload> for RecvRing {
    fn write_at(&mut self, offset: usize, payload: &RxPayload, payload_offset: usize, len: usize) {
        let ring = &mut self.0;
        let mut done = 0;
        for (start, n) in ring.pieces(ring.len + offset, len) {
            if n == 0 {
                continue;
            }
            if let Some(dst) = ring.storage.get_mut(start..start + n) {
                payload.copy_to(payload_offset + done, dst);
            }
            done += n;
        }
    }
}
