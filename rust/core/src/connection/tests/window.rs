//! Flow control: receive window and SWS avoidance (RFC 9293 3.8.6.2), zero windows and
//! the persist timer (RFC 9293 3.8.6.1).

use super::*;

/// Established with a receive buffer of `rbuf` bytes.
fn established_rbuf(rbuf: usize) -> TestConn {
    let mut c = connecting(plain_cfg(), BUF, rbuf);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack());
    let _ = output_one(&mut c, ms(10));
    c
}

/// Established with a peer window of `win` bytes.
fn established_peer_win(win: u16) -> TestConn {
    let mut c = syn_sent();
    let mut sa = synack();
    sa.window = win;
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    c
}

#[test]
fn advertised_window_shrinks_as_data_arrives() {
    let mut c = established_rbuf(10_000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 3000);
    let a = output_one(&mut c, ms(20));
    assert_eq!(a.repr.window, 7000);
}

#[test]
fn full_buffer_advertises_zero() {
    let mut c = established_rbuf(4000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 4000);
    let a = output_one(&mut c, ms(20));
    assert_eq!(a.repr.window, 0);
    assert!(c.readable());
}

#[test]
fn small_read_does_not_open_window() {
    let mut c = established_rbuf(10_000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 10_000);
    let _ = output_one(&mut c, ms(20));
    let mut buf = [0u8; 100];
    c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    // RFC 9293 3.8.6.2.2: 100 bytes is less than min(BUFF/2, MSS): no update, and the
    // next ACK still says zero.
    output_none(&mut c, ms(21));
    input0(&mut c, ms(22), ack(r1() + 9999, l1()));
    let a = output_one(&mut c, ms(22));
    assert_eq!(a.repr.window, 0);
}

#[test]
fn large_read_sends_window_update() {
    let mut c = established_rbuf(10_000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 10_000);
    let _ = output_one(&mut c, ms(20));
    let mut buf = vec![0u8; 6000];
    c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    let u = output_one(&mut c, ms(21));
    check_ack(&u, l1(), r1() + 10_000);
    assert_eq!(u.repr.window, 6000);
    assert_eq!(c.stats().window_updates, 1);
}

#[test]
fn window_update_threshold_is_one_mss() {
    let mut c = established_rbuf(10_000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 10_000);
    let _ = output_one(&mut c, ms(20));
    let mut buf = vec![0u8; 1459];
    c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    output_none(&mut c, ms(21));
    let mut one = [0u8; 1];
    c.recv_with(|b| b.read_at(0, &mut one)).unwrap();
    let u = output_one(&mut c, ms(21));
    assert_eq!(u.repr.window, 1460);
}

#[test]
fn right_edge_never_moves_left() {
    let mut c = established_rbuf(10_000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 5000);
    let a = output_one(&mut c, ms(20));
    let edge = a.repr.ack + usize::from(a.repr.window);
    input_data(&mut c, ms(21), r1() + 5000, l1(), 5000, 1000);
    let b = output_one(&mut c, ms(21));
    assert_eq!(b.repr.ack + usize::from(b.repr.window), edge);
}

#[test]
fn data_into_zero_window_is_dropped_but_ack_processed() {
    let mut c = established_rbuf(1000);
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    input_data(&mut c, ms(21), r1(), l1(), 0, 1000);
    let _ = output(&mut c, ms(21));
    let p = pattern(1000, 10);
    let _ = input(&mut c, ms(22), data(r1() + 1000, l1() + 3, 10), &p);
    assert_eq!(
        c.snd_una(),
        l1() + 3,
        "ACK of a zero-window segment is processed"
    );
    assert_eq!(c.rcv_nxt(), r1() + 1000);
    let a = output_one(&mut c, ms(22));
    check_ack(&a, l1() + 3, r1() + 1000);
    assert_eq!(a.repr.window, 0);
}

