//! A seeded, deterministic, lossy network link for two-endpoint simulations.
//!
//! The link carries opaque packets (whole IPv4 datagrams, typically) between endpoint A
//! and endpoint B in virtual time. Each direction is an independent path:
//!
//! ```text
//!  send(now) -> drop filter -> random loss -> bottleneck queue (tail drop)
//!            -> serialization at `bandwidth_bps` -> propagation `delay`
//!            -> [reordering: extra delay] -> [corruption] -> [duplication] -> delivery
//! ```
//!
//! Everything random comes from one seeded PRNG ([`Rng`], SplitMix64), so a simulation
//! that makes the same calls with the same seed sees exactly the same losses, delays and
//! corruptions. Probabilities are integers in parts per million ([`Prob`]): no floating
//! point, like the code under test.
//!
//! Use: call [`Link::send`] for every packet an endpoint emits, advance virtual time to
//! [`Link::next_delivery_time`] (or to an endpoint timer, whichever is earlier), and
//! drain [`Link::poll_deliver`] into the receiving endpoints.

#![allow(dead_code)]

use partcp_core::time::{Duration, Instant};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::vec::Vec;

/// Direction of travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From endpoint A to endpoint B.
    AtoB,
    /// From endpoint B to endpoint A.
    BtoA,
}

impl Dir {
    /// The opposite direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::AtoB => Dir::BtoA,
            Dir::BtoA => Dir::AtoB,
        }
    }

    fn index(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
}

/// A probability in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Prob(pub u32);

impl Prob {
    /// Never.
    pub const NEVER: Prob = Prob(0);
    /// Always.
    pub const ALWAYS: Prob = Prob(1_000_000);

    /// `n` percent.
    pub const fn percent(n: u32) -> Prob {
        Prob(n.saturating_mul(10_000))
    }

    /// `n` per thousand.
    pub const fn per_mille(n: u32) -> Prob {
        Prob(n.saturating_mul(1_000))
    }

    /// `n` per million.
    pub const fn ppm(n: u32) -> Prob {
        Prob(n)
    }
}

/// Impairments of one direction of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathConfig {
    /// One-way propagation delay, added after serialization.
    pub delay: Duration,
    /// Probability that a packet is lost (before the queue).
    pub loss: Prob,
    /// Probability that a delivered packet is delivered twice.
    pub duplicate: Prob,
    /// Probability that one random byte of a delivered packet is flipped (XOR with a
    /// non-zero value), so checksums catch it.
    pub corrupt: Prob,
    /// Probability that a packet is held back by an extra random delay, letting later
    /// packets overtake it.
    pub reorder: Prob,
    /// The largest extra delay of a reordered packet (uniform in `1..=reorder_delay` us).
    /// Also the largest extra delay of a duplicate copy.
    pub reorder_delay: Duration,
    /// Bottleneck rate in bits per second; `None` for infinite (no serialization delay,
    /// no queue).
    pub bandwidth_bps: Option<u64>,
    /// Bottleneck buffer in bytes: a packet arriving when this many bytes are still
    /// waiting to be serialized is dropped (tail drop). Ignored without a bandwidth.
    pub queue_bytes: usize,
}

impl Default for PathConfig {
    /// A perfect 10 ms path: no loss, no limit.
    fn default() -> Self {
        PathConfig {
            delay: Duration::from_millis(10),
            loss: Prob::NEVER,
            duplicate: Prob::NEVER,
            corrupt: Prob::NEVER,
            reorder: Prob::NEVER,
            reorder_delay: Duration::from_millis(5),
            bandwidth_bps: None,
            queue_bytes: 64 * 1024,
        }
    }
}

/// Counters of one direction (or both, summed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed to [`Link::send`].
    pub sent: u64,
    /// Packets handed out by [`Link::poll_deliver`] (duplicates included).
    pub delivered: u64,
    /// Packets dropped for any reason (the three below summed).
    pub dropped: u64,
    /// Dropped by the random loss process.
    pub dropped_random: u64,
    /// Dropped because the bottleneck queue was full.
    pub dropped_queue: u64,
    /// Dropped by the scripted drop filter.
    pub dropped_filter: u64,
    /// Extra copies scheduled.
    pub duplicated: u64,
    /// Packets with a byte flipped.
    pub corrupted: u64,
    /// Packets given an extra reordering delay.
    pub reordered: u64,
}

