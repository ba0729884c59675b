//! Wire formats: checked views over untrusted bytes and their parsed representations.
//!
//! Each header has two levels, after smoltcp's design: a `*Packet` view whose accessors
//! cannot panic once `new_checked` has validated lengths, and a `*Repr` parsed value with
//! `parse`, `emit` and `header_len`. Untrusted input always goes through `new_checked`.
//!
//! partcp's views go one step further: their accessors read a field that lies past the end
//! of the buffer as zero, so even an unchecked view cannot panic. The `Repr` parsers re-run
//! the length checks themselves and never rely on the caller having done so.

pub mod checksum;
pub mod ipv4;
pub mod tcp;

pub use ipv4::{Ipv4Addr, Ipv4Packet, Ipv4Repr};
pub use tcp::{SackBlock, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps};

/// Why a packet was rejected by a parser. The glue counts each kind separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its fixed header, or a length field points past the buffer.
    Truncated,
    /// A header field has a value the protocol forbids (bad IHL, data offset, version...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Well formed, but not something partcp handles (fragments, IP options we refuse...).
    Unsupported,
}

/// The byte at `at`, or 0 past the end: accessors never panic, even on an unchecked view.
#[inline]
fn byte_at(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

/// The big-endian `u16` at `at`, or 0 if it does not fit.
#[inline]
fn be16_at(data: &[u8], at: usize) -> u16 {
    match data.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// The four bytes at `at`, or zeros if they do not fit.
#[inline]
fn array4_at(data: &[u8], at: usize) -> [u8; 4] {
    match data.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => [a, b, c, d],
        _ => [0; 4],
    }
}

/// The big-endian `u32` at `at`, or 0 if it does not fit.
#[inline]
fn be32_at(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array4_at(data, at))
}

/// The options of an IPv4 or TCP header, one at a time: both lists have the same shape
/// (RFC 791 section 3.1, RFC 9293 section 3.1). Kind 0 (End of Option List) ends the
/// list and kind 1 (No Operation) is a single octet; every other option is kind, length
/// (counting kind and length, so at least 2) and data. Yields `(kind, data)`; a missing
/// length octet, a length below 2 or one past the end yields [`WireError::Malformed`]
/// once, and then nothing: the rest of the list cannot be found.
struct OptionList<'a> {
    rest: &'a [u8],
}

impl<'a> OptionList<'a> {
    fn new(options: &'a [u8]) -> Self {
        OptionList { rest: options }
    }
}

impl<'a> Iterator for OptionList<'a> {
    type Item = Result<(u8, &'a [u8]), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&kind, after) = self.rest.split_first()?;
            match kind {
                0 => {
                    self.rest = &[];
                    return None;
                }
                1 => self.rest = after,
                _ => break,
            }
        }
        let rest = core::mem::take(&mut self.rest);
        let Some(len) = rest.get(1).map(|&l| usize::from(l)).filter(|&l| l >= 2) else {
            return Some(Err(WireError::Malformed));
        };
        let Some((option, tail)) = rest.split_at_checked(len) else {
            return Some(Err(WireError::Malformed));
        };
        self.rest = tail;
        Some(Ok((byte_at(option, 0), option.get(2..).unwrap_or(&[]))))
    }
}

#[cfg(test)]
#[path = "../../fuzz/wire_check.rs"]
mod wire_check;

#[cfg(test)]
mod tests {
    use super::ipv4::PROTOCOL_TCP;
    use super::tcp::{fill_checksum, MAX_OPTIONS_LEN, MAX_SACK_BLOCKS};
    use super::*;
    use crate::seq::SeqNum;
    use std::vec::Vec;

    /// Source of [`LINUX_SYN`].
    pub(super) const SYN_SRC: Ipv4Addr = Ipv4Addr([10, 0, 0, 2]);
    /// Destination of [`LINUX_SYN`].
    pub(super) const SYN_DST: Ipv4Addr = Ipv4Addr([10, 0, 0, 1]);

