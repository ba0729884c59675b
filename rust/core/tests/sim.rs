//! Deterministic two-endpoint simulations over a lossy link (see `support/sim.rs`):
//! exact byte streams and clean closes across seeds, loss rates and impairments, plus
//! the loss-recovery quality check.

#[path = "support/link.rs"]
mod link;
#[path = "support/sim.rs"]
mod sim;

use link::{Dir, PathConfig, Prob};
use partcp_core::congestion::CongestionAlgorithm;
use partcp_core::connection::Config;
use partcp_core::listener::SynCookies;
use partcp_core::time::Duration;
use sim::{run_and_check, total, Scenario, Sim};

fn path(loss_pct: u32) -> PathConfig {
    PathConfig {
        delay: Duration::from_millis(10),
        loss: Prob::percent(loss_pct),
        ..PathConfig::default()
    }
}

/// A harsh path: loss plus reordering, duplication, corruption and a bottleneck.
fn harsh(loss_pct: u32) -> PathConfig {
    PathConfig {
        delay: Duration::from_millis(15),
        loss: Prob::percent(loss_pct),
        duplicate: Prob::percent(2),
        corrupt: Prob::percent(2),
        reorder: Prob::percent(5),
        reorder_delay: Duration::from_millis(8),
        bandwidth_bps: Some(20_000_000),
        queue_bytes: 128 * 1024,
    }
}

#[test]
fn clean_link_small_exchange() {
    let o = run_and_check(Scenario::new(1, path(0), 1000, 500));
    let t = total(&o);
    assert_eq!(t.rto_expirations, 0);
    assert_eq!(t.fast_retransmits, 0);
    assert_eq!(o.bad_segments, 0);
}

#[test]
fn clean_link_bulk_both_ways() {
    let o = run_and_check(Scenario::new(2, path(0), 1 << 20, 300_000));
    let t = total(&o);
    assert_eq!(t.rto_expirations, 0, "{o:#?}");
    assert_eq!(t.bytes_retransmitted, 0);
    assert_eq!(o.b_stats.bytes_in, 1 << 20);
}

#[test]
fn empty_streams_close_cleanly() {
    let o = run_and_check(Scenario::new(3, path(0), 0, 0));
    assert_eq!(total(&o).bytes_out, 0);
}

/// The main robustness sweep: 7 loss rates x 8 seeds over the harsh path. Every run
/// must deliver both streams exactly and close both ends.
#[test]
fn sweep_loss_rates_and_seeds() {
    let mut corrupted = 0;
    let mut runs = 0;
    for loss in [0u32, 1, 2, 5, 10, 15, 20] {
        for seed in 0..8u64 {
            let size = match loss {
                0..=2 => 120_000,
                3..=10 => 60_000,
                _ => 25_000,
            };
            let sc = Scenario::new(
                1000 + seed * 17 + u64::from(loss),
                harsh(loss),
                size,
                size / 3,
            );
            let o = run_and_check(sc);
            corrupted += o.bad_segments;
            runs += 1;
        }
    }
    assert_eq!(runs, 56);
    assert!(corrupted > 0, "the corruption path was exercised");
}

/// RFC 6675 at work: with 1% random loss a bulk transfer recovers single losses by fast
/// retransmit (SACK), not by timeouts.
#[test]
fn one_percent_loss_recovers_by_fast_retransmit() {
    for seed in [11u64, 12, 13] {
        let p = PathConfig {
            delay: Duration::from_millis(10),
            loss: Prob::percent(1),
            bandwidth_bps: Some(50_000_000),
            queue_bytes: 256 * 1024,
            ..PathConfig::default()
        };
        let o = run_and_check(Scenario::new(seed, p, 4_000_000, 0));
        let a = o.a_stats;
        assert!(o.link.dropped_random >= 20, "{o:#?}");
        assert!(a.sack_recoveries >= 10, "{a:#?}");
        assert!(a.fast_retransmits >= 10, "{a:#?}");
        assert!(
            a.fast_retransmits >= 10 * a.rto_expirations.max(1),
            "fast {} vs RTO {}",
            a.fast_retransmits,
            a.rto_expirations
        );
        assert!(a.rto_expirations <= 2, "{a:#?}");
    }
}

