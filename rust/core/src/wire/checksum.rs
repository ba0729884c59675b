//! The internet checksum (RFC 1071) and the IPv4 pseudo header (RFC 9293, section 3.1).
//!
//! A checksum is computed in two stages. First the data is summed into a 32-bit partial
//! sum with [`sum`]; partial sums of separate pieces are combined with [`add`], or with
//! [`add_at`] when a piece begins at an odd byte offset of the whole (the kernel sums the
//! fragments of a non-linear skb one by one). Then [`fold`] reduces the total to the
//! 16-bit one's complement that goes on the wire.
//!
//! A partial sum is any `u32` congruent, modulo `0xffff`, to the one's complement sum of
//! the 16-bit words: it is only meaningful to `add`, `add_at`, `reduce` and `fold`.

use super::ipv4::Ipv4Addr;

/// One's complement addition of two partial sums (end-around carry).
///
/// RFC 1071, section 2(A): the sum is commutative and associative, so partial sums of
/// consecutive even-length pieces may be added in any order.
#[inline]
pub const fn add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    // An overflowed `s` is at most `u32::MAX - 1`, so adding the carry cannot overflow.
    s + carry as u32
}

/// Sum `data` into the partial sum `initial`.
///
/// `data` is taken to start at an even offset of the checksummed whole; an odd final byte
/// is padded on the right with a zero byte (RFC 9293, section 3.1, Checksum). To continue a
/// sum after a piece of odd length, sum the next piece on its own and combine it with
/// [`add_at`].
pub fn sum(data: &[u8], initial: u32) -> u32 {
    // RFC 1071, section 2(C), "parallel summation": the one's complement sum of 64-bit
    // big-endian words, folded, equals the sum of the 16-bit words, since 2**16, 2**32 and
    // 2**48 are all congruent to 1 modulo 2**16 - 1. Summing 8 bytes per step keeps
    // 64 KB segments cheap without `unsafe`.
    let (words, rest) = data.as_chunks::<8>();
    let mut acc: u64 = 0;
    for word in words {
        let (s, carry) = acc.overflowing_add(u64::from_be_bytes(*word));
        acc = s + u64::from(carry);
    }
    let (pairs, odd) = rest.as_chunks::<2>();
    for pair in pairs {
        let (s, carry) = acc.overflowing_add(u64::from(u16::from_be_bytes(*pair)));
        acc = s + u64::from(carry);
    }
    if let Some(&last) = odd.first() {
        // RFC 9293, section 3.1: an odd last octet "is padded on the right with zeros".
        let (s, carry) = acc.overflowing_add(u64::from(last) << 8);
        acc = s + u64::from(carry);
    }
    // Fold 64 to 32 bits with end-around carry: `hi + lo` congruent to `acc` mod 0xffff.
    let folded = add((acc >> 32) as u32, acc as u32);
    add(folded, initial)
}

/// Combine `piece`, the partial sum of a piece that begins at byte `offset` of the whole,
/// into `acc`.
///
/// RFC 1071, section 2(B), byte order independence: a piece starting at an odd offset has
/// every 16-bit word shifted by one byte, so its sum is the byte swap of the sum it would
/// have at an even offset.
#[inline]
pub const fn add_at(acc: u32, piece: u32, offset: usize) -> u32 {
    if offset.is_multiple_of(2) {
        add(acc, piece)
    } else {
        add(acc, reduce(piece).swap_bytes() as u32)
    }
}

/// Reduce a partial sum to 16 bits without complementing it.
///
/// This is the value the kernel expects in the TCP checksum field for checksum offload
/// (`CHECKSUM_PARTIAL`): the device completes the sum over the segment.
#[inline]
pub const fn reduce(sum: u32) -> u16 {
    // RFC 1071, section 4.1: "Fold 32-bit sum to 16 bits", twice since the first fold may
    // carry once more.
    let once = (sum >> 16) + (sum & 0xffff);
    let twice = (once >> 16) + (once & 0xffff);
    twice as u16
}

/// The final checksum: the one's complement of the reduced sum (RFC 1071, section 1,
/// step 3).
///
/// A buffer that already contains its correct checksum field folds to 0.
#[inline]
pub const fn fold(sum: u32) -> u16 {
    !reduce(sum)
}

