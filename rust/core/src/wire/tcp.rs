//! TCP header (RFC 9293, section 3.1) and options (MSS: RFC 9293 3.2; window scale and
//! timestamps: RFC 7323; SACK: RFC 2018).
//!
//! Parsing is deliberately lenient where Linux is (options of a known kind but the wrong
//! length are ignored) and strict where the bytes cannot be walked (an option length that
//! is below 2 or runs past the end). It checks structure only: combinations of flags that
//! make no sense, such as SYN with RST or SYN with FIN, parse fine and are left to the
//! connection to reject, as are options that only mean something on a SYN.
//!
//! Emission follows Linux's option layout (`tcp_options_write`), where every option is
//! padded to a 4-byte boundary with NOPs, so partcp's segments look like Linux's on the
//! wire and no end-of-list padding is ever needed.

use super::checksum;
use super::ipv4::{Ipv4Addr, PROTOCOL_TCP};
use super::{be16_at, be32_at, byte_at, OptionList, WireError};
use crate::seq::SeqNum;

/// TCP control bits (RFC 9293, section 3.1; ECE/CWR: RFC 3168).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender (RFC 9293, section 3.1).
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168, section 6.1).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168, section 6.1).
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// No flag set.
    pub const NONE: TcpFlags = TcpFlags(0);

    /// True if every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// One SACK block: the half-open range `[left, right)` of sequence space (RFC 2018, section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// Sequence number just past the block.
    pub right: SeqNum,
}

/// The timestamps option (RFC 7323, section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed TSval; meaningful only if ACK is set (RFC 7323, section 3.2).
    pub tsecr: u32,
}

/// Maximum number of SACK blocks carried in one segment (RFC 2018, section 3: at most 4 fit
/// in 40 bytes of options; 3 when timestamps are present).
pub const MAX_SACK_BLOCKS: usize = 4;

/// The TCP options partcp understands. Unknown options are skipped when parsing.
///
/// When an option appears more than once in a segment, the last valid occurrence wins
/// (for SACK, the whole last list of blocks replaces earlier ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2); only meaningful on SYN segments.
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3), as received (clamping to 14 is the connection's job).
    pub window_scale: Option<u8>,
    /// SACK-permitted (kind 4); only meaningful on SYN segments.
    pub sack_permitted: bool,
    /// SACK blocks (kind 5): the first `sack_count` entries are valid.
    pub sack_blocks: [SackBlock; MAX_SACK_BLOCKS],
    /// Number of valid entries of `sack_blocks` (at most [`MAX_SACK_BLOCKS`]).
    pub sack_count: u8,
    /// Timestamps (kind 8).
    pub timestamps: Option<Timestamps>,
    /// Parsing only: how many options of a kind listed above had the wrong length and
    /// were ignored (saturating). Not emitted.
    pub bad_lengths: u8,
}

/// The largest window scale shift count (RFC 7323, section 2.3: a larger one is an error
/// to log, and 14 is used instead).
pub const MAX_WINDOW_SHIFT: u8 = 14;

impl TcpOptions {
    /// True if parsing met a malformed option that does not stop the segment: a known
    /// kind with the wrong length (ignored) or a window scale above
    /// [`MAX_WINDOW_SHIFT`] (clamped by the connection). The receiver counts these.
    #[inline]
    pub fn malformed(&self) -> bool {
        self.bad_lengths != 0 || self.window_scale.is_some_and(|s| s > MAX_WINDOW_SHIFT)
    }

    /// The valid SACK blocks.
    #[inline]
    pub fn sacks(&self) -> &[SackBlock] {
        let n = usize::from(self.sack_count).min(MAX_SACK_BLOCKS);
        self.sack_blocks.get(..n).unwrap_or(&[])
    }
}

/// A parsed TCP header: everything but the payload bytes, which stay where they are
/// (a slice on the host, an skb in the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The sequence number.
    pub seq: SeqNum,
    /// The acknowledgment number; meaningful only if `flags` contains ACK.
    pub ack: SeqNum,
    /// The control bits.
    pub flags: TcpFlags,
    /// The raw (unscaled) window field.
    pub window: u16,
    /// The raw urgent pointer field.
    pub urgent: u16,
    /// The options partcp understands.
    pub options: TcpOptions,
    /// Payload length in bytes (for a GRO-merged segment, the whole merged payload).
    pub payload_len: usize,
}

impl TcpRepr {
    /// Sequence space the segment occupies: payload plus one for each of SYN and FIN
    /// (RFC 9293, section 3.4, SEG.LEN).
    #[inline]
    pub fn seg_len(&self) -> usize {
        self.payload_len
            .saturating_add(usize::from(self.flags.contains(TcpFlags::SYN)))
            .saturating_add(usize::from(self.flags.contains(TcpFlags::FIN)))
    }
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// Most option bytes a header can carry: the data offset field tops out at 15 words.
pub const MAX_OPTIONS_LEN: usize = 40;

/// Byte offsets of the header fields (RFC 9293, section 3.1).
mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Option kinds (RFC 9293, section 3.2; RFC 7323; RFC 2018); End of Option List (0) is
/// the list walk's (`OptionList`).
mod kind {
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size, length 4.
    pub const MSS: u8 = 2;
    /// Window scale, length 3 (RFC 7323, section 2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted, length 2 (RFC 2018, section 2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK, length 2 + 8 per block (RFC 2018, section 3).
    pub const SACK: u8 = 5;
    /// Timestamps, length 10 (RFC 7323, section 3.2).
    pub const TIMESTAMPS: u8 = 8;
}

/// Bytes of one SACK block on the wire: two sequence numbers.
const SACK_BLOCK_LEN: usize = 8;

/// A segment length as the `u32` the pseudo header sums (saturated: no segment is 4 GB).
#[inline]
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Partial sum of the IPv4 pseudo header and the whole segment.
#[inline]
fn segment_sum(segment: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
    let pseudo = checksum::ipv4_pseudo_header(src, dst, PROTOCOL_TCP, len_u32(segment.len()));
    checksum::sum(segment, pseudo)
}

/// A read-only view of a TCP segment: header, options and payload.
///
/// Build it with [`TcpPacket::new_checked`] for untrusted bytes. Every accessor is
/// panic-free even on an unchecked view (a field past the end reads as zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap `buffer` without validating it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wrap `buffer` (the IP payload: header, options and data) after checking its length.
    ///
    /// Errors: [`WireError::Truncated`] if it is shorter than 20 bytes or than the data
    /// offset says; [`WireError::Malformed`] if the data offset is below 5.
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>, WireError> {
        let packet = TcpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The checks of [`TcpPacket::new_checked`].
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.data().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        // RFC 9293, section 3.1: "Data Offset (DOffset): 4 bits. The number of 32-bit words
        // in the TCP header." The fixed header alone is 5 words.
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
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

    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16_at(self.data(), field::SRC_PORT)
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16_at(self.data(), field::DST_PORT)
    }

