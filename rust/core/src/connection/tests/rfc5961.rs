//! RFC 5961: blind RST (section 3), blind SYN (section 4) and ACK acceptability
//! (section 5), with the challenge-ACK rate limit (section 7).

use super::*;

#[test]
fn rst_with_exact_sequence_resets() {
    let mut c = established();
    input0(&mut c, ms(20), seg(TcpFlags::RST, r1(), SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::ConnectionReset));
    assert_eq!(Error::ConnectionReset.errno(), 104);
    output_none(&mut c, ms(20));
    assert!(c.readable());
    assert!(c.hung_up());
}

#[test]
fn rst_with_ack_bit_and_exact_sequence_resets() {
    let mut c = established();
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::RST | TcpFlags::ACK, r1(), l1()),
    );
    assert_eq!(c.error(), Some(Error::ConnectionReset));
}

#[test]
fn rst_in_window_gets_challenge_ack() {
    let mut c = established();
    input0(&mut c, ms(20), seg(TcpFlags::RST, r1() + 1, SeqNum(0)));
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.stats().challenge_acks, 1);
}

#[test]
fn rst_at_window_edge_gets_challenge_ack() {
    let mut c = established();
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::RST, r1() + (BUF - 1), SeqNum(0)),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(output(&mut c, ms(20)).len(), 1);
}

#[test]
fn rst_outside_window_is_silently_dropped() {
    let mut c = established();
    input0(&mut c, ms(20), seg(TcpFlags::RST, r1() + BUF, SeqNum(0)));
    input0(&mut c, ms(20), seg(TcpFlags::RST, r1() - 1, SeqNum(0)));
    assert_eq!(c.state(), State::Established);
    output_none(&mut c, ms(20));
    assert_eq!(c.stats().rsts_in, 2);
}

#[test]
fn blind_rst_sweep_cannot_reset() {
    let mut c = established();
    // An attacker trying every in-window offset but the exact one gets only challenge
    // ACKs (rate limited), never a reset.
    for off in 1..200usize {
        input0(
            &mut c,
            ms(20),
            seg(TcpFlags::RST, r1() + off * 50, SeqNum(0)),
        );
        assert_eq!(c.state(), State::Established);
    }
    let _ = output(&mut c, ms(20));
}

#[test]
fn syn_in_established_gets_challenge_ack() {
    let mut c = established();
    input0(&mut c, ms(20), seg(TcpFlags::SYN, r1() + 10, SeqNum(0)));
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.stats().challenge_acks, 1);
}

#[test]
fn syn_outside_window_gets_challenge_ack_too() {
    let mut c = established();
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::SYN, r1() + 1_000_000, SeqNum(0)),
    );
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
}

#[test]
fn syn_ack_in_established_gets_challenge_ack() {
    let mut c = established();
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1()),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(output(&mut c, ms(20)).len(), 1);
}

#[test]
fn syn_in_close_wait_gets_challenge_ack() {
    let mut c = close_wait();
    input0(&mut c, ms(30), seg(TcpFlags::SYN, r1() + 5, SeqNum(0)));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(output(&mut c, ms(30)).len(), 1);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let cfg = Config {
        challenge_ack_limit: 2,
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    for _ in 0..5 {
        input0(&mut c, ms(20), seg(TcpFlags::SYN, r1(), SeqNum(0)));
        let _ = output(&mut c, ms(20));
    }
    assert_eq!(c.stats().challenge_acks, 2);
    assert_eq!(c.stats().challenge_acks_suppressed, 3);
    // A second later the budget is back.
    input0(&mut c, ms(1100), seg(TcpFlags::SYN, r1(), SeqNum(0)));
    assert_eq!(output(&mut c, ms(1100)).len(), 1);
    assert_eq!(c.stats().challenge_acks, 3);
}

#[test]
fn ack_below_max_window_is_challenged_and_dropped() {
    let mut c = established();
    // Far below SND.UNA - MAX.SND.WND.
    let s = data(r1(), l1() - 100_000, 10);
    let _ = input(&mut c, ms(20), s, &pattern(0, 10));
    assert_eq!(
        c.rcv_nxt(),
        r1(),
        "data of a segment with a bad ACK is dropped"
    );
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.stats().bad_acks, 1);
    assert_eq!(c.stats().challenge_acks, 1);
}

#[test]
fn old_ack_within_max_window_is_accepted() {
    let mut c = established();
    send(&mut c, b"abcdef").unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(25), ack(r1(), l1() + 6));
    // An old ACK (for ISS+1) carrying data is fine: its data is delivered.
    let _ = input(&mut c, ms(26), data(r1(), l1(), 4), b"data");
    assert_eq!(c.rcv_nxt(), r1() + 4);
    assert_eq!(c.snd_una(), l1() + 6);
}

#[test]
fn ack_beyond_snd_max_is_answered_and_dropped() {
    let mut c = established();
    input0(&mut c, ms(20), ack(r1(), l1() + 1));
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.snd_una(), l1());
}

#[test]
fn rst_in_fin_wait_1_resets() {
    let mut c = fin_wait_1();
    input0(&mut c, ms(30), seg(TcpFlags::RST, r1(), SeqNum(0)));
    assert_eq!(c.error(), Some(Error::ConnectionReset));
}

#[test]
fn rst_in_fin_wait_2_resets() {
    let mut c = fin_wait_2();
    input0(&mut c, ms(30), seg(TcpFlags::RST, r1(), SeqNum(0)));
    assert_eq!(c.error(), Some(Error::ConnectionReset));
}

#[test]
fn rst_in_window_in_fin_wait_2_is_challenged() {
    let mut c = fin_wait_2();
    input0(&mut c, ms(30), seg(TcpFlags::RST, r1() + 3, SeqNum(0)));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(output(&mut c, ms(30)).len(), 1);
}

#[test]
fn rst_with_zero_window_needs_exact_match() {
    let mut c = connecting(plain_cfg(), BUF, 100);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack());
    let _ = output_one(&mut c, ms(10));
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(20));
    assert_eq!(a.repr.window, 0);
    input0(&mut c, ms(21), seg(TcpFlags::RST, r1() + 101, SeqNum(0)));
    assert_eq!(c.state(), State::Established);
    input0(&mut c, ms(21), seg(TcpFlags::RST, r1() + 100, SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn reset_keeps_received_data_readable_before_error() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 10);
    input0(&mut c, ms(21), seg(TcpFlags::RST, r1() + 10, SeqNum(0)));
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 10));
    assert_eq!(recv_all(&mut c), Err(Error::ConnectionReset));
    // The error is reported once.
    assert_eq!(recv_all(&mut c), Ok(vec![]));
}

#[test]
fn send_after_reset_reports_error_then_epipe() {
    let mut c = established();
    input0(&mut c, ms(20), seg(TcpFlags::RST, r1(), SeqNum(0)));
    assert_eq!(send(&mut c, b"x"), Err(Error::ConnectionReset));
    assert_eq!(send(&mut c, b"x"), Err(Error::BrokenPipe));
}