/// Without SACK, NewReno (RFC 6582) must still recover everything.
#[test]
fn newreno_without_sack() {
    for seed in 0..4u64 {
        let mut sc = Scenario::new(200 + seed, harsh(3), 150_000, 20_000);
        sc.cfg = Config {
            sack: false,
            congestion: CongestionAlgorithm::NewReno,
            ..Config::default()
        };
        let o = run_and_check(sc);
        let t = total(&o);
        assert_eq!(t.sack_recoveries, 0);
    }
}

#[test]
fn one_percent_loss_without_sack_uses_newreno_recovery() {
    let p = PathConfig {
        delay: Duration::from_millis(10),
        loss: Prob::percent(1),
        bandwidth_bps: Some(50_000_000),
        queue_bytes: 256 * 1024,
        ..PathConfig::default()
    };
    let mut sc = Scenario::new(21, p, 2_000_000, 0);
    sc.cfg.sack = false;
    let o = run_and_check(sc);
    let a = o.a_stats;
    assert!(a.reno_recoveries >= 5, "{a:#?}");
    assert!(a.fast_retransmits > a.rto_expirations, "{a:#?}");
}

#[test]
fn no_options_at_all() {
    for seed in 0..3u64 {
        let mut sc = Scenario::new(300 + seed, harsh(2), 80_000, 80_000);
        sc.cfg = Config {
            sack: false,
            timestamps: false,
            window_scale: false,
            ..Config::default()
        };
        run_and_check(sc);
    }
}

#[test]
fn timestamps_without_sack_and_sack_without_timestamps() {
    for (sack, ts) in [(true, false), (false, true)] {
        let mut sc = Scenario::new(310, harsh(3), 100_000, 10_000);
        sc.cfg.sack = sack;
        sc.cfg.timestamps = ts;
        run_and_check(sc);
    }
}

/// Small buffers: zero windows, persist probes, SWS avoidance and window updates.
#[test]
fn small_buffers_and_slow_readers() {
    for seed in 0..4u64 {
        let mut sc = Scenario::new(400 + seed, harsh(2), 60_000, 60_000);
        sc.buf = 3000;
        sc.app_chunk = 700;
        run_and_check(sc);
    }
}

#[test]
fn tiny_buffers() {
    let mut sc = Scenario::new(410, path(1), 20_000, 5_000);
    sc.buf = 600;
    sc.app_chunk = 100;
    run_and_check(sc);
}

#[test]
fn large_buffers_need_window_scaling() {
    let p = PathConfig {
        delay: Duration::from_millis(50),
        loss: Prob::per_mille(2),
        bandwidth_bps: Some(100_000_000),
        queue_bytes: 1 << 20,
        ..PathConfig::default()
    };
    let mut sc = Scenario::new(420, p, 3_000_000, 0);
    sc.buf = 1 << 20;
    let o = run_and_check(sc);
    assert!(o.a_stats.bytes_out >= 3_000_000);
}

#[test]
fn tso_super_segments_over_the_wire() {
    for seed in 0..3u64 {
        let mut sc = Scenario::new(430 + seed, harsh(2), 300_000, 30_000);
        sc.cfg.tso_max = 65_536;
        sc.buf = 256 * 1024;
        run_and_check(sc);
    }
}

#[test]
fn nodelay_with_small_writes() {
    let mut sc = Scenario::new(440, harsh(2), 30_000, 30_000);
    sc.cfg.nodelay = true;
    sc.app_chunk = 50;
    run_and_check(sc);
}

#[test]
fn nagle_with_small_writes() {
    let mut sc = Scenario::new(441, path(0), 30_000, 30_000);
    sc.app_chunk = 50;
    let o = run_and_check(sc);
    // Nagle coalesces: far fewer data segments than writes.
    assert!(o.a_stats.segments_out < 600, "{:#?}", o.a_stats);
}

#[test]
fn without_delayed_acks() {
    let mut sc = Scenario::new(450, harsh(2), 100_000, 10_000);
    sc.cfg.delayed_ack = None;
    let o = run_and_check(sc);
    assert_eq!(total(&o).delayed_acks, 0);
}

