//! SACK-based loss recovery at the sender (RFC 6675) and SACK processing (RFC 2018,
//! RFC 2883).

use super::*;
use crate::wire::SackBlock;

const SEG: usize = 1460;

/// SACK connection with ten full segments in flight and `extra` bytes queued.
fn in_flight(extra: usize) -> TestConn {
    let mut c = established_bufs(sack_cfg(), sack_synack(), 10 * SEG + extra, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG + extra)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 10);
    c
}

/// Feed an ACK and return the segment indices sent in response.
fn step(c: &mut TestConn, t: Instant, a: TcpRepr) -> Vec<usize> {
    input0(c, t, a);
    output(c, t)
        .iter()
        .map(|o| o.repr.seq.since(l1()) / SEG)
        .collect()
}

#[test]
fn first_sack_is_a_dupack_without_retransmission() {
    let mut c = in_flight(0);
    let sent = step(&mut c, ms(30), sack_ack(0, &[(1, 2)]));
    assert!(sent.is_empty());
    assert!(!c.in_recovery());
    assert_eq!(c.stats().dupacks_in, 1);
    assert_eq!(c.stats().sack_blocks_in, 1);
}

#[test]
fn limited_transmit_with_sack() {
    let mut c = in_flight(2 * SEG);
    assert_eq!(step(&mut c, ms(30), sack_ack(0, &[(1, 2)])), vec![10]);
    assert_eq!(step(&mut c, ms(31), sack_ack(0, &[(1, 3)])), vec![11]);
}

#[test]
fn three_dupacks_enter_recovery_and_retransmit_first_hole() {
    let mut c = in_flight(0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 2)]));
    let _ = step(&mut c, ms(31), sack_ack(0, &[(3, 4), (1, 2)]));
    let sent = step(&mut c, ms(32), sack_ack(0, &[(5, 6), (3, 4), (1, 2)]));
    assert_eq!(sent, vec![0]);
    assert!(c.in_recovery());
    assert_eq!(c.stats().sack_recoveries, 1);
    assert_eq!(c.stats().reno_recoveries, 0);
    // RFC 6675 (4.2): cwnd = ssthresh, no inflation.
    assert_eq!(c.cwnd(), c.ssthresh());
    assert_eq!(c.ssthresh(), 5 * SEG);
}

#[test]
fn is_lost_enters_recovery_on_first_ack() {
    let mut c = in_flight(0);
    // More than 2*SMSS SACKed above the hole: the hole is lost (RFC 6675 IsLost).
    let sent = step(&mut c, ms(30), sack_ack(0, &[(1, 5)]));
    assert_eq!(sent, vec![0]);
    assert!(c.in_recovery());
    assert_eq!(c.stats().dupacks_in, 1);
}

#[test]
fn several_holes_are_retransmitted_in_order() {
    let mut c = in_flight(0);
    let mut sent = Vec::new();
    let acks: [&[(usize, usize)]; 7] = [
        &[(1, 2)],
        &[(3, 4), (1, 2)],
        &[(5, 6), (3, 4), (1, 2)],
        &[(5, 7), (3, 4), (1, 2)],
        &[(5, 8), (3, 4), (1, 2)],
        &[(5, 9), (3, 4), (1, 2)],
        &[(5, 10), (3, 4), (1, 2)],
    ];
    for (i, b) in acks.iter().enumerate() {
        let t = ms(30 + i as u64);
        input0(&mut c, t, sack_ack(0, b));
        for o in output(&mut c, t) {
            assert_eq!(o.retransmit, Some(Retransmit::Fast));
            sent.push(o.repr.seq.since(l1()) / SEG);
        }
    }
    assert_eq!(sent, vec![0, 2, 4]);
    assert_eq!(c.stats().fast_retransmits, 3);
    // The retransmissions arrive: full ACK, recovery over.
    let _ = step(&mut c, ms(50), sack_ack(10, &[]));
    assert!(!c.in_recovery());
    assert!(c.send_buffer().is_empty());
}

#[test]
fn sacked_segments_are_never_retransmitted() {
    let mut c = in_flight(0);
    let mut sent = Vec::new();
    sent.extend(step(&mut c, ms(30), sack_ack(0, &[(1, 5)])));
    sent.extend(step(&mut c, ms(31), sack_ack(0, &[(6, 10), (1, 5)])));
    sent.extend(step(&mut c, ms(32), sack_ack(1, &[(6, 10)])));
    assert!(sent.iter().all(|&i| i == 0 || i == 5), "{sent:?}");
    assert!(sent.contains(&5));
}