#[test]
fn zero_window_starts_persist_timer() {
    let mut c = established_peer_win(0);
    send(&mut c, b"hello").unwrap();
    output_none(&mut c, ms(20));
    // Persist interval: the RTO (200 ms after a 10 ms sample).
    assert_eq!(c.next_deadline(), Some(ms(20) + Duration::from_millis(200)));
    c.on_timer(ms(220));
    let p = output_one(&mut c, ms(220));
    check_ack(&p, l1() - 1, r1());
    assert_eq!(p.repr.payload_len, 0);
    assert_eq!(c.stats().zero_window_probes, 1);
}

#[test]
fn persist_backs_off_exponentially() {
    let mut c = established_peer_win(0);
    send(&mut c, b"hello").unwrap();
    let _ = output(&mut c, ms(20));
    let mut t = ms(20);
    let mut gaps = Vec::new();
    for _ in 0..4 {
        let d = c.next_deadline().unwrap();
        gaps.push((d - t).millis());
        t = d;
        c.on_timer(t);
        let _ = output_one(&mut c, t);
        // The peer answers each probe, still with a zero window.
        let mut a = ack(r1(), l1());
        a.window = 0;
        input0(&mut c, t, a);
    }
    assert_eq!(gaps, vec![200, 400, 800, 1600]);
    assert_eq!(c.state(), State::Established);
}

#[test]
fn window_opening_resumes_sending() {
    let mut c = established_peer_win(0);
    send(&mut c, b"hello").unwrap();
    let _ = output(&mut c, ms(20));
    c.on_timer(ms(220));
    let _ = output_one(&mut c, ms(220));
    let mut a = ack(r1(), l1());
    a.window = 1000;
    input0(&mut c, ms(230), a);
    let o = output_one(&mut c, ms(230));
    assert_eq!(o.payload, b"hello");
    assert_ne!(
        c.next_deadline(),
        Some(ms(230) + Duration::from_millis(400))
    );
}

#[test]
fn probes_continue_while_answered() {
    let mut c = established_peer_win(0);
    send(&mut c, b"x").unwrap();
    let _ = output(&mut c, ms(20));
    for _ in 0..30 {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
        let mut a = ack(r1(), l1());
        a.window = 0;
        input0(&mut c, t, a);
    }
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.stats().zero_window_probes, 30);
}

#[test]
fn unanswered_probes_time_out() {
    let mut c = established_peer_win(0);
    send(&mut c, b"x").unwrap();
    let _ = output(&mut c, ms(20));
    let mut n = 0;
    while c.state() == State::Established {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
        n += 1;
        assert!(n < 100);
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(n, 16, "max_retries probes, then give up");
}

#[test]
fn sender_sws_waits_for_useful_window() {
    let mut c = established_peer_win(4000);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 4000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 3);
    // The peer acks 100 bytes, moving its right edge by 100: 100 usable bytes is less
    // than an MSS and less than half the max window: wait (RFC 9293 3.8.6.2.1).
    send(&mut c, &pattern(4000, 4000)).unwrap();
    let mut a = ack(r1(), l1() + 100);
    a.window = 4000;
    input0(&mut c, ms(30), a);
    output_none(&mut c, ms(30));
    // A full window's worth is sent.
    let mut a = ack(r1(), l1() + 4000);
    a.window = 4000;
    input0(&mut c, ms(40), a);
    let out = output(&mut c, ms(40));
    let sent: usize = out.iter().map(|o| o.payload.len()).sum();
    assert_eq!(sent, 4000);
}

#[test]
fn small_window_step_is_used_when_nothing_is_in_flight() {
    let mut c = established_peer_win(4000);
    send(&mut c, &pattern(0, 8000)).unwrap();
    let _ = output(&mut c, ms(20));
    // Everything in the window is acknowledged, but the window only moved by 100 bytes:
    // nothing is in flight, so no ACK would ever come to reconsider; send the 100.
    let mut a = ack(r1(), l1() + 2920);
    a.window = 100;
    input0(&mut c, ms(30), a);
    let out = output(&mut c, ms(30));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 100);
}