    /// The sequence number.
    #[inline]
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(be32_at(self.data(), field::SEQ))
    }

    /// The acknowledgment number, whether or not ACK is set.
    #[inline]
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(be32_at(self.data(), field::ACK))
    }

    /// The header length in bytes: the data offset times 4, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(byte_at(self.data(), field::DATA_OFFSET) >> 4) * 4
    }

    /// The eight control bits of byte 13 (CWR down to FIN). The reserved bits of byte 12
    /// are not reported.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(byte_at(self.data(), field::FLAGS))
    }

    /// The raw (unscaled) window field.
    #[inline]
    pub fn window_len(&self) -> u16 {
        be16_at(self.data(), field::WINDOW)
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16_at(self.data(), field::CHECKSUM)
    }

    /// The urgent pointer field.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be16_at(self.data(), field::URGENT)
    }

    /// The option bytes: the header past its first 20 bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        self.data()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload: everything past the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.data().get(self.header_len()..).unwrap_or(&[])
    }

    /// True if the checksum verifies for a segment from `src` to `dst`.
    ///
    /// RFC 9293, section 3.1: the checksum covers a pseudo header (addresses, protocol and
    /// TCP length), the header and the data; a correct segment sums to zero.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::fold(segment_sum(self.data(), src, dst)) == 0
    }
}

/// Sequential writer of option bytes; it silently drops what does not fit, which the
/// callers rule out by sizing the buffer first.
struct OptionWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl OptionWriter<'_> {
    fn put(&mut self, bytes: &[u8]) {
        for (dst, src) in self.out.iter_mut().skip(self.pos).zip(bytes) {
            *dst = *src;
        }
        self.pos = self.pos.saturating_add(bytes.len());
    }
}

impl TcpOptions {
    /// Parse the option bytes of a header.
    ///
    /// RFC 9293, section 3.2: an option is either a single kind byte (EOL, NOP) or kind,
    /// length (counting kind and length) and data. EOL ends the list; what follows it is
    /// ignored. A length below 2, a length running past the end or a missing length byte
    /// is [`WireError::Malformed`], since the rest of the list cannot be found.
    ///
    /// Known kinds with the wrong length are ignored, as Linux does, and unknown kinds are
    /// skipped (RFC 9293, section 3.2, MUST-4 and MUST-6: options may arrive on any
    /// segment, and one that is not implemented is ignored without error). A
    /// repeated option replaces the earlier one: the last valid occurrence wins. SACK
    /// options must carry one or more whole blocks, of which the first
    /// [`MAX_SACK_BLOCKS`] are kept.
    pub fn parse(data: &[u8]) -> Result<TcpOptions, WireError> {
        let mut options = TcpOptions::default();
        // RFC 9293, section 3.2, MUST-7: be prepared for an illegal option length such
        // as zero (the list walk fails on it).
        for option in OptionList::new(data) {
            let (option_kind, body) = option?;
            options.apply(option_kind, body);
        }
        Ok(options)
    }

