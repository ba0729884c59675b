//! Consistency checks over the wire layer, shared by the `wire` fuzz target and the
//! randomized unit test in `src/wire/mod.rs` (which includes this file by path).
//!
//! Written against `crate::wire` so that it compiles in both crates: the fuzz target
//! re-exports `partcp_core::wire` under that name. Every check panics on a failure.

use crate::wire::checksum;
use crate::wire::ipv4::{self, HEADER_LEN as IPV4_HEADER_LEN};
use crate::wire::tcp::{fill_checksum, offload_checksum, MAX_OPTIONS_LEN};
use crate::wire::{Ipv4Addr, Ipv4Packet, Ipv4Repr, TcpOptions, TcpPacket, TcpRepr, WireError};
use std::vec::Vec;

/// Addresses used when the input is taken as a bare TCP segment.
const BARE_SRC: Ipv4Addr = Ipv4Addr([192, 0, 2, 1]);
const BARE_DST: Ipv4Addr = Ipv4Addr([198, 51, 100, 7]);

/// How far [`check`] got: which parsers accepted the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reached {
    /// The input parsed as an IPv4 datagram (checksum not verified).
    pub ipv4: bool,
    /// The IPv4 payload parsed as a TCP segment (checksum not verified).
    pub tcp_in_ipv4: bool,
    /// The whole input parsed as a bare TCP segment.
    pub bare_tcp: bool,
}

/// Run every parser on `data` and check everything that parses.
pub fn check(data: &[u8]) -> Reached {
    check_checksum_pieces(data);
    check_options(data);
    check_ip_options(data);
    let (ipv4, tcp_in_ipv4) = check_ipv4(data);
    // The whole input as a TCP segment too, so that the fuzzer reaches the TCP parser
    // without first having to get an IPv4 header right.
    let bare_tcp = check_tcp(data, BARE_SRC, BARE_DST);
    Reached {
        ipv4,
        tcp_in_ipv4,
        bare_tcp,
    }
}

/// Summing in two or three pieces, at offsets taken from the data, equals one shot.
fn check_checksum_pieces(data: &[u8]) {
    let one_shot = checksum::reduce(checksum::sum(data, 0));
    let len = data.len();
    let first = usize::from(data.first().copied().unwrap_or(0)).min(len);
    let second = (first + usize::from(data.get(1).copied().unwrap_or(0))).min(len);
    let mut acc = checksum::sum(&data[..first], 0);
    acc = checksum::add_at(acc, checksum::sum(&data[first..second], 0), first);
    acc = checksum::add_at(acc, checksum::sum(&data[second..], 0), second);
    assert_eq!(
        checksum::reduce(acc),
        one_shot,
        "pieces at {first}, {second}"
    );
}

/// The IPv4 options check on arbitrary bytes: any verdict, no panic; and options of only
/// NOPs and End of Option List are always accepted, so a prefix of them never matters.
fn check_ip_options(data: &[u8]) {
    let verdict = ipv4::check_options(data);
    let mut padded = std::vec![1u8; data.len() % 4];
    padded.extend_from_slice(data);
    assert_eq!(ipv4::check_options(&padded), verdict, "NOP prefix");
    let blank: Vec<u8> = data.iter().map(|b| b & 1).collect();
    assert_eq!(ipv4::check_options(&blank), Ok(()));
}

/// The options parser on arbitrary bytes: whatever parses re-emits to the same options
/// (less the SACK blocks that do not fit), and emitting that is a fixed point.
fn check_options(data: &[u8]) {
    let Ok(options) = TcpOptions::parse(data) else {
        return;
    };
    assert!(usize::from(options.sack_count) <= options.sack_blocks.len());
    let emitted = options.as_emitted();
    check_emitted_options(&options, &emitted);
    let mut buf = [0u8; MAX_OPTIONS_LEN];
    let len = options.emit(&mut buf).expect("40 bytes always suffice");
    assert_eq!(len, options.emitted_len());
    assert_eq!(TcpOptions::parse(&buf[..len]), Ok(emitted));
    assert_eq!(emitted.as_emitted(), emitted);
}