#[test]
fn small_peer_window_uses_half_max_window_rule() {
    let mut c = established_peer_win(1000);
    send(&mut c, &pattern(0, 3000)).unwrap();
    // 1000 bytes is below the MSS, but it is the whole (maximum) window: send it.
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 1000);
}

#[test]
fn out_of_order_data_limited_by_buffer() {
    let mut c = established_rbuf(1000);
    input_data(&mut c, ms(20), r1() + 900, l1(), 900, 300);
    let _ = output(&mut c, ms(20));
    input_data(&mut c, ms(21), r1(), l1(), 0, 900);
    assert_eq!(c.rcv_nxt(), r1() + 1000);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 1000));
}

#[test]
fn window_reopens_after_zero_and_read() {
    let mut c = established_rbuf(3000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 3000);
    let a = output_one(&mut c, ms(20));
    assert_eq!(a.repr.window, 0);
    assert_eq!(recv_all(&mut c).unwrap().len(), 3000);
    let u = output_one(&mut c, ms(21));
    assert_eq!(u.repr.window, 3000);
    input_data(&mut c, ms(22), r1() + 3000, l1(), 3000, 3000);
    assert_eq!(c.rcv_nxt(), r1() + 6000);
}

#[test]
fn zero_window_probe_is_answered_with_ack() {
    let mut c = established_rbuf(1000);
    input_data(&mut c, ms(20), r1(), l1(), 0, 1000);
    let _ = output(&mut c, ms(20));
    // A Linux-style probe: SEQ = RCV.NXT - 1, no data.
    input0(&mut c, ms(30), ack(r1() + 999, l1()));
    let a = output_one(&mut c, ms(30));
    check_ack(&a, l1(), r1() + 1000);
    assert_eq!(a.repr.window, 0);
}

/// A connection whose peer's window is zero, with one byte queued, and an optional
/// user timeout.
fn probing(user_timeout_ms: Option<u64>) -> TestConn {
    let mut c = established_peer_win(0);
    c.set_user_timeout(user_timeout_ms.map(Duration::from_millis));
    send(&mut c, b"x").unwrap();
    let _ = output(&mut c, ms(20));
    c
}

/// Runs the next timer expiry; returns its time and whether anything was sent.
fn next_expiry(c: &mut TestConn) -> (Instant, bool) {
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    (t, !output(c, t).is_empty())
}

/// The peer acknowledges a probe, its window still zero.
fn answer_closed(c: &mut TestConn, t: Instant) {
    let mut a = ack(r1(), l1());
    a.window = 0;
    input0(c, t, a);
}

#[test]
fn unanswered_probes_obey_the_user_timeout() {
    let mut c = probing(Some(3000));
    let (mut t, mut first_probe) = (ms(20), None);
    while c.state() == State::Established {
        let (at, sent) = next_expiry(&mut c);
        t = at;
        if sent {
            first_probe.get_or_insert(t);
        }
        assert!(t < ms(60_000), "still probing at {t:?}");
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
    // Given up at the first expiry at least 3 s after the first unanswered probe (the
    // next probe interval, 3.2 s after 200+400+800+1600 ms of backoff), long before
    // max_retries probes.
    let waited = t - first_probe.unwrap();
    assert!(
        waited >= Duration::from_millis(3000),
        "gave up {waited:?} after the first probe"
    );
    assert!(
        waited <= Duration::from_millis(6500),
        "gave up {waited:?} after the first probe"
    );
    assert!(c.stats().zero_window_probes < 8);
}

#[test]
fn answered_probes_restart_the_user_timeout() {
    let mut c = probing(Some(1000));
    // The peer answers every probe (window still zero) for much longer than the user
    // timeout: probing goes on (RFC 1122 4.2.2.17).
    let mut t = ms(20);
    while t < ms(20_000) {
        t = next_expiry(&mut c).0;
        answer_closed(&mut c, t);
    }
    assert_eq!(c.state(), State::Established);
}
