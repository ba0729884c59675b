//! SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012).
//!
//! A keyed 64-bit pseudorandom function: partcp uses it as the `F` of RFC 6528 initial
//! sequence numbers ([`crate::isn`]) and as the MAC of SYN cookies ([`crate::syncookie`]).
//! Written from the paper's description:
//!
//! * state `v0..v3` is the 128-bit key `k0 || k1` (little-endian words) XORed with the
//!   constants "somepseudorandomlygeneratedbytes";
//! * the message is consumed in little-endian 64-bit words `m`: `v3 ^= m`, two SipRounds
//!   (the "2"), `v0 ^= m`;
//! * the last word holds the remaining 0..7 bytes and, in its top byte, the message length
//!   modulo 256;
//! * finalization: `v2 ^= 0xff`, four SipRounds (the "4"), output `v0 ^ v1 ^ v2 ^ v3`.
//!
//! [`SipHasher24`] is incremental so callers can hash several fields without building a
//! buffer; [`siphash24`] hashes one slice.

/// The initialization constants of the paper: the ASCII of "somepseudorandomlygenerated
/// bytes" read as four big-endian words.
const INIT: [u64; 4] = [
    0x736f_6d65_7073_6575,
    0x646f_7261_6e64_6f6d,
    0x6c79_6765_6e65_7261,
    0x7465_6462_7974_6573,
];

/// An incremental SipHash-2-4 computation.
#[derive(Clone, Copy, Debug)]
pub struct SipHasher24 {
    v: [u64; 4],
    /// Bytes not yet forming a full word, little-endian in the low `tail_len` bytes.
    tail: u64,
    tail_len: u32,
    /// Total message length so far, modulo 2^64 (only the low byte is used).
    len: u64,
}

impl SipHasher24 {
    /// A hasher keyed with the 16-byte `key` (k0 = bytes 0..8, k1 = bytes 8..16, both
    /// little-endian, as in the paper).
    pub fn new(key: &[u8; 16]) -> Self {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = *key;
        let k0 = u64::from_le_bytes([a, b, c, d, e, f, g, h]);
        let k1 = u64::from_le_bytes([i, j, k, l, m, n, o, p]);
        SipHasher24 {
            v: [INIT[0] ^ k0, INIT[1] ^ k1, INIT[2] ^ k0, INIT[3] ^ k1],
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    /// One SipRound: the ARX network of the paper's figure 2.
    #[inline]
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }

    /// Compression of one message word with c = 2 rounds.
    #[inline]
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        Self::round(&mut self.v);
        Self::round(&mut self.v);
        self.v[0] ^= m;
    }

    /// Append `bytes` to the message.
    pub fn write(&mut self, bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        for &b in bytes {
            self.tail |= u64::from(b) << (8 * self.tail_len);
            self.tail_len += 1;
            if self.tail_len == 8 {
                let m = self.tail;
                self.compress(m);
                self.tail = 0;
                self.tail_len = 0;
            }
        }
    }

    /// Append one byte.
    pub fn write_u8(&mut self, v: u8) {
        self.write(&[v]);
    }

    /// Append a 16-bit value in network (big-endian) byte order.
    pub fn write_u16_be(&mut self, v: u16) {
        self.write(&v.to_be_bytes());
    }

    /// Append a 32-bit value in network (big-endian) byte order.
    pub fn write_u32_be(&mut self, v: u32) {
        self.write(&v.to_be_bytes());
    }

    /// Append a 64-bit value in network (big-endian) byte order.
    pub fn write_u64_be(&mut self, v: u64) {
        self.write(&v.to_be_bytes());
    }

    /// The 64-bit tag of the message written so far (the hasher itself is unchanged).
    pub fn finish(&self) -> u64 {
        let mut s = *self;
        // Last block: remaining bytes, and the length modulo 256 in the top byte.
        let last = s.tail | ((s.len & 0xff) << 56);
        s.compress(last);
        // Finalization with d = 4 rounds.
        s.v[2] ^= 0xff;
        for _ in 0..4 {
            Self::round(&mut s.v);
        }
        s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3]
    }
}