#[test]
fn cubic_and_newreno_congestion_control() {
    for alg in [CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno] {
        let mut sc = Scenario::new(460, harsh(1), 500_000, 0);
        sc.cfg.congestion = alg;
        run_and_check(sc);
    }
}

#[test]
fn lossy_ack_path_only() {
    let mut sim = Sim::new(Scenario::new(470, path(0), 300_000, 0));
    sim.link.set_config(
        Dir::BtoA,
        PathConfig {
            loss: Prob::percent(15),
            ..path(0)
        },
    );
    let o = sim.run();
    assert!(o.errors.is_empty(), "{o:#?}");
    assert_eq!(o.b_received, 300_000);
}

/// An ACK path stalled past the RTO in the middle of a bulk transfer: the timeout is
/// spurious, and F-RTO (RFC 5682) undoes it and resends next to nothing, where go-back-N
/// (`tcp_frto` 0) resends the flight. With and without SACK.
#[test]
fn stalled_ack_path_spurious_timeout() {
    for sack in [true, false] {
        let run = |frto: bool| {
            let mut sc = Scenario::new(475, path(0), 2_000_000, 0);
            sc.cfg.frto = frto;
            sc.cfg.sack = sack;
            sc.buf = 256 * 1024;
            let mut sim = Sim::new(sc);
            let t = sim.now;
            // Bottlenecks space the data segments (so that the receiver acknowledges
            // every second one) and the ACKs the stall held.
            for (dir, bps) in [(Dir::AtoB, 20_000_000), (Dir::BtoA, 1_000_000)] {
                let p = PathConfig {
                    bandwidth_bps: Some(bps),
                    queue_bytes: 1 << 20,
                    ..path(0)
                };
                sim.link.set_config(dir, p);
            }
            sim.link.set_stall(
                Dir::BtoA,
                t + Duration::from_millis(200),
                t + Duration::from_millis(700),
            );
            let o = sim.run();
            assert!(o.errors.is_empty(), "{o:#?}");
            assert_eq!(o.b_received, 2_000_000);
            assert!(o.a_stats.rto_expirations >= 1, "no timeout: {o:#?}");
            o
        };
        let on = run(true);
        let off = run(false);
        assert!(
            on.a_stats.spurious_rtos >= 1,
            "sack {sack}: {:#?}",
            on.a_stats
        );
        assert_eq!(off.a_stats.spurious_rtos, 0);
        // F-RTO: the first segment alone (1448 bytes); go-back-N: about 250 KB.
        assert!(
            on.a_stats.bytes_retransmitted <= 2 * 1448
                && on.a_stats.bytes_retransmitted * 20 < off.a_stats.bytes_retransmitted,
            "sack {sack}: F-RTO resent {} bytes, go-back-N {}",
            on.a_stats.bytes_retransmitted,
            off.a_stats.bytes_retransmitted
        );
    }
}

#[test]
fn tail_drop_bottleneck() {
    let p = PathConfig {
        delay: Duration::from_millis(20),
        bandwidth_bps: Some(5_000_000),
        queue_bytes: 16 * 1024,
        ..PathConfig::default()
    };
    let mut sc = Scenario::new(480, p, 1_000_000, 0);
    sc.buf = 256 * 1024;
    let o = run_and_check(sc);
    assert!(o.link.dropped_queue > 0, "the queue overflowed: {o:#?}");
}

#[test]
fn lost_syns_are_retransmitted() {
    let mut sim = Sim::new(Scenario::new(490, path(0), 10_000, 10_000));
    // Drop A's first two packets (the SYN and its first retransmission).
    sim.link.set_drop_filter(|d, i, _| d == Dir::AtoB && i < 2);
    let o = sim.run();
    assert!(o.errors.is_empty(), "{o:#?}");
    assert_eq!(o.b_received, 10_000);
    assert_eq!(o.a_received, 10_000);
    assert!(o.a_stats.rto_retransmits >= 2);
}

#[test]
fn lost_synack_is_retransmitted_by_listener() {
    let mut sim = Sim::new(Scenario::new(491, path(0), 10_000, 10_000));
    sim.link.set_drop_filter(|d, i, _| d == Dir::BtoA && i == 0);
    let o = sim.run();
    assert!(o.errors.is_empty(), "{o:#?}");
    assert_eq!(o.b_received, 10_000);
}