#[test]
fn pipe_limits_transmission_during_recovery() {
    let mut c = in_flight(20 * SEG);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 5)]));
    // pipe = 5 un-SACKed segments (5..10) + 1 retransmitted; cwnd = 5: nothing new.
    assert!(c.bytes_in_flight() >= c.cwnd());
    assert!(step(&mut c, ms(31), sack_ack(0, &[(1, 5)])).is_empty());
    // Two more segments SACKed leave room for new data (NextSeg rule 2).
    let sent = step(&mut c, ms(32), sack_ack(0, &[(1, 7)]));
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|&i| i >= 10), "{sent:?}");
}

#[test]
fn partial_ack_keeps_cwnd_with_sack() {
    let mut c = in_flight(0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 5), (6, 8)]));
    let cwnd = c.cwnd();
    let _ = step(&mut c, ms(31), sack_ack(5, &[(6, 8)]));
    assert!(c.in_recovery());
    assert_eq!(c.cwnd(), cwnd);
    assert_eq!(c.stats().partial_acks, 1);
}

#[test]
fn full_ack_exits_recovery() {
    let mut c = in_flight(0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 5)]));
    assert!(c.in_recovery());
    let _ = step(&mut c, ms(40), sack_ack(10, &[]));
    assert!(!c.in_recovery());
}

#[test]
fn invalid_blocks_are_ignored() {
    let mut c = in_flight(0);
    let mut a = sack_ack(0, &[(12, 14)]);
    a.options.sack_blocks[1] = SackBlock {
        left: s(3),
        right: s(2),
    };
    a.options.sack_count = 2;
    input0(&mut c, ms(30), a);
    assert_eq!(c.stats().sack_blocks_invalid, 2);
    assert!(!c.in_recovery());
}

#[test]
fn dsack_is_counted_not_a_dupack() {
    let mut c = in_flight(0);
    let _ = step(&mut c, ms(30), sack_ack(2, &[]));
    let a = sack_ack(2, &[(0, 1)]);
    input0(&mut c, ms(31), a);
    assert_eq!(c.stats().dsacks_in, 1);
    assert_eq!(c.stats().dupacks_in, 0);
}

#[test]
fn dsack_inside_second_block_is_detected() {
    let mut c = in_flight(0);
    let a = sack_ack(0, &[(3, 4), (2, 6)]);
    input0(&mut c, ms(30), a);
    assert_eq!(c.stats().dsacks_in, 1);
}

#[test]
fn rto_go_back_skips_sacked_data() {
    let mut c = in_flight(0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 5), (6, 10)]));
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let sent: Vec<usize> = output(&mut c, t)
        .iter()
        .map(|o| o.repr.seq.since(l1()) / SEG)
        .collect();
    assert_eq!(sent, vec![0]);
    let sent = step(
        &mut c,
        t + Duration::from_millis(10),
        sack_ack(1, &[(6, 10)]),
    );
    assert_eq!(sent, vec![5]);
    let _ = step(&mut c, t + Duration::from_millis(20), sack_ack(10, &[]));
    assert!(c.send_buffer().is_empty());
}

#[test]
fn repeated_rto_forgets_sack_information() {
    let mut c = in_flight(0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 5)]));
    for _ in 0..2 {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
    }
    // The receiver reneged: after the second timeout everything is resent.
    let t = Instant(c.next_deadline().unwrap().0 - 1000);
    let sent = step(&mut c, t, sack_ack(1, &[]));
    assert_eq!(sent, vec![1, 2]);
}

#[test]
fn rule_three_retransmits_unlost_hole_when_idle() {
    let mut c = in_flight(0);
    // Holes at 0 and 8. Hole 0 is lost (7 SACKed segments above); hole 8 has only one
    // SACKed segment above it, so it is not deemed lost, but with no new data to send
    // NextSeg rule 3 retransmits it after the first hole.
    let sent = step(&mut c, ms(30), sack_ack(0, &[(1, 8), (9, 10)]));
    assert_eq!(sent, vec![0, 8]);
    assert_eq!(c.stats().fast_retransmits, 2);
}

#[test]
fn sack_scoreboard_overflow_is_counted() {
    let mut sa = sack_synack();
    sa.options.mss = Some(100);
    let mut c = established_bufs(sack_cfg(), sa, 20_000, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 20_000)).unwrap();
    // Grow cwnd a little so enough is in flight: many tiny segments.
    let _ = output(&mut c, ms(20));
    let in_flight = c.snd_max().since(l1());
    let mut blocks_sent = 0;
    let mut left = 10usize;
    while left + 10 < in_flight && blocks_sent < 60 {
        let mut a = ack(r1(), l1());
        a.options.sack_blocks[0] = SackBlock {
            left: l1() + left,
            right: l1() + left + 5,
        };
        a.options.sack_count = 1;
        input0(&mut c, ms(30), a);
        let _ = output(&mut c, ms(30));
        left += 20;
        blocks_sent += 1;
    }
    assert!(blocks_sent > sack::SCOREBOARD_RANGES);
    assert!(c.stats().sack_scoreboard_overflows > 0);
}
