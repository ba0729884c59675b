//! Retransmission timeout (RFC 6298), Karn's algorithm, backoff, go-back-N after a
//! timeout (RFC 5681 3.1), user timeout and max retransmissions.

use super::*;
use crate::wire::Timestamps;

#[test]
fn data_is_retransmitted_after_rto() {
    let mut c = established();
    send(&mut c, b"hello").unwrap();
    let first = output_one(&mut c, ms(20));
    assert_eq!(first.retransmit, None);
    assert_eq!(c.rto(), Duration::from_millis(200));
    assert_eq!(c.next_deadline(), Some(ms(220)));
    c.on_timer(ms(220));
    let o = output_one(&mut c, ms(220));
    check(&o, TcpFlags::ACK | TcpFlags::PSH, l1(), r1());
    assert_eq!(o.payload, b"hello");
    assert_eq!(o.retransmit, Some(Retransmit::Timeout));
    assert_eq!(c.stats().rto_retransmits, 1);
    assert_eq!(c.stats().rto_expirations, 1);
}

#[test]
fn rto_backs_off() {
    let mut c = established();
    send(&mut c, b"hello").unwrap();
    let _ = output_one(&mut c, ms(20));
    let mut t = ms(20);
    let mut gaps = Vec::new();
    for _ in 0..5 {
        let d = c.next_deadline().unwrap();
        gaps.push((d - t).millis());
        t = d;
        c.on_timer(t);
        let _ = output_one(&mut c, t);
    }
    assert_eq!(gaps, vec![200, 400, 800, 1600, 3200]);
}

#[test]
fn rto_is_capped() {
    let cfg = Config {
        rtt: crate::rtt::RttConfig {
            max_rto: Duration::from_secs(2),
            ..crate::rtt::RttConfig::default()
        },
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    let mut t = ms(20);
    for _ in 0..8 {
        let d = c.next_deadline().unwrap();
        assert!(d - t <= Duration::from_secs(2));
        t = d;
        c.on_timer(t);
        let _ = output(&mut c, t);
    }
}

#[test]
fn max_retries_times_out() {
    let mut c = one_byte_in_flight_3_retries();
    // Linux's budget for 3 retries is 0.2 + 0.4 + 0.8 + 1.6 s from the first
    // retransmission: with the RTO at 200 ms the fourth still fits (at 2.8 s).
    let retransmissions = run_timers_while_established(&mut c);
    assert_eq!(retransmissions, 4);
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(Error::TimedOut.errno(), 110);
    assert_eq!(send(&mut c, b"y"), Err(Error::TimedOut));
}

#[test]
fn user_timeout_replaces_retry_count() {
    let cfg = Config {
        user_timeout: Some(Duration::from_secs(1)),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(20));
    let mut last = ms(20);
    while c.state() == State::Established {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
        last = t;
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert!(last - ms(20) >= Duration::from_secs(1));
    assert!(last - ms(20) < Duration::from_secs(4));
}

#[test]
fn rto_collapses_cwnd_to_one_segment() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10_000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 7);
    c.on_timer(ms(220));
    assert_eq!(c.cwnd(), 1460);
    assert_eq!(c.ssthresh(), 5000);
    // Go-back-N: one segment (cwnd) is resent.
    let out = output(&mut c, ms(220));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.seq, l1());
}

#[test]
fn go_back_n_continues_in_slow_start() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10_000)).unwrap();
    let _ = output(&mut c, ms(20));
    c.on_timer(ms(220));
    let _ = output_one(&mut c, ms(220));
    input0(&mut c, ms(230), ack(r1(), l1() + 1460));
    let out = output(&mut c, ms(230));
    assert_eq!(out.len(), 2, "cwnd 2 after one ACK in slow start");
    assert_eq!(out[0].repr.seq, l1() + 1460);
    assert_eq!(out[1].repr.seq, l1() + 2920);
    assert_eq!(c.stats().rto_retransmits, 3);
}

#[test]
fn late_ack_after_rto_skips_go_back() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 5000)).unwrap();
    let _ = output(&mut c, ms(20));
    c.on_timer(ms(220));
    let _ = output_one(&mut c, ms(220));
    // The original transmissions were only delayed: everything is acknowledged.
    input0(&mut c, ms(225), ack(r1(), l1() + 5000));
    output_none(&mut c, ms(225));
    assert!(c.send_buffer().is_empty());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn karn_no_sample_from_retransmitted_segment() {
    let mut c = established();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    c.on_timer(ms(220));
    let _ = output_one(&mut c, ms(220));
    input0(&mut c, ms(700), ack(r1(), l1() + 3));
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
    // Backoff is cleared anyway (the path works again).
    assert_eq!(c.rto(), Duration::from_millis(200));
}