impl LinkStats {
    fn add(&self, o: &LinkStats) -> LinkStats {
        LinkStats {
            sent: self.sent + o.sent,
            delivered: self.delivered + o.delivered,
            dropped: self.dropped + o.dropped,
            dropped_random: self.dropped_random + o.dropped_random,
            dropped_queue: self.dropped_queue + o.dropped_queue,
            dropped_filter: self.dropped_filter + o.dropped_filter,
            duplicated: self.duplicated + o.duplicated,
            corrupted: self.corrupted + o.corrupted,
            reordered: self.reordered + o.reordered,
        }
    }
}

/// A small deterministic PRNG: SplitMix64 (Steele, Lea and Flood), good enough to drive
/// impairments and fully reproducible from its seed.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 if `n` is 0). The modulo bias is below 2^-40 for the small
    /// `n` used here.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: Prob) -> bool {
        if p.0 == 0 {
            return false;
        }
        self.below(1_000_000) < u64::from(p.0)
    }
}

/// A packet in flight.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    /// Tie-breaker: packets due at the same time leave in the order they were scheduled.
    order: u64,
    dir: Dir,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.order == other.order
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    /// Reversed, so the max-heap pops the earliest packet first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// A scripted drop decision: `(direction, index of the packet in that direction counting
/// from 0, bytes) -> drop?`.
pub type DropFilter = Box<dyn FnMut(Dir, u64, &[u8]) -> bool>;

/// Per-direction state.
struct Path {
    cfg: PathConfig,
    /// When the bottleneck transmitter finishes the last accepted packet.
    tx_free_at: Instant,
    stats: LinkStats,
}

/// A two-way lossy link between endpoints A and B, in virtual time.
pub struct Link {
    paths: [Path; 2],
    rng: Rng,
    queue: BinaryHeap<InFlight>,
    next_order: u64,
    filter: Option<DropFilter>,
    /// A stall: packets sent in this direction from the first instant until the
    /// second leave at the second (an ACK path stalled past the RTO).
    stall: Option<(Dir, Instant, Instant)>,
}

impl Link {
    /// A symmetric link: both directions use `cfg`; randomness from `seed`.
    pub fn new(cfg: PathConfig, seed: u64) -> Link {
        Link::asymmetric(cfg, cfg, seed)
    }

    /// A link whose A-to-B and B-to-A directions have their own impairments.
    pub fn asymmetric(a_to_b: PathConfig, b_to_a: PathConfig, seed: u64) -> Link {
        let path = |cfg| Path {
            cfg,
            tx_free_at: Instant::ZERO,
            stats: LinkStats::default(),
        };
        Link {
            paths: [path(a_to_b), path(b_to_a)],
            rng: Rng::new(seed),
            queue: BinaryHeap::new(),
            next_order: 0,
            filter: None,
            stall: None,
        }
    }

    /// The configuration of one direction.
    pub fn config(&self, dir: Dir) -> PathConfig {
        self.paths[dir.index()].cfg
    }

    /// Change the impairments of one direction from now on (packets in flight keep their
    /// schedule).
    pub fn set_config(&mut self, dir: Dir, cfg: PathConfig) {
        self.paths[dir.index()].cfg = cfg;
    }

    /// Stall direction `dir` from `from` until `until`: what is sent meanwhile enters
    /// the path at `until`, in order (spaced by its bottleneck, if any).
    pub fn set_stall(&mut self, dir: Dir, from: Instant, until: Instant) {
        self.stall = Some((dir, from, until));
    }

    /// Install a scripted drop filter, consulted before the random processes; e.g. drop
    /// the third packet from A: `|d, i, _| d == Dir::AtoB && i == 2`.
    pub fn set_drop_filter(&mut self, filter: impl FnMut(Dir, u64, &[u8]) -> bool + 'static) {
        self.filter = Some(Box::new(filter));
    }