/// Partial sum of the IPv4 pseudo header (RFC 9293, section 3.1): source address,
/// destination address, a zero byte, the protocol and the transport `length` (header plus
/// payload).
///
/// On a single segment `length` is at most 65535 and fills the RFC's 16-bit field; a larger
/// one (a GSO super-segment, which the device checksums per segment anyway) is summed as
/// two 16-bit words rather than truncated.
#[inline]
pub fn ipv4_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u32 {
    let words = [
        src.to_bits() >> 16,
        src.to_bits() & 0xffff,
        dst.to_bits() >> 16,
        dst.to_bits() & 0xffff,
        u32::from(protocol),
        length >> 16,
        length & 0xffff,
    ];
    // Seven values below 2**16: the plain sum cannot overflow.
    words.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The obvious RFC 1071 algorithm, 16 bits at a time, as a reference.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = u32::from(data[i]);
            let lo = u32::from(*data.get(i + 1).unwrap_or(&0));
            acc += (hi << 8) | lo;
            acc = (acc & 0xffff) + (acc >> 16);
            i += 2;
        }
        !(acc as u16)
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    }

    // --- Known answers -------------------------------------------------------------------

    #[test]
    fn rfc1071_example() {
        // RFC 1071, section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(reduce(sum(&data, 0)), 0xddf2);
        assert_eq!(fold(sum(&data, 0)), 0x220d);
    }

    #[test]
    fn ipv4_header_known_answer() {
        // A widely published IPv4 header whose checksum field holds 0xb861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum(&hdr, 0)), 0, "a correct header verifies to zero");
        hdr[10] = 0;
        hdr[11] = 0;
        assert_eq!(fold(sum(&hdr, 0)), 0xb861);
    }

    #[test]
    fn empty_and_zero_data() {
        assert_eq!(sum(&[], 0), 0);
        assert_eq!(fold(sum(&[], 0)), 0xffff);
        assert_eq!(fold(sum(&[0; 37], 0)), 0xffff);
    }

    #[test]
    fn all_ones_never_folds_to_plus_zero() {
        // One's complement arithmetic: a nonzero sum is represented as 0xffff, not 0.
        assert_eq!(reduce(sum(&[0xff; 64], 0)), 0xffff);
        assert_eq!(reduce(sum(&[0xff, 0xff], 0)), 0xffff);
        assert_eq!(reduce(add(0xffff, 0)), 0xffff);
    }

    // --- Odd lengths ------------------------------------------------------------------------

    #[test]
    fn odd_length_pads_on_the_right() {
        assert_eq!(sum(&[0xab], 0), 0xab00);
        assert_eq!(reduce(sum(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
    }

    #[test]
    fn matches_reference_at_every_length() {
        let data = pattern(300, 7);
        for len in 0..=data.len() {
            assert_eq!(
                fold(sum(&data[..len], 0)),
                reference(&data[..len]),
                "len {len}"
            );
        }
    }

    #[test]
    fn matches_reference_on_high_bytes() {
        // Every 64-bit word overflows the accumulator: exercises the end-around carries.
        let data = [0xfe; 1001];
        assert_eq!(fold(sum(&data, 0)), reference(&data));
    }

    #[test]
    fn large_segment_matches_reference() {
        let data = pattern(65535, 201);
        assert_eq!(fold(sum(&data, 0)), reference(&data));
    }

    // --- Combining partial sums --------------------------------------------------------------

    #[test]
    fn initial_is_added() {
        let data = pattern(41, 3);
        let whole = sum(&data, 0x1234_5678);
        assert_eq!(reduce(whole), reduce(add(sum(&data, 0), 0x1234_5678)));
    }

    #[test]
    fn add_carries_around() {
        assert_eq!(add(u32::MAX, 1), 1);
        assert_eq!(add(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(add(0x8000_0000, 0x8000_0000), 1);
    }

    #[test]
    fn chunked_sum_equals_one_shot_at_every_split() {
        let data = pattern(97, 11);
        let one_shot = reduce(sum(&data, 0));
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            let combined = add_at(sum(a, 0), sum(b, 0), split);
            assert_eq!(reduce(combined), one_shot, "split at {split}");
        }
    }

    #[test]
    fn three_chunks_at_odd_and_even_offsets() {
        let data = pattern(1500, 99);
        let one_shot = reduce(sum(&data, 0));
        for (x, y) in [(1, 2), (3, 8), (7, 1001), (500, 1000), (1, 1499), (0, 1)] {
            let mut acc = sum(&data[..x], 0);
            acc = add_at(acc, sum(&data[x..y], 0), x);
            acc = add_at(acc, sum(&data[y..], 0), y);
            assert_eq!(reduce(acc), one_shot, "splits {x} {y}");
        }
    }

    #[test]
    fn add_at_even_offset_is_plain_add() {
        assert_eq!(add_at(5, 0x1_0002, 4), add(5, 0x1_0002));
    }

    // --- Pseudo header ---------------------------------------------------------------------

    #[test]
    fn pseudo_header_equals_summing_its_bytes() {
        let src = Ipv4Addr([10, 0, 0, 1]);
        let dst = Ipv4Addr([192, 168, 200, 254]);
        let bytes = [10, 0, 0, 1, 192, 168, 200, 254, 0, 6, 0x05, 0xdc];
        assert_eq!(
            reduce(ipv4_pseudo_header(src, dst, 6, 1500)),
            reduce(sum(&bytes, 0))
        );
    }

    #[test]
    fn pseudo_header_with_large_length() {
        let a = Ipv4Addr::BROADCAST;
        let s = ipv4_pseudo_header(a, a, 0xff, u32::MAX);
        let mut bytes = [0xff; 14];
        bytes[8] = 0; // the zero byte before the protocol
        assert_eq!(reduce(s), reduce(sum(&bytes, 0)));
    }
}