#[test]
fn rtt_sample_from_timed_segment() {
    let mut c = established();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(100), ack(r1(), l1() + 3));
    // 7/8 * 10 + 1/8 * 80 = 18.75 ms.
    assert_eq!(c.srtt(), Some(Duration::from_micros(18_750)));
}

#[test]
fn only_one_segment_is_timed_at_a_time() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    send(&mut c, b"def").unwrap();
    let _ = output_one(&mut c, ms(50));
    // The ACK of the second segment arrives at 60: the timed one is the first (40 ms).
    input0(&mut c, ms(60), ack(r1(), l1() + 6));
    assert_eq!(c.srtt(), Some(Duration::from_micros(13_750)));
}

#[test]
fn every_ack_samples_the_send_time_not_the_millisecond_timestamp() {
    // Two segments out at 20 ms, acknowledged 300 and 400 us later, each ACK echoing
    // the TSval of the same millisecond: the samples are 300 and 400 us, not 0 ms.
    let mut c = established_full();
    c.set_nodelay(true);
    // The window of the SYN-ACK was not scaled: the peer's first ACK opens it.
    let mut w = ack(r1(), l1());
    w.window = 512;
    input0(&mut c, ms(15), w);
    send(&mut c, &pattern(0, 2000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 2, "{out:#?}");
    let tsval = out[0].repr.options.timestamps.unwrap().tsval;
    for (acked, us) in [(1000, 300), (2000, 400)] {
        let mut a = ack(r1(), l1() + acked);
        a.window = 512;
        a.options.timestamps = Some(Timestamps {
            tsval: 5001,
            tsecr: tsval,
        });
        input0(&mut c, ms(20) + Duration::from_micros(us), a);
    }
    let mut want = crate::rtt::RttEstimator::default();
    for rtt in [10_000, 300, 400] {
        want.on_sample(Duration::from_micros(rtt));
    }
    assert_eq!(c.srtt(), want.srtt());
}

#[test]
fn karn_ack_covering_a_retransmission_gives_no_clock_sample() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 2920)).unwrap();
    let _ = output(&mut c, ms(20));
    c.on_timer(ms(220));
    let _ = output_one(&mut c, ms(220));
    // Both segments acknowledged at 230: the first was sent twice, so no sample.
    input0(&mut c, ms(230), ack(r1(), l1() + 2920));
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
    // Data sent after the retransmission was acknowledged is sampled again.
    send(&mut c, b"x").unwrap();
    let _ = output_one(&mut c, ms(240));
    input0(&mut c, ms(270), ack(r1(), l1() + 2921));
    assert_eq!(c.srtt(), Some(Duration::from_micros(12_500)));
}

#[test]
fn rto_restarts_on_new_ack() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 3000)).unwrap();
    let _ = output(&mut c, ms(20));
    assert_eq!(c.next_deadline(), Some(ms(220)));
    input0(&mut c, ms(100), ack(r1(), l1() + 1460));
    let d = c.next_deadline().unwrap();
    assert!(d > ms(220), "restarted at the ACK: {d:?}");
}

#[test]
fn spurious_timer_calls_are_harmless() {
    let mut c = established();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    for t in [ms(21), ms(100), ms(219)] {
        c.on_timer(t);
        output_none(&mut c, t);
    }
    assert_eq!(c.stats().rto_expirations, 0);
}

#[test]
fn rto_after_everything_acked_does_nothing() {
    let mut c = established();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ack(r1(), l1() + 3));
    c.on_timer(ms(5000));
    output_none(&mut c, ms(5000));
}

#[test]
fn retransmission_includes_fin() {
    let mut c = established();
    send(&mut c, b"bye").unwrap();
    c.shutdown_write().unwrap();
    let o = output_one(&mut c, ms(20));
    assert!(o.repr.flags.contains(TcpFlags::FIN));
    c.on_timer(ms(220));
    let o = output_one(&mut c, ms(220));
    assert_eq!(o.payload, b"bye");
    assert!(o.repr.flags.contains(TcpFlags::FIN));
    input0(&mut c, ms(230), ack(r1(), l1() + 4));
    assert_eq!(c.state(), State::FinWait2);
}

#[test]
fn fin_only_retransmission_after_data_acked() {
    let mut c = established();
    send(&mut c, b"bye").unwrap();
    c.shutdown_write().unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ack(r1(), l1() + 3));
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let o = output_one(&mut c, t);
    check(&o, TcpFlags::FIN | TcpFlags::ACK, l1() + 3, r1());
    assert_eq!(o.repr.payload_len, 0);
}

#[test]
fn rto_timer_armed_only_with_data_in_flight() {
    let mut c = established();
    assert_eq!(c.next_deadline(), None);
    send(&mut c, b"a").unwrap();
    assert_eq!(c.next_deadline(), None, "nothing sent yet");
    let _ = output_one(&mut c, ms(20));
    assert!(c.next_deadline().is_some());
}
