//! IPv4 and TCP headers built and parsed by hand: the hostile peer writes whatever
//! bytes it likes (bad checksums, data offsets, options, IP options, fragments), so
//! nothing here validates what it builds. Parsing is for partcp's replies only.

use std::net::Ipv4Addr;

/// TCP flag bits (RFC 9293 section 3.1).
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// The Internet checksum (RFC 1071) of `data` added to `sum`, not yet folded.
fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

/// Folds and complements a running sum.
fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of an IPv4 header.
pub fn ip_checksum(hdr: &[u8]) -> u16 {
    fold(sum16(0, hdr))
}

/// The TCP checksum of `seg` (header with a zero checksum field, and payload) between
/// `src` and `dst`.
pub fn tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, seg: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    fold(sum16(sum16(0, &pseudo), seg))
}

/// One TCP segment in an IPv4 packet, as the hostile peer wants it.
#[derive(Clone, Debug)]
pub struct Seg {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// TCP options, padded with zeros (EOL) to a multiple of 4 bytes.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
    /// Data offset to write instead of the true one (in 32-bit words).
    pub doff: Option<u8>,
    /// Write a wrong TCP checksum.
    pub bad_checksum: bool,
    /// IPv4 options (padded to a multiple of 4 bytes).
    pub ip_options: Vec<u8>,
    /// Cut the TCP bytes (header and payload) to this many, IP length included.
    pub truncate: Option<usize>,
    /// IP identification (fragments of one datagram share it).
    pub ip_id: u16,
}

/// `bytes` padded with zeros to a multiple of 4.
fn padded(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

impl Seg {
    /// A segment with no options, payload or malformation.
    pub fn new(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seq: u32, ack: u32, flags: u8) -> Seg {
        Seg {
            src: src.0,
            dst: dst.0,
            sport: src.1,
            dport: dst.1,
            seq,
            ack,
            flags,
            window: 65535,
            options: Vec::new(),
            payload: Vec::new(),
            doff: None,
            bad_checksum: false,
            ip_options: Vec::new(),
            truncate: None,
            ip_id: 1,
        }
    }

    /// The TCP header and payload, checksummed (over the untruncated bytes).
    pub fn tcp_bytes(&self) -> Vec<u8> {
        let opts = padded(&self.options);
        let doff = self.doff.unwrap_or(((20 + opts.len()) / 4) as u8);
        let mut b = Vec::with_capacity(20 + opts.len() + self.payload.len());
        b.extend_from_slice(&self.sport.to_be_bytes());
        b.extend_from_slice(&self.dport.to_be_bytes());
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ack.to_be_bytes());
        b.push(doff << 4);
        b.push(self.flags);
        b.extend_from_slice(&self.window.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&opts);
        b.extend_from_slice(&self.payload);
        if let Some(n) = self.truncate {
            b.truncate(n);
        }
        let mut c = tcp_checksum(self.src, self.dst, &b);
        if self.bad_checksum {
            c ^= 0x5a5a;
        }
        if b.len() >= 18 {
            b[16..18].copy_from_slice(&c.to_be_bytes());
        }
        b
    }

    /// The whole IPv4 packet.
    pub fn packet(&self) -> Vec<u8> {
        ip_packet(self.src, self.dst, self.ip_id, 0, false, &self.ip_options, &self.tcp_bytes())
    }

    /// The packet as IPv4 fragments whose payloads are at most `size` bytes (a
    /// multiple of 8) each.
    pub fn fragments(&self, size: usize) -> Vec<Vec<u8>> {
        let tcp = self.tcp_bytes();
        let chunks: Vec<&[u8]> = tcp.chunks(size).collect();
        let n = chunks.len();
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| ip_packet(self.src, self.dst, self.ip_id, (i * size / 8) as u16, i + 1 < n, &[], c))
            .collect()
    }
}