    /// Record one option of kind `option_kind` with data `body`, if its length is right.
    fn apply(&mut self, option_kind: u8, body: &[u8]) {
        match (option_kind, body) {
            // RFC 9293, section 3.2: MSS, "Length: 4 bytes", 16-bit value.
            (kind::MSS, &[hi, lo]) => self.mss = Some(u16::from_be_bytes([hi, lo])),
            // RFC 7323, section 2.2: window scale, length 3, one byte of shift count.
            (kind::WINDOW_SCALE, &[shift]) => self.window_scale = Some(shift),
            // RFC 2018, section 2: SACK-permitted, length 2, no data.
            (kind::SACK_PERMITTED, &[]) => self.sack_permitted = true,
            // RFC 2018, section 3: SACK, length 2 + 8n. Linux also ignores n = 0.
            (kind::SACK, _) if !body.is_empty() && body.len().is_multiple_of(SACK_BLOCK_LEN) => {
                self.set_sacks(body)
            }
            // RFC 7323, section 3.2: timestamps, length 10, TSval then TSecr.
            (kind::TIMESTAMPS, _) if body.len() == 8 => {
                self.timestamps = Some(Timestamps {
                    tsval: be32_at(body, 0),
                    tsecr: be32_at(body, 4),
                })
            }
            // A known kind with the wrong length: ignored, but noted.
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMPS,
                _,
            ) => self.bad_lengths = self.bad_lengths.saturating_add(1),
            // An unknown kind: ignored.
            _ => {}
        }
    }

    /// Replace the SACK blocks with those in `body` (a whole number of 8-byte blocks).
    fn set_sacks(&mut self, body: &[u8]) {
        let (blocks, _) = body.as_chunks::<SACK_BLOCK_LEN>();
        self.sack_blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
        let mut count = 0u8;
        for (slot, block) in self.sack_blocks.iter_mut().zip(blocks) {
            *slot = SackBlock {
                left: SeqNum(be32_at(block, 0)),
                right: SeqNum(be32_at(block, 4)),
            };
            count += 1;
        }
        self.sack_count = count;
    }

    /// Bytes taken by the options other than SACK blocks, in Linux's aligned layout.
    fn base_len(&self) -> usize {
        let mss = if self.mss.is_some() { 4 } else { 0 };
        // SACK-permitted rides in the two padding bytes before the timestamps; alone it
        // takes NOP,NOP,SACKOK.
        let ts_sack_ok = match (self.timestamps.is_some(), self.sack_permitted) {
            (true, _) => 12,
            (false, true) => 4,
            (false, false) => 0,
        };
        let window_scale = if self.window_scale.is_some() { 4 } else { 0 };
        mss + ts_sack_ok + window_scale
    }

    /// How many SACK blocks emit writes: all of [`TcpOptions::sacks`] that fit in the
    /// room the other options leave in 40 bytes.
    ///
    /// RFC 2018, section 3: "a SACK option that specifies n blocks will have a length of
    /// 8*n+2 bytes, so the 40 bytes available for TCP options can specify a maximum of 4
    /// blocks"; with timestamps (10 bytes plus 2 of padding) at most 3 remain. With its
    /// NOP,NOP padding a SACK option takes 4 + 8n bytes here.
    pub fn emitted_sack_count(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.base_len());
        let fit = room.saturating_sub(4) / SACK_BLOCK_LEN;
        self.sacks().len().min(fit)
    }

    /// Bytes of options emit writes: a multiple of 4, at most 40.
    pub fn emitted_len(&self) -> usize {
        let sacks = match self.emitted_sack_count() {
            0 => 0,
            n => 4 + n * SACK_BLOCK_LEN,
        };
        self.base_len() + sacks
    }

    /// The options that parsing the output of [`TcpOptions::emit`] gives back: `self`
    /// with the SACK blocks cut to those that fit, unused block slots zeroed and
    /// `bad_lengths` zero.
    ///
    /// `TcpOptions::parse` of the emitted bytes equals `self` exactly when
    /// `self.as_emitted() == self`.
    pub fn as_emitted(&self) -> TcpOptions {
        let mut out = *self;
        let count = self.emitted_sack_count();
        out.sack_blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
        for (slot, block) in out
            .sack_blocks
            .iter_mut()
            .zip(self.sacks().iter().take(count))
        {
            *slot = *block;
        }
        // `count` is at most MAX_SACK_BLOCKS.
        out.sack_count = u8::try_from(count).unwrap_or(0);
        // What was ignored on parsing is not written.
        out.bad_lengths = 0;
        out
    }

    /// Write the options at the start of `buf` in Linux's layout and return their length
    /// ([`TcpOptions::emitted_len`]).
    ///
    /// Order: `MSS`; `SACKOK,TS` or `NOP,NOP,TS` (or `NOP,NOP,SACKOK` without
    /// timestamps); `NOP,WS`; `NOP,NOP,SACK` with as many blocks as fit. Errors:
    /// [`WireError::Truncated`] if `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.emitted_len();
        let out = buf.get_mut(..len).ok_or(WireError::Truncated)?;
        let mut w = OptionWriter { out, pos: 0 };
        if let Some(mss) = self.mss {
            w.put(&[kind::MSS, 4]);
            w.put(&mss.to_be_bytes());
        }
        if let Some(ts) = self.timestamps {
            if self.sack_permitted {
                w.put(&[kind::SACK_PERMITTED, 2]);
            } else {
                w.put(&[kind::NOP, kind::NOP]);
            }
            w.put(&[kind::TIMESTAMPS, 10]);
            w.put(&ts.tsval.to_be_bytes());
            w.put(&ts.tsecr.to_be_bytes());
        } else if self.sack_permitted {
            w.put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]);
        }
        if let Some(shift) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
        }
        let count = self.emitted_sack_count();
        if count > 0 {
            // At most 4 blocks: the length is at most 34.
            let option_len = u8::try_from(2 + count * SACK_BLOCK_LEN).unwrap_or(0);
            w.put(&[kind::NOP, kind::NOP, kind::SACK, option_len]);
            for block in self.sacks().iter().take(count) {
                w.put(&block.left.0.to_be_bytes());
                w.put(&block.right.0.to_be_bytes());
            }
        }
        Ok(len)
    }
}

impl TcpRepr {
    /// Parse a segment from `src` to `dst`.
    ///
    /// With `verify_checksum`, the checksum is verified over the pseudo header and the
    /// whole segment and a mismatch is [`WireError::Checksum`]; the kernel passes `false`
    /// when the device has already verified it (`CHECKSUM_UNNECESSARY`). Option errors
    /// are [`WireError::Malformed`] (see [`TcpOptions::parse`]).
    ///
    /// Only the structure is checked: SYN with RST, SYN with FIN, port 0 and the like
    /// parse fine and are for the connection layer to reject. The ACK field and the
    /// urgent pointer are kept raw whether or not ACK and URG are set.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr, WireError> {
        // Never trust that the caller built the view with new_checked.
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: TcpOptions::parse(packet.options())?,
            payload_len: packet.payload().len(),
        })
    }

    /// Length of the header emit writes: 20 plus the options, a multiple of 4, at most 60.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.emitted_len()
    }

    /// What [`TcpRepr::parse`] returns for the segment [`TcpRepr::emit`] writes (with
    /// `payload_len` bytes of payload): `self` with [`TcpOptions::as_emitted`] options.
    pub fn as_emitted(&self) -> TcpRepr {
        TcpRepr {
            options: self.options.as_emitted(),
            ..*self
        }
    }

    /// Write the header and options at the start of `buf`, with a zero checksum field,
    /// and return the header length. The payload is the caller's to place after it; then
    /// [`fill_checksum`] (or [`offload_checksum`]) completes the segment.
    ///
    /// The reserved bits are zero. Errors: [`WireError::Truncated`] if `buf` is shorter
    /// than [`TcpRepr::header_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let header_len = self.header_len();
        let out = buf.get_mut(..header_len).ok_or(WireError::Truncated)?;
        let (fixed, options) = out
            .split_first_chunk_mut::<HEADER_LEN>()
            .ok_or(WireError::Truncated)?;
        let [sp0, sp1] = self.src_port.to_be_bytes();
        let [dp0, dp1] = self.dst_port.to_be_bytes();
        let [s0, s1, s2, s3] = self.seq.0.to_be_bytes();
        let [a0, a1, a2, a3] = self.ack.0.to_be_bytes();
        let [w0, w1] = self.window.to_be_bytes();
        let [u0, u1] = self.urgent.to_be_bytes();
        // RFC 9293, section 3.1: data offset in 32-bit words, in the upper nibble; at most
        // 60 / 4 = 15, so the shift cannot lose bits.
        let data_offset = u8::try_from(header_len / 4).unwrap_or(0) << 4;
        *fixed = [
            sp0,
            sp1,
            dp0,
            dp1,
            s0,
            s1,
            s2,
            s3,
            a0,
            a1,
            a2,
            a3,
            data_offset,
            self.flags.0,
            w0,
            w1,
            0,
            0,
            u0,
            u1,
        ];
        self.options.emit(options)?;
        Ok(header_len)
    }
}

