//! Fast retransmit / fast recovery without SACK: RFC 5681 3.2, NewReno (RFC 6582),
//! limited transmit (RFC 3042).

use super::*;

const SEG: usize = 1460;

/// Ten full segments in flight (the initial window), `extra` more bytes queued.
fn in_flight(extra: usize) -> TestConn {
    let mut c = established_bufs(plain_cfg(), synack(), 10 * SEG + extra, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG + extra)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 10);
    c
}

fn dupack(c: &mut TestConn, t: Instant) -> Vec<Out> {
    input0(c, t, ack(r1(), l1()));
    output(c, t)
}

#[test]
fn three_dupacks_trigger_fast_retransmit() {
    let mut c = in_flight(0);
    assert!(dupack(&mut c, ms(30)).is_empty());
    assert!(dupack(&mut c, ms(31)).is_empty());
    let out = dupack(&mut c, ms(32));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.seq, l1());
    assert_eq!(out[0].payload, pattern(0, SEG));
    assert!(c.in_recovery());
    assert_eq!(c.stats().reno_recoveries, 1);
    assert_eq!(c.stats().fast_retransmits, 1);
    assert_eq!(c.stats().dupacks_in, 3);
}

#[test]
fn recovery_sets_ssthresh_to_half_flight_and_inflates() {
    let mut c = in_flight(0);
    for i in 0..3 {
        let _ = dupack(&mut c, ms(30 + i));
    }
    assert_eq!(c.ssthresh(), 5 * SEG);
    // RFC 6582: cwnd = ssthresh + 3*SMSS.
    assert_eq!(c.cwnd(), 8 * SEG);
}

#[test]
fn limited_transmit_sends_new_data_on_first_dupacks() {
    let mut c = in_flight(3 * SEG);
    let out = dupack(&mut c, ms(30));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.seq, l1() + 10 * SEG);
    let out = dupack(&mut c, ms(31));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.seq, l1() + 11 * SEG);
    // The third one is the fast retransmit, not new data.
    let out = dupack(&mut c, ms(32));
    assert_eq!(out[0].repr.seq, l1());
}

#[test]
fn dupack_with_window_change_is_not_counted() {
    let mut c = in_flight(0);
    for i in 0..3u16 {
        let mut a = ack(r1(), l1());
        a.window = PEER_WIN - 100 * (i + 1);
        input0(&mut c, ms(30), a);
    }
    assert!(!c.in_recovery());
    assert_eq!(c.stats().dupacks_in, 0);
}

#[test]
fn segment_with_data_is_not_a_dupack() {
    let mut c = in_flight(0);
    for i in 0..3usize {
        input_data(&mut c, ms(30), r1() + i * 10, l1(), i * 10, 10);
    }
    assert!(!c.in_recovery());
    assert_eq!(c.stats().dupacks_in, 0);
}

#[test]
fn ack_with_nothing_outstanding_is_not_a_dupack() {
    let mut c = established();
    for _ in 0..5 {
        input0(&mut c, ms(30), ack(r1(), l1()));
    }
    assert_eq!(c.stats().dupacks_in, 0);
}

#[test]
fn partial_ack_retransmits_next_hole() {
    let mut c = in_flight(0);
    for i in 0..3 {
        let _ = dupack(&mut c, ms(30 + i));
    }
    // The retransmission filled the first hole; segment 4 was lost too.
    input0(&mut c, ms(40), ack(r1(), l1() + 4 * SEG));
    let out = output(&mut c, ms(40));
    assert_eq!(out[0].repr.seq, l1() + 4 * SEG);
    assert_eq!(out[0].payload.len(), SEG);
    assert!(c.in_recovery());
    assert_eq!(c.stats().partial_acks, 1);
    assert_eq!(c.stats().fast_retransmits, 2);
}

#[test]
fn full_ack_exits_recovery() {
    let mut c = in_flight(0);
    for i in 0..3 {
        let _ = dupack(&mut c, ms(30 + i));
    }
    input0(&mut c, ms(40), ack(r1(), l1() + 10 * SEG));
    assert!(!c.in_recovery());
    // RFC 6582 step 6 option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    assert_eq!(c.cwnd(), 2 * SEG);
}

#[test]
fn further_dupacks_inflate_cwnd_and_release_data() {
    let mut c = in_flight(5 * SEG);
    // The first two dupacks send two new segments (limited transmit).
    let _ = dupack(&mut c, ms(30));
    let _ = dupack(&mut c, ms(31));
    let _ = dupack(&mut c, ms(32));
    let cwnd = c.cwnd();
    let mut new = 0;
    for i in 0..6 {
        new += dupack(&mut c, ms(33 + i)).len();
    }
    assert_eq!(c.cwnd(), cwnd + 6 * SEG);
    assert!(new >= 1, "inflation lets new data out");
}

#[test]
fn no_new_recovery_before_recover_point_after_rto() {
    let mut c = in_flight(0);
    c.on_timer(ms(220));
    let _ = output(&mut c, ms(220));
    assert!(!c.in_recovery());
    // Dupacks for old data (below "recover") do not start fast retransmit (RFC 6582
    // section 4).
    for i in 0..4 {
        let _ = dupack(&mut c, ms(230 + i));
    }
    assert!(!c.in_recovery());
    assert_eq!(c.stats().reno_recoveries, 0);
}

#[test]
fn second_loss_after_recovery_starts_new_recovery() {
    let mut c = in_flight(0);
    for i in 0..3 {
        let _ = dupack(&mut c, ms(30 + i));
    }
    input0(&mut c, ms(40), ack(r1(), l1() + 10 * SEG));
    assert!(!c.in_recovery());
    send(&mut c, &pattern(0, 5 * SEG)).unwrap();
    let _ = output(&mut c, ms(41));
    for _ in 0..3 {
        input0(&mut c, ms(50), ack(r1(), l1() + 10 * SEG));
    }
    assert!(c.in_recovery());
    assert_eq!(c.stats().reno_recoveries, 2);
}

#[test]
fn rto_during_recovery_ends_it() {
    let mut c = in_flight(0);
    for i in 0..3 {
        let _ = dupack(&mut c, ms(30 + i));
    }
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    assert!(!c.in_recovery());
    assert_eq!(c.cwnd(), SEG);
}

#[test]
fn application_limited_sender_does_not_grow_cwnd() {
    // RFC 7661: one small segment at a time uses far less than half of cwnd, so the
    // ACKs do not grow it.
    let mut c = established_bufs(plain_cfg(), synack(), BUF, BUF);
    c.set_nodelay(true);
    let initial = c.cwnd();
    let mut t = ms(20);
    let mut sent = 0;
    for _ in 0..50 {
        send(&mut c, &pattern(sent, 100)).unwrap();
        let out = output(&mut c, t);
        assert_eq!(out.len(), 1);
        sent += 100;
        t += Duration::from_millis(10);
        input0(&mut c, t, ack(r1(), l1() + sent));
    }
    assert_eq!(c.cwnd(), initial, "cwnd grew while application-limited");
}

#[test]
fn cwnd_limited_sender_grows_cwnd() {
    // The whole window in use: slow start grows cwnd (by at most 2*SMSS per ACK,
    // RFC 3465's L).
    let mut c = in_flight(0);
    let initial = c.cwnd();
    input0(&mut c, ms(30), ack(r1(), l1() + 10 * SEG));
    assert_eq!(c.cwnd(), initial + 2 * SEG);
}
