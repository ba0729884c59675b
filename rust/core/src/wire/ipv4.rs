//! IPv4 addresses and headers (RFC 791, section 3.1).
//!
//! partcp receives whole, reassembled datagrams from the kernel's IP layer on the normal
//! path; this parser exists for the host tests, the fuzzer and any path that sees raw
//! packets. It refuses fragments and skips IP options.

use core::fmt;

use super::{array4_at, be16_at, byte_at, checksum, OptionList, WireError};

/// An IPv4 address, in network byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Ipv4Addr(pub [u8; 4]);

impl Ipv4Addr {
    /// `0.0.0.0`, the unspecified address (RFC 1122, section 3.2.1.3 (a)).
    pub const UNSPECIFIED: Ipv4Addr = Ipv4Addr([0, 0, 0, 0]);
    /// `255.255.255.255`, the limited broadcast address (RFC 1122, section 3.2.1.3 (c)).
    pub const BROADCAST: Ipv4Addr = Ipv4Addr([255, 255, 255, 255]);

    /// The address `a.b.c.d`.
    #[inline]
    pub const fn new(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr([a, b, c, d])
    }

    /// The address whose big-endian (network order) value is `bits`.
    #[inline]
    pub const fn from_bits(bits: u32) -> Ipv4Addr {
        Ipv4Addr(bits.to_be_bytes())
    }

    /// The address as a big-endian (network order) number: `10.0.0.1` is `0x0a00_0001`.
    #[inline]
    pub const fn to_bits(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The four octets.
    #[inline]
    pub const fn octets(self) -> [u8; 4] {
        self.0
    }

    /// True for `0.0.0.0`.
    #[inline]
    pub const fn is_unspecified(self) -> bool {
        self.to_bits() == 0
    }

    /// True for the limited broadcast address `255.255.255.255`.
    #[inline]
    pub const fn is_broadcast(self) -> bool {
        self.to_bits() == u32::MAX
    }

    /// True for class D, `224.0.0.0/4` (RFC 1112, section 4).
    #[inline]
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0xf0 == 0xe0
    }

    /// True for `127.0.0.0/8` (RFC 1122, section 3.2.1.3 (g)).
    #[inline]
    pub const fn is_loopback(self) -> bool {
        self.0[0] == 127
    }
}

impl From<[u8; 4]> for Ipv4Addr {
    #[inline]
    fn from(octets: [u8; 4]) -> Ipv4Addr {
        Ipv4Addr(octets)
    }
}

impl From<u32> for Ipv4Addr {
    #[inline]
    fn from(bits: u32) -> Ipv4Addr {
        Ipv4Addr::from_bits(bits)
    }
}

impl From<Ipv4Addr> for u32 {
    #[inline]
    fn from(addr: Ipv4Addr) -> u32 {
        addr.to_bits()
    }
}

impl fmt::Display for Ipv4Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl fmt::Debug for Ipv4Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// IP protocol number of TCP (RFC 9293, section 3.1, "PTCL").
pub const PROTOCOL_TCP: u8 = 6;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// Largest value of the total length field (RFC 791, section 3.1).
pub const MAX_TOTAL_LEN: usize = 65535;

