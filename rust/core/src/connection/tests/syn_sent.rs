//! SYN-SENT (RFC 9293 3.10.7.3) and the active open.

use super::*;

#[test]
fn plain_syn_carries_only_mss() {
    let mut c = connecting(plain_cfg(), BUF, BUF);
    let syn = output_one(&mut c, T0);
    check(&syn, TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
    assert_eq!(syn.repr.options.mss, Some(1460));
    assert_eq!(syn.repr.options.window_scale, None);
    assert!(!syn.repr.options.sack_permitted);
    assert_eq!(syn.repr.options.timestamps, None);
    assert_eq!(usize::from(syn.repr.window), BUF);
    assert_eq!(c.snd_nxt(), l1());
}

#[test]
fn full_syn_offers_every_option() {
    let mut c = connecting(full_cfg(), BUF, 1 << 20);
    let syn = output_one(&mut c, T0);
    assert_eq!(syn.repr.options.window_scale, Some(5));
    assert!(syn.repr.options.sack_permitted);
    let ts = syn.repr.options.timestamps.unwrap();
    assert_eq!(ts.tsecr, 0);
    assert_eq!(ts.tsval, T0.millis() as u32);
    // RFC 7323 2.2: the SYN's window is never scaled.
    assert_eq!(syn.repr.window, u16::MAX);
}

#[test]
fn syn_is_sent_once() {
    let mut c = connecting(plain_cfg(), BUF, BUF);
    let _ = output_one(&mut c, T0);
    output_none(&mut c, T0);
    assert_eq!(c.next_deadline(), Some(T0 + Duration::from_secs(1)));
}

#[test]
fn synack_establishes_and_acks() {
    let c = established();
    assert_eq!(c.snd_una(), l1());
    assert_eq!(c.rcv_nxt(), r1());
    assert_eq!(c.send_window(), usize::from(PEER_WIN));
    assert!(c.writable());
    assert!(!c.readable());
}

#[test]
fn synack_bad_ack_gets_reset() {
    let mut c = syn_sent();
    input0(
        &mut c,
        ms(10),
        seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1() + 5),
    );
    let rst = output_one(&mut c, ms(10));
    check(&rst, TcpFlags::RST, l1() + 5, SeqNum(0));
    assert_eq!(c.state(), State::SynSent);
}

#[test]
fn synack_ack_of_iss_gets_reset() {
    let mut c = syn_sent();
    input0(
        &mut c,
        ms(10),
        seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, LOCAL_ISS),
    );
    let rst = output_one(&mut c, ms(10));
    check(&rst, TcpFlags::RST, LOCAL_ISS, SeqNum(0));
}

#[test]
fn rst_with_acceptable_ack_refuses() {
    let mut c = syn_sent();
    input0(
        &mut c,
        ms(10),
        seg(TcpFlags::RST | TcpFlags::ACK, SeqNum(0), l1()),
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::ConnectionRefused));
    assert_eq!(Error::ConnectionRefused.errno(), 111);
    output_none(&mut c, ms(10));
    assert!(c.is_closed());
    assert_eq!(c.next_deadline(), None);
    assert_eq!(c.stats().rsts_in, 1);
}

#[test]
fn rst_without_ack_is_ignored() {
    let mut c = syn_sent();
    input0(&mut c, ms(10), seg(TcpFlags::RST, REMOTE_ISS, SeqNum(0)));
    assert_eq!(c.state(), State::SynSent);
    output_none(&mut c, ms(10));
}

#[test]
fn rst_with_bad_ack_is_ignored() {
    let mut c = syn_sent();
    input0(
        &mut c,
        ms(10),
        seg(TcpFlags::RST | TcpFlags::ACK, SeqNum(0), l1() + 100),
    );
    assert_eq!(c.state(), State::SynSent);
    output_none(&mut c, ms(10));
}

#[test]
fn plain_ack_without_syn_is_dropped() {
    let mut c = syn_sent();
    input0(&mut c, ms(10), ack(REMOTE_ISS, l1()));
    assert_eq!(c.state(), State::SynSent);
    output_none(&mut c, ms(10));
}

