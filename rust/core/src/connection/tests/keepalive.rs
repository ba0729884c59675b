//! Keepalive (RFC 1122 4.2.3.6).

use super::*;

fn ka() -> Keepalive {
    Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        count: 3,
    }
}

fn established_ka() -> TestConn {
    let cfg = Config {
        keepalive: Some(ka()),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    c.on_timer(ms(10));
    c
}

#[test]
fn keepalive_is_off_by_default() {
    let c = established();
    assert_eq!(Config::default().keepalive, None);
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn default_keepalive_values_follow_rfc1122() {
    let k = Keepalive::default();
    assert!(k.idle >= Duration::from_secs(7200));
    assert_eq!(k.count, 9);
}

#[test]
fn probe_after_idle() {
    let mut c = established_ka();
    let t = c.next_deadline().unwrap();
    assert_eq!(t, ms(10) + Duration::from_secs(10));
    c.on_timer(t);
    let p = output_one(&mut c, t);
    check_ack(&p, l1() - 1, r1());
    assert_eq!(c.stats().keepalives, 1);
}

#[test]
fn answered_probe_resets() {
    let mut c = established_ka();
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let _ = output_one(&mut c, t);
    input0(&mut c, t + Duration::from_millis(5), ack(r1(), l1()));
    assert_eq!(
        c.next_deadline(),
        Some(t + Duration::from_millis(5) + Duration::from_secs(10))
    );
    assert_eq!(c.state(), State::Established);
}

#[test]
fn unanswered_probes_time_out_with_reset() {
    let mut c = established_ka();
    let mut probes = 0;
    let mut last = Vec::new();
    while c.state() == State::Established {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        last = output(&mut c, t);
        if c.state() == State::Established {
            probes += last.len();
        }
    }
    assert_eq!(probes, 3);
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(last.len(), 1);
    assert!(last[0].repr.flags.contains(TcpFlags::RST));
}

#[test]
fn probes_are_spaced_by_interval() {
    let mut c = established_ka();
    let t1 = c.next_deadline().unwrap();
    c.on_timer(t1);
    let _ = output(&mut c, t1);
    assert_eq!(c.next_deadline(), Some(t1 + Duration::from_secs(2)));
}

#[test]
fn no_keepalive_while_data_outstanding() {
    let mut c = established_ka();
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    // Only the retransmission timer runs.
    assert_eq!(c.next_deadline(), Some(ms(220)));
}

#[test]
fn traffic_postpones_keepalive() {
    let mut c = established_ka();
    input_data(&mut c, ms(5000), r1(), l1(), 0, 10);
    let _ = output(&mut c, ms(5000));
    assert_eq!(c.next_deadline(), Some(ms(5000) + Duration::from_secs(10)));
}

#[test]
fn keepalive_enabled_at_runtime() {
    let mut c = established();
    c.set_keepalive(Some(ka()));
    c.on_timer(ms(20));
    assert_eq!(c.next_deadline(), Some(ms(10) + Duration::from_secs(10)));
    c.set_keepalive(None);
    c.on_timer(ms(21));
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn keepalive_in_close_wait() {
    let cfg = Config {
        keepalive: Some(ka()),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1()),
    );
    let _ = output(&mut c, ms(20));
    assert_eq!(c.next_deadline(), Some(ms(20) + Duration::from_secs(10)));
}
