//! Orphans, connections the application has closed: retransmission and zero-window
//! probing give up after `orphan_retries` (Linux `tcp_orphan_retries`), or at once when
//! the backed-off interval has reached the maximum RTO, where a connection that an
//! application still holds goes on.

use super::*;

/// ESTABLISHED toward a peer whose window is zero, one byte queued: the persist timer
/// is armed.
fn zero_window(cfg: Config) -> TestConn {
    let mut sa = synack();
    sa.window = 0;
    let mut c = established_with(cfg, sa);
    send(&mut c, b"x").unwrap();
    let _ = output(&mut c, ms(20));
    c
}

/// Runs at most `expiries` timer expiries, the peer answering every probe with its window
/// still zero; returns how many segments went out.
fn probe_answered(c: &mut TestConn, expiries: usize) -> usize {
    let mut sent = 0;
    for _ in 0..expiries {
        if c.state() == State::Closed {
            break;
        }
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        sent += output(c, t).len();
        let mut a = ack(r1(), l1());
        a.window = 0;
        input0(c, t, a);
    }
    sent
}

/// Runs timer expiries until the connection closes (at most 100); returns the time of
/// the last one.
fn expire_until_closed(c: &mut TestConn) -> Instant {
    let mut t = ms(0);
    for _ in 0..100 {
        if c.state() == State::Closed {
            return t;
        }
        t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(c, t);
    }
    panic!("still {:?} after 100 expiries", c.state());
}

#[test]
fn held_connection_probes_while_answered() {
    let mut c = zero_window(plain_cfg());
    assert_eq!(probe_answered(&mut c, 30), 30);
    assert_eq!(c.state(), State::Established);
}

#[test]
fn orphan_gives_up_after_orphan_retries_answered_probes() {
    let mut c = zero_window(plain_cfg());
    c.close(ms(30));
    assert_eq!(c.state(), State::FinWait1);
    // Intervals 200 ms .. 25.6 s: still below the 120 s maximum RTO, so the count decides.
    assert_eq!(probe_answered(&mut c, 30), 8);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.stats().zero_window_probes, 8);
    assert_eq!(c.stats().timeouts, 1);
}

#[test]
fn orphan_gives_up_once_the_probe_interval_is_at_the_maximum() {
    let cfg = Config {
        rtt: crate::rtt::RttConfig {
            max_rto: Duration::from_secs(2),
            ..crate::rtt::RttConfig::default()
        },
        ..plain_cfg()
    };
    let mut c = zero_window(cfg);
    c.close(ms(30));
    // 200, 400, 800, 1600 ms, then 2 s (capped): that expiry gives up.
    assert_eq!(probe_answered(&mut c, 30), 4);
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn orphan_retries_is_configurable() {
    let cfg = Config {
        orphan_retries: 2,
        ..plain_cfg()
    };
    let mut c = zero_window(cfg);
    c.close(ms(30));
    assert_eq!(probe_answered(&mut c, 30), 2);
    assert_eq!(c.state(), State::Closed);
}

/// ESTABLISHED with one unacknowledged byte sent at ms(20), toward a silent peer.
fn in_flight(cfg: Config) -> TestConn {
    let mut c = established_with(cfg, synack());
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    c
}

#[test]
fn held_connection_retransmits_max_retries_times() {
    let mut c = in_flight(plain_cfg());
    let _ = expire_until_closed(&mut c);
    // tcp_retries2 = 15 is a 924.6 s budget from the first retransmission: with the RTO
    // at 200 ms, 16 retransmissions fit (Linux, whose RTO is SRTT + 200 ms, fits 15).
    assert_eq!(c.stats().rto_retransmits, 16);
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn orphan_retransmits_orphan_retries_times() {
    let mut c = in_flight(plain_cfg());
    c.close(ms(30));
    assert_eq!(c.state(), State::FinWait1);
    let _ = expire_until_closed(&mut c);
    // 8 retries: a 102.2 s budget from the first retransmission (0.2 s), so the ninth
    // (at 102.2 s, 102 s after the first) still goes out.
    assert_eq!(c.stats().rto_retransmits, 9);
    assert_eq!(c.stats().timeouts, 1);
}

#[test]
fn orphan_in_last_ack_gives_up_too() {
    let mut c = close_wait();
    c.close(ms(40));
    assert_eq!(c.state(), State::LastAck);
    let _ = output(&mut c, ms(40));
    let _ = expire_until_closed(&mut c);
    assert_eq!(c.stats().rto_retransmits, 9);
}

#[test]
fn user_timeout_replaces_the_orphan_retry_count() {
    // Linux: TCP_USER_TIMEOUT decides retransmission give-up for orphans too.
    let cfg = Config {
        user_timeout: Some(Duration::from_secs(300)),
        ..plain_cfg()
    };
    let mut c = in_flight(cfg);
    c.close(ms(30));
    let last = expire_until_closed(&mut c);
    assert!(c.stats().rto_retransmits > 8);
    assert!(last - ms(20) >= Duration::from_secs(300));
}
