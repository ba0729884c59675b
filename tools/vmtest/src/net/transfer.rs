//! Bulk transfers, verified end to end: each sender streams a seeded pseudo-random
//! pattern and hashes what it sent; each receiver reads to EOF, hashes what it got and
//! compares it with the pattern (to name the first wrong offset). Lengths and hashes of
//! both ends must agree.
//!
//! For each pairing and size, two connections: one sequential (the client sends, shuts
//! down its write side; the server reads to EOF, then sends back and shuts down) and
//! one simultaneous (both send and receive at once). Pairings:
//! - `f_client`: the side under test connects (from `ptcp_a`) to a Linux server;
//! - `f_server`: a Linux client connects to the side under test (in `ptcp_a`);
//! - `f_f`: both ends of the family under test, the client in `ptcp_b`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{accept, f_client, f_server, Family, NetTest, Ns};
use crate::{ensure, Opts, TestResult};

const MB: usize = 1 << 20;
const SIZES: &[(&str, usize)] =
    &[("1B", 1), ("1000B", 1000), ("64K", 64 << 10), ("1M", MB), ("16M", 16 * MB), ("64M", 64 * MB)];
const LONG_SIZES: &[(&str, usize)] = &[("256M", 256 * MB)];

#[derive(Clone, Copy)]
enum Pairing {
    FClient,
    FServer,
    FF,
}

impl Pairing {
    fn name(self) -> &'static str {
        match self {
            Pairing::FClient => "f_client",
            Pairing::FServer => "f_server",
            Pairing::FF => "f_f",
        }
    }

    /// A fresh connection: `(client, server)`.
    fn connect(self, fam: Family) -> Result<(TcpStream, TcpStream), String> {
        match self {
            Pairing::FClient => f_client(fam),
            Pairing::FServer => f_server(fam).map(|(f, peer)| (peer, f)),
            Pairing::FF => {
                let (l, addr) = fam.listener(Ns::A)?;
                let c = fam.connect(Ns::B, addr)?;
                Ok((c, accept(&l)?))
            }
        }
    }
}

pub fn tests(opts: Opts) -> Vec<NetTest> {
    let sizes = SIZES.iter().chain(if opts.long { LONG_SIZES } else { &[] });
    let mut v = Vec::new();
    for &(label, size) in sizes {
        for p in [Pairing::FClient, Pairing::FServer, Pairing::FF] {
            v.push(NetTest {
                name: format!("transfer.{}.{label}", p.name()),
                // 4 x size through TCP and the hashes; ~10 MB/s is already very slow.
                timeout: Duration::from_secs(60 + (4 * size / (10 * MB)) as u64),
                run: Box::new(move |fam| transfer(fam, p, size)),
            });
        }
    }
    v
}

fn transfer(fam: Family, p: Pairing, size: usize) -> TestResult {
    let (c, s) = p.connect(fam)?;
    sequential(&c, &s, size).map_err(|e| format!("sequential: {e}"))?;
    let (c, s) = p.connect(fam)?;
    simultaneous(&c, &s, size).map_err(|e| format!("simultaneous: {e}"))
}

/// Client to server, then server to client, on one connection.
pub fn sequential(client: &TcpStream, server: &TcpStream, size: usize) -> TestResult {
    one_way(client, server, size).map_err(|e| format!("client to server: {e}"))?;
    one_way(server, client, size).map_err(|e| format!("server to client: {e}"))
}

/// Both directions at once.
pub fn simultaneous(client: &TcpStream, server: &TcpStream, size: usize) -> TestResult {
    let (cs, sc) = (next_seed(), next_seed());
    std::thread::scope(|sc_| {
        let a = sc_.spawn(|| send(client, cs, size));
        let b = sc_.spawn(|| send(server, sc, size));
        let c = sc_.spawn(|| receive(client, sc, size));
        let got_s = receive(server, cs, size);
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Digest, String>>| {
            h.join().map_err(|_| "transfer thread panicked".to_string())?
        };
        let (sent_c, sent_s, got_c) = (join(a), join(b), join(c));
        compare(sent_c, got_s, size).map_err(|e| format!("client to server: {e}"))?;
        compare(sent_s, got_c, size).map_err(|e| format!("server to client: {e}"))
    })
}

/// `size` bytes from `from` to `to`, `from` shutting down its write side after.
pub fn one_way(from: &TcpStream, to: &TcpStream, size: usize) -> TestResult {
    let seed = next_seed();
    std::thread::scope(|s| {
        let rx = s.spawn(|| receive(to, seed, size));
        let sent = send(from, seed, size);
        let got = rx.join().map_err(|_| "receiver panicked".to_string())?;
        compare(sent, got, size)
    })
}

fn compare(sent: Result<Digest, String>, got: Result<Digest, String>, size: usize) -> TestResult {
    let (sent, got) = (sent.map_err(|e| format!("sender: {e}"))?, got.map_err(|e| format!("receiver: {e}"))?);
    if let Some(off) = got.first_bad {
        return Err(format!("received byte {off} differs from the pattern (of {} received)", got.len));
    }
    ensure!(sent.len == size as u64, "sent {} bytes, want {size}", sent.len);
    ensure!(got.len == sent.len, "received {} bytes of {} sent", got.len, sent.len);
    ensure!(got.hash == sent.hash, "hash {:#x} received, {:#x} sent", got.hash, sent.hash);
    Ok(())
}

