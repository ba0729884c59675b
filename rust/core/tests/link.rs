//! Tests of the simulated link in `support/link.rs`.

#[path = "support/link.rs"]
mod link;

use link::{Dir, Link, PathConfig, Prob, Rng};
use partcp_core::time::{Duration, Instant};

fn packet(i: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(4)];
    p[..4].copy_from_slice(&i.to_be_bytes());
    p
}

fn id(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

/// Deliver everything, returning (arrival time, direction, bytes) in delivery order.
fn drain(link: &mut Link) -> Vec<(Instant, Dir, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = link.next_delivery_time() {
        while let Some((d, b)) = link.poll_deliver(t) {
            out.push((t, d, b));
        }
    }
    out
}

fn perfect(delay_ms: u64) -> PathConfig {
    PathConfig {
        delay: Duration::from_millis(delay_ms),
        ..PathConfig::default()
    }
}

// The PRNG.

#[test]
fn rng_is_deterministic_and_seed_dependent() {
    let mut a = Rng::new(42);
    let mut b = Rng::new(42);
    let mut c = Rng::new(43);
    let xa: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
    let xb: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
    let xc: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
    assert_eq!(xa, xb);
    assert_ne!(xa, xc);
    assert_ne!(Rng::new(0).next_u64(), 0);
}

#[test]
fn rng_below_and_chance_bounds() {
    let mut r = Rng::new(7);
    assert_eq!(r.below(0), 0);
    assert!((0..1000).all(|_| r.below(10) < 10));
    assert!((0..1000).all(|_| !r.chance(Prob::NEVER)));
    assert!((0..1000).all(|_| r.chance(Prob::ALWAYS)));
    let hits = (0..100_000).filter(|_| r.chance(Prob::percent(30))).count();
    assert!((29_000..31_000).contains(&hits), "{hits}");
}

// A perfect path.

#[test]
fn perfect_link_delivers_after_the_delay_in_order_unchanged() {
    let mut link = Link::new(perfect(25), 1);
    for i in 0..100u32 {
        link.send(Instant(u64::from(i) * 100), Dir::AtoB, packet(i, 100));
    }
    assert_eq!(link.in_flight(), 100);
    let got = drain(&mut link);
    assert_eq!(got.len(), 100);
    for (i, (t, d, b)) in got.iter().enumerate() {
        assert_eq!(*d, Dir::AtoB);
        assert_eq!(*b, packet(i as u32, 100));
        assert_eq!(t.micros(), i as u64 * 100 + 25_000);
    }
    let s = link.stats();
    assert_eq!((s.sent, s.delivered, s.dropped), (100, 100, 0));
}

#[test]
fn nothing_is_delivered_early() {
    let mut link = Link::new(perfect(10), 1);
    link.send(Instant(0), Dir::BtoA, packet(1, 10));
    assert_eq!(link.next_delivery_time(), Some(Instant(10_000)));
    assert_eq!(link.poll_deliver(Instant(9_999)), None);
    assert_eq!(
        link.poll_deliver(Instant(10_000)),
        Some((Dir::BtoA, packet(1, 10)))
    );
    assert_eq!(link.poll_deliver(Instant(20_000)), None);
    assert_eq!(link.next_delivery_time(), None);
}

#[test]
fn simultaneous_packets_keep_send_order() {
    let mut link = Link::new(perfect(5), 1);
    for i in 0..10 {
        link.send(Instant(0), Dir::AtoB, packet(i, 8));
    }
    let ids: Vec<u32> = drain(&mut link).iter().map(|(_, _, b)| id(b)).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
}

// Random loss.

#[test]
fn loss_rate_is_near_the_configured_probability() {
    let cfg = PathConfig {
        loss: Prob::percent(10),
        ..perfect(1)
    };
    let mut link = Link::new(cfg, 0xfeed);
    for i in 0..20_000 {
        link.send(Instant(u64::from(i)), Dir::AtoB, packet(i, 20));
    }
    let got = drain(&mut link).len() as u64;
    let s = link.stats();
    assert_eq!(s.dropped_random + got, 20_000);
    // Expected 2000 losses, sigma ~ 42: accept +-250.
    assert!((1_750..=2_250).contains(&s.dropped_random), "{s:?}");
}

#[test]
fn same_seed_same_losses_different_seed_different_losses() {
    let run = |seed| {
        let cfg = PathConfig {
            loss: Prob::percent(20),
            reorder: Prob::percent(10),
            ..perfect(3)
        };
        let mut link = Link::new(cfg, seed);
        for i in 0..500 {
            link.send(Instant(u64::from(i) * 10), Dir::AtoB, packet(i, 30));
        }
        drain(&mut link)
            .into_iter()
            .map(|(t, _, b)| (t, id(&b)))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

// Scripted drops.

#[test]
fn drop_filter_drops_exactly_the_chosen_packets() {
    let mut link = Link::new(perfect(1), 3);
    link.set_drop_filter(|d, i, _| d == Dir::AtoB && (i == 2 || i == 5));
    for i in 0..8 {
        link.send(Instant(0), Dir::AtoB, packet(i, 8));
        link.send(Instant(0), Dir::BtoA, packet(100 + i, 8));
    }
    let got = drain(&mut link);
    let a: Vec<u32> = got
        .iter()
        .filter(|(_, d, _)| *d == Dir::AtoB)
        .map(|(_, _, b)| id(b))
        .collect();
    assert_eq!(a, [0, 1, 3, 4, 6, 7]);
    assert_eq!(link.dir_stats(Dir::AtoB).dropped_filter, 2);
    assert_eq!(link.dir_stats(Dir::BtoA).delivered, 8);
    link.clear_drop_filter();
    link.send(Instant(0), Dir::AtoB, packet(9, 8));
    assert_eq!(drain(&mut link).len(), 1);
}

// Reordering.

#[test]
fn reordering_lets_later_packets_overtake() {
    let cfg = PathConfig {
        reorder: Prob::percent(25),
        reorder_delay: Duration::from_millis(3),
        ..perfect(10)
    };
    let mut link = Link::new(cfg, 77);
    for i in 0..2_000 {
        link.send(Instant(u64::from(i) * 500), Dir::AtoB, packet(i, 40));
    }
    let ids: Vec<u32> = drain(&mut link).iter().map(|(_, _, b)| id(b)).collect();
    assert_eq!(ids.len(), 2_000);
    let inversions = ids.windows(2).filter(|w| w[0] > w[1]).count();
    let s = link.stats();
    assert!((400..=600).contains(&s.reordered), "{s:?}");
    assert!(inversions > 100, "{inversions}");
    // Every packet still arrives exactly once.
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..2_000).collect::<Vec<_>>());
}

#[test]
fn reordering_delay_is_bounded() {
    let cfg = PathConfig {
        reorder: Prob::ALWAYS,
        reorder_delay: Duration::from_millis(2),
        ..perfect(10)
    };
    let mut link = Link::new(cfg, 5);
    for i in 0..200 {
        link.send(Instant(0), Dir::AtoB, packet(i, 10));
    }
    for (t, _, _) in drain(&mut link) {
        assert!(t.micros() > 10_000 && t.micros() <= 12_000, "{t:?}");
    }
}

// Duplication.

#[test]
fn duplicates_are_delivered_in_addition() {
    let cfg = PathConfig {
        duplicate: Prob::percent(10),
        ..perfect(2)
    };
    let mut link = Link::new(cfg, 11);
    for i in 0..5_000 {
        link.send(Instant(u64::from(i) * 10), Dir::BtoA, packet(i, 12));
    }
    let got = drain(&mut link);
    let s = link.stats();
    assert_eq!(got.len() as u64, 5_000 + s.duplicated);
    assert_eq!(s.delivered, got.len() as u64);
    assert!((400..=600).contains(&s.duplicated), "{s:?}");
}

// Corruption.

#[test]
fn corruption_flips_exactly_one_byte() {
    let cfg = PathConfig {
        corrupt: Prob::percent(50),
        ..perfect(1)
    };
    let mut link = Link::new(cfg, 21);
    let original = |i: u32| {
        let mut p = packet(i, 64);
        for (j, b) in p.iter_mut().enumerate().skip(4) {
            *b = j as u8;
        }
        p
    };
    for i in 0..1_000 {
        link.send(Instant(0), Dir::AtoB, original(i));
    }
    let mut changed = 0u64;
    for (k, (_, _, b)) in drain(&mut link).into_iter().enumerate() {
        let o = original(k as u32);
        let diff = o.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(diff <= 1);
        changed += diff as u64;
    }
    // Without reordering the k-th delivery is the k-th packet sent, so comparing by
    // position finds every flipped byte, even one in the id.
    assert_eq!(changed, link.stats().corrupted);
    assert!((400..=600).contains(&changed), "{changed}");
}

#[test]
fn empty_packets_are_never_corrupted() {
    let cfg = PathConfig {
        corrupt: Prob::ALWAYS,
        ..perfect(1)
    };
    let mut link = Link::new(cfg, 2);
    link.send(Instant(0), Dir::AtoB, Vec::new());
    assert_eq!(
        link.poll_deliver(Instant(1_000)),
        Some((Dir::AtoB, Vec::new()))
    );
    assert_eq!(link.stats().corrupted, 0);
}

// Bandwidth limit and queue.

#[test]
fn bandwidth_limit_spaces_packets_by_serialization_time() {
    // 1 Mbit/s: a 1250-byte packet takes 10 ms.
    let cfg = PathConfig {
        bandwidth_bps: Some(1_000_000),
        queue_bytes: 1_000_000,
        ..perfect(20)
    };
    let mut link = Link::new(cfg, 1);
    for i in 0..50 {
        link.send(Instant(0), Dir::AtoB, packet(i, 1250));
    }
    let got = drain(&mut link);
    assert_eq!(got.len(), 50);
    for (k, (t, _, b)) in got.iter().enumerate() {
        assert_eq!(id(b), k as u32);
        assert_eq!(t.micros(), (k as u64 + 1) * 10_000 + 20_000);
    }
}

#[test]
fn throughput_never_exceeds_the_bandwidth() {
    let cfg = PathConfig {
        bandwidth_bps: Some(8_000_000),
        queue_bytes: 30_000,
        ..perfect(5)
    };
    let mut link = Link::new(cfg, 1);
    // Offer 3x the capacity for one second: 3000 packets of 1000 bytes.
    for i in 0..3_000u32 {
        link.send(Instant(u64::from(i) * 333), Dir::AtoB, packet(i, 1000));
    }
    let got = drain(&mut link);
    let bytes: usize = got
        .iter()
        .filter(|(t, _, _)| t.micros() <= 1_005_000)
        .map(|(_, _, b)| b.len())
        .sum();
    // 8 Mbit/s = 1,000,000 bytes per second.
    assert!(bytes <= 1_000_000, "{bytes}");
    assert!(bytes >= 950_000, "{bytes}");
    let s = link.stats();
    assert!(s.dropped_queue > 1_500, "{s:?}");
}

#[test]
fn full_queue_tail_drops() {
    // 10 packets of queue; 100 sent at once: the first 10 fit (the first starts
    // serializing immediately but still counts until done), the rest are dropped.
    let cfg = PathConfig {
        bandwidth_bps: Some(1_000_000),
        queue_bytes: 10 * 1250,
        ..perfect(1)
    };
    let mut link = Link::new(cfg, 1);
    for i in 0..100 {
        link.send(Instant(0), Dir::AtoB, packet(i, 1250));
    }
    let ids: Vec<u32> = drain(&mut link).iter().map(|(_, _, b)| id(b)).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    assert_eq!(link.stats().dropped_queue, 90);
}

#[test]
fn queue_drains_over_time() {
    let cfg = PathConfig {
        bandwidth_bps: Some(1_000_000),
        queue_bytes: 2 * 1250,
        ..perfect(1)
    };
    let mut link = Link::new(cfg, 1);
    link.send(Instant(0), Dir::AtoB, packet(0, 1250));
    link.send(Instant(0), Dir::AtoB, packet(1, 1250));
    link.send(Instant(0), Dir::AtoB, packet(2, 1250));
    assert_eq!(link.stats().dropped_queue, 1);
    // 10 ms later one packet has left the queue: room for one more.
    link.send(Instant(10_000), Dir::AtoB, packet(3, 1250));
    assert_eq!(link.stats().dropped_queue, 1);
}

#[test]
fn directions_are_independent_bottlenecks() {
    let slow = PathConfig {
        bandwidth_bps: Some(100_000),
        queue_bytes: 1_000_000,
        ..perfect(10)
    };
    let mut link = Link::asymmetric(slow, perfect(10), 1);
    for i in 0..5 {
        link.send(Instant(0), Dir::AtoB, packet(i, 1250));
    }
    link.send(Instant(0), Dir::BtoA, packet(99, 40));
    let got = drain(&mut link);
    assert_eq!(got[0].1, Dir::BtoA);
    assert_eq!(got[0].0, Instant(10_000));
    assert_eq!(link.config(Dir::AtoB), slow);
    assert_eq!(link.dir_stats(Dir::AtoB).delivered, 5);
}

#[test]
fn config_can_change_mid_run() {
    let mut link = Link::new(perfect(1), 1);
    link.send(Instant(0), Dir::AtoB, packet(0, 10));
    link.set_config(
        Dir::AtoB,
        PathConfig {
            loss: Prob::ALWAYS,
            ..perfect(1)
        },
    );
    link.send(Instant(0), Dir::AtoB, packet(1, 10));
    assert_eq!(drain(&mut link).len(), 1);
    assert_eq!(link.stats().dropped_random, 1);
    assert_eq!(Dir::AtoB.reverse(), Dir::BtoA);
    assert_eq!(Prob::per_mille(5), Prob::ppm(5_000));
}
