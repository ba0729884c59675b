//! Stateless SYN cookies (RFC 4987 section 3.6).
//!
//! Under a SYN flood the listener answers a SYN without keeping any state: everything it
//! needs later is packed into the ISN of its SYN-ACK (the cookie), authenticated with a
//! keyed hash. The final ACK of the handshake acknowledges `cookie + 1` and carries
//! `peer ISN + 1` as its sequence number, so the listener can check the cookie and rebuild
//! the connection from that ACK alone.
//!
//! # Cookie layout
//!
//! With `T = floor(now / 64 s)` the counter, `i` the index of the MSS in [`MSS_TABLE`],
//! and `H` SipHash-2-4 keyed with the [`CookieSecret`] (domain-separated by a leading tag
//! byte, over the 4-tuple in network order and the peer's ISN):
//!
//! ```text
//!   inner  = (T mod 32) << 27 | i << 24 | (H(2, tuple, peer_isn, T, i) mod 2^24)
//!   cookie = inner + H(1, tuple, peer_isn) mod 2^32
//! ```
//!
//! * The top 5 bits carry the counter and the next 3 the MSS index, the layout suggested
//!   by RFC 4987 section 3.6; the low 24 bits are the MAC that makes a cookie unforgeable
//!   without the secret (a blind guess succeeds with probability 2^-24).
//! * Adding the second, counter-free hash whitens the whole value, so a cookie ISN is as
//!   unpredictable to an off-path attacker as an RFC 6528 ISN ([`crate::isn`]); decoding
//!   subtracts it first.
//! * Binding the peer's ISN means a cookie is only valid with the sequence number of the
//!   SYN it answered.
//! * [`decode`] accepts a cookie whose counter is 0, 1 or 2 periods old
//!   ([`MAX_AGE_PERIODS`]): a cookie stays valid for 128 to 192 seconds, enough for any
//!   handshake RTT and short enough that replaying a captured ACK is of little use.
//!
//! # What cookies lose
//!
//! Only the MSS (rounded down to the table) survives in the sequence number. The window
//! scale and SACK-permitted options of the SYN survive only when both ends use RFC 7323
//! timestamps: the listener then hides them in the low bits of its SYN-ACK's TSval
//! ([`encode_timestamp`]) and the peer echoes them back in the TSecr of its ACK
//! ([`decode_timestamp`]). Without timestamps, a connection accepted through a cookie runs
//! without window scaling and without SACK, and in every case any data on the SYN is lost
//! (the peer retransmits it).

use crate::isn::write_tuple;
use crate::seq::SeqNum;
use crate::siphash::SipHasher24;
use crate::time::Instant;
use crate::wire::ipv4::Ipv4Addr;

/// The 128-bit key of the cookie MAC. Independent of the ISN secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSecret(pub [u8; 16]);

impl core::fmt::Debug for CookieSecret {
    /// Never prints the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

/// The MSS values a cookie can carry, ascending. A SYN's MSS is rounded down to one of
/// them: 88 (Linux's floor on any MSS, for absurdly small peers), 536 (the RFC 9293
/// section 3.7.1 default), 1220 (IPv6-in-IPv4 tunnels), 1300, 1380 (VPNs and clamped
/// paths), 1440, 1452 (PPPoE) and 1460 (Ethernet).
pub const MSS_TABLE: [u16; 8] = [88, 536, 1220, 1300, 1380, 1440, 1452, 1460];

/// Length of one counter period, in microseconds (64 seconds).
pub const PERIOD_MICROS: u64 = 64_000_000;

/// How many periods old a cookie may be and still be accepted.
pub const MAX_AGE_PERIODS: u64 = 2;

const TAG_WHITEN: u8 = 0x11;
const TAG_MAC: u8 = 0x12;
const COUNTER_SHIFT: u32 = 27;
const COUNTER_MASK: u64 = 0x1f;
const INDEX_SHIFT: u32 = 24;
const INDEX_MASK: u32 = 0x7;
const MAC_MASK: u32 = 0x00ff_ffff;

/// The index in [`MSS_TABLE`] of the largest entry not above `mss` (0 if `mss` is below
/// every entry).
pub fn mss_index(mss: u16) -> usize {
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0)
}

/// The MSS a cookie for a SYN advertising `mss` will restore: `mss` rounded down to
/// [`MSS_TABLE`].
pub fn cookie_mss(mss: u16) -> u16 {
    MSS_TABLE
        .get(mss_index(mss))
        .copied()
        .unwrap_or(MSS_TABLE[0])
}

