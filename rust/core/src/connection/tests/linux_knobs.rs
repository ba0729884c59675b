//! The knobs Linux's TCP sysctls map onto ([`crate::sysctl`]): the window scale offered
//! for a window space beyond the buffer, retry limits as Linux's time budgets, the
//! FIN-WAIT-2 floor, no FIN-WAIT-2 under a negative `TCP_LINGER2`, and slow start after
//! idle.

use super::*;
use crate::connection::timers::{model_timeout, LINUX_RTO_BASE};
use crate::rtt::RttConfig;
use crate::wire::SackBlock;

const SEG: usize = 1460;

#[test]
fn window_space_chooses_the_offered_scale() {
    // Linux tcp_select_initial_window: the scale for max(tcp_rmem[2], rmem_max), not for
    // the buffer the connection starts with.
    let cfg = Config {
        window_space: Some(6 << 20),
        ..full_cfg()
    };
    let mut c = connecting(cfg, BUF, 64 * 1024);
    let syn = output_one(&mut c, T0);
    assert_eq!(syn.repr.options.window_scale, Some(7));
    assert_eq!(usize::from(syn.repr.window), 64 * 1024 - 1);
    // A buffer larger than the space still gets the scale it needs.
    let cfg = Config {
        window_space: Some(65536),
        ..full_cfg()
    };
    let mut c = connecting(cfg, BUF, 1 << 20);
    assert_eq!(output_one(&mut c, T0).repr.options.window_scale, Some(5));
}

#[test]
fn large_scale_with_small_buffer_advertises_the_buffer() {
    // Shift 10 over a 64 KB buffer: the window is the free space in 1 KB units.
    let sa = TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            ..TcpOptions::default()
        },
        ..seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1())
    };
    let cfg = Config {
        window_space: Some(32 << 20),
        ..plain_cfg()
    };
    let cfg = Config {
        window_scale: true,
        ..cfg
    };
    let mut c = established_bufs(cfg, sa, BUF, 64 * 1024);
    assert_eq!(c.window_shifts(), (7, 10));
    input_data(&mut c, ms(20), r1(), l1(), 0, 1000);
    let a = output_one(&mut c, ms(20));
    assert_eq!(usize::from(a.repr.window), (64 * 1024 - 1000) >> 10);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 1000));
}

#[test]
fn model_timeout_is_linux_tcp_model_timeout() {
    let max = Duration::from_secs(120);
    assert_eq!(
        model_timeout(15, LINUX_RTO_BASE, max),
        Duration::from_millis(924_600)
    );
    assert_eq!(
        model_timeout(3, LINUX_RTO_BASE, max),
        Duration::from_secs(3)
    );
    assert_eq!(model_timeout(0, LINUX_RTO_BASE, max), LINUX_RTO_BASE);
    // tcp_rto_max_ms = 1000: doubling stops at 1 s (ilog2(1000 / 200) = 2).
    assert_eq!(
        model_timeout(6, LINUX_RTO_BASE, Duration::from_secs(1)),
        Duration::from_millis(5400)
    );
    // SYN-SENT: from the initial RTO.
    assert_eq!(
        model_timeout(2, Duration::from_secs(1), max),
        Duration::from_secs(7)
    );
    assert!(model_timeout(u32::MAX, LINUX_RTO_BASE, max) > Duration::from_secs(1 << 30));
}