/// Byte offsets of the header fields (RFC 791, section 3.1).
mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// "Don't Fragment" in the flags/fragment-offset word.
const FLAG_DF: u16 = 0x4000;
/// "More Fragments" in the flags/fragment-offset word.
const FLAG_MF: u16 = 0x2000;
/// The fragment offset bits, in units of 8 octets.
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A read-only view of an IPv4 header and its payload.
///
/// Build it with [`Ipv4Packet::new_checked`] for untrusted bytes. Every accessor is
/// panic-free even on an unchecked view (a field past the end reads as zero), but only a
/// checked view's values are consistent with each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap `buffer` without validating it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wrap `buffer` after checking that the header's length fields are consistent with it.
    ///
    /// Errors: [`WireError::Truncated`] if the buffer is shorter than 20 bytes, than the
    /// header length or than the total length; [`WireError::Malformed`] if the version is
    /// not 4, the IHL is below 5 or the total length is below the header length. Bytes
    /// past the total length (Ethernet padding) are allowed and ignored.
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>, WireError> {
        let packet = Ipv4Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The checks of [`Ipv4Packet::new_checked`].
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        // RFC 791, section 3.1: "Version: 4 bits ... this document describes version 4".
        if self.version() != 4 {
            return Err(WireError::Malformed);
        }
        // RFC 791, section 3.1: "the minimum value for a correct header is 5" (IHL).
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        // RFC 791, section 3.1: "Total Length is the length of the datagram, measured in
        // octets, including internet header and data".
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        if total_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn data(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field (4 in a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        byte_at(self.data(), field::VER_IHL) >> 4
    }

    /// The header length in bytes: IHL times 4, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(byte_at(self.data(), field::VER_IHL) & 0x0f) * 4
    }

    /// The type of service byte: DSCP in the upper 6 bits, ECN in the lower 2 (RFC 3168).
    #[inline]
    pub fn tos(&self) -> u8 {
        byte_at(self.data(), field::TOS)
    }

    /// The total length field: header plus payload, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16_at(self.data(), field::TOTAL_LEN)
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16_at(self.data(), field::IDENT)
    }

    /// The "Don't Fragment" flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16_at(self.data(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// The "More Fragments" flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16_at(self.data(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// The fragment offset, in bytes (the field counts units of 8 octets).
    #[inline]
    pub fn frag_offset(&self) -> usize {
        usize::from(be16_at(self.data(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) * 8
    }

    /// True if this datagram is a fragment: MF set or a nonzero fragment offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// The time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        byte_at(self.data(), field::TTL)
    }

    /// The protocol number of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        byte_at(self.data(), field::PROTOCOL)
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16_at(self.data(), field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr(array4_at(self.data(), field::SRC))
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr(array4_at(self.data(), field::DST))
    }

    /// The IP options: the header bytes past the first 20 (empty if there are none).
    #[inline]
    pub fn options(&self) -> &[u8] {
        self.data()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload: from the end of the header to the total length. Trailing bytes past
    /// the total length are not part of it.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.data()
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or(&[])
    }

    /// True if the header checksum verifies.
    ///
    /// RFC 791, section 3.1: "The checksum field is the 16 bit one's complement of the
    /// one's complement sum of all 16 bit words in the header."
    pub fn verify_checksum(&self) -> bool {
        match self.data().get(..self.header_len()) {
            Some(header) => checksum::fold(checksum::sum(header, 0)) == 0,
            None => false,
        }
    }
}

/// IPv4 option types (RFC 791, section 3.1; RFC 2113) that `check_options` looks into
/// (End of Option List and No Operation are the list walk's, `OptionList`).
mod opt {
    /// Record route.
    pub const RR: u8 = 7;
    /// Internet timestamp.
    pub const TIMESTAMP: u8 = 68;
    /// Loose source and record route.
    pub const LSRR: u8 = 131;
    /// Strict source and record route.
    pub const SSRR: u8 = 137;
    /// Router alert (RFC 2113).
    pub const RA: u8 = 148;
    /// Commercial IP security option (Linux's CIPSO, draft-ietf-cipso-ipsecurity).
    pub const CIPSO: u8 = 134;
}

