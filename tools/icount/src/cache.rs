//! A cache model of the paper's machine (AMD Opteron 275): per CPU a 64 KB 2-way L1 data
//! cache and a 1 MB 16-way L2, 64-byte lines, LRU replacement; a store removes the line
//! from every other CPU's caches (write-invalidate), so a line that moves between CPUs
//! misses where it arrives.
//!
//! What it leaves out: timing of any kind, prefetching, the instruction cache and TLBs,
//! write-back traffic, inclusion between L1 and L2 (the levels are filled independently),
//! accesses that straddle two lines (counted on the first), and the exact MOESI states
//! (a load never invalidates; a store always invalidates the other copies).

/// Line size, in bytes (log2).
pub const LINE_SHIFT: u32 = 6;

/// One set-associative level of one CPU, LRU.
pub struct Level {
    ways: usize,
    set_mask: u64,
    /// `sets * ways` line numbers; within a set, index 0 is the most recently used.
    lines: Vec<u64>,
}

const EMPTY: u64 = u64::MAX;

impl Level {
    /// A level of `size` bytes with `ways` ways (the set count must be a power of two).
    pub fn new(size: usize, ways: usize) -> Level {
        let sets = (size >> LINE_SHIFT) / ways;
        assert!(sets.is_power_of_two(), "set count must be a power of two");
        Level { ways, set_mask: sets as u64 - 1, lines: vec![EMPTY; sets * ways] }
    }

    fn set(&mut self, line: u64) -> &mut [u64] {
        let s = (line & self.set_mask) as usize * self.ways;
        &mut self.lines[s..s + self.ways]
    }

    /// Looks `line` up; on a miss fills it, evicting the set's least recently used line.
    /// Returns whether it hit.
    pub fn access(&mut self, line: u64) -> bool {
        let set = self.set(line);
        match set.iter().position(|&l| l == line) {
            Some(i) => {
                set[..=i].rotate_right(1);
                true
            }
            None => {
                set.rotate_right(1);
                set[0] = line;
                false
            }
        }
    }

    /// Whether `line` is present (no LRU update).
    pub fn contains(&self, line: u64) -> bool {
        let s = (line & self.set_mask) as usize * self.ways;
        self.lines[s..s + self.ways].contains(&line)
    }

    /// Removes `line`; returns whether it was present.
    pub fn invalidate(&mut self, line: u64) -> bool {
        let set = self.set(line);
        match set.iter().position(|&l| l == line) {
            Some(i) => {
                // Move the hole to the LRU end.
                set[i..].rotate_left(1);
                *set.last_mut().unwrap() = EMPTY;
                true
            }
            None => false,
        }
    }
}

/// What one CPU's accesses did.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Stats {
    pub accesses: u64,
    pub l1_misses: u64,
    pub l2_misses: u64,
    /// L2 misses for a line another CPU's cache held (a transfer between CPUs).
    pub remote: u64,
    /// Stores that removed the line from at least one other CPU's caches.
    pub invalidations: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.accesses += o.accesses;
        self.l1_misses += o.l1_misses;
        self.l2_misses += o.l2_misses;
        self.remote += o.remote;
        self.invalidations += o.invalidations;
    }
}

struct Cpu {
    l1: Level,
    l2: Level,
    stats: Stats,
}

/// Every CPU's caches.
pub struct System {
    cpus: Vec<Cpu>,
}

/// The paper's L1 data cache: 64 KB, 2-way.
pub const L1: (usize, usize) = (64 << 10, 2);
/// The paper's L2: 1 MB, 16-way.
pub const L2: (usize, usize) = (1 << 20, 16);

impl System {
    /// `n` CPUs with the given (size, ways) levels.
    pub fn new(n: usize, l1: (usize, usize), l2: (usize, usize)) -> System {
        System {
            cpus: (0..n)
                .map(|_| Cpu { l1: Level::new(l1.0, l1.1), l2: Level::new(l2.0, l2.1), stats: Stats::default() })
                .collect(),
        }
    }