#[test]
fn syn_retransmits_with_backoff() {
    let mut c = syn_sent_with(Config {
        syn_linear_timeouts: 0,
        ..plain_cfg()
    });
    let mut t = T0;
    for i in 0..3u64 {
        let wait = Duration::from_secs(1 << i);
        t += wait;
        assert_eq!(c.next_deadline(), Some(t));
        c.on_timer(t);
        let syn = output_one(&mut c, t);
        check(&syn, TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
        assert_eq!(syn.retransmit, Some(Retransmit::Timeout));
    }
    assert_eq!(c.stats().rto_retransmits, 3);
}

/// Sends SYNs until the connection gives up; returns when each SYN went out (seconds)
/// and when it gave up.
fn syn_times(cfg: Config) -> (Vec<u64>, u64) {
    let mut c = syn_sent_with(cfg);
    let mut sent = vec![0];
    let mut t = T0;
    while c.state() == State::SynSent {
        t = c.next_deadline().expect("timer armed in SYN-SENT");
        c.on_timer(t);
        for s in output(&mut c, t) {
            assert!(s.repr.flags.contains(TcpFlags::SYN));
            sent.push((t - T0).millis() / 1000);
        }
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(c.stats().timeouts, 1);
    (sent, (t - T0).millis() / 1000)
}

#[test]
fn syn_retries_exhausted_times_out() {
    // Linux 7.3 defaults (tcp_syn_retries 6, tcp_syn_linear_timeouts 4): four
    // retransmissions 1 s apart, then doubling; ten retransmissions in all, then the
    // connection gives up one (64 s) timeout later, past the 127 s budget.
    let (sent, gave_up) = syn_times(plain_cfg());
    assert_eq!(sent, [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    assert_eq!(gave_up, 131);
}

#[test]
fn syn_retries_without_linear_timeouts() {
    let (sent, gave_up) = syn_times(Config {
        syn_linear_timeouts: 0,
        ..plain_cfg()
    });
    assert_eq!(
        sent,
        [0, 1, 3, 7, 15, 31, 63],
        "one SYN plus tcp_syn_retries"
    );
    assert_eq!(gave_up, 127);
}

#[test]
fn syn_retries_time_budget_ends_linear_timeouts() {
    // tcp_syn_retries 1: a budget of 1 + 2 s. The linear timeouts would allow 5
    // retransmissions, the budget ends the attempt after two (Linux
    // retransmits_timed_out with the initial RTO as base).
    let (sent, gave_up) = syn_times(Config {
        syn_retries: 1,
        ..plain_cfg()
    });
    assert_eq!(sent, [0, 1, 2]);
    assert_eq!(gave_up, 3);
    let (sent, gave_up) = syn_times(Config {
        syn_retries: 1,
        syn_linear_timeouts: 0,
        ..plain_cfg()
    });
    assert_eq!(sent, [0, 1]);
    assert_eq!(gave_up, 3);
}

#[test]
fn user_timeout_bounds_the_handshake() {
    // Linux applies TCP_USER_TIMEOUT to SYN retransmissions: with 500 ms, the first
    // RTO expiry (1 s) gives up instead of retransmitting.
    let mut c = syn_sent();
    c.set_user_timeout(Some(Duration::from_millis(500)));
    let t = c.next_deadline().expect("timer armed in SYN-SENT");
    c.on_timer(t);
    assert!(output(&mut c, t)
        .iter()
        .all(|s| !s.repr.flags.contains(TcpFlags::SYN)));
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn early_timer_call_is_harmless() {
    let mut c = syn_sent();
    c.on_timer(ms(500));
    output_none(&mut c, ms(500));
    assert_eq!(c.state(), State::SynSent);
}

#[test]
fn default_mss_without_option() {
    let mut c = syn_sent();
    let sa = seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1());
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    assert_eq!(c.max_segment_size(), 536);
    c.set_nodelay(true);
    let p = pattern(0, 1000);
    send(&mut c, &p).unwrap();
    let out = output(&mut c, ms(11));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].payload.len(), 536);
    assert_eq!(out[1].payload.len(), 464);
}

#[test]
fn peer_mss_limits_segments() {
    let mut c = syn_sent();
    let mut sa = synack();
    sa.options.mss = Some(1000);
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 2500)).unwrap();
    let out = output(&mut c, ms(11));
    let sizes: Vec<usize> = out.iter().map(|o| o.payload.len()).collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
}

#[test]
fn tiny_peer_mss_is_raised_to_floor() {
    let mut c = syn_sent();
    let mut sa = synack();
    sa.options.mss = Some(1);
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    assert_eq!(c.max_segment_size(), usize::from(MIN_SND_MSS));
}

#[test]
fn our_mss_caps_peer_mss() {
    let cfg = Config {
        mss: 500,
        ..plain_cfg()
    };
    let c = established_with(cfg, synack());
    assert_eq!(c.max_segment_size(), 500);
}