fn counter(now: Instant) -> u64 {
    now.micros() / PERIOD_MICROS
}

fn hasher(
    secret: &CookieSecret,
    tag: u8,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    peer_isn: SeqNum,
) -> SipHasher24 {
    let mut h = SipHasher24::new(&secret.0);
    h.write_u8(tag);
    write_tuple(&mut h, local, remote);
    h.write_u32_be(peer_isn.0);
    h
}

fn whitening(
    secret: &CookieSecret,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    peer_isn: SeqNum,
) -> u32 {
    // The low 32 bits of the PRF output.
    hasher(secret, TAG_WHITEN, local, remote, peer_isn).finish() as u32
}

fn mac(
    secret: &CookieSecret,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    peer_isn: SeqNum,
    count: u64,
    index: u32,
) -> u32 {
    let mut h = hasher(secret, TAG_MAC, local, remote, peer_isn);
    h.write_u64_be(count);
    h.write_u32_be(index);
    (h.finish() as u32) & MAC_MASK
}

/// The cookie to use as the ISN of a SYN-ACK answering a SYN from `remote` to `local` with
/// sequence number `peer_isn` and MSS option `mss` (536 if the SYN had none, RFC 9293
/// section 3.7.1), at `now`.
pub fn encode(
    secret: &CookieSecret,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    peer_isn: SeqNum,
    mss: u16,
    now: Instant,
) -> SeqNum {
    let count = counter(now);
    // mss_index is below MSS_TABLE.len() == 8, so the cast is lossless.
    let index = mss_index(mss) as u32 & INDEX_MASK;
    // Truncating the counter to its low 5 bits is the layout.
    let inner = (((count & COUNTER_MASK) as u32) << COUNTER_SHIFT)
        | (index << INDEX_SHIFT)
        | mac(secret, local, remote, peer_isn, count, index);
    SeqNum(inner.wrapping_add(whitening(secret, local, remote, peer_isn)))
}

/// Check a cookie: `cookie` is the acknowledgment number of the handshake's final ACK
/// minus one, `peer_isn` its sequence number minus one. Returns the MSS recorded in the
/// cookie, or `None` if the cookie was not made with `secret` for this 4-tuple and ISN, or
/// is more than [`MAX_AGE_PERIODS`] periods old (or from the future).
pub fn decode(
    secret: &CookieSecret,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    peer_isn: SeqNum,
    cookie: SeqNum,
    now: Instant,
) -> Option<u16> {
    let inner = cookie
        .0
        .wrapping_sub(whitening(secret, local, remote, peer_isn));
    let now_count = counter(now);
    let low = u64::from(inner >> COUNTER_SHIFT);
    let age = now_count.wrapping_sub(low) & COUNTER_MASK;
    if age > MAX_AGE_PERIODS {
        return None;
    }
    let count = now_count.checked_sub(age)?;
    let index = (inner >> INDEX_SHIFT) & INDEX_MASK;
    if inner & MAC_MASK != mac(secret, local, remote, peer_isn, count, index) {
        return None;
    }
    MSS_TABLE.get(usize::try_from(index).ok()?).copied()
}

/// TCP options of a SYN that a cookie can carry in the TSval of the SYN-ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CookieOptions {
    /// The peer's window scale shift (RFC 7323 section 2), `None` if its SYN had no
    /// Window Scale option.
    pub wscale: Option<u8>,
    /// The peer's SYN carried SACK-permitted (RFC 2018 section 2).
    pub sack_permitted: bool,
}

/// Bits 0..4 of the TSval: the window scale shift, or [`TS_NO_WSCALE`].
const TS_WSCALE_MASK: u32 = 0x0f;
/// The wscale field value meaning "no Window Scale option".
const TS_NO_WSCALE: u32 = 0x0f;
/// Bit 4 of the TSval: SACK permitted.
const TS_SACK: u32 = 0x10;
/// All bits the options occupy.
const TS_OPTION_BITS: u32 = 0x1f;
/// RFC 7323 section 2.3: the largest valid shift.
const MAX_WSCALE: u8 = crate::wire::tcp::MAX_WINDOW_SHIFT;

