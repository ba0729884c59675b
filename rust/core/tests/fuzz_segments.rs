//! Bounded randomized version of the `segments` fuzz target: random inputs through the
//! same checker (`support/segfuzz.rs`) for a few seconds at most.

#[path = "support/segfuzz.rs"]
mod segfuzz;

use std::time::{Duration, Instant};

/// xorshift64*: the input generator.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn input(g: &mut Gen, len: usize) -> Vec<u8> {
    (0..len).map(|_| (g.next() >> 32) as u8).collect()
}

#[test]
fn random_segment_sequences() {
    let start = Instant::now();
    let mut g = Gen(0x5eed_1234_abcd_0001);
    let mut runs = 0u32;
    while runs < 20_000 && start.elapsed() < Duration::from_secs(4) {
        let len = 16 + (g.next() % 2000) as usize;
        let data = input(&mut g, len);
        segfuzz::run(&data);
        runs += 1;
    }
    assert!(runs >= 100, "only {runs} runs");
}

#[test]
fn every_starting_state() {
    // The state selector is the byte after the configuration and the two ISNs.
    let mut g = Gen(42);
    for target in 0..11u8 {
        for _ in 0..50 {
            let mut data = input(&mut g, 600);
            data[17] = target;
            segfuzz::run(&data);
        }
    }
}

#[test]
fn empty_and_tiny_inputs() {
    segfuzz::run(&[]);
    for b in 0..=255u8 {
        segfuzz::run(&[b]);
        segfuzz::run(&[b; 40]);
    }
}