#[test]
fn synack_data_is_delivered() {
    let mut c = syn_sent();
    let sa = TcpRepr {
        payload_len: 5,
        ..synack()
    };
    let _ = input(&mut c, ms(10), sa, b"hello");
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(10));
    check_ack(&a, l1(), r1() + 5);
    assert_eq!(recv_all(&mut c).unwrap(), b"hello");
}

#[test]
fn synack_with_fin_goes_to_close_wait() {
    let mut c = syn_sent();
    let sa = TcpRepr {
        flags: TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN,
        ..synack()
    };
    input0(&mut c, ms(10), sa);
    assert_eq!(c.state(), State::CloseWait);
    let a = output_one(&mut c, ms(10));
    check_ack(&a, l1(), r1() + 1);
    assert_eq!(recv_all(&mut c), Ok(vec![]));
}

#[test]
fn close_in_syn_sent_just_closes() {
    let mut c = syn_sent();
    c.close(ms(1));
    assert_eq!(c.state(), State::Closed);
    output_none(&mut c, ms(1));
    assert_eq!(c.error(), None);
}

#[test]
fn abort_in_syn_sent_sends_nothing() {
    let mut c = syn_sent();
    c.abort(ms(1));
    assert_eq!(c.state(), State::Closed);
    output_none(&mut c, ms(1));
}

#[test]
fn send_while_connecting_would_block() {
    let mut c = syn_sent();
    assert_eq!(send(&mut c, b"x"), Err(Error::WouldBlock));
    assert!(!c.writable());
}

#[test]
fn handshake_rtt_sample() {
    let c = established();
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
}

#[test]
fn karn_no_sample_after_syn_retransmission() {
    let mut c = syn_sent();
    c.on_timer(T0 + Duration::from_secs(1));
    let _ = output_one(&mut c, T0 + Duration::from_secs(1));
    let t = T0 + Duration::from_millis(1100);
    input0(&mut c, t, synack());
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.srtt(), None);
    // RFC 6298 5.7: RTO re-initialized to 3 s; RFC 6928: IW of one segment.
    assert_eq!(c.rto(), Duration::from_secs(3));
    assert_eq!(c.cwnd(), c.max_segment_size());
}

#[test]
fn timestamps_give_handshake_sample_even_after_retransmission() {
    let mut c = syn_sent_with(full_cfg());
    c.on_timer(T0 + Duration::from_secs(1));
    let syn2 = output_one(&mut c, T0 + Duration::from_secs(1));
    let tsval = syn2.repr.options.timestamps.unwrap().tsval;
    let mut sa = synack();
    sa.options.timestamps = Some(Timestamps {
        tsval: 1,
        tsecr: tsval,
    });
    input0(&mut c, T0 + Duration::from_millis(1030), sa);
    assert_eq!(c.srtt(), Some(Duration::from_millis(30)));
}

#[test]
fn shutdown_in_syn_sent_sends_fin_after_handshake() {
    let mut c = syn_sent();
    c.shutdown_write().unwrap();
    input0(&mut c, ms(10), synack());
    assert_eq!(c.state(), State::FinWait1);
    let out = output(&mut c, ms(10));
    assert_eq!(out.len(), 1);
    check(&out[0], TcpFlags::FIN | TcpFlags::ACK, l1(), r1());
}

#[test]
fn syn_retransmission_matches_first_syn() {
    let mut c = connecting(full_cfg(), BUF, BUF);
    let first = output_one(&mut c, T0);
    c.on_timer(T0 + Duration::from_secs(1));
    let second = output_one(&mut c, T0 + Duration::from_secs(1));
    assert_eq!(first.repr.seq, second.repr.seq);
    assert_eq!(first.repr.options.mss, second.repr.options.mss);
    assert_eq!(
        first.repr.options.window_scale,
        second.repr.options.window_scale
    );
}

#[test]
fn connect_with_secret_uses_rfc6528_isn() {
    let secret = IsnSecret([3; 16]);
    let c: TestConn =
        Connection::connect(plain_cfg(), LOCAL, REMOTE, &secret, ring(10), ring(10), T0);
    let want = isn::initial_seq(&secret, LOCAL.tuple(), REMOTE.tuple(), T0);
    assert_eq!(c.snd_una(), want);
    assert_eq!(c.local(), LOCAL);
    assert_eq!(c.remote(), REMOTE);
}