/// Check the IP options of a received datagram, as Linux's IP layer would before
/// delivering it to TCP (`ip_options_compile`, then `ip_rcv_options`). partcp receives
/// segments ahead of that layer, so it applies the same rules itself.
///
/// RFC 791, section 3.1: an option is a single octet (End of Option List, No Operation)
/// or type, length (counting type and length) and data. Errors:
/// - [`WireError::Malformed`]: a length below 2 or past the header; record route or a
///   source route shorter than 3 octets or with a pointer below 4; a timestamp shorter
///   than 4 octets, with a pointer below 5, or whose next entry would not fit; a second
///   record route, source route, timestamp or CIPSO option; a router alert shorter than
///   4 octets; a CIPSO option shorter than 8 octets, with a zero domain of
///   interpretation or a bad tag length.
/// - [`WireError::Unsupported`]: a source route (LSRR/SSRR). Linux drops source-routed
///   datagrams unless `accept_source_route` is set (it is not by default); partcp, which
///   would have to send its replies along the reversed route, always does.
pub fn check_options(options: &[u8]) -> Result<(), WireError> {
    let (mut rr, mut ts, mut srr, mut cipso) = (false, false, false, false);
    for option in OptionList::new(options) {
        let (kind, data) = option?;
        // The option's length, and its third octet (the pointer of route and timestamp
        // options, 0 if there is none).
        let len = data.len() + 2;
        let pointer = usize::from(byte_at(data, 0));
        match kind {
            // RFC 791: record route and source routes carry a pointer, at least 4, to the
            // next address slot; one of each per datagram.
            opt::RR | opt::LSRR | opt::SSRR => {
                let seen = if kind == opt::RR { &mut rr } else { &mut srr };
                if *seen || len < 3 || pointer < 4 {
                    return Err(WireError::Malformed);
                }
                // Linux: a record route with room left must have room for a whole address.
                if kind == opt::RR && pointer <= len && pointer + 3 > len {
                    return Err(WireError::Malformed);
                }
                *seen = true;
            }
            // RFC 791: timestamp, pointer at least 5, overflow and flags in the fourth
            // octet. Linux also refuses a pointer that leaves part of an entry (4
            // octets, 8 with an address) and, once the option is full, an overflow
            // count that would wrap.
            opt::TIMESTAMP => {
                if ts || len < 4 || pointer < 5 {
                    return Err(WireError::Malformed);
                }
                let flags = byte_at(data, 1);
                let prespecified = flags & 0x0f == 3;
                if pointer <= len {
                    let entry = if prespecified || flags & 0x0f == 1 {
                        8
                    } else {
                        4
                    };
                    if pointer + entry - 1 > len {
                        return Err(WireError::Malformed);
                    }
                } else if !prespecified && flags >> 4 == 15 {
                    return Err(WireError::Malformed);
                }
                ts = true;
            }
            // RFC 2113, section 2.1: router alert, length 4.
            opt::RA if len < 4 => return Err(WireError::Malformed),
            // One per datagram; Linux without NetLabel checks a nonzero domain of
            // interpretation and the tag list's lengths.
            opt::CIPSO => {
                if cipso || !cipso_well_formed(data) {
                    return Err(WireError::Malformed);
                }
                cipso = true;
            }
            _ => {}
        }
    }
    if srr {
        return Err(WireError::Unsupported);
    }
    Ok(())
}

/// The data of a CIPSO option (after type and length: DOI, then tags) is well formed:
/// the option is at least 8 octets, the DOI nonzero, and the tags (type, length, data)
/// have nonzero lengths that end exactly at the end of the option.
fn cipso_well_formed(data: &[u8]) -> bool {
    let len = data.len();
    if len < 6 || data.get(..4) == Some(&[0, 0, 0, 0]) {
        return false;
    }
    let mut at = 4;
    while at < len {
        let tag_len = usize::from(byte_at(data, at + 1));
        if at + 1 == len || tag_len == 0 || tag_len > len - at {
            return false;
        }
        at += tag_len;
    }
    true
}