    /// Remove the drop filter.
    pub fn clear_drop_filter(&mut self) {
        self.filter = None;
    }

    /// Serialization time of `len` bytes at `bps`, rounded up to a microsecond.
    fn serialization(len: usize, bps: u64) -> Duration {
        let bits = (len as u64).saturating_mul(8).saturating_mul(1_000_000);
        Duration::from_micros(bits.div_ceil(bps.max(1)))
    }

    fn schedule(&mut self, at: Instant, dir: Dir, bytes: Vec<u8>) {
        let order = self.next_order;
        self.next_order += 1;
        self.queue.push(InFlight {
            at,
            order,
            dir,
            bytes,
        });
    }

    /// Hand a packet to the link at `now`, travelling in direction `dir`.
    pub fn send(&mut self, now: Instant, dir: Dir, mut bytes: Vec<u8>) {
        let i = dir.index();
        let index = self.paths[i].stats.sent;
        self.paths[i].stats.sent += 1;
        let cfg = self.paths[i].cfg;

        if let Some(f) = self.filter.as_mut() {
            if f(dir, index, &bytes) {
                let s = &mut self.paths[i].stats;
                s.dropped += 1;
                s.dropped_filter += 1;
                return;
            }
        }
        if self.rng.chance(cfg.loss) {
            let s = &mut self.paths[i].stats;
            s.dropped += 1;
            s.dropped_random += 1;
            return;
        }

        // A stalled direction sends nothing before the stall ends.
        let now = match self.stall {
            Some((d, from, until)) if d == dir && now >= from && now < until => until,
            _ => now,
        };
        // Bottleneck: the bytes still waiting at `now` are those the transmitter will
        // need until `tx_free_at` to send.
        let departure = match cfg.bandwidth_bps {
            None => now,
            Some(bps) => {
                let path = &mut self.paths[i];
                let busy_us = (path.tx_free_at - now).micros();
                let backlog = busy_us.saturating_mul(bps) / 8 / 1_000_000;
                if backlog.saturating_add(bytes.len() as u64) > cfg.queue_bytes as u64 {
                    path.stats.dropped += 1;
                    path.stats.dropped_queue += 1;
                    return;
                }
                let start = if path.tx_free_at > now {
                    path.tx_free_at
                } else {
                    now
                };
                path.tx_free_at = start + Self::serialization(bytes.len(), bps);
                path.tx_free_at
            }
        };
        let mut arrival = departure + cfg.delay;

        if self.rng.chance(cfg.reorder) {
            let extra = 1 + self.rng.below(cfg.reorder_delay.micros().max(1));
            arrival += Duration::from_micros(extra);
            self.paths[i].stats.reordered += 1;
        }
        if !bytes.is_empty() && self.rng.chance(cfg.corrupt) {
            let pos = self.rng.below(bytes.len() as u64) as usize;
            let flip = 1 + self.rng.below(255) as u8;
            bytes[pos] ^= flip;
            self.paths[i].stats.corrupted += 1;
        }
        if self.rng.chance(cfg.duplicate) {
            let extra = self.rng.below(cfg.reorder_delay.micros().max(1));
            let copy = bytes.clone();
            self.schedule(arrival + Duration::from_micros(extra), dir, copy);
            self.paths[i].stats.duplicated += 1;
        }
        self.schedule(arrival, dir, bytes);
    }

    /// When the next packet will be delivered, if any is in flight.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.queue.peek().map(|p| p.at)
    }

    /// The next packet due at or before `now` (earliest first; packets due at the same
    /// instant in the order they were scheduled), or `None`.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<(Dir, Vec<u8>)> {
        if self.queue.peek()?.at > now {
            return None;
        }
        let p = self.queue.pop()?;
        self.paths[p.dir.index()].stats.delivered += 1;
        Some((p.dir, p.bytes))
    }

    /// Packets currently in flight (both directions).
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Counters of one direction.
    pub fn dir_stats(&self, dir: Dir) -> LinkStats {
        self.paths[dir.index()].stats
    }

    /// Counters of both directions summed.
    pub fn stats(&self) -> LinkStats {
        self.paths[0].stats.add(&self.paths[1].stats)
    }
}