/// `emitted` keeps every option of `original` but may drop trailing SACK blocks, and only
/// those that really do not fit in 40 bytes.
fn check_emitted_options(original: &TcpOptions, emitted: &TcpOptions) {
    assert_eq!(emitted.mss, original.mss);
    assert_eq!(emitted.window_scale, original.window_scale);
    assert_eq!(emitted.sack_permitted, original.sack_permitted);
    assert_eq!(emitted.timestamps, original.timestamps);
    let kept = emitted.sacks();
    assert_eq!(
        kept,
        &original.sacks()[..kept.len()],
        "kept blocks are a prefix"
    );
    let len = emitted.emitted_len();
    assert!(
        len <= MAX_OPTIONS_LEN && len.is_multiple_of(4),
        "options length {len}"
    );
    if kept.len() < original.sacks().len() {
        // One more block would need 8 more bytes (12 when it would open the option).
        let more = if kept.is_empty() { 12 } else { 8 };
        assert!(
            len + more > MAX_OPTIONS_LEN,
            "a block was dropped that fits"
        );
    }
}

/// The IPv4 parser: both checksum modes agree, and a parsed header re-emits to one that
/// parses back to the same representation. Returns whether the datagram and the TCP
/// segment in it parsed.
fn check_ipv4(data: &[u8]) -> (bool, bool) {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return (false, false);
    };
    let unverified = Ipv4Repr::parse(&packet, false);
    match Ipv4Repr::parse(&packet, true) {
        Err(WireError::Checksum) => assert!(!packet.verify_checksum()),
        verified => assert_eq!(verified, unverified),
    }
    let Ok(repr) = unverified else {
        return (false, false);
    };
    let payload = packet.payload();
    assert_eq!(repr.payload_len, payload.len());
    let mut out = std::vec![0u8; repr.total_len()];
    assert_eq!(repr.emit(&mut out), Ok(IPV4_HEADER_LEN));
    out[IPV4_HEADER_LEN..].copy_from_slice(payload);
    let again = Ipv4Packet::new_checked(&out[..]).expect("emitted header is valid");
    assert!(again.dont_frag());
    assert_eq!(Ipv4Repr::parse(&again, true), Ok(repr));
    assert_eq!(again.payload(), payload);
    let tcp =
        repr.protocol == crate::wire::ipv4::PROTOCOL_TCP && check_tcp(payload, repr.src, repr.dst);
    (true, tcp)
}

/// The TCP parser: both checksum modes agree, and a parsed segment re-emits (header,
/// options, the same payload, a fresh checksum) to one that parses back to
/// [`TcpRepr::as_emitted`]; emitting that again gives the same bytes. Returns whether
/// the segment parsed.
fn check_tcp(segment: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let Ok(packet) = TcpPacket::new_checked(segment) else {
        return false;
    };
    let unverified = TcpRepr::parse(&packet, src, dst, false);
    match TcpRepr::parse(&packet, src, dst, true) {
        Err(WireError::Checksum) => assert!(!packet.verify_checksum(src, dst)),
        verified => assert_eq!(verified, unverified),
    }
    let Ok(repr) = unverified else {
        return false;
    };
    let payload = packet.payload();
    assert_eq!(repr.payload_len, payload.len());
    let expected = repr.as_emitted();
    check_emitted_options(&repr.options, &expected.options);

    let out = emit_segment(&repr, payload, src, dst);
    let again = TcpPacket::new_checked(&out[..]).expect("emitted segment is valid");
    assert_eq!(again.payload(), payload);
    let reparsed = TcpRepr::parse(&again, src, dst, true).expect("emitted segment parses");
    assert_eq!(reparsed, expected);
    assert_eq!(
        emit_segment(&reparsed, payload, src, dst),
        out,
        "emit is a fixed point"
    );

    // Checksum offload: the device's completion of the seed equals the full checksum.
    let mut partial = out.clone();
    let seed = offload_checksum(src, dst, partial.len());
    partial[16..18].copy_from_slice(&seed.to_be_bytes());
    let device = checksum::fold(checksum::sum(&partial, 0));
    assert_eq!(device.to_be_bytes(), [out[16], out[17]]);
    true
}

/// Emit `repr` followed by `payload` and fill in the checksum.
fn emit_segment(repr: &TcpRepr, payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let header_len = repr.header_len();
    let mut out = std::vec![0u8; header_len + payload.len()];
    assert_eq!(repr.emit(&mut out), Ok(header_len));
    out[header_len..].copy_from_slice(payload);
    fill_checksum(&mut out, src, dst).expect("segment holds a header");
    out
}