/// SipHash-2-4 of `data` under `key`.
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let mut h = SipHasher24::new(key);
    h.write(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::{siphash24, SipHasher24};

    /// `vectors_sip64` of the SipHash reference implementation (vectors.h): key
    /// 00 01 .. 0f, message i = 00 01 .. (i-1), tag bytes read little-endian.
    const VECTORS: [u64; 64] = [
        0x726fdb47dd0e0e31,
        0x74f839c593dc67fd,
        0x0d6c8009d9a94f5a,
        0x85676696d7fb7e2d,
        0xcf2794e0277187b7,
        0x18765564cd99a68d,
        0xcbc9466e58fee3ce,
        0xab0200f58b01d137,
        0x93f5f5799a932462,
        0x9e0082df0ba9e4b0,
        0x7a5dbbc594ddb9f3,
        0xf4b32f46226bada7,
        0x751e8fbc860ee5fb,
        0x14ea5627c0843d90,
        0xf723ca908e7af2ee,
        0xa129ca6149be45e5,
        0x3f2acc7f57c29bdb,
        0x699ae9f52cbe4794,
        0x4bc1b3f0968dd39c,
        0xbb6dc91da77961bd,
        0xbed65cf21aa2ee98,
        0xd0f2cbb02e3b67c7,
        0x93536795e3a33e88,
        0xa80c038ccd5ccec8,
        0xb8ad50c6f649af94,
        0xbce192de8a85b8ea,
        0x17d835b85bbb15f3,
        0x2f2e6163076bcfad,
        0xde4daaaca71dc9a5,
        0xa6a2506687956571,
        0xad87a3535c49ef28,
        0x32d892fad841c342,
        0x7127512f72f27cce,
        0xa7f32346f95978e3,
        0x12e0b01abb051238,
        0x15e034d40fa197ae,
        0x314dffbe0815a3b4,
        0x027990f029623981,
        0xcadcd4e59ef40c4d,
        0x9abfd8766a33735c,
        0x0e3ea96b5304a7d0,
        0xad0c42d6fc585992,
        0x187306c89bc215a9,
        0xd4a60abcf3792b95,
        0xf935451de4f21df2,
        0xa9538f0419755787,
        0xdb9acddff56ca510,
        0xd06c98cd5c0975eb,
        0xe612a3cb9ecba951,
        0xc766e62cfcadaf96,
        0xee64435a9752fe72,
        0xa192d576b245165a,
        0x0a8787bf8ecb74b2,
        0x81b3e73d20b49b6f,
        0x7fa8220ba3b2ecea,
        0x245731c13ca42499,
        0xb78dbfaf3a8d83bd,
        0xea1ad565322a1a0b,
        0x60e61c23a3795013,
        0x6606d7e446282b93,
        0x6ca4ecb15c5f91e1,
        0x9f626da15c9625f3,
        0xe51b38608ef25f57,
        0x958a324ceb064572,
    ];

    fn key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    fn message() -> [u8; 64] {
        core::array::from_fn(|i| i as u8)
    }

    fn check_len(n: usize) {
        assert_eq!(siphash24(&key(), &message()[..n]), VECTORS[n], "length {n}");
    }

    #[test]
    fn vector_empty_message() {
        check_len(0);
    }

    #[test]
    fn vector_one_byte() {
        check_len(1);
    }

    #[test]
    fn vector_seven_bytes_all_in_last_block() {
        check_len(7);
    }

    #[test]
    fn vector_eight_bytes_one_full_word() {
        check_len(8);
    }

    #[test]
    fn vector_fifteen_bytes() {
        check_len(15);
    }

    #[test]
    fn vector_sixteen_bytes() {
        check_len(16);
    }

    #[test]
    fn vector_sixty_three_bytes() {
        check_len(63);
    }

    #[test]
    fn all_reference_vectors() {
        for n in 0..64 {
            check_len(n);
        }
    }

    #[test]
    fn incremental_equals_one_shot_for_every_split() {
        let msg = message();
        for n in 0..64 {
            for split in 0..=n {
                let mut h = SipHasher24::new(&key());
                h.write(&msg[..split]);
                h.write(&msg[split..n]);
                assert_eq!(h.finish(), VECTORS[n], "length {n} split {split}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_and_typed_writes() {
        let mut h = SipHasher24::new(&key());
        for b in 0u8..12 {
            h.write_u8(b);
        }
        assert_eq!(h.finish(), VECTORS[12]);
        let mut h = SipHasher24::new(&key());
        h.write_u16_be(0x0001);
        h.write_u32_be(0x0203_0405);
        h.write_u64_be(0x0607_0809_0a0b_0c0d);
        assert_eq!(h.finish(), VECTORS[14]);
    }

    #[test]
    fn finish_does_not_consume() {
        let mut h = SipHasher24::new(&key());
        h.write(&message()[..5]);
        assert_eq!(h.finish(), h.finish());
        h.write(&message()[5..9]);
        assert_eq!(h.finish(), VECTORS[9]);
    }

    #[test]
    fn key_changes_tag() {
        let mut k = key();
        k[15] ^= 1;
        assert_ne!(siphash24(&k, &message()[..8]), VECTORS[8]);
    }
}