    /// A SYN laid out as Linux sends it: 10.0.0.2:45254 -> 10.0.0.1:80, DF, TTL 64,
    /// options MSS 1460, SACKOK,TS, NOP,WS 7. Both checksums were computed independently.
    #[rustfmt::skip]
    pub(super) const LINUX_SYN: [u8; 60] = [
        // IPv4: version 4, IHL 5, total length 60, ident 0x6d4e, DF, TTL 64, TCP.
        0x45, 0x00, 0x00, 0x3c, 0x6d, 0x4e, 0x40, 0x00, 0x40, 0x06, 0xb9, 0x6b,
        0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01,
        // TCP: ports, seq 0x3a1f2c7d, ack 0, data offset 10, SYN, window 64240.
        0xb0, 0xc6, 0x00, 0x50, 0x3a, 0x1f, 0x2c, 0x7d, 0x00, 0x00, 0x00, 0x00,
        0xa0, 0x02, 0xfa, 0xf0, 0xdf, 0x68, 0x00, 0x00,
        // MSS 1460; SACK-permitted; timestamps 0x002b41c6, 0; NOP; window scale 7.
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x2b, 0x41, 0xc6,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn linux_syn_end_to_end() {
        let ip = Ipv4Packet::new_checked(&LINUX_SYN[..]).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip, true).unwrap();
        assert_eq!(ip_repr.protocol, PROTOCOL_TCP);
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let tcp_repr = TcpRepr::parse(&tcp, ip_repr.src, ip_repr.dst, true).unwrap();

        let mut out = [0u8; 60];
        let ip_len = ip_repr.emit(&mut out).unwrap();
        let tcp_len = tcp_repr.emit(&mut out[ip_len..]).unwrap();
        fill_checksum(&mut out[ip_len..], ip_repr.src, ip_repr.dst).unwrap();
        assert_eq!(ip_len + tcp_len, 60);
        assert_eq!(out, LINUX_SYN);
    }

    #[test]
    fn shared_check_accepts_the_linux_syn() {
        let reached = wire_check::check(&LINUX_SYN);
        assert!(reached.ipv4 && reached.tcp_in_ipv4);
        assert!(wire_check::check(&LINUX_SYN[20..]).bare_tcp);
    }

    // --- Bounded randomized test ----------------------------------------------------------

