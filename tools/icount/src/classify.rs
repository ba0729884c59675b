//! What an instruction counts as: user or kernel by its address, and within the kernel
//! the scheduler (`sched`) and wake-up (`wake`) paths by symbol ranges; and whether it is
//! one of partcp-bench's window markers.

/// Counter classes, in report order.
pub const CLASSES: [&str; 4] = ["user", "kernel", "sched", "wake"];
pub const USER: usize = 0;
pub const KERNEL: usize = 1;
pub const SCHED: usize = 2;
pub const WAKE: usize = 3;

/// x86-64 kernel addresses are the upper canonical half.
pub fn is_kernel(vaddr: u64) -> bool {
    vaddr >> 63 == 1
}

/// Sorted, non-overlapping `[start, end)` ranges with their class.
#[derive(Default, Debug)]
pub struct Ranges {
    r: Vec<(u64, u64, usize)>,
}

impl Ranges {
    /// Parses `START END CLASS` lines (hexadecimal addresses, class `sched` or `wake`);
    /// empty lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<Ranges, String> {
        let mut r = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("line {}: want START END sched|wake, got {line:?}", n + 1);
            let w: Vec<&str> = line.split_whitespace().collect();
            let [s, e, c] = w[..] else { return Err(bad()) };
            let hex = |x: &str| u64::from_str_radix(x.trim_start_matches("0x"), 16).map_err(|_| bad());
            let (s, e) = (hex(s)?, hex(e)?);
            let c = match c {
                "sched" => SCHED,
                "wake" => WAKE,
                _ => return Err(bad()),
            };
            if e <= s {
                return Err(bad());
            }
            r.push((s, e, c));
        }
        r.sort_unstable();
        if let Some(w) = r.windows(2).find(|w| w[1].0 < w[0].1) {
            return Err(format!("ranges overlap: {:x}..{:x} and {:x}..{:x}", w[0].0, w[0].1, w[1].0, w[1].1));
        }
        Ok(Ranges { r })
    }

    pub fn len(&self) -> usize {
        self.r.len()
    }

    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }

    /// The class of an instruction at `vaddr`.
    pub fn class(&self, vaddr: u64) -> usize {
        if !is_kernel(vaddr) {
            return USER;
        }
        let i = self.r.partition_point(|&(s, _, _)| s <= vaddr);
        match i.checked_sub(1).map(|i| self.r[i]) {
            Some((_, e, c)) if vaddr < e => c,
            _ => KERNEL,
        }
    }
}

/// A window marker: `nopl disp32(%rax,%rax,1)` with the displacement `PTCS`, `PTCE` or
/// `PTCI`; see tools/bench/src/mark.rs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Start = 1,
    End = 2,
    /// One tick of the next window's run id.
    Id = 3,
}

impl Marker {
    /// The marker an instruction's bytes are, if any.
    pub fn of(bytes: &[u8]) -> Option<Marker> {
        match bytes {
            [0x0f, 0x1f, 0x84, 0x00, b'P', b'T', b'C', b'S'] => Some(Marker::Start),
            [0x0f, 0x1f, 0x84, 0x00, b'P', b'T', b'C', b'E'] => Some(Marker::End),
            [0x0f, 0x1f, 0x84, 0x00, b'P', b'T', b'C', b'I'] => Some(Marker::Id),
            _ => None,
        }
    }

    /// From the callback's user data (`self as usize`).
    pub fn from_udata(u: usize) -> Option<Marker> {
        [Marker::Start, Marker::End, Marker::Id].into_iter().find(|&m| m as usize == u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_kernel_and_ranges() {
        let r = Ranges::parse(
            "# comment\nffffffff81da2010 ffffffff81da2fb0 sched\n\n0xffffffff813a64d0 ffffffff813a6b60 wake\n",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.class(0x401000), USER);
        assert_eq!(r.class(0x7fff_ffff_f000), USER);
        assert_eq!(r.class(0xffff_ffff_8100_0000), KERNEL);
        assert_eq!(r.class(0xffff_ffff_81da_2010), SCHED);
        assert_eq!(r.class(0xffff_ffff_81da_2faf), SCHED);
        assert_eq!(r.class(0xffff_ffff_81da_2fb0), KERNEL); // end is exclusive
        assert_eq!(r.class(0xffff_ffff_813a_64d0), WAKE);
        assert_eq!(r.class(0xffff_ffff_813a_64cf), KERNEL);
        assert_eq!(Ranges::default().class(0xffff_ffff_81da_2010), KERNEL);
    }

    #[test]
    fn bad_range_files() {
        for bad in ["1 2", "zz 10 sched", "10 5 sched", "1 2 idle", "10 20 sched\n15 30 wake", "1 2 sched x"] {
            assert!(Ranges::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn markers() {
        assert_eq!(Marker::of(&[0x0f, 0x1f, 0x84, 0x00, 0x50, 0x54, 0x43, 0x53]), Some(Marker::Start));
        assert_eq!(Marker::of(&[0x0f, 0x1f, 0x84, 0x00, 0x50, 0x54, 0x43, 0x45]), Some(Marker::End));
        assert_eq!(Marker::of(&[0x0f, 0x1f, 0x84, 0x00, 0x50, 0x54, 0x43, 0x49]), Some(Marker::Id));
        // The ordinary 8-byte NOP (displacement 0) and other lengths are not markers.
        assert_eq!(Marker::of(&[0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0]), None);
        assert_eq!(Marker::of(&[0x0f, 0x1f, 0x84, 0x00, 0x50, 0x54, 0x43]), None);
        for m in [Marker::Start, Marker::End, Marker::Id] {
            assert_eq!(Marker::from_udata(m as usize), Some(m));
        }
        assert_eq!(Marker::from_udata(0), None);
    }
}
