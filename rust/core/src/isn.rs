//! Initial sequence numbers, RFC 6528.
//!
//! RFC 6528 section 3: "ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! where M is the 4 microsecond timer, and F() is a pseudorandom function (PRF) of the
//! connection-id". Here F is SipHash-2-4 ([`crate::siphash`]) keyed with a 128-bit secret
//! that the glue draws from the kernel's random pool when the module loads.
//!
//! The timer keeps successive incarnations of the same 4-tuple moving forward through the
//! sequence space (the RFC 9293 section 3.4.1 clock-driven ISN), while F makes the ISN
//! of one connection unpredictable to anyone who does not know the secret, even after
//! observing other connections (RFC 6528 section 3: "F() MUST NOT be computable from the
//! outside").
//!
//! RFC 6528 section 3 also suggests changing the secret from time to time; a new secret
//! makes the ISN of a 4-tuple jump, which is safe only once no old duplicate can be around,
//! so partcp keeps one secret for the life of the module, as Linux does.

use crate::seq::SeqNum;
use crate::siphash::SipHasher24;
use crate::time::Instant;
use crate::wire::ipv4::Ipv4Addr;

/// The 128-bit secret key of F (RFC 6528 section 3, "secretkey").
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IsnSecret(pub [u8; 16]);

impl core::fmt::Debug for IsnSecret {
    /// Never prints the key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnSecret(..)")
    }
}

/// Domain separation: the first byte hashed, so one key never yields the same value for
/// two purposes.
const TAG_ISN: u8 = 0x01;
const TAG_TS_OFFSET: u8 = 0x02;

/// Feed a connection identifier (local address and port, then remote) to `h`, in network
/// byte order. Shared with [`crate::syncookie`].
pub(crate) fn write_tuple(h: &mut SipHasher24, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) {
    h.write(&local.0 .0);
    h.write_u16_be(local.1);
    h.write(&remote.0 .0);
    h.write_u16_be(remote.1);
}

/// The keyed hash `F` of RFC 6528 section 3 for one connection identifier.
fn keyed(secret: &[u8; 16], tag: u8, local: (Ipv4Addr, u16), remote: (Ipv4Addr, u16)) -> u32 {
    let mut h = SipHasher24::new(secret);
    h.write_u8(tag);
    write_tuple(&mut h, local, remote);
    // The low 32 bits of a PRF output are a PRF output.
    h.finish() as u32
}

/// M of RFC 6528 section 3: a 32-bit counter that ticks every 4 microseconds (it wraps
/// every 4.77 hours, as the RFC 9293 section 3.4.1 clock does).
pub fn isn_clock(now: Instant) -> u32 {
    // Truncation to 32 bits is the counter wrapping.
    (now.micros() / 4) as u32
}

/// The initial send sequence number for a connection from `local` to `remote` at `now`:
/// RFC 6528 section 3, `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`.
pub fn initial_seq(
    secret: &IsnSecret,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    now: Instant,
) -> SeqNum {
    SeqNum(isn_clock(now).wrapping_add(keyed(&secret.0, TAG_ISN, local, remote)))
}