    /// xorshift64 (Marsaglia, 2003): deterministic and good enough to pick test cases.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn one_in(&mut self, n: u64) -> bool {
            self.next().is_multiple_of(n)
        }

        fn byte(&mut self) -> u8 {
            self.next() as u8
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.byte()).collect()
        }
    }

    fn random_options(rng: &mut XorShift) -> TcpOptions {
        let mut options = TcpOptions {
            mss: rng.one_in(2).then(|| rng.next() as u16),
            window_scale: rng.one_in(2).then(|| rng.byte() % 16),
            sack_permitted: rng.one_in(2),
            timestamps: rng.one_in(2).then(|| Timestamps {
                tsval: rng.next() as u32,
                tsecr: rng.next() as u32,
            }),
            ..TcpOptions::default()
        };
        let count = rng.below(MAX_SACK_BLOCKS + 1);
        for block in options.sack_blocks.iter_mut().take(count) {
            *block = SackBlock {
                left: SeqNum(rng.next() as u32),
                right: SeqNum(rng.next() as u32),
            };
        }
        options.sack_count = count as u8;
        options
    }

    /// A structurally valid raw option list, padded to 4 bytes, at most 40: NOPs, unknown
    /// kinds, known kinds with right and wrong lengths, sometimes an EOL and junk after it.
    fn random_raw_options(rng: &mut XorShift) -> Vec<u8> {
        let mut raw = Vec::new();
        loop {
            let room = MAX_OPTIONS_LEN - raw.len();
            if room < 2 || rng.one_in(4) {
                break;
            }
            if rng.one_in(5) {
                raw.push(1);
                continue;
            }
            if rng.one_in(12) {
                raw.push(0);
                let junk = rng.below(room);
                raw.extend(rng.bytes(junk));
                break;
            }
            let kind = [2, 3, 4, 5, 8, 19, 30, 34, 254][rng.below(9)];
            let len = 2 + rng.below(room.min(20) - 1);
            raw.push(kind);
            raw.push(len as u8);
            raw.extend(rng.bytes(len - 2));
        }
        while raw.len() % 4 != 0 {
            raw.push(1);
        }
        raw
    }

    /// `len` (a multiple of 4, at most 40) bytes of well-formed IPv4 options (RFC 791 3.1,
    /// as `ipv4::check_options` accepts them): NOPs, options of unknown types, at most one
    /// record route and one timestamp option (pointer anywhere from the first slot to past
    /// the end), router alerts, then End of Option List padding.
    fn random_ip_options(rng: &mut XorShift, len: usize) -> Vec<u8> {
        let (mut rr, mut ts) = (false, false);
        let mut out = Vec::new();
        loop {
            let room = len - out.len();
            if room == 0 || rng.one_in(6) {
                break;
            }
            match rng.below(5) {
                0 => out.push(1),
                1 if room >= 2 => {
                    let n = 2 + rng.below(room - 1);
                    out.extend([[30, 130, 136][rng.below(3)], n as u8]);
                    out.extend(rng.bytes(n - 2));
                }
                2 if room >= 4 => out.extend([148, 4, 0, 0]),
                3 if !rr && room >= 7 => {
                    rr = true;
                    let slots = 1 + rng.below((room - 3) / 4);
                    let pointer = 4 + 4 * rng.below(slots + 1);
                    out.extend([7, (3 + 4 * slots) as u8, pointer as u8]);
                    out.extend(rng.bytes(4 * slots));
                }
                4 if !ts && room >= 8 => {
                    ts = true;
                    let slots = 1 + rng.below((room - 4) / 4);
                    let pointer = 5 + 4 * rng.below(slots + 1);
                    // Timestamps only; overflow count below 15.
                    let overflow = rng.below(15) as u8;
                    out.extend([68, (4 + 4 * slots) as u8, pointer as u8, overflow << 4]);
                    out.extend(rng.bytes(4 * slots));
                }
                _ => {}
            }
        }
        out.resize(len, 0);
        out
    }

    /// A valid IPv4 datagram carrying a valid TCP segment, with its representations when
    /// the options are ours (not raw).
    fn random_datagram(rng: &mut XorShift) -> (Vec<u8>, Option<(Ipv4Repr, TcpRepr)>) {
        let src = Ipv4Addr::from_bits(rng.next() as u32);
        let dst = Ipv4Addr::from_bits(rng.next() as u32);
        let payload_len = if rng.one_in(50) {
            rng.below(9000)
        } else {
            rng.below(80)
        };
        let tcp = TcpRepr {
            src_port: rng.next() as u16,
            dst_port: rng.next() as u16,
            seq: SeqNum(rng.next() as u32),
            ack: SeqNum(rng.next() as u32),
            flags: TcpFlags(rng.byte()),
            window: rng.next() as u16,
            urgent: rng.next() as u16,
            options: random_options(rng),
            payload_len,
        };
        let mut segment = std::vec![0u8; tcp.header_len()];
        tcp.emit(&mut segment).unwrap();
        let raw_options = rng.one_in(3);
        if raw_options {
            segment.truncate(20);
            segment.extend(random_raw_options(rng));
            segment[12] = ((segment.len() / 4) as u8) << 4;
        }
        segment.extend(rng.bytes(payload_len));
        fill_checksum(&mut segment, src, dst).unwrap();

        let ip_options = if rng.one_in(4) { 4 * rng.below(11) } else { 0 };
        let ip = Ipv4Repr {
            src,
            dst,
            protocol: PROTOCOL_TCP,
            ttl: rng.byte(),
            tos: rng.byte(),
            ident: rng.next() as u16,
            payload_len: segment.len(),
        };
        let mut datagram = std::vec![0u8; 20];
        ip.emit(&mut datagram).unwrap();
        if ip_options > 0 {
            datagram.extend(random_ip_options(rng, ip_options));
            datagram[0] = 0x40 | ((20 + ip_options) / 4) as u8;
            let total = (20 + ip_options + segment.len()) as u16;
            datagram[2..4].copy_from_slice(&total.to_be_bytes());
            datagram[10..12].fill(0);
            let sum = checksum::fold(checksum::sum(&datagram, 0));
            datagram[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        datagram.extend(&segment);
        if rng.one_in(5) {
            // Ethernet padding after the datagram.
            let pad = rng.below(20);
            datagram.extend(rng.bytes(pad));
        }
        let reprs = (!raw_options).then_some((ip, tcp));
        (datagram, reprs)
    }

    fn mutate(rng: &mut XorShift, data: &mut Vec<u8>) {
        for _ in 0..1 + rng.below(4) {
            match rng.below(5) {
                0 if !data.is_empty() => {
                    let at = rng.below(data.len());
                    data[at] ^= 1 << rng.below(8);
                }
                1 if !data.is_empty() => {
                    let at = rng.below(data.len());
                    data[at] = rng.byte();
                }
                2 => {
                    let len = rng.below(data.len() + 1);
                    data.truncate(len);
                }
                3 => {
                    // Hit the length fields most likely to matter.
                    let at = [0, 2, 3, 32, 40, 41, 42, 43][rng.below(8)];
                    if let Some(byte) = data.get_mut(at) {
                        *byte = rng.byte();
                    }
                }
                _ => {
                    let extra = rng.below(8);
                    data.extend(rng.bytes(extra));
                }
            }
        }
    }

    /// Counts of what [`wire_check::check`] reached over a run.
    #[derive(Default)]
    struct Coverage {
        runs: usize,
        ipv4: usize,
        tcp_in_ipv4: usize,
        bare_tcp: usize,
    }

    impl Coverage {
        fn check(&mut self, data: &[u8]) {
            let reached = wire_check::check(data);
            self.runs += 1;
            self.ipv4 += usize::from(reached.ipv4);
            self.tcp_in_ipv4 += usize::from(reached.tcp_in_ipv4);
            self.bare_tcp += usize::from(reached.bare_tcp);
        }
    }

    #[test]
    fn randomized_packets_parse_and_re_emit_consistently() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut valid = Coverage::default();
        let mut mutated = Coverage::default();
        for _ in 0..10_000 {
            let (datagram, reprs) = random_datagram(&mut rng);
            // The valid datagram parses to what built it.
            let ip = Ipv4Packet::new_checked(&datagram[..]).unwrap();
            let ip_repr = Ipv4Repr::parse(&ip, true).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let parsed = TcpRepr::parse(&tcp, ip_repr.src, ip_repr.dst, true);
            if let Some((ip_expected, tcp_expected)) = reprs {
                assert_eq!(ip_repr, ip_expected);
                assert_eq!(parsed, Ok(tcp_expected.as_emitted()));
            }
            valid.check(&datagram);
            for _ in 0..8 {
                let mut copy = datagram.clone();
                mutate(&mut rng, &mut copy);
                mutated.check(&copy);
            }
        }
        // Raw option lists are valid but for wrong lengths, which are ignored: every valid
        // datagram's segment parses.
        assert_eq!(valid.tcp_in_ipv4, valid.runs);
        // The mutations must leave a fair share parseable, or they test nothing.
        assert!(mutated.ipv4 > mutated.runs / 4, "ipv4 {}", mutated.ipv4);
        assert!(
            mutated.tcp_in_ipv4 > mutated.runs / 5,
            "tcp {}",
            mutated.tcp_in_ipv4
        );
    }

    #[test]
    fn option_list_walks_kinds_and_data() {
        let list = [1, 2, 4, 5, 180, 1, 99, 2, 3, 3, 7, 0, 42, 42];
        let got: Vec<_> = OptionList::new(&list).collect();
        assert_eq!(
            got,
            std::vec![Ok((2, &[5, 180][..])), Ok((99, &[][..])), Ok((3, &[7][..]))]
        );
        assert_eq!(OptionList::new(&[1, 1, 1]).count(), 0);
    }

    #[test]
    fn option_list_stops_after_a_malformed_option() {
        for list in [
            &[2, 4, 5, 180, 9][..],
            &[9, 0, 2, 4],
            &[9, 1],
            &[9, 5, 0, 0],
        ] {
            let got: Vec<_> = OptionList::new(list).collect();
            assert_eq!(got.last(), Some(&Err(WireError::Malformed)), "{list:?}");
            assert_eq!(got.iter().filter(|o| o.is_err()).count(), 1);
        }
    }

    #[test]
    fn randomized_bytes_do_not_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut coverage = Coverage::default();
        for _ in 0..50_000 {
            let len = rng.below(100);
            let mut data = rng.bytes(len);
            if len > 12 && rng.one_in(2) {
                // Look like IPv4 and TCP more often: IHL 5, total length = len, not a
                // fragment, data offset 5.
                data[0] = 0x45;
                data[2] = 0;
                data[3] = len as u8;
                data[6] &= 0x40;
                data[7] = 0;
                data[12] = 0x50;
            }
            coverage.check(&data);
        }
        assert!(coverage.ipv4 > 1000, "ipv4 {}", coverage.ipv4);
        assert!(coverage.bare_tcp > 1000, "bare tcp {}", coverage.bare_tcp);
    }
}