    /// One access by `cpu` to byte address `addr`.
    pub fn access(&mut self, cpu: usize, addr: u64, store: bool) {
        let line = addr >> LINE_SHIFT;
        let (before, rest) = self.cpus.split_at_mut(cpu);
        let Some((me, after)) = rest.split_first_mut() else { return };
        me.stats.accesses += 1;
        if !me.l1.access(line) {
            me.stats.l1_misses += 1;
            if !me.l2.access(line) {
                me.stats.l2_misses += 1;
                if before.iter().chain(after.iter()).any(|o| o.l1.contains(line) || o.l2.contains(line)) {
                    me.stats.remote += 1;
                }
            }
        }
        if store {
            let mut any = false;
            for o in before.iter_mut().chain(after.iter_mut()) {
                // Both levels: no short-circuit.
                let a = o.l1.invalidate(line);
                let b = o.l2.invalidate(line);
                any |= a | b;
            }
            if any {
                me.stats.invalidations += 1;
            }
        }
    }

    /// The sum over every CPU.
    pub fn total(&self) -> Stats {
        let mut t = Stats::default();
        for c in &self.cpus {
            t += c.stats;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_of_the_papers_levels() {
        let l1 = Level::new(L1.0, L1.1);
        assert_eq!(l1.lines.len(), 1024); // 64 KB / 64 B
        assert_eq!(l1.set_mask, 511);
        let l2 = Level::new(L2.0, L2.1);
        assert_eq!(l2.lines.len(), 16384);
        assert_eq!(l2.set_mask, 1023);
    }

    #[test]
    fn lru_within_a_set() {
        // 2 sets of 2 ways: lines 0, 2, 4 share set 0.
        let mut l = Level::new(4 << LINE_SHIFT, 2);
        assert!(!l.access(0));
        assert!(!l.access(2));
        assert!(l.access(0)); // 0 is now the most recent
        assert!(!l.access(4)); // evicts 2
        assert!(l.contains(0) && l.contains(4) && !l.contains(2));
        assert!(!l.access(1)); // other set, no eviction in set 0
        assert!(l.contains(0) && l.contains(4));
    }

    #[test]
    fn invalidate_removes_only_that_line() {
        let mut l = Level::new(4 << LINE_SHIFT, 2);
        l.access(0);
        l.access(2);
        assert!(l.invalidate(2));
        assert!(!l.invalidate(2));
        assert!(l.contains(0) && !l.contains(2));
        // The freed way is used before the live line is evicted.
        assert!(!l.access(4));
        assert!(l.contains(0) && l.contains(4));
    }

    #[test]
    fn same_line_hits_and_misses() {
        let mut s = System::new(1, L1, L2);
        s.access(0, 0x1000, false);
        s.access(0, 0x1008, false); // same 64-byte line
        s.access(0, 0x1040, false); // next line
        assert_eq!(s.total(), Stats { accesses: 3, l1_misses: 2, l2_misses: 2, remote: 0, invalidations: 0 });
    }

    #[test]
    fn l1_conflict_misses_hit_in_l2() {
        let mut s = System::new(1, L1, L2);
        // Three lines 32 KB apart map to one L1 set (512 sets x 64 B) but fit the L2.
        for a in [0u64, 32 << 10, 64 << 10, 0] {
            s.access(0, a, false);
        }
        let t = s.total();
        assert_eq!((t.l1_misses, t.l2_misses), (4, 3));
    }

    #[test]
    fn a_store_moves_the_line_between_cpus() {
        let mut s = System::new(2, L1, L2);
        s.access(0, 0x40, false);
        s.access(1, 0x40, false); // both hold it; cpu 1's miss is a remote one
        assert_eq!(s.total().remote, 1);
        s.access(1, 0x40, true); // cpu 1 writes: cpu 0 loses its copy
        assert_eq!(s.total().invalidations, 1);
        s.access(0, 0x40, false); // misses again, served from cpu 1
        let t = s.total();
        assert_eq!((t.accesses, t.l2_misses, t.remote, t.invalidations), (4, 3, 2, 1));
        // A store to a line nobody else holds invalidates nothing.
        s.access(0, 0x80, true);
        assert_eq!(s.total().invalidations, 1);
    }
}