/// A parsed IPv4 header, as partcp needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number of the payload ([`PROTOCOL_TCP`] for partcp).
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service byte: DSCP (upper 6 bits) and ECN (lower 2 bits, RFC 3168).
    pub tos: u8,
    /// Identification field; on emit, whatever the caller chose.
    pub ident: u16,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parse a checked packet.
    ///
    /// With `verify_checksum`, a header whose checksum does not verify is
    /// [`WireError::Checksum`]. Fragments are [`WireError::Unsupported`]: partcp relies on
    /// the kernel to reassemble. IP options are checked ([`check_options`]), then skipped.
    /// The DF flag is not kept: emit always sets it.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr, WireError> {
        // Whatever the caller did, never trust an unchecked view.
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        // RFC 791, section 3.2 (Fragmentation and reassembly): a fragment has MF set or a
        // nonzero offset; partcp does not reassemble.
        if packet.is_fragment() {
            return Err(WireError::Unsupported);
        }
        check_options(packet.options())?;
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            payload_len: packet.payload().len(),
        })
    }

    /// Length of the emitted header: always 20, partcp sends no IP options.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of the whole datagram: header plus payload.
    #[inline]
    pub const fn total_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Write the 20-byte header at the start of `buf`, with DF set and the header checksum
    /// filled in, and return its length. The payload is the caller's to place after it.
    ///
    /// Errors: [`WireError::Truncated`] if `buf` is shorter than 20 bytes;
    /// [`WireError::Malformed`] if the payload is too long for the total length field.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let total_len = u16::try_from(self.total_len()).map_err(|_| WireError::Malformed)?;
        let out = buf
            .first_chunk_mut::<HEADER_LEN>()
            .ok_or(WireError::Truncated)?;
        let [len_hi, len_lo] = total_len.to_be_bytes();
        let [id_hi, id_lo] = self.ident.to_be_bytes();
        // RFC 1191 (path MTU discovery): TCP segments go out with DF set, never fragmented.
        let [frag_hi, frag_lo] = FLAG_DF.to_be_bytes();
        let [s0, s1, s2, s3] = self.src.0;
        let [d0, d1, d2, d3] = self.dst.0;
        // RFC 791, section 3.1: version 4, IHL 5 (no options), checksum zero while summing.
        let mut header = [
            0x45,
            self.tos,
            len_hi,
            len_lo,
            id_hi,
            id_lo,
            frag_hi,
            frag_lo,
            self.ttl,
            self.protocol,
            0,
            0,
            s0,
            s1,
            s2,
            s3,
            d0,
            d1,
            d2,
            d3,
        ];
        let [sum_hi, sum_lo] = checksum::fold(checksum::sum(&header, 0)).to_be_bytes();
        header[field::CHECKSUM] = sum_hi;
        header[field::CHECKSUM + 1] = sum_lo;
        *out = header;
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{LINUX_SYN, SYN_DST, SYN_SRC};
    use std::vec::Vec;

    /// A widely published header (UDP, 10.0.0.1 is 192.168.0.1 -> 192.168.0.199) with
    /// checksum 0xb861, followed by its 95 bytes of payload.
    fn published() -> Vec<u8> {
        let mut bytes = std::vec![
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        bytes.resize(0x73, 0xaa);
        bytes
    }

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 1, 2, 3),
            dst: Ipv4Addr::new(172, 16, 0, 9),
            protocol: PROTOCOL_TCP,
            ttl: 64,
            tos: 0x02,
            ident: 0xbeef,
            payload_len: 8,
        }
    }

    /// `bytes` with the header checksum recomputed after an edit.
    fn refresh_checksum(bytes: &mut [u8]) {
        let header_len = usize::from(bytes[0] & 0x0f) * 4;
        bytes[10] = 0;
        bytes[11] = 0;
        let sum = checksum::fold(checksum::sum(&bytes[..header_len], 0));
        bytes[10..12].copy_from_slice(&sum.to_be_bytes());
    }

    // --- Ipv4Addr ----------------------------------------------------------------------------

    #[test]
    fn addr_display_and_debug_are_dotted_quad() {
        let addr = Ipv4Addr::new(192, 168, 0, 255);
        assert_eq!(std::format!("{addr}"), "192.168.0.255");
        assert_eq!(std::format!("{addr:?}"), "192.168.0.255");
        assert_eq!(std::format!("{}", Ipv4Addr::UNSPECIFIED), "0.0.0.0");
    }

    #[test]
    fn addr_bits_are_big_endian() {
        let addr = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(addr.to_bits(), 0x0a00_0001);
        assert_eq!(
            Ipv4Addr::from_bits(0xc0a8_0001),
            Ipv4Addr::new(192, 168, 0, 1)
        );
        assert_eq!(u32::from(addr), 0x0a00_0001);
        assert_eq!(Ipv4Addr::from(0x0a00_0001), addr);
        assert_eq!(Ipv4Addr::from([10, 0, 0, 1]), addr);
        assert_eq!(addr.octets(), [10, 0, 0, 1]);
    }

    #[test]
    fn addr_classes() {
        assert!(Ipv4Addr::UNSPECIFIED.is_unspecified());
        assert!(Ipv4Addr::BROADCAST.is_broadcast());
        assert!(Ipv4Addr::new(224, 0, 0, 1).is_multicast());
        assert!(Ipv4Addr::new(239, 255, 255, 255).is_multicast());
        assert!(!Ipv4Addr::new(240, 0, 0, 1).is_multicast());
        assert!(Ipv4Addr::new(127, 0, 0, 1).is_loopback());
        assert!(!Ipv4Addr::new(10, 0, 0, 1).is_loopback());
    }

    // --- Length checks ---------------------------------------------------------------------

    #[test]
    fn every_length_below_20_is_truncated() {
        for len in 0..HEADER_LEN {
            let result = Ipv4Packet::new_checked(&LINUX_SYN[..len]);
            assert_eq!(result.err(), Some(WireError::Truncated), "len {len}");
        }
    }

    #[test]
    fn every_length_below_total_length_is_truncated() {
        for len in HEADER_LEN..LINUX_SYN.len() {
            let result = Ipv4Packet::new_checked(&LINUX_SYN[..len]);
            assert_eq!(result.err(), Some(WireError::Truncated), "len {len}");
        }
        assert!(Ipv4Packet::new_checked(&LINUX_SYN[..]).is_ok());
    }

    #[test]
    fn version_other_than_4_is_malformed() {
        for version in [0u8, 6, 15] {
            let mut bytes = LINUX_SYN;
            bytes[0] = (version << 4) | 5;
            let result = Ipv4Packet::new_checked(&bytes[..]);
            assert_eq!(
                result.err(),
                Some(WireError::Malformed),
                "version {version}"
            );
        }
    }

    #[test]
    fn ihl_below_5_is_malformed() {
        for ihl in 0..5u8 {
            let mut bytes = LINUX_SYN;
            bytes[0] = 0x40 | ihl;
            let result = Ipv4Packet::new_checked(&bytes[..]);
            assert_eq!(result.err(), Some(WireError::Malformed), "ihl {ihl}");
        }
    }

    #[test]
    fn ihl_past_the_buffer_is_truncated() {
        let mut bytes = [0u8; 40];
        bytes[0] = 0x4f; // 60-byte header
        bytes[3] = 40;
        let result = Ipv4Packet::new_checked(&bytes[..]);
        assert_eq!(result.err(), Some(WireError::Truncated));
    }

    #[test]
    fn total_length_below_header_is_malformed() {
        let mut bytes = LINUX_SYN;
        for total in [0u16, 1, 19] {
            bytes[2..4].copy_from_slice(&total.to_be_bytes());
            let result = Ipv4Packet::new_checked(&bytes[..]);
            assert_eq!(result.err(), Some(WireError::Malformed), "total {total}");
        }
        // With options, the header length is the bound.
        bytes[0] = 0x46;
        bytes[2..4].copy_from_slice(&23u16.to_be_bytes());
        let result = Ipv4Packet::new_checked(&bytes[..]);
        assert_eq!(result.err(), Some(WireError::Malformed));
    }

    #[test]
    fn total_length_past_the_buffer_is_truncated() {
        let mut bytes = LINUX_SYN;
        bytes[2..4].copy_from_slice(&61u16.to_be_bytes());
        let result = Ipv4Packet::new_checked(&bytes[..]);
        assert_eq!(result.err(), Some(WireError::Truncated));
    }

    #[test]
    fn total_length_of_header_only_has_empty_payload() {
        let mut bytes = LINUX_SYN;
        bytes[2..4].copy_from_slice(&20u16.to_be_bytes());
        refresh_checksum(&mut bytes);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.payload().is_empty());
        assert_eq!(Ipv4Repr::parse(&packet, true).unwrap().payload_len, 0);
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let mut bytes = LINUX_SYN.to_vec();
        bytes.extend_from_slice(&[0; 6]);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload(), &LINUX_SYN[20..]);
        assert_eq!(Ipv4Repr::parse(&packet, true).unwrap().payload_len, 40);
    }

    #[test]
    fn unchecked_view_of_nothing_reads_zeros() {
        let packet = Ipv4Packet::new_unchecked(&[][..]);
        assert_eq!(packet.version(), 0);
        assert_eq!(packet.total_len(), 0);
        assert_eq!(packet.src_addr(), Ipv4Addr::UNSPECIFIED);
        assert!(packet.options().is_empty());
        assert!(packet.payload().is_empty());
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet, false), Err(WireError::Truncated));
    }

    #[test]
    fn unchecked_view_with_lying_lengths_does_not_panic() {
        let mut bytes = [0u8; 24];
        bytes[0] = 0x4f;
        bytes[2] = 0xff;
        let packet = Ipv4Packet::new_unchecked(&bytes[..]);
        assert!(packet.options().is_empty());
        assert!(packet.payload().is_empty());
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet, false), Err(WireError::Truncated));
    }

    // --- Accessors, options, checksum ------------------------------------------------------

    #[test]
    fn linux_syn_accessors() {
        let packet = Ipv4Packet::new_checked(&LINUX_SYN[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.tos(), 0);
        assert_eq!(packet.total_len(), 60);
        assert_eq!(packet.ident(), 0x6d4e);
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), PROTOCOL_TCP);
        assert_eq!(packet.checksum(), 0xb96b);
        assert_eq!(packet.src_addr(), SYN_SRC);
        assert_eq!(packet.dst_addr(), SYN_DST);
        assert!(packet.options().is_empty());
        assert!(packet.verify_checksum());
    }

    #[test]
    fn published_header_verifies() {
        let bytes = published();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let repr = Ipv4Repr::parse(&packet, true).unwrap();
        assert_eq!(repr.protocol, 17);
        assert_eq!(repr.src, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(repr.dst, Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(repr.payload_len, 0x73 - 20);
    }

    #[test]
    fn bad_header_checksum() {
        let mut bytes = published();
        bytes[8] = 0x3f; // TTL changed, checksum not updated
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(WireError::Checksum));
        assert_eq!(Ipv4Repr::parse(&packet, false).unwrap().ttl, 0x3f);
    }

    #[test]
    fn payload_corruption_does_not_fail_the_header_checksum() {
        let mut bytes = published();
        bytes[40] ^= 0xff;
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(Ipv4Repr::parse(&packet, true).is_ok());
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one word of options (NOP, NOP, NOP, EOL) before the payload.
        let mut bytes = std::vec![0x46, 0, 0, 32, 0, 1, 0x40, 0, 64, 6, 0, 0];
        bytes.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0]);
        bytes.extend_from_slice(b"payload!");
        refresh_checksum(&mut bytes);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload(), b"payload!");
        let repr = Ipv4Repr::parse(&packet, true).unwrap();
        assert_eq!(repr.payload_len, 8);
    }

    #[test]
    fn options_are_covered_by_the_checksum() {
        let mut bytes = std::vec![0x46, 0, 0, 24, 0, 1, 0x40, 0, 64, 6, 0, 0];
        bytes.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0]);
        refresh_checksum(&mut bytes);
        bytes[22] = 7;
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(WireError::Checksum));
    }

    // --- IP options (check_options) --------------------------------------------------------

    const MALFORMED: Result<(), WireError> = Err(WireError::Malformed);

    #[test]
    fn well_formed_options_pass() {
        for options in [
            &[][..],
            &[0, 0, 0, 0],
            &[1, 1, 1, 0],
            // Record route with room for two addresses, pointer at the first.
            &[7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            // Record route already full (pointer past the end).
            &[7, 7, 8, 10, 0, 0, 1, 0],
            // Timestamps only, room for one, then the same option full with overflow 14.
            &[68, 8, 5, 0, 0, 0, 0, 0],
            &[68, 8, 9, 0xe0, 0, 0, 0, 0],
            // Timestamp with addresses, room for one pair.
            &[68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            // Router alert.
            &[148, 4, 0, 0],
            // CIPSO: DOI 1, one tag of length 2.
            &[134, 8, 0, 0, 0, 1, 1, 2],
            // Unknown option with data.
            &[30, 4, 9, 9],
            // Garbage after End of Option List is padding.
            &[0, 77, 0, 3],
        ] {
            assert_eq!(check_options(options), Ok(()), "{options:?}");
        }
    }

    #[test]
    fn bad_lengths_are_malformed() {
        // A missing length octet, a length of 0 or 1, a length past the header.
        for options in [&[30][..], &[30, 0, 0, 0], &[1, 30, 1, 0], &[30, 5, 0, 0]] {
            assert_eq!(check_options(options), MALFORMED, "{options:?}");
        }
    }

    #[test]
    fn bad_record_routes_are_malformed() {
        for options in [
            // Too short for a pointer; pointer below 4; room for a partial address.
            &[7, 2, 1, 0][..],
            &[7, 7, 3, 0, 0, 0, 0, 0],
            &[7, 6, 4, 0, 0, 0, 0, 0],
            // Two record routes.
            &[7, 3, 4, 7, 3, 4, 0, 0],
        ] {
            assert_eq!(check_options(options), MALFORMED, "{options:?}");
        }
    }

    #[test]
    fn bad_timestamps_are_malformed() {
        for options in [
            // Too short; pointer below 5; room for part of a timestamp.
            &[68, 3, 5, 0][..],
            &[68, 8, 4, 0, 0, 0, 0, 0],
            &[68, 7, 5, 0, 0, 0, 0, 0],
            // Timestamp with address (flag 1) or prespecified (3) needs 8 octets.
            &[68, 8, 5, 1, 0, 0, 0, 0],
            &[68, 8, 5, 3, 0, 0, 0, 0],
            // Full, overflow count 15.
            &[68, 8, 9, 0xf0, 0, 0, 0, 0],
            // Two timestamps.
            &[68, 4, 5, 0, 68, 4, 5, 0],
        ] {
            assert_eq!(check_options(options), MALFORMED, "{options:?}");
        }
        // Full and prespecified: the overflow count is not looked at.
        assert_eq!(check_options(&[68, 8, 9, 0xf3, 0, 0, 0, 0]), Ok(()));
    }

    #[test]
    fn bad_router_alert_and_cipso_are_malformed() {
        for options in [
            &[148, 3, 0, 0][..],
            // CIPSO: too short, DOI zero, a tag of length 0, a tag past the end, one
            // octet left over, two CIPSO options.
            &[134, 6, 0, 0, 0, 1, 0, 0],
            &[134, 8, 0, 0, 0, 0, 1, 2],
            &[134, 8, 0, 0, 0, 1, 1, 0],
            &[134, 8, 0, 0, 0, 1, 1, 3],
            &[134, 9, 0, 0, 0, 1, 1, 2, 5, 0, 0, 0],
            &[134, 8, 0, 0, 0, 1, 1, 2, 134, 8, 0, 0, 0, 1, 1, 2],
        ] {
            assert_eq!(check_options(options), MALFORMED, "{options:?}");
        }
    }

    #[test]
    fn source_routes_are_refused() {
        for kind in [131, 137] {
            assert_eq!(
                check_options(&[kind, 7, 4, 198, 18, 0, 1, 0]),
                Err(WireError::Unsupported)
            );
            // A malformed source route is malformed first.
            assert_eq!(check_options(&[kind, 7, 3, 198, 18, 0, 1, 0]), MALFORMED);
            // Only one source route.
            assert_eq!(check_options(&[kind, 3, 4, kind, 3, 4, 0, 0]), MALFORMED);
        }
    }

    #[test]
    fn parse_checks_the_options() {
        // IHL 6: a router alert of length 3 (malformed) in the one word of options.
        let mut bytes = std::vec![0x46, 0, 0, 24, 0, 1, 0x40, 0, 64, 6, 0, 0];
        bytes.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 148, 3, 0, 0]);
        refresh_checksum(&mut bytes);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&packet, true),
            MALFORMED.map(|_| unreachable!())
        );
    }

    // --- Fragments ---------------------------------------------------------------------------

    fn with_frag_word(word: u16) -> [u8; 60] {
        let mut bytes = LINUX_SYN;
        bytes[6..8].copy_from_slice(&word.to_be_bytes());
        refresh_checksum(&mut bytes);
        bytes
    }

    #[test]
    fn more_fragments_is_unsupported() {
        let bytes = with_frag_word(0x2000);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.more_frags());
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(WireError::Unsupported));
    }

    #[test]
    fn nonzero_offset_is_unsupported() {
        for word in [0x0001, 0x1fff, 0x4001] {
            let bytes = with_frag_word(word);
            let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(packet.frag_offset(), usize::from(word & 0x1fff) * 8);
            assert_eq!(
                Ipv4Repr::parse(&packet, true),
                Err(WireError::Unsupported),
                "word {word:#x}"
            );
        }
    }

    #[test]
    fn df_alone_or_no_flags_is_not_a_fragment() {
        for word in [0x0000, 0x4000, 0x8000] {
            let bytes = with_frag_word(word);
            let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            assert!(!packet.is_fragment());
            assert!(Ipv4Repr::parse(&packet, true).is_ok(), "word {word:#x}");
        }
    }

    #[test]
    fn checksum_is_checked_before_fragments() {
        let mut bytes = with_frag_word(0x2000);
        bytes[8] ^= 1;
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(WireError::Checksum));
        assert_eq!(Ipv4Repr::parse(&packet, false), Err(WireError::Unsupported));
    }

    // --- Emit ---------------------------------------------------------------------------------

    #[test]
    fn emit_known_bytes() {
        let mut buf = [0u8; 20];
        assert_eq!(repr().emit(&mut buf), Ok(20));
        let mut expected = [
            0x45, 0x02, 0x00, 0x1c, 0xbe, 0xef, 0x40, 0x00, 64, 6, 0, 0, 10, 1, 2, 3, 172, 16, 0, 9,
        ];
        refresh_checksum(&mut expected);
        assert_eq!(buf, expected);
    }

    #[test]
    fn emit_sets_df_and_a_valid_checksum() {
        let mut buf = [0u8; 28];
        repr().emit(&mut buf).unwrap();
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(packet.dont_frag());
        assert!(!packet.is_fragment());
        assert!(packet.verify_checksum());
    }

    #[test]
    fn emit_round_trips() {
        for payload_len in [0, 1, 1480, MAX_TOTAL_LEN - HEADER_LEN] {
            let repr = Ipv4Repr {
                payload_len,
                ..repr()
            };
            let mut buf = std::vec![0u8; repr.total_len()];
            assert_eq!(repr.emit(&mut buf), Ok(repr.header_len()));
            let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Ipv4Repr::parse(&packet, true), Ok(repr));
        }
    }

    #[test]
    fn emit_linux_syn_header_identically() {
        let packet = Ipv4Packet::new_checked(&LINUX_SYN[..]).unwrap();
        let repr = Ipv4Repr::parse(&packet, true).unwrap();
        let mut buf = [0u8; 20];
        repr.emit(&mut buf).unwrap();
        assert_eq!(buf, LINUX_SYN[..20]);
    }

    #[test]
    fn emit_into_short_buffer_is_truncated_at_every_length() {
        for len in 0..HEADER_LEN {
            let mut buf = std::vec![0u8; len];
            assert_eq!(
                repr().emit(&mut buf),
                Err(WireError::Truncated),
                "len {len}"
            );
        }
    }

    #[test]
    fn emit_oversized_payload_is_malformed() {
        for payload_len in [MAX_TOTAL_LEN - HEADER_LEN + 1, usize::MAX] {
            let repr = Ipv4Repr {
                payload_len,
                ..repr()
            };
            let mut buf = [0u8; 20];
            assert_eq!(repr.emit(&mut buf), Err(WireError::Malformed));
        }
    }

    #[test]
    fn emit_writes_only_the_header() {
        let mut buf = [0x77u8; 30];
        repr().emit(&mut buf).unwrap();
        assert_eq!(&buf[20..], &[0x77; 10]);
    }
}