/// The TSval to put in a cookie SYN-ACK instead of `tsval`: its low 5 bits replaced by the
/// options (4 bits of window scale shift, 15 meaning none; 1 bit of SACK-permitted).
///
/// The result is never after `tsval` (it is at most 31 ticks before it): RFC 7323 section
/// 5.4 requires TSval values to be monotone non-decreasing, and a value ahead of the
/// clock would make the next real TSval look older to the peer's PAWS check.
pub fn encode_timestamp(tsval: u32, opts: CookieOptions) -> u32 {
    let ws = match opts.wscale {
        Some(s) => u32::from(s.min(MAX_WSCALE)),
        None => TS_NO_WSCALE,
    };
    let bits = ws | if opts.sack_permitted { TS_SACK } else { 0 };
    let mut ts = (tsval & !TS_OPTION_BITS) | bits;
    // Compare in 32-bit sequence space (TSval wraps like a sequence number).
    if (ts.wrapping_sub(tsval) as i32) > 0 {
        ts = ts.wrapping_sub(TS_OPTION_BITS + 1);
    }
    ts
}

/// The options a cookie SYN-ACK stored with [`encode_timestamp`], from the TSecr of the
/// handshake's final ACK. A window scale above 14 (only possible if the peer tampered with
/// the echo) is read as 14, as RFC 7323 section 2.3 prescribes for received shifts.
pub fn decode_timestamp(tsecr: u32) -> CookieOptions {
    let ws = tsecr & TS_WSCALE_MASK;
    CookieOptions {
        wscale: if ws == TS_NO_WSCALE {
            None
        } else {
            // ws < 15 here, so the cast is lossless.
            Some((ws as u8).min(MAX_WSCALE))
        },
        sack_permitted: tsecr & TS_SACK != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const SECRET: CookieSecret = CookieSecret([7; 16]);
    const LOCAL: (Ipv4Addr, u16) = (Ipv4Addr([192, 0, 2, 1]), 80);
    const REMOTE: (Ipv4Addr, u16) = (Ipv4Addr([198, 51, 100, 9]), 51515);
    const ISN: SeqNum = SeqNum(0xdead_beef);
    const T0: Instant = Instant(1_000 * PERIOD_MICROS + 5_000_000);

    fn cookie(mss: u16, now: Instant) -> SeqNum {
        encode(&SECRET, LOCAL, REMOTE, ISN, mss, now)
    }

    fn check(c: SeqNum, now: Instant) -> Option<u16> {
        decode(&SECRET, LOCAL, REMOTE, ISN, c, now)
    }

    // Round trip (RFC 4987 3.6: the listener recovers its state from the ACK).

    #[test]
    fn round_trip_every_table_entry() {
        for &m in MSS_TABLE.iter() {
            assert_eq!(check(cookie(m, T0), T0), Some(m));
        }
    }

    #[test]
    fn round_trip_across_counter_wrap_of_the_five_bit_field() {
        for k in 28..40u64 {
            let now = Instant(k * PERIOD_MICROS);
            let c = cookie(1460, now);
            assert_eq!(
                check(c, now + Duration::from_secs(100)),
                Some(1460),
                "k={k}"
            );
        }
    }

    #[test]
    fn encoding_is_deterministic() {
        assert_eq!(cookie(1460, T0), cookie(1460, T0 + Duration::from_secs(1)));
        assert_ne!(cookie(1460, T0), cookie(536, T0));
    }

    // MSS rounding down to the table.

    #[test]
    fn mss_rounds_down_to_the_table() {
        assert_eq!(cookie_mss(1460), 1460);
        assert_eq!(cookie_mss(1459), 1452);
        assert_eq!(cookie_mss(9000), 1460);
        assert_eq!(cookie_mss(1400), 1380);
        assert_eq!(cookie_mss(536), 536);
        assert_eq!(cookie_mss(1000), 536);
        assert_eq!(cookie_mss(535), 88);
        assert_eq!(cookie_mss(0), 88);
        assert_eq!(check(cookie(1459, T0), T0), Some(1452));
        assert_eq!(check(cookie(65535, T0), T0), Some(1460));
    }

    #[test]
    fn table_is_strictly_ascending_and_fits_three_bits() {
        assert!(MSS_TABLE.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(MSS_TABLE.len(), (INDEX_MASK + 1) as usize);
    }

    // Authentication: a cookie is bound to the secret, the 4-tuple and the peer's ISN.

    #[test]
    fn wrong_secret_rejected() {
        let c = cookie(1460, T0);
        let other = CookieSecret([8; 16]);
        assert_eq!(decode(&other, LOCAL, REMOTE, ISN, c, T0), None);
    }

    #[test]
    fn wrong_tuple_rejected() {
        let c = cookie(1460, T0);
        let other_port = (REMOTE.0, REMOTE.1 + 1);
        let other_addr = (Ipv4Addr([198, 51, 100, 10]), REMOTE.1);
        let other_local = (LOCAL.0, 443);
        assert_eq!(decode(&SECRET, LOCAL, other_port, ISN, c, T0), None);
        assert_eq!(decode(&SECRET, LOCAL, other_addr, ISN, c, T0), None);
        assert_eq!(decode(&SECRET, other_local, REMOTE, ISN, c, T0), None);
        assert_eq!(decode(&SECRET, REMOTE, LOCAL, ISN, c, T0), None);
    }

    #[test]
    fn wrong_peer_isn_rejected() {
        let c = cookie(1460, T0);
        assert_eq!(decode(&SECRET, LOCAL, REMOTE, ISN + 1, c, T0), None);
    }

    #[test]
    fn altered_cookie_rejected() {
        let c = cookie(1460, T0);
        for bit in 0..32 {
            assert_eq!(check(SeqNum(c.0 ^ (1 << bit)), T0), None, "bit {bit}");
        }
    }

    #[test]
    fn random_guesses_rejected() {
        // 2^-24 per guess: none of a few thousand fixed guesses should pass.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            assert_eq!(check(SeqNum(x), T0), None);
        }
    }

    // Expiry: up to MAX_AGE_PERIODS counter periods old.

    #[test]
    fn accepted_up_to_two_periods_old() {
        let start = Instant(1_000 * PERIOD_MICROS);
        let c = cookie(1440, start);
        assert_eq!(check(c, start), Some(1440));
        assert_eq!(check(c, Instant(1_001 * PERIOD_MICROS)), Some(1440));
        assert_eq!(check(c, Instant(1_003 * PERIOD_MICROS - 1)), Some(1440));
    }

    #[test]
    fn rejected_after_expiry() {
        let start = Instant(1_000 * PERIOD_MICROS);
        let c = cookie(1440, start);
        assert_eq!(check(c, Instant(1_003 * PERIOD_MICROS)), None);
        assert_eq!(check(c, Instant(1_010 * PERIOD_MICROS)), None);
        // 32 periods later the 5-bit counter matches again, but the MAC covers the full
        // counter.
        assert_eq!(check(c, Instant(1_032 * PERIOD_MICROS)), None);
    }

    #[test]
    fn cookie_from_the_future_rejected() {
        let c = cookie(1440, Instant(1_005 * PERIOD_MICROS));
        assert_eq!(check(c, Instant(1_004 * PERIOD_MICROS)), None);
    }

    #[test]
    fn early_clock_does_not_underflow() {
        let c = cookie(536, Instant(0));
        assert_eq!(check(c, Instant(0)), Some(536));
        // A cookie claiming to be older than the epoch.
        let forged = SeqNum(c.0.wrapping_sub(1 << COUNTER_SHIFT));
        assert_eq!(check(forged, Instant(0)), None);
    }

    // Options carried in the timestamp (RFC 7323) when the peer uses timestamps.

    #[test]
    fn timestamp_round_trip_of_options() {
        let cases = [
            CookieOptions {
                wscale: None,
                sack_permitted: false,
            },
            CookieOptions {
                wscale: None,
                sack_permitted: true,
            },
            CookieOptions {
                wscale: Some(0),
                sack_permitted: false,
            },
            CookieOptions {
                wscale: Some(7),
                sack_permitted: true,
            },
            CookieOptions {
                wscale: Some(14),
                sack_permitted: true,
            },
        ];
        for tsval in [0u32, 31, 32, 1_000_003, u32::MAX] {
            for opts in cases {
                let ts = encode_timestamp(tsval, opts);
                assert_eq!(decode_timestamp(ts), opts, "tsval {tsval}");
            }
        }
    }

    #[test]
    fn timestamp_never_runs_ahead_of_the_clock() {
        let opts = CookieOptions {
            wscale: Some(14),
            sack_permitted: true,
        };
        for tsval in [0u32, 5, 31, 32, 100, 0xffff_ffe0, u32::MAX] {
            let ts = encode_timestamp(tsval, opts);
            let behind = tsval.wrapping_sub(ts);
            assert!(behind < 32, "tsval {tsval} ts {ts}");
        }
    }

    #[test]
    fn timestamp_wscale_clamped_to_fourteen() {
        let ts = encode_timestamp(
            1 << 20,
            CookieOptions {
                wscale: Some(20),
                sack_permitted: false,
            },
        );
        assert_eq!(decode_timestamp(ts).wscale, Some(14));
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        assert_eq!(std::format!("{SECRET:?}"), "CookieSecret(..)");
    }
}
