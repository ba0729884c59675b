//! TCP sequence numbers: 32-bit values compared in wrapping arithmetic.
//!
//! RFC 9293, section 3.4: "the sequence number space ranges from 0 to 2**32 - 1 ... all
//! arithmetic dealing with sequence numbers must be performed modulo 2**32". Two sequence
//! numbers are ordered by the sign of their 32-bit wrapping difference, which is meaningful
//! only while they are less than 2**31 apart; the receive and send windows guarantee that.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence (or acknowledgment) number.
///
/// `PartialOrd` compares in sequence space (`a < b` iff `(b - a) as i32 > 0`), so the order
/// is not transitive across more than half the space; `Ord` is deliberately not provided.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `other` to `self`: positive when `self` is after `other`.
    #[inline]
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Unsigned distance from `earlier` to `self`, for callers that know `self >= earlier`.
    ///
    /// Returns 0 if `self` is actually before `earlier`, so a violated precondition
    /// cannot become a huge length.
    #[inline]
    pub const fn since(self, earlier: SeqNum) -> usize {
        let d = self.diff(earlier);
        if d < 0 {
            0
        } else {
            d as usize
        }
    }

    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.diff(other) >= 0 {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.diff(other) <= 0 {
            self
        } else {
            other
        }
    }

    /// `lo <= self < hi` in sequence space (the window test of RFC 9293, section 3.4).
    #[inline]
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.diff(lo) >= 0 && hi.diff(self) > 0
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: usize) -> SeqNum {
        // Truncation is the point: sequence arithmetic is modulo 2**32.
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

impl SubAssign<usize> for SeqNum {
    #[inline]
    fn sub_assign(&mut self, rhs: usize) {
        *self = *self - rhs;
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = i32;
    /// Signed distance, as [`SeqNum::diff`].
    #[inline]
    fn sub(self, rhs: SeqNum) -> i32 {
        self.diff(rhs)
    }
}

impl PartialOrd for SeqNum {
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::SeqNum;

    #[test]
    fn ordering_without_wrap() {
        assert!(SeqNum(1) < SeqNum(2));
        assert!(SeqNum(2) > SeqNum(1));
        assert!(SeqNum(7) <= SeqNum(7));
    }

    #[test]
    fn ordering_across_wrap() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b.0, 9);
        assert!(a < b);
        assert_eq!(b - a, 20);
        assert_eq!(a - b, -20);
        assert_eq!(b.since(a), 20);
        assert_eq!(a.since(b), 0);
    }

    #[test]
    fn max_min_across_wrap() {
        let a = SeqNum(u32::MAX);
        let b = SeqNum(3);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn in_range_is_half_open() {
        let lo = SeqNum(u32::MAX - 1);
        let hi = lo + 4;
        assert!(lo.in_range(lo, hi));
        assert!((lo + 3).in_range(lo, hi));
        assert!(!hi.in_range(lo, hi));
        assert!(!(lo - 1).in_range(lo, hi));
        assert!(!lo.in_range(lo, lo));
    }

    #[test]
    fn sub_and_assign_wrap() {
        let mut s = SeqNum(2);
        s -= 5;
        assert_eq!(s.0, u32::MAX - 2);
        s += 5;
        assert_eq!(s.0, 2);
    }
}