/// An IPv4 header (TTL 64, protocol TCP, DF unless a fragment) in front of `payload`.
pub fn ip_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    frag_off8: u16,
    more: bool,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let opts = padded(options);
    let hlen = 20 + opts.len();
    let mut h = Vec::with_capacity(hlen + payload.len());
    h.push(0x40 | (hlen / 4) as u8);
    h.push(0);
    h.extend_from_slice(&((hlen + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    let fragment = more || frag_off8 != 0;
    let flags: u16 = if more {
        0x2000
    } else if fragment {
        0
    } else {
        0x4000
    };
    h.extend_from_slice(&(flags | frag_off8).to_be_bytes());
    h.push(64);
    h.push(6);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(&opts);
    let c = ip_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An ICMP error message (RFC 792) of `icmp_type`/`code` from `src` to `dst` quoting
/// `quoted` (an IPv4 packet, of which the header and the first 8 bytes are required),
/// with a corrupted ICMP checksum if `bad_checksum`.
pub fn icmp_error(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8, quoted: &[u8], bad_checksum: bool) -> Vec<u8> {
    icmp_message(src, dst, [icmp_type, code], [0; 4], quoted, bad_checksum)
}

/// ICMP destination unreachable, fragmentation needed (type 3 code 4) with next-hop
/// MTU `mtu` (RFC 1191 section 4), quoting `quoted`.
pub fn icmp_frag_needed(src: Ipv4Addr, dst: Ipv4Addr, mtu: u16, quoted: &[u8]) -> Vec<u8> {
    let [hi, lo] = mtu.to_be_bytes();
    icmp_message(src, dst, [3, 4], [0, 0, hi, lo], quoted, false)
}

/// An ICMP message: type and code, the 4 bytes after the checksum, the quoted packet.
fn icmp_message(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: [u8; 2],
    rest: [u8; 4],
    quoted: &[u8],
    bad_checksum: bool,
) -> Vec<u8> {
    let mut icmp = vec![kind[0], kind[1], 0, 0];
    icmp.extend_from_slice(&rest);
    icmp.extend_from_slice(quoted);
    let mut c = ip_checksum(&icmp);
    if bad_checksum {
        c ^= 0x5a5a;
    }
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = ip_packet(src, dst, 7, 0, false, &[], &icmp);
    // Protocol ICMP, and the header checksum again.
    p[9] = 1;
    p[10..12].fill(0);
    let c = ip_checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// A TCP segment partcp sent, parsed from an IPv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The IPv4 header's TOS byte and TTL.
    pub tos: u8,
    pub ttl: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// The MSS option, if any.
    pub mss: Option<u16>,
    /// The window scale option, if any.
    pub wscale: Option<u8>,
    /// The SACK-permitted option (RFC 2018) is present.
    pub sack_permitted: bool,
    /// The timestamps option (RFC 7323): (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// The SACK option's blocks (RFC 2018): (left edge, right edge).
    pub sack_blocks: Vec<(u32, u32)>,
    pub payload_len: usize,
    /// The segment size of a GSO super-segment (0: a plain segment).
    pub gso_size: usize,
}

impl Reply {
    /// The largest segment this packet becomes on a wire.
    pub fn wire_segment(&self) -> usize {
        if self.gso_size > 0 {
            self.gso_size.min(self.payload_len)
        } else {
            self.payload_len
        }
    }

    /// How many segments this packet becomes on a wire.
    pub fn wire_segments(&self) -> usize {
        if self.gso_size > 0 {
            self.payload_len.div_ceil(self.gso_size)
        } else {
            1
        }
    }

    /// Parses an IPv4 packet carrying TCP; `None` if it is anything else.
    pub fn parse(p: &[u8]) -> Option<Reply> {
        if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 {
            return None;
        }
        let ihl = usize::from(p[0] & 15) * 4;
        let tot = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
        let t = p.get(ihl..tot)?;
        let doff = usize::from(t.get(12)? >> 4) * 4;
        if t.len() < doff || doff < 20 {
            return None;
        }
        let be32 = |o: usize| u32::from_be_bytes([t[o], t[o + 1], t[o + 2], t[o + 3]]);
        let (mut mss, mut wscale, mut sack_permitted, mut timestamps) = (None, None, false, None);
        let mut sack_blocks = Vec::new();
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut o = &t[20..doff];
        while let [kind, rest @ ..] = o {
            match *kind {
                0 => break,
                1 => o = rest,
                _ => {
                    let len = usize::from(*rest.first()?);
                    let body = o.get(2..len)?;
                    match (*kind, body) {
                        (2, &[a, b]) => mss = Some(u16::from_be_bytes([a, b])),
                        (3, &[s]) => wscale = Some(s),
                        (4, []) => sack_permitted = true,
                        (5, b) if b.len() % 8 == 0 => {
                            sack_blocks = b.chunks_exact(8).map(|c| (be(&c[..4]), be(&c[4..]))).collect();
                        }
                        (8, b) if b.len() == 8 => timestamps = Some((be(&b[..4]), be(&b[4..]))),
                        _ => {}
                    }
                    o = o.get(len.max(2)..)?;
                }
            }
        }
        Some(Reply {
            tos: p[1],
            ttl: p[8],
            src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            sport: u16::from_be_bytes([t[0], t[1]]),
            dport: u16::from_be_bytes([t[2], t[3]]),
            seq: be32(4),
            ack: be32(8),
            flags: t[13],
            window: u16::from_be_bytes([t[14], t[15]]),
            mss,
            wscale,
            sack_permitted,
            timestamps,
            sack_blocks,
            payload_len: t.len() - doff,
            gso_size: 0,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// `flags` as letters, for messages.
pub fn flag_names(flags: u8) -> String {
    [(SYN, 'S'), (ACK, '.'), (FIN, 'F'), (RST, 'R'), (PSH, 'P')]
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero() {
        let mut s = Seg::new((Ipv4Addr::new(10, 0, 0, 1), 1), (Ipv4Addr::new(10, 0, 0, 2), 2), 7, 9, SYN);
        s.options = vec![2, 4, 5, 180, 3, 3, 7];
        s.payload = b"abc".to_vec();
        let p = s.packet();
        assert_eq!(ip_checksum(&p[..20]), 0);
        assert_eq!(tcp_checksum(s.src, s.dst, &p[20..]), 0);
        let r = Reply::parse(&p).unwrap();
        assert_eq!((r.seq, r.ack, r.flags, r.mss, r.wscale, r.payload_len), (7, 9, SYN, Some(1460), Some(7), 3));
        assert!(!r.sack_permitted && r.timestamps.is_none() && r.sack_blocks.is_empty());
        s.options = vec![4, 2, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let r = Reply::parse(&s.packet()).unwrap();
        assert!(r.sack_permitted);
        assert_eq!(r.timestamps, Some((5, 6)));
        assert_eq!(r.sack_blocks, [(1, 2)]);
        s.bad_checksum = true;
        assert_ne!(tcp_checksum(s.src, s.dst, &s.packet()[20..]), 0);
    }

    #[test]
    fn fragments_cover_the_segment() {
        let mut s = Seg::new((Ipv4Addr::new(10, 0, 0, 1), 1), (Ipv4Addr::new(10, 0, 0, 2), 2), 7, 9, ACK);
        s.payload = vec![7; 100];
        let f = s.fragments(48);
        assert_eq!(f.len(), 3);
        assert_eq!(u16::from_be_bytes([f[0][6], f[0][7]]), 0x2000);
        assert_eq!(u16::from_be_bytes([f[1][6], f[1][7]]), 0x2000 | 6);
        assert_eq!(u16::from_be_bytes([f[2][6], f[2][7]]), 12);
        let joined: Vec<u8> = f.iter().flat_map(|p| p[20..].to_vec()).collect();
        assert_eq!(joined, s.tcp_bytes());
    }
}