/// Compute the checksum of `segment` (TCP header, options and payload) sent from `src` to
/// `dst` and store it in the checksum field.
///
/// RFC 9293, section 3.1: "The checksum field is the 16-bit ones' complement of the ones'
/// complement sum of all 16-bit words in the header and text", with the pseudo header
/// prefixed and the checksum field taken as zero. Errors: [`WireError::Truncated`] if
/// `segment` is shorter than a TCP header.
pub fn fill_checksum(segment: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), WireError> {
    if segment.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    write_checksum(segment, 0)?;
    let sum = checksum::fold(segment_sum(segment, src, dst));
    write_checksum(segment, sum)
}

fn write_checksum(segment: &mut [u8], value: u16) -> Result<(), WireError> {
    let field = segment
        .get_mut(field::CHECKSUM..field::CHECKSUM + 2)
        .ok_or(WireError::Truncated)?;
    field.copy_from_slice(&value.to_be_bytes());
    Ok(())
}

/// The value to leave in the checksum field when the device computes the checksum
/// (`CHECKSUM_PARTIAL`): the folded, uncomplemented pseudo header sum for a segment of
/// `segment_len` bytes. The device then sums the segment with this value in the field and
/// stores the complement, which equals what [`fill_checksum`] computes.
pub fn offload_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment_len: usize) -> u16 {
    checksum::reduce(checksum::ipv4_pseudo_header(
        src,
        dst,
        PROTOCOL_TCP,
        len_u32(segment_len),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{LINUX_SYN, SYN_DST, SYN_SRC};
    use std::vec::Vec;

    const A: Ipv4Addr = Ipv4Addr([10, 0, 0, 1]);
    const B: Ipv4Addr = Ipv4Addr([10, 0, 0, 2]);

    fn linux_syn_tcp() -> &'static [u8] {
        &LINUX_SYN[20..]
    }

    fn sack(left: u32, right: u32) -> SackBlock {
        SackBlock {
            left: SeqNum(left),
            right: SeqNum(right),
        }
    }

    fn with_sacks(blocks: &[SackBlock]) -> TcpOptions {
        let mut options = TcpOptions::default();
        for (slot, block) in options.sack_blocks.iter_mut().zip(blocks) {
            *slot = *block;
        }
        options.sack_count = blocks.len() as u8;
        options
    }

    fn basic_repr() -> TcpRepr {
        TcpRepr {
            src_port: 80,
            dst_port: 45254,
            seq: SeqNum(1),
            ack: SeqNum(0x3a1f_2c7e),
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 501,
            ..TcpRepr::default()
        }
    }

    /// Emit `repr` with `payload` after it and fill the checksum for A -> B.
    fn segment(repr: &TcpRepr, payload: &[u8]) -> Vec<u8> {
        let mut buf = std::vec![0; repr.header_len() + payload.len()];
        let header_len = repr.emit(&mut buf).unwrap();
        buf[header_len..].copy_from_slice(payload);
        fill_checksum(&mut buf, A, B).unwrap();
        buf
    }

    fn parse_segment(bytes: &[u8]) -> Result<TcpRepr, WireError> {
        TcpRepr::parse(&TcpPacket::new_checked(bytes)?, A, B, true)
    }

    fn roundtrip(repr: &TcpRepr, payload: &[u8]) -> TcpRepr {
        parse_segment(&segment(repr, payload)).unwrap()
    }

    // --- TcpPacket length checks -------------------------------------------------------------

    #[test]
    fn every_length_below_20_is_truncated() {
        let bytes = linux_syn_tcp();
        for len in 0..HEADER_LEN {
            let result = TcpPacket::new_checked(&bytes[..len]);
            assert_eq!(result.err(), Some(WireError::Truncated), "len {len}");
        }
    }

    #[test]
    fn every_length_below_the_data_offset_is_truncated() {
        // The SYN's data offset says 40 bytes.
        let bytes = linux_syn_tcp();
        for len in HEADER_LEN..40 {
            let result = TcpPacket::new_checked(&bytes[..len]);
            assert_eq!(result.err(), Some(WireError::Truncated), "len {len}");
        }
        assert!(TcpPacket::new_checked(bytes).is_ok());
    }

    #[test]
    fn data_offset_below_five_is_malformed() {
        let mut bytes = [0u8; 24];
        for offset in 0..5u8 {
            bytes[12] = offset << 4;
            let result = TcpPacket::new_checked(&bytes[..]);
            assert_eq!(result.err(), Some(WireError::Malformed), "offset {offset}");
        }
        bytes[12] = 5 << 4;
        assert!(TcpPacket::new_checked(&bytes[..]).is_ok());
    }

    #[test]
    fn data_offset_fifteen_needs_sixty_bytes() {
        let mut bytes = [0u8; 60];
        bytes[12] = 0xf0;
        assert_eq!(
            TcpPacket::new_checked(&bytes[..59]).err(),
            Some(WireError::Truncated)
        );
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.header_len(), 60);
        assert_eq!(packet.options().len(), 40);
        assert!(packet.payload().is_empty());
    }

    #[test]
    fn reserved_bits_do_not_change_the_data_offset() {
        let mut bytes = [0u8; 20];
        bytes[12] = 0x5f;
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.flags(), TcpFlags::NONE);
    }

    #[test]
    fn unchecked_view_of_nothing_reads_zeros() {
        let packet = TcpPacket::new_unchecked(&[][..]);
        assert_eq!(packet.src_port(), 0);
        assert_eq!(packet.seq_number(), SeqNum(0));
        assert_eq!(packet.header_len(), 0);
        assert!(packet.options().is_empty());
        assert!(packet.payload().is_empty());
        assert_eq!(
            TcpRepr::parse(&packet, A, B, false),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn unchecked_view_with_lying_offset_does_not_panic() {
        let mut bytes = [0u8; 24];
        bytes[12] = 0xf0;
        let packet = TcpPacket::new_unchecked(&bytes[..]);
        assert!(packet.options().is_empty());
        assert!(packet.payload().is_empty());
        assert_eq!(
            TcpRepr::parse(&packet, A, B, false),
            Err(WireError::Truncated)
        );
    }

    // --- Accessors and parse on a real SYN ---------------------------------------------------

    #[test]
    fn linux_syn_accessors() {
        let packet = TcpPacket::new_checked(linux_syn_tcp()).unwrap();
        assert_eq!(packet.src_port(), 45254);
        assert_eq!(packet.dst_port(), 80);
        assert_eq!(packet.seq_number(), SeqNum(0x3a1f_2c7d));
        assert_eq!(packet.ack_number(), SeqNum(0));
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), TcpFlags::SYN);
        assert_eq!(packet.window_len(), 64240);
        assert_eq!(packet.checksum(), 0xdf68);
        assert_eq!(packet.urgent_at(), 0);
        assert_eq!(packet.options().len(), 20);
        assert!(packet.payload().is_empty());
        assert!(packet.verify_checksum(SYN_SRC, SYN_DST));
    }

    #[test]
    fn linux_syn_repr() {
        let packet = TcpPacket::new_checked(linux_syn_tcp()).unwrap();
        let repr = TcpRepr::parse(&packet, SYN_SRC, SYN_DST, true).unwrap();
        let options = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: 0x002b_41c6,
                tsecr: 0,
            }),
            ..TcpOptions::default()
        };
        let expected = TcpRepr {
            src_port: 45254,
            dst_port: 80,
            seq: SeqNum(0x3a1f_2c7d),
            ack: SeqNum(0),
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options,
            payload_len: 0,
        };
        assert_eq!(repr, expected);
        assert_eq!(repr.seg_len(), 1);
    }

    #[test]
    fn linux_syn_emits_identical_bytes() {
        let packet = TcpPacket::new_checked(linux_syn_tcp()).unwrap();
        let repr = TcpRepr::parse(&packet, SYN_SRC, SYN_DST, true).unwrap();
        let mut buf = [0u8; 40];
        assert_eq!(repr.emit(&mut buf), Ok(40));
        fill_checksum(&mut buf, SYN_SRC, SYN_DST).unwrap();
        assert_eq!(&buf[..], linux_syn_tcp());
    }

    // --- Checksums -------------------------------------------------------------------------

    #[test]
    fn corrupted_segment_fails_verification() {
        for at in [0, 13, 17, 30, 39] {
            let mut bytes = linux_syn_tcp().to_vec();
            bytes[at] ^= 0x04;
            let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(
                TcpRepr::parse(&packet, SYN_SRC, SYN_DST, true),
                Err(WireError::Checksum),
                "flip at {at}"
            );
            assert!(TcpRepr::parse(&packet, SYN_SRC, SYN_DST, false).is_ok());
        }
    }

    #[test]
    fn wrong_addresses_fail_verification() {
        let packet = TcpPacket::new_checked(linux_syn_tcp()).unwrap();
        assert!(!packet.verify_checksum(SYN_DST, SYN_DST));
        assert!(!packet.verify_checksum(SYN_SRC, Ipv4Addr([10, 0, 0, 3])));
    }

    #[test]
    fn odd_length_payload_checksum_known_answer() {
        // 20-byte header and the 5-byte payload "hello"; checksum computed independently.
        let bytes = segment(&basic_repr(), b"hello");
        assert_eq!(bytes.len(), 25);
        assert_eq!(
            TcpPacket::new_checked(&bytes[..]).unwrap().checksum(),
            0x3e49
        );
        assert_eq!(parse_segment(&bytes).unwrap().payload_len, 5);
    }

    #[test]
    fn odd_length_payload_last_byte_is_covered() {
        let mut bytes = segment(&basic_repr(), b"hello");
        bytes[24] ^= 1;
        assert_eq!(parse_segment(&bytes), Err(WireError::Checksum));
    }

    #[test]
    fn fill_checksum_ignores_stale_field() {
        let mut bytes = segment(&basic_repr(), b"xyz");
        let good = bytes.clone();
        bytes[16] = 0xaa;
        bytes[17] = 0x55;
        fill_checksum(&mut bytes, A, B).unwrap();
        assert_eq!(bytes, good);
    }

    #[test]
    fn fill_checksum_on_short_segment_is_truncated() {
        for len in 0..HEADER_LEN {
            let mut bytes = std::vec![0u8; len];
            assert_eq!(fill_checksum(&mut bytes, A, B), Err(WireError::Truncated));
        }
    }

    #[test]
    fn offload_checksum_completed_by_device_matches() {
        for payload in [&b""[..], b"a", b"odd payload", &[0xff; 1000]] {
            let full = segment(&basic_repr(), payload);
            let mut partial = full.clone();
            let seed = offload_checksum(A, B, partial.len());
            partial[16..18].copy_from_slice(&seed.to_be_bytes());
            // What the device does: sum from the start of the TCP header, fold, store.
            let device = checksum::fold(checksum::sum(&partial, 0));
            assert_eq!(device.to_be_bytes(), [full[16], full[17]]);
        }
    }

    #[test]
    fn segment_summed_in_pieces_verifies() {
        // As the kernel does with a non-linear skb: header and payload fragments apart.
        let payload: Vec<u8> = (0..301u32).map(|i| (i * 7) as u8).collect();
        let bytes = segment(&basic_repr(), &payload);
        let pseudo = checksum::ipv4_pseudo_header(A, B, PROTOCOL_TCP, bytes.len() as u32);
        for split in [20, 21, 100, 151, 320] {
            let (head, tail) = bytes.split_at(split);
            let acc = checksum::add_at(checksum::sum(head, pseudo), checksum::sum(tail, 0), split);
            assert_eq!(checksum::fold(acc), 0, "split {split}");
        }
    }

    // --- Options: structure ---------------------------------------------------------------

    #[test]
    fn no_options() {
        assert_eq!(TcpOptions::parse(&[]), Ok(TcpOptions::default()));
    }

    #[test]
    fn nops_only() {
        assert_eq!(TcpOptions::parse(&[1, 1, 1, 1]), Ok(TcpOptions::default()));
    }

    #[test]
    fn eol_ends_the_list() {
        // After EOL come bytes that would be malformed if read.
        let options = TcpOptions::parse(&[2, 4, 0x05, 0xb4, 0, 3, 0, 0xff]).unwrap();
        assert_eq!(options.mss, Some(1460));
        assert_eq!(options.window_scale, None);
    }

    #[test]
    fn eol_in_the_middle_hides_later_options() {
        let options = TcpOptions::parse(&[1, 0, 2, 4, 0x05, 0xb4]).unwrap();
        assert_eq!(options, TcpOptions::default());
    }

    #[test]
    fn zero_length_option_is_malformed() {
        assert_eq!(TcpOptions::parse(&[2, 0, 0, 0]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[99, 0]), Err(WireError::Malformed));
    }

    #[test]
    fn length_one_option_is_malformed() {
        assert_eq!(TcpOptions::parse(&[3, 1, 1, 1]), Err(WireError::Malformed));
    }

    #[test]
    fn length_beyond_end_is_malformed() {
        assert_eq!(TcpOptions::parse(&[2, 4, 0x05]), Err(WireError::Malformed));
        assert_eq!(
            TcpOptions::parse(&[1, 1, 8, 10, 0, 0]),
            Err(WireError::Malformed)
        );
        assert_eq!(TcpOptions::parse(&[99, 255]), Err(WireError::Malformed));
    }

    #[test]
    fn missing_length_byte_is_malformed() {
        assert_eq!(TcpOptions::parse(&[1, 1, 1, 2]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[77]), Err(WireError::Malformed));
    }

    #[test]
    fn option_exactly_at_the_end() {
        let options = TcpOptions::parse(&[1, 3, 3, 9]).unwrap();
        assert_eq!(options.window_scale, Some(9));
    }

    #[test]
    fn unknown_kinds_are_skipped() {
        // MD5 signature (19, length 18), an experimental option (254) and kind 99, length 2.
        let mut bytes = std::vec![19, 18];
        bytes.extend_from_slice(&[0xee; 16]);
        bytes.extend_from_slice(&[254, 4, 0xf9, 0x89, 99, 2, 3, 3, 5]);
        let options = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(options.window_scale, Some(5));
        assert_eq!(options.mss, None);
    }

    #[test]
    fn malformed_options_fail_the_segment_parse() {
        let mut bytes = [0u8; 24];
        bytes[12] = 6 << 4;
        bytes[20] = 2;
        bytes[21] = 1;
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&packet, A, B, false),
            Err(WireError::Malformed)
        );
    }

    // --- Options: MSS, window scale, SACK-permitted, timestamps ---------------------------

    #[test]
    fn mss() {
        let options = TcpOptions::parse(&[2, 4, 0x23, 0x28]).unwrap();
        assert_eq!(options.mss, Some(9000));
    }

    #[test]
    fn duplicate_mss_last_wins() {
        let options = TcpOptions::parse(&[2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18]).unwrap();
        assert_eq!(options.mss, Some(536));
    }

    #[test]
    fn bad_length_mss_is_ignored() {
        assert_eq!(TcpOptions::parse(&[2, 3, 0x05]).unwrap().mss, None);
        assert_eq!(TcpOptions::parse(&[2, 2, 1, 1]).unwrap().mss, None);
        assert_eq!(TcpOptions::parse(&[2, 5, 0x05, 0xb4, 0]).unwrap().mss, None);
    }

    #[test]
    fn bad_length_mss_keeps_the_earlier_good_one() {
        let options = TcpOptions::parse(&[2, 4, 0x05, 0xb4, 2, 3, 0x01, 0]).unwrap();
        assert_eq!(options.mss, Some(1460));
    }

    #[test]
    fn window_scale_kept_raw() {
        // Clamping to 14 (RFC 7323, section 2.3) is the connection's job.
        assert_eq!(
            TcpOptions::parse(&[3, 3, 14]).unwrap().window_scale,
            Some(14)
        );
        assert_eq!(
            TcpOptions::parse(&[3, 3, 200]).unwrap().window_scale,
            Some(200)
        );
        assert_eq!(TcpOptions::parse(&[3, 4, 7, 0]).unwrap().window_scale, None);
    }

    #[test]
    fn bad_lengths_are_counted_and_make_the_options_malformed() {
        let good = TcpOptions::parse(&[2, 4, 5, 0xb4, 3, 3, 14, 4, 2]).unwrap();
        assert_eq!(good.bad_lengths, 0);
        assert!(!good.malformed());
        // MSS of length 3, window scale of length 4, SACK-permitted of length 3, SACK
        // with no block, timestamps of length 9: five known kinds, five bad lengths.
        let bytes = [
            2, 3, 5, 3, 4, 7, 0, 4, 3, 0, 5, 2, 8, 9, 0, 0, 0, 0, 0, 0, 0,
        ];
        let bad = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(bad.bad_lengths, 5);
        assert!(bad.malformed());
        // Unknown kinds of any length are not malformed.
        assert!(!TcpOptions::parse(&[99, 2, 254, 5, 0, 0, 0])
            .unwrap()
            .malformed());
    }

    #[test]
    fn window_scale_above_14_is_malformed() {
        assert!(!TcpOptions::parse(&[3, 3, MAX_WINDOW_SHIFT])
            .unwrap()
            .malformed());
        assert!(TcpOptions::parse(&[3, 3, MAX_WINDOW_SHIFT + 1])
            .unwrap()
            .malformed());
    }

    #[test]
    fn bad_lengths_saturate() {
        // A header holds at most 20 such options, but `parse` takes any slice.
        let bytes: std::vec::Vec<u8> = core::iter::repeat_n([2u8, 2], 300).flatten().collect();
        assert_eq!(TcpOptions::parse(&bytes).unwrap().bad_lengths, u8::MAX);
    }

    #[test]
    fn sack_permitted() {
        assert!(TcpOptions::parse(&[4, 2]).unwrap().sack_permitted);
        assert!(!TcpOptions::parse(&[4, 3, 0]).unwrap().sack_permitted);
    }

    #[test]
    fn timestamps() {
        let bytes = [8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];
        let options = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(
            options.timestamps,
            Some(Timestamps {
                tsval: 0xdead_beef,
                tsecr: 1
            })
        );
    }

    #[test]
    fn bad_length_timestamps_are_ignored() {
        let bytes = [8, 9, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0];
        assert_eq!(TcpOptions::parse(&bytes).unwrap().timestamps, None);
        let bytes = [8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(TcpOptions::parse(&bytes).unwrap().timestamps, None);
    }

    // --- Options: SACK ----------------------------------------------------------------------

    fn sack_option(blocks: &[(u32, u32)]) -> Vec<u8> {
        let mut bytes = std::vec![5, (2 + 8 * blocks.len()) as u8];
        for (left, right) in blocks {
            bytes.extend_from_slice(&left.to_be_bytes());
            bytes.extend_from_slice(&right.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn sack_with_zero_blocks_is_ignored() {
        let options = TcpOptions::parse(&[5, 2]).unwrap();
        assert_eq!(options.sack_count, 0);
    }

    #[test]
    fn sack_with_one_to_four_blocks() {
        let all = [(1, 2), (10, 20), (0xffff_fff0, 5), (100, 200)];
        for n in 1..=4 {
            let options = TcpOptions::parse(&sack_option(&all[..n])).unwrap();
            assert_eq!(usize::from(options.sack_count), n);
            for (block, (left, right)) in options.sacks().iter().zip(&all) {
                assert_eq!(*block, sack(*left, *right));
            }
            // Unused slots stay zero.
            assert!(options.sack_blocks[n..]
                .iter()
                .all(|b| *b == SackBlock::default()));
        }
    }

    #[test]
    fn sack_keeps_at_most_four_blocks() {
        // Only possible when parsing a slice longer than a header allows.
        let blocks: Vec<(u32, u32)> = (0..6).map(|i| (i, i + 1)).collect();
        let options = TcpOptions::parse(&sack_option(&blocks)).unwrap();
        assert_eq!(options.sack_count, 4);
        assert_eq!(options.sacks()[3], sack(3, 4));
    }

    #[test]
    fn sack_with_partial_block_is_ignored() {
        for len in [3u8, 9, 11, 17, 33] {
            let mut bytes = std::vec![5, len];
            bytes.resize(usize::from(len), 0xab);
            let options = TcpOptions::parse(&bytes).unwrap();
            assert_eq!(options.sack_count, 0, "length {len}");
        }
    }

    #[test]
    fn duplicate_sack_last_replaces_all() {
        let mut bytes = sack_option(&[(1, 2), (3, 4), (5, 6)]);
        bytes.extend_from_slice(&sack_option(&[(7, 8)]));
        let options = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(options.sacks(), &[sack(7, 8)]);
        assert_eq!(options.sack_blocks[1], SackBlock::default());
    }

    #[test]
    fn sacks_clamps_a_bad_count() {
        let mut options = with_sacks(&[sack(1, 2)]);
        options.sack_count = 200;
        assert_eq!(options.sacks().len(), MAX_SACK_BLOCKS);
    }

    // --- Flags ---------------------------------------------------------------------------------

    #[test]
    fn nonsense_flag_combinations_still_parse() {
        // Rejecting these is the connection's job (RFC 9293, section 3.10.7).
        for flags in [
            TcpFlags::SYN | TcpFlags::RST,
            TcpFlags::SYN | TcpFlags::FIN,
            TcpFlags(0xff),
            TcpFlags::NONE,
        ] {
            let repr = TcpRepr {
                flags,
                ..basic_repr()
            };
            assert_eq!(roundtrip(&repr, b""), repr);
        }
    }

    #[test]
    fn seg_len_counts_syn_and_fin() {
        let mut repr = basic_repr();
        repr.payload_len = 10;
        assert_eq!(repr.seg_len(), 10);
        repr.flags = TcpFlags::SYN | TcpFlags::FIN;
        assert_eq!(repr.seg_len(), 12);
        repr.payload_len = usize::MAX;
        assert_eq!(repr.seg_len(), usize::MAX);
    }

    #[test]
    fn flags_debug() {
        let flags = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(std::format!("{flags:?}"), "SYN|ACK");
        assert_eq!(std::format!("{:?}", TcpFlags::NONE), "-");
    }

    // --- Emit: layout ---------------------------------------------------------------------

    fn emitted_options(options: TcpOptions) -> Vec<u8> {
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        let len = options.emit(&mut buf).unwrap();
        buf[..len].to_vec()
    }

    const TS: Timestamps = Timestamps {
        tsval: 0x0102_0304,
        tsecr: 0x0506_0708,
    };

    #[test]
    fn layout_mss() {
        let options = TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        };
        assert_eq!(emitted_options(options), [2, 4, 0x05, 0xb4]);
    }

    #[test]
    fn layout_sack_permitted_with_timestamps() {
        let options = TcpOptions {
            sack_permitted: true,
            timestamps: Some(TS),
            ..TcpOptions::default()
        };
        assert_eq!(
            emitted_options(options),
            [4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn layout_timestamps_alone() {
        let options = TcpOptions {
            timestamps: Some(TS),
            ..TcpOptions::default()
        };
        assert_eq!(
            emitted_options(options),
            [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn layout_sack_permitted_alone() {
        let options = TcpOptions {
            sack_permitted: true,
            ..TcpOptions::default()
        };
        assert_eq!(emitted_options(options), [1, 1, 4, 2]);
    }

    #[test]
    fn layout_window_scale() {
        let options = TcpOptions {
            window_scale: Some(7),
            ..TcpOptions::default()
        };
        assert_eq!(emitted_options(options), [1, 3, 3, 7]);
    }

    #[test]
    fn layout_sack_blocks() {
        let options = with_sacks(&[sack(1, 2)]);
        assert_eq!(
            emitted_options(options),
            [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]
        );
    }

    #[test]
    fn header_len_of_plain_segment_is_20() {
        assert_eq!(basic_repr().header_len(), 20);
        let bytes = segment(&basic_repr(), b"");
        assert_eq!(bytes[12], 5 << 4);
        assert_eq!(bytes[13], (TcpFlags::ACK | TcpFlags::PSH).0);
    }

    #[test]
    fn emit_leaves_checksum_zero() {
        let mut buf = [0xffu8; 20];
        basic_repr().emit(&mut buf).unwrap();
        assert_eq!(&buf[16..18], &[0, 0]);
    }

    #[test]
    fn emit_into_short_buffer_is_truncated_at_every_length() {
        let packet = TcpPacket::new_checked(linux_syn_tcp()).unwrap();
        let repr = TcpRepr::parse(&packet, SYN_SRC, SYN_DST, true).unwrap();
        for len in 0..repr.header_len() {
            let mut buf = std::vec![0u8; len];
            assert_eq!(repr.emit(&mut buf), Err(WireError::Truncated), "len {len}");
        }
    }

    #[test]
    fn emit_writes_only_the_header() {
        let mut buf = [0xeeu8; 30];
        assert_eq!(basic_repr().emit(&mut buf), Ok(20));
        assert_eq!(&buf[20..], &[0xee; 10]);
    }

    // --- Emit: SACK blocks that do not fit ------------------------------------------------

    fn four_sacks() -> TcpOptions {
        with_sacks(&[sack(1, 2), sack(3, 4), sack(5, 6), sack(7, 8)])
    }

    #[test]
    fn four_sack_blocks_fit_alone() {
        let options = four_sacks();
        assert_eq!(options.emitted_sack_count(), 4);
        assert_eq!(options.emitted_len(), 36);
        assert_eq!(options.as_emitted(), options);
    }

    #[test]
    fn three_sack_blocks_with_timestamps() {
        // RFC 2018, section 3: at most 3 blocks alongside timestamps.
        let options = TcpOptions {
            timestamps: Some(TS),
            ..four_sacks()
        };
        assert_eq!(options.emitted_sack_count(), 3);
        assert_eq!(options.emitted_len(), 40);
        let emitted = options.as_emitted();
        assert_eq!(emitted.sacks(), &options.sacks()[..3]);
        assert_eq!(emitted.sack_blocks[3], SackBlock::default());
    }

    #[test]
    fn two_sack_blocks_with_timestamps_and_window_scale() {
        let options = TcpOptions {
            timestamps: Some(TS),
            window_scale: Some(2),
            mss: Some(1000),
            sack_permitted: true,
            ..four_sacks()
        };
        assert_eq!(options.emitted_sack_count(), 2);
        assert_eq!(options.emitted_len(), 40);
        let repr = TcpRepr {
            options,
            ..basic_repr()
        };
        assert_eq!(roundtrip(&repr, b""), repr.as_emitted());
    }

    #[test]
    fn unused_sack_slots_are_not_emitted() {
        let mut options = with_sacks(&[sack(1, 2)]);
        options.sack_blocks[2] = sack(9, 9);
        assert_eq!(options.emitted_len(), 12);
        assert_eq!(options.as_emitted(), with_sacks(&[sack(1, 2)]));
    }

    // --- Round trips -------------------------------------------------------------------------

    #[test]
    fn every_option_combination_round_trips() {
        let blocks = [sack(1, 2), sack(0xffff_ff00, 0x10), sack(5, 6), sack(7, 8)];
        for mask in 0..16u32 {
            for count in 0..=MAX_SACK_BLOCKS {
                let mut options = with_sacks(&blocks[..count]);
                options.mss = (mask & 1 != 0).then_some(1460);
                options.window_scale = (mask & 2 != 0).then_some(14);
                options.sack_permitted = mask & 4 != 0;
                options.timestamps = (mask & 8 != 0).then_some(TS);
                let repr = TcpRepr {
                    options,
                    payload_len: 3,
                    ..basic_repr()
                };
                let header_len = repr.header_len();
                assert!(header_len <= HEADER_LEN + MAX_OPTIONS_LEN);
                assert_eq!(header_len % 4, 0);
                let parsed = roundtrip(&repr, b"abc");
                assert_eq!(parsed, repr.as_emitted(), "mask {mask} count {count}");
                if options.as_emitted() == options {
                    assert_eq!(parsed, repr, "mask {mask} count {count}");
                }
            }
        }
    }

    #[test]
    fn extreme_field_values_round_trip() {
        let repr = TcpRepr {
            src_port: u16::MAX,
            dst_port: 0,
            seq: SeqNum(u32::MAX),
            ack: SeqNum(0x8000_0000),
            flags: TcpFlags(0xff),
            window: u16::MAX,
            urgent: u16::MAX,
            options: TcpOptions {
                mss: Some(u16::MAX),
                window_scale: Some(u8::MAX),
                timestamps: Some(Timestamps {
                    tsval: u32::MAX,
                    tsecr: u32::MAX,
                }),
                ..TcpOptions::default()
            },
            payload_len: 0,
        };
        assert_eq!(roundtrip(&repr, b""), repr);
    }

    #[test]
    fn large_payload_round_trips() {
        let payload: Vec<u8> = (0..65000u32).map(|i| (i ^ (i >> 8)) as u8).collect();
        let repr = TcpRepr {
            payload_len: payload.len(),
            ..basic_repr()
        };
        assert_eq!(roundtrip(&repr, &payload), repr);
    }
}