/// A fresh stream seed for [`fill`] and [`receive`].
pub fn next_seed() -> u64 {
    static SEED: AtomicU64 = AtomicU64::new(0x5eed);
    SEED.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// What one end saw of a stream.
#[derive(Debug)]
pub struct Digest {
    pub len: u64,
    pub hash: u64,
    /// The first received offset that differs from the pattern.
    pub first_bad: Option<u64>,
}

const CHUNK: usize = 128 << 10;

/// Writes `size` pattern bytes, then shuts down the write side.
pub fn send(mut s: &TcpStream, seed: u64, size: usize) -> Result<Digest, String> {
    let mut buf = vec![0u8; CHUNK];
    let mut h = StreamHash::new();
    let mut off = 0;
    while off < size {
        let n = CHUNK.min(size - off);
        fill(seed, off as u64, &mut buf[..n]);
        s.write_all(&buf[..n]).map_err(|e| format!("write at {off}: {e}"))?;
        h.update(&buf[..n]);
        off += n;
    }
    s.shutdown(Shutdown::Write).map_err(|e| format!("shutdown(SHUT_WR): {e}"))?;
    Ok(Digest { len: off as u64, hash: h.finish(), first_bad: None })
}

/// Reads to EOF (reading at most a little past `size`).
pub fn receive(mut s: &TcpStream, seed: u64, size: usize) -> Result<Digest, String> {
    let mut buf = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    let mut h = StreamHash::new();
    let mut off = 0u64;
    let mut first_bad = None;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read at {off} of {size}: {e}")),
        };
        h.update(&buf[..n]);
        if first_bad.is_none() {
            fill(seed, off, &mut want[..n]);
            first_bad = buf[..n].iter().zip(&want[..n]).position(|(a, b)| a != b).map(|i| off + i as u64);
        }
        off += n as u64;
        ensure!(off <= size as u64 + CHUNK as u64, "{off} bytes received, more than the {size} sent");
    }
    Ok(Digest { len: off, hash: h.finish(), first_bad })
}

/// The pattern: 64-bit word `i` of stream `seed` is splitmix64(seed + i * golden).
fn word(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Pattern bytes `[off, off + buf.len())` of stream `seed`.
pub fn fill(seed: u64, off: u64, buf: &mut [u8]) {
    let mut i = 0;
    // Unaligned head, byte by byte.
    while i < buf.len() && !(off + i as u64).is_multiple_of(8) {
        let pos = off + i as u64;
        buf[i] = word(seed, pos / 8).to_le_bytes()[(pos % 8) as usize];
        i += 1;
    }
    let mut chunks = buf[i..].chunks_exact_mut(8);
    let mut w = (off + i as u64) / 8;
    for c in &mut chunks {
        c.copy_from_slice(&word(seed, w).to_le_bytes());
        w += 1;
    }
    let tail = chunks.into_remainder();
    let bytes = word(seed, w).to_le_bytes();
    let n = tail.len();
    tail.copy_from_slice(&bytes[..n]);
}

/// A streaming 64-bit hash over 8-byte little-endian words (a multiply-rotate mix in
/// the style of FNV/xxHash), independent of how the stream is cut into reads.
pub struct StreamHash {
    h: u64,
    pending: [u8; 8],
    npending: usize,
    len: u64,
}

impl StreamHash {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new() -> Self {
        StreamHash { h: 0xcbf2_9ce4_8422_2325, pending: [0; 8], npending: 0, len: 0 }
    }

    fn mix(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(Self::K).rotate_left(29);
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.npending > 0 {
            let n = (8 - self.npending).min(data.len());
            self.pending[self.npending..self.npending + n].copy_from_slice(&data[..n]);
            self.npending += n;
            data = &data[n..];
            if self.npending < 8 {
                return;
            }
            self.mix(u64::from_le_bytes(self.pending));
            self.npending = 0;
        }
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.npending = rest.len();
    }

    pub fn finish(mut self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.npending].copy_from_slice(&self.pending[..self.npending]);
        let len = self.len;
        self.mix(u64::from_le_bytes(last));
        self.mix(len);
        self.h ^ (self.h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_independent_of_how_the_stream_is_cut() {
        let mut whole = vec![0u8; 1000];
        fill(7, 0, &mut whole);
        for cut in [1, 3, 8, 13, 999] {
            let mut parts = vec![0u8; 1000];
            let (a, b) = parts.split_at_mut(cut);
            fill(7, 0, a);
            fill(7, cut as u64, b);
            assert_eq!(parts, whole, "cut at {cut}");
        }
    }

    #[test]
    fn hash_is_independent_of_how_the_stream_is_cut() {
        let mut data = vec![0u8; 1000];
        fill(9, 0, &mut data);
        let mut h = StreamHash::new();
        h.update(&data);
        let whole = h.finish();
        for cuts in [&[1usize, 2, 3][..], &[7, 9], &[500], &[0, 999]] {
            let mut h = StreamHash::new();
            let mut rest = &data[..];
            for &c in cuts {
                let (a, b) = rest.split_at(c.min(rest.len()));
                h.update(a);
                rest = b;
            }
            h.update(rest);
            assert_eq!(h.finish(), whole, "cuts {cuts:?}");
        }
    }

    #[test]
    fn hash_sees_changes_order_and_length() {
        let hash = |d: &[u8]| {
            let mut h = StreamHash::new();
            h.update(d);
            h.finish()
        };
        let mut data = vec![0u8; 64];
        fill(1, 0, &mut data);
        let base = hash(&data);
        let mut flipped = data.clone();
        flipped[40] ^= 1;
        assert_ne!(hash(&flipped), base);
        let mut swapped = data.clone();
        swapped.swap(0, 8);
        assert_ne!(hash(&swapped), base);
        assert_ne!(hash(&data[..63]), base);
        assert_ne!(hash(&[0u8; 3]), hash(&[0u8; 4]));
    }
}