#[test]
fn lost_final_ack_and_fins() {
    for seed in 0..6u64 {
        let mut sim = Sim::new(Scenario::new(500 + seed, path(0), 5_000, 5_000));
        // Drop a few specific early and late packets in both directions.
        sim.link
            .set_drop_filter(move |_, i, _| i == 1 || i == 5 + seed || i == 9 + seed);
        let o = sim.run();
        assert!(o.errors.is_empty(), "seed {seed}: {o:#?}");
        assert_eq!(o.b_received, 5_000);
        assert_eq!(o.a_received, 5_000);
    }
}

#[test]
fn syn_cookies_always() {
    for seed in 0..3u64 {
        let mut sc = Scenario::new(510 + seed, harsh(2), 50_000, 50_000);
        sc.cookies = SynCookies::Always;
        run_and_check(sc);
    }
}

#[test]
fn syn_cookies_without_timestamps() {
    let mut sc = Scenario::new(520, path(1), 50_000, 50_000);
    sc.cookies = SynCookies::Always;
    sc.cfg.timestamps = false;
    run_and_check(sc);
}

#[test]
fn long_delay_path() {
    let p = PathConfig {
        delay: Duration::from_millis(150),
        loss: Prob::percent(1),
        ..PathConfig::default()
    };
    run_and_check(Scenario::new(530, p, 400_000, 50_000));
}

#[test]
fn heavy_reordering_without_loss() {
    let p = PathConfig {
        delay: Duration::from_millis(10),
        reorder: Prob::percent(30),
        reorder_delay: Duration::from_millis(15),
        ..PathConfig::default()
    };
    for seed in 0..3u64 {
        run_and_check(Scenario::new(540 + seed, p, 200_000, 20_000));
    }
}

#[test]
fn heavy_duplication() {
    let p = PathConfig {
        duplicate: Prob::percent(30),
        ..path(1)
    };
    let o = run_and_check(Scenario::new(550, p, 200_000, 20_000));
    assert!(total(&o).duplicate_segments > 0);
}

// ----- Transmits that cannot be built -----

#[test]
fn transmits_not_built_are_not_losses() {
    // A tenth of the transmits fail to be built on a clean link: the streams arrive
    // exact, nothing is retransmitted and no timer expires (a failure taken for a loss
    // would be resent).
    for seed in 0..6 {
        let mut sc = Scenario::new(700 + seed, path(0), 1 << 20, 300_000);
        sc.tx_fail = Prob::percent(10);
        let o = run_and_check(sc);
        let t = total(&o);
        assert!(
            o.tx_failed > 50,
            "seed {seed}: only {} failures",
            o.tx_failed
        );
        assert_eq!(t.bytes_retransmitted, 0, "seed {seed}: {o:#?}");
        assert_eq!(t.rto_expirations, 0, "seed {seed}: {o:#?}");
    }
}

#[test]
fn transmits_not_built_on_a_harsh_path() {
    // Failures on top of loss, reordering, duplication and corruption: exact streams,
    // clean closes.
    for seed in 0..6 {
        let mut sc = Scenario::new(720 + seed, harsh(3), 300_000, 200_000);
        sc.tx_fail = Prob::percent(20);
        let o = run_and_check(sc);
        assert!(o.tx_failed > 0, "seed {seed}");
    }
}

#[test]
fn side_allocations_failing_on_a_harsh_path() {
    // Out-of-order ranges, SACK scoreboards, send times and F-RTO states that cannot be
    // had (the kernel's GFP_ATOMIC allocations failing): dropped segments, unrecorded
    // SACK blocks and untimed data, on top of loss, reordering, duplication and
    // corruption: exact streams, clean closes, every box freed (`run_and_check`).
    for seed in 0..6 {
        let mut sc = Scenario::new(740 + seed, harsh(3), 300_000, 200_000);
        sc.side_fail = Prob::percent(20);
        let o = run_and_check(sc);
        let t = total(&o);
        assert!(t.side_alloc_failures > 0, "seed {seed}: {o:#?}");
    }
}