/// ESTABLISHED with `cfg`, one byte sent at ms(20) and never acknowledged; runs the
/// timers until the connection gives up and returns the retransmissions and when.
fn retransmit_until_timeout(cfg: Config) -> (u64, Duration) {
    let mut c = established_with(cfg, synack());
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    let mut t = ms(20);
    while c.state() == State::Established {
        t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
    (c.stats().rto_retransmits, t - ms(20))
}

#[test]
fn retries2_with_a_200ms_rto_counts_retransmissions() {
    let cfg = Config {
        max_retries: 3,
        ..plain_cfg()
    };
    // Retransmissions at 0.2, 0.6, 1.4 and 3 s (2.8 s after the first, within the 3 s
    // budget), given up at 6.2 s.
    assert_eq!(
        retransmit_until_timeout(cfg),
        (4, Duration::from_millis(6200))
    );
}

#[test]
fn retries2_is_a_time_budget_with_a_larger_rto() {
    // tcp_rto_min_us = 1 s: Linux's budget for 3 retries is still 3 s (from 200 ms):
    // retransmissions at 1 and 3 s, given up at 7 s.
    let cfg = Config {
        max_retries: 3,
        rtt: RttConfig {
            min_rto: Duration::from_secs(1),
            ..RttConfig::default()
        },
        ..plain_cfg()
    };
    assert_eq!(retransmit_until_timeout(cfg), (2, Duration::from_secs(7)));
}

#[test]
fn retries2_with_a_low_rto_maximum() {
    // tcp_rto_max_ms = 1000: 0.2, 0.4, 0.8, then 1 s apart; the 5.4 s budget of 6
    // retries (from the first retransmission at 0.2 s) ends it at 6.4 s.
    let cfg = Config {
        max_retries: 6,
        rtt: RttConfig {
            max_rto: Duration::from_secs(1),
            ..RttConfig::default()
        },
        ..plain_cfg()
    };
    assert_eq!(
        retransmit_until_timeout(cfg),
        (7, Duration::from_millis(6400))
    );
}

#[test]
fn orphan_retries_count_even_at_the_maximum_rto() {
    // A non-zero tcp_orphan_retries applies as it is, also once the RTO is at its
    // maximum (Linux tcp_orphan_retries() returns it whether alive or not).
    let cfg = Config {
        orphan_retries: 4,
        rtt: RttConfig {
            max_rto: Duration::from_secs(1),
            ..RttConfig::default()
        },
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    c.close(ms(20));
    let mut t = ms(20);
    while c.state() != State::Closed {
        t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
    }
    // 0.2, 0.4, 0.8, then 1 s apart: the budget of 4 (1.4 + 2 * 1 s from the first
    // retransmission at 0.2 s) ends it at 4.4 s, after five retransmissions.
    assert_eq!(c.stats().rto_retransmits, 5);
    assert_eq!(t - ms(20), Duration::from_millis(4400));
}

#[test]
fn fin_wait_2_timeout_is_at_least_three_and_a_half_rto() {
    let cfg = Config {
        fin_wait2_timeout: Some(Duration::from_millis(100)),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    c.close(ms(20));
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    assert_eq!(c.state(), State::FinWait2);
    // RTO 200 ms: 4 * 200 - 100 = 700 ms.
    assert_eq!(c.next_deadline(), Some(ms(30) + Duration::from_millis(700)));
    c.on_timer(ms(730));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn negative_linger2_resets_on_close_in_fin_wait_2() {
    // Shut down and acknowledged while the application still holds the socket: it
    // stays in FIN-WAIT-2; close() then resets the connection (Linux `__tcp_close`).
    let mut c = fin_wait_2();
    c.set_fin_wait2_reset(true);
    c.close(ms(40));
    assert_eq!(c.state(), State::Closed);
    let rst = output_one(&mut c, ms(40));
    check(&rst, TcpFlags::RST | TcpFlags::ACK, l1() + 1, r1());
    output_none(&mut c, ms(40));
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn negative_linger2_ends_an_orphan_when_its_fin_is_acked() {
    // Linux `tcp_rcv_state_process`, FIN-WAIT-1 of an orphan: no FIN-WAIT-2, and the
    // ACK of the FIN gets `<SEQ=SEG.ACK><CTL=RST>`.
    let mut c = established();
    c.set_fin_wait2_reset(true);
    c.close(ms(20));
    assert_eq!(c.state(), State::FinWait1);
    check(
        &output_one(&mut c, ms(20)),
        TcpFlags::FIN | TcpFlags::ACK,
        l1(),
        r1(),
    );
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    assert_eq!(c.state(), State::Closed);
    check(&output_one(&mut c, ms(30)), TcpFlags::RST, l1() + 1, r1());
    output_none(&mut c, ms(30));
}

#[test]
fn negative_linger2_leaves_an_open_socket_in_fin_wait_2() {
    // Not an orphan: the application may still read, FIN-WAIT-2 as usual.
    let mut c = established();
    c.set_fin_wait2_reset(true);
    c.shutdown_write().unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    assert_eq!(c.state(), State::FinWait2);
    output_none(&mut c, ms(30));
}

/// ESTABLISHED with `cfg`; a transfer grows cwnd past the initial window, then the
/// connection idles for 2 s and sends again: returns (cwnd before, cwnd after).
fn cwnd_across_idle(cfg: Config) -> (usize, usize) {
    let mut c = established_bufs(cfg, synack(), 100 * SEG, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 40 * SEG)).unwrap();
    let mut t = send_all_acked(&mut c, ms(20));
    let before = c.cwnd();
    t += Duration::from_secs(2);
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    let _ = output(&mut c, t);
    (before, c.cwnd())
}

#[test]
fn slow_start_after_idle_restarts_from_the_initial_window() {
    let (before, after) = cwnd_across_idle(plain_cfg());
    assert!(before > 10 * SEG, "cwnd {before} did not grow");
    assert_eq!(after, 10 * SEG);
}

#[test]
fn slow_start_after_idle_off_keeps_cwnd() {
    let (before, after) = cwnd_across_idle(Config {
        slow_start_after_idle: false,
        ..plain_cfg()
    });
    assert!(before > 10 * SEG, "cwnd {before} did not grow");
    assert_eq!(after, before);
}

/// Ten full segments in flight with `cfg`, the peer's duplicate ACKs fed one by one:
/// returns after how many the first segment was retransmitted.
fn dupacks_until_fast_retransmit(cfg: Config) -> Option<u32> {
    let mut c = established_bufs(cfg, synack(), 10 * SEG, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 10);
    for n in 1..=8u32 {
        input0(
            &mut c,
            ms(30) + Duration::from_millis(u64::from(n)),
            ack(r1(), l1()),
        );
        let out = output(&mut c, ms(40));
        if out.iter().any(|o| o.repr.seq == l1()) {
            return Some(n);
        }
    }
    None
}

#[test]
fn dupthresh_follows_tcp_reordering() {
    assert_eq!(dupacks_until_fast_retransmit(plain_cfg()), Some(3));
    let cfg = Config {
        dupthresh: 5,
        ..plain_cfg()
    };
    assert_eq!(dupacks_until_fast_retransmit(cfg), Some(5));
    let s = crate::sysctl::TcpSysctls {
        reordering: 5,
        ..crate::sysctl::TcpSysctls::default()
    };
    let mut cfg = plain_cfg();
    s.apply_socket_init(&mut cfg);
    assert_eq!(cfg.dupthresh, 5);
}

#[test]
fn sack_loss_detection_follows_dupthresh() {
    // RFC 6675 IsLost: DupThresh SACKed segments above the hole.
    for (dupthresh, want) in [(3u32, 3u32), (5, 5)] {
        let cfg = Config {
            dupthresh,
            ..sack_cfg()
        };
        let mut c = established_bufs(cfg, sack_synack(), 10 * SEG, BUF);
        c.set_nodelay(true);
        send(&mut c, &pattern(0, 10 * SEG)).unwrap();
        assert_eq!(output(&mut c, ms(20)).len(), 10);
        let mut got = None;
        for n in 1..=8u32 {
            let mut a = ack(r1(), l1());
            a.options.sack_blocks[0] = SackBlock {
                left: l1() + SEG,
                right: l1() + (1 + n as usize) * SEG,
            };
            a.options.sack_count = 1;
            input0(&mut c, ms(30) + Duration::from_millis(u64::from(n)), a);
            if output(&mut c, ms(40)).iter().any(|o| o.repr.seq == l1()) {
                got = Some(n);
                break;
            }
        }
        assert_eq!(got, Some(want), "DupThresh {dupthresh}");
    }
}