/// A per-connection offset for the RFC 7323 TSval clock.
///
/// RFC 7323's security considerations (section 7) note that a global timestamp clock
/// reveals uptime and lets observers correlate connections; adding a keyed per-4-tuple offset (as Linux does) hides both while keeping
/// TSval monotonic within a connection. Derived from the same secret as the ISN, with a
/// different domain tag.
pub fn timestamp_offset(
    secret: &IsnSecret,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
) -> u32 {
    keyed(&secret.0, TAG_TS_OFFSET, local, remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::siphash24;
    use crate::time::Duration;

    const SECRET: IsnSecret = IsnSecret([
        0x5e, 0xc1, 0x2e, 0x70, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
        0x0c,
    ]);
    const A: (Ipv4Addr, u16) = (Ipv4Addr([10, 0, 0, 1]), 40000);
    const B: (Ipv4Addr, u16) = (Ipv4Addr([192, 0, 2, 7]), 80);

    // RFC 6528 section 3: M, the 4 microsecond timer.

    #[test]
    fn clock_ticks_every_four_microseconds() {
        assert_eq!(isn_clock(Instant(0)), 0);
        assert_eq!(isn_clock(Instant(3)), 0);
        assert_eq!(isn_clock(Instant(4)), 1);
        assert_eq!(isn_clock(Instant(4_000_000)), 1_000_000);
    }

    #[test]
    fn clock_wraps_modulo_two_to_the_32() {
        let wrap = 4 * (1u64 << 32);
        assert_eq!(isn_clock(Instant(wrap)), 0);
        assert_eq!(isn_clock(Instant(wrap + 8)), 2);
    }

    #[test]
    fn isn_advances_with_the_clock_for_a_fixed_tuple() {
        let t0 = Instant(1_000_000);
        let a = initial_seq(&SECRET, A, B, t0);
        let b = initial_seq(&SECRET, A, B, t0 + Duration::from_micros(400));
        assert_eq!(b - a, 100);
        let c = initial_seq(&SECRET, A, B, t0 + Duration::from_secs(1));
        assert_eq!(c - a, 250_000);
    }

    // RFC 6528 section 3: F, the keyed function of the connection-id.

    #[test]
    fn isn_is_clock_plus_siphash_of_the_tuple() {
        let mut msg = [0u8; 13];
        msg[0] = TAG_ISN;
        msg[1..5].copy_from_slice(&A.0 .0);
        msg[5..7].copy_from_slice(&A.1.to_be_bytes());
        msg[7..11].copy_from_slice(&B.0 .0);
        msg[11..13].copy_from_slice(&B.1.to_be_bytes());
        let f = siphash24(&SECRET.0, &msg) as u32;
        let now = Instant(123_456_789);
        assert_eq!(
            initial_seq(&SECRET, A, B, now),
            SeqNum(isn_clock(now).wrapping_add(f))
        );
    }

    #[test]
    fn isn_depends_on_every_tuple_field() {
        let now = Instant(42);
        let base = initial_seq(&SECRET, A, B, now);
        let variants = [
            ((Ipv4Addr([10, 0, 0, 2]), A.1), B),
            ((A.0, A.1 + 1), B),
            (A, (Ipv4Addr([192, 0, 2, 8]), B.1)),
            (A, (B.0, B.1 + 1)),
            (B, A),
        ];
        for (l, r) in variants {
            assert_ne!(initial_seq(&SECRET, l, r, now), base, "{l:?} {r:?}");
        }
    }

    #[test]
    fn isn_depends_on_the_secret() {
        let mut other = SECRET;
        other.0[0] ^= 0x80;
        let now = Instant(42);
        assert_ne!(
            initial_seq(&SECRET, A, B, now),
            initial_seq(&other, A, B, now)
        );
    }

    #[test]
    fn isns_of_neighbouring_ports_look_unrelated() {
        // The difference between ISNs of consecutive ports must not be constant: an
        // attacker observing one connection learns nothing about the next.
        let now = Instant(0);
        let mut diffs = [0i32; 8];
        for (i, d) in diffs.iter_mut().enumerate() {
            let p = 50000 + i as u16;
            let x = initial_seq(&SECRET, (A.0, p), B, now);
            let y = initial_seq(&SECRET, (A.0, p + 1), B, now);
            *d = y - x;
        }
        assert!(diffs.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn timestamp_offset_is_keyed_and_separate_from_isn() {
        let off = timestamp_offset(&SECRET, A, B);
        assert_eq!(off, timestamp_offset(&SECRET, A, B));
        assert_ne!(off, timestamp_offset(&SECRET, B, A));
        assert_ne!(off, initial_seq(&SECRET, A, B, Instant(0)).0);
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let s = std::format!("{SECRET:?}");
        assert_eq!(s, "IsnSecret(..)");
    }
}
