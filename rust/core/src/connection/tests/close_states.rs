//! FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK (RFC 9293 3.6 and
//! 3.10.7.4).

use super::*;

// ----- FIN-WAIT-1 -----

#[test]
fn fin_wait_1_ack_of_fin_moves_to_fin_wait_2() {
    let c = fin_wait_2();
    assert_eq!(c.snd_una(), l1() + 1);
    assert!(!c.hung_up());
}

#[test]
fn fin_wait_1_fin_is_retransmitted() {
    let mut c = fin_wait_1();
    let t = c.next_deadline().unwrap();
    assert_eq!(t, ms(20) + Duration::from_millis(200));
    c.on_timer(t);
    let fin = output_one(&mut c, t);
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1());
}

#[test]
fn fin_wait_1_fin_and_ack_together_go_to_time_wait() {
    let mut c = fin_wait_1();
    input0(
        &mut c,
        ms(30),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1() + 1),
    );
    assert_eq!(c.state(), State::TimeWait);
    let a = output_one(&mut c, ms(30));
    check_ack(&a, l1() + 1, r1() + 1);
}

#[test]
fn fin_wait_1_crossing_fin_goes_to_closing() {
    let c = closing();
    assert_eq!(c.state(), State::Closing);
}

#[test]
fn fin_wait_1_receives_data() {
    let mut c = fin_wait_1();
    input_data(&mut c, ms(30), r1(), l1() + 1, 0, 50);
    assert_eq!(c.state(), State::FinWait2);
    let a = output_one(&mut c, ms(30));
    check_ack(&a, l1() + 1, r1() + 50);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 50));
}

#[test]
fn send_after_shutdown_is_broken_pipe() {
    let mut c = fin_wait_1();
    assert_eq!(send(&mut c, b"x"), Err(Error::BrokenPipe));
    assert_eq!(Error::BrokenPipe.errno(), 32);
    assert!(!c.writable());
}

#[test]
fn shutdown_twice_is_harmless() {
    let mut c = fin_wait_1();
    assert_eq!(c.shutdown_write(), Ok(()));
    output_none(&mut c, ms(21));
}

#[test]
fn fin_follows_queued_data_in_last_segment() {
    let mut c = established();
    send(&mut c, &pattern(0, 2000)).unwrap();
    c.shutdown_write().unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 2);
    assert!(!out[0].repr.flags.contains(TcpFlags::FIN));
    assert!(out[1].repr.flags.contains(TcpFlags::FIN));
    assert_eq!(out[1].payload.len(), 540);
    assert_eq!(c.snd_max(), l1() + 2001);
    input0(&mut c, ms(30), ack(r1(), l1() + 2000));
    assert_eq!(c.state(), State::FinWait1);
    input0(&mut c, ms(31), ack(r1(), l1() + 2001));
    assert_eq!(c.state(), State::FinWait2);
}

#[test]
fn fin_waits_for_nagle_free_tail() {
    let mut c = established();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    send(&mut c, b"def").unwrap();
    // Nagle holds the small tail while "abc" is unacknowledged...
    output_none(&mut c, ms(21));
    // ...but a FIN lets it go, with the FIN.
    c.shutdown_write().unwrap();
    let o = output_one(&mut c, ms(22));
    assert_eq!(o.payload, b"def");
    assert!(o.repr.flags.contains(TcpFlags::FIN));
}

// ----- FIN-WAIT-2 -----

#[test]
fn fin_wait_2_receives_data() {
    let mut c = fin_wait_2();
    input_data(&mut c, ms(40), r1(), l1() + 1, 0, 20);
    let a = output_one(&mut c, ms(40));
    check_ack(&a, l1() + 1, r1() + 20);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 20));
}

#[test]
fn fin_wait_2_fin_goes_to_time_wait() {
    let c = time_wait();
    assert!(c.hung_up());
    assert!(c.readable());
}

#[test]
fn fin_wait_2_without_close_waits_forever() {
    let c = fin_wait_2();
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn fin_wait_2_orphan_times_out() {
    let mut c = fin_wait_2();
    c.close(ms(50));
    assert_eq!(c.next_deadline(), Some(ms(50) + Duration::from_secs(60)));
    c.on_timer(ms(50) + Duration::from_secs(60));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
}

#[test]
fn close_then_ack_of_fin_starts_orphan_timer() {
    let mut c = established();
    c.close(ms(20));
    assert_eq!(c.state(), State::FinWait1);
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.next_deadline(), Some(ms(30) + Duration::from_secs(60)));
}

#[test]
fn data_after_close_is_answered_with_reset() {
    let mut c = established();
    c.close(ms(20));
    let _ = output_one(&mut c, ms(20));
    input_data(&mut c, ms(30), r1(), l1() + 1, 0, 10);
    assert_eq!(c.state(), State::Closed);
    let rst = output_one(&mut c, ms(30));
    assert!(rst.repr.flags.contains(TcpFlags::RST));
    assert_eq!(c.error(), None);
}

// ----- CLOSING -----

#[test]
fn closing_ack_of_fin_goes_to_time_wait() {
    let mut c = closing();
    input0(&mut c, ms(40), ack(r1() + 1, l1() + 1));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn closing_retransmits_fin() {
    let mut c = closing();
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let fin = output_one(&mut c, t);
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1() + 1);
}

#[test]
fn closing_rst_closes_without_error() {
    let mut c = closing();
    input0(&mut c, ms(40), seg(TcpFlags::RST, r1() + 1, SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
}

// ----- TIME-WAIT -----

#[test]
fn time_wait_expires_after_2msl() {
    let mut c = time_wait();
    assert_eq!(c.next_deadline(), Some(ms(40) + Duration::from_secs(60)));
    c.on_timer(ms(40) + Duration::from_secs(59));
    assert_eq!(c.state(), State::TimeWait);
    c.on_timer(ms(40) + Duration::from_secs(60));
    assert_eq!(c.state(), State::Closed);
    assert!(c.is_closed());
    assert_eq!(c.error(), None);
}

#[test]
fn time_wait_duration_is_configurable() {
    let cfg = Config {
        time_wait: Duration::from_secs(2),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    c.shutdown_write().unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(
        &mut c,
        ms(30),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1() + 1),
    );
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(c.next_deadline(), Some(ms(30) + Duration::from_secs(2)));
}

#[test]
fn time_wait_retransmitted_fin_is_acked_and_restarts_timer() {
    let mut c = time_wait();
    input0(
        &mut c,
        ms(1000),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1() + 1),
    );
    let a = output_one(&mut c, ms(1000));
    check_ack(&a, l1() + 1, r1() + 1);
    assert_eq!(c.next_deadline(), Some(ms(1000) + Duration::from_secs(60)));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn time_wait_new_syn_reopens() {
    let mut c = time_wait();
    let syn = seg(TcpFlags::SYN, r1() + 1000, SeqNum(0));
    assert_eq!(c.on_segment(ms(50), &syn, &[][..]), SegmentAction::Reopen);
}

#[test]
fn time_wait_old_syn_gets_challenge_ack() {
    let mut c = time_wait();
    let syn = seg(TcpFlags::SYN, REMOTE_ISS, SeqNum(0));
    assert_eq!(c.on_segment(ms(50), &syn, &[][..]), SegmentAction::Done);
    let a = output_one(&mut c, ms(50));
    check_ack(&a, l1() + 1, r1() + 1);
    assert_eq!(c.stats().challenge_acks, 1);
}

#[test]
fn time_wait_rst_closes() {
    let mut c = time_wait();
    input0(&mut c, ms(50), seg(TcpFlags::RST, r1() + 1, SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
}

#[test]
fn time_wait_sends_no_data() {
    let mut c = time_wait();
    assert_eq!(send(&mut c, b"x"), Err(Error::BrokenPipe));
    output_none(&mut c, ms(50));
    assert_eq!(recv_all(&mut c), Ok(vec![]));
}

// ----- CLOSE-WAIT -----

#[test]
fn close_wait_shutdown_goes_to_last_ack() {
    let c = last_ack();
    assert!(c.hung_up());
}

#[test]
fn close_wait_close_goes_to_last_ack() {
    let mut c = close_wait();
    c.close(ms(30));
    assert_eq!(c.state(), State::LastAck);
    let fin = output_one(&mut c, ms(30));
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1() + 1);
}

#[test]
fn close_wait_ignores_more_peer_data() {
    let mut c = close_wait();
    input_data(&mut c, ms(30), r1() + 1, l1(), 0, 10);
    let a = output_one(&mut c, ms(30));
    check_ack(&a, l1(), r1() + 1);
    assert_eq!(recv_all(&mut c), Ok(vec![]));
}

#[test]
fn close_wait_retransmitted_fin_is_acked() {
    let mut c = close_wait();
    input0(
        &mut c,
        ms(30),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1()),
    );
    let a = output_one(&mut c, ms(30));
    check_ack(&a, l1(), r1() + 1);
    assert_eq!(c.state(), State::CloseWait);
}

#[test]
fn close_wait_rst_resets() {
    let mut c = close_wait();
    input0(&mut c, ms(30), seg(TcpFlags::RST, r1() + 1, SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::ConnectionReset));
}

// ----- LAST-ACK -----

#[test]
fn last_ack_ack_of_fin_closes() {
    let mut c = last_ack();
    input0(&mut c, ms(40), ack(r1() + 1, l1() + 1));
    assert_eq!(c.state(), State::Closed);
    assert!(c.is_closed());
    assert_eq!(c.error(), None);
    output_none(&mut c, ms(40));
}

#[test]
fn last_ack_retransmits_fin() {
    let mut c = last_ack();
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let fin = output_one(&mut c, t);
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1() + 1);
}

#[test]
fn last_ack_rst_closes_without_error() {
    let mut c = last_ack();
    input0(&mut c, ms(40), seg(TcpFlags::RST, r1() + 1, SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
}

#[test]
fn last_ack_partial_ack_keeps_state() {
    let mut c = close_wait();
    send(&mut c, b"data").unwrap();
    c.shutdown_write().unwrap();
    let o = output_one(&mut c, ms(30));
    assert!(o.repr.flags.contains(TcpFlags::FIN));
    input0(&mut c, ms(40), ack(r1() + 1, l1() + 4));
    assert_eq!(c.state(), State::LastAck);
    input0(&mut c, ms(41), ack(r1() + 1, l1() + 5));
    assert_eq!(c.state(), State::Closed);
}

// ----- Whole sequences -----

#[test]
fn close_with_unread_data_resets() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 10);
    let _ = output(&mut c, ms(20));
    c.close(ms(21));
    assert_eq!(c.state(), State::Closed);
    let rst = output_one(&mut c, ms(21));
    check(&rst, TcpFlags::RST | TcpFlags::ACK, l1(), r1() + 10);
    assert_eq!(c.stats().rsts_out, 1);
}

#[test]
fn simultaneous_close_full_sequence() {
    let mut c = closing();
    input0(&mut c, ms(40), ack(r1() + 1, l1() + 1));
    assert_eq!(c.state(), State::TimeWait);
    c.on_timer(ms(40) + Duration::from_secs(60));
    assert!(c.is_closed());
}

#[test]
fn passive_close_full_sequence_with_data() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let _ = output(&mut c, ms(20));
    input0(
        &mut c,
        ms(21),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1() + 100, l1()),
    );
    let _ = output(&mut c, ms(21));
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 100));
    assert_eq!(recv_all(&mut c), Ok(vec![]));
    send(&mut c, b"response").unwrap();
    c.close(ms(22));
    let o = output_one(&mut c, ms(22));
    assert_eq!(o.payload, b"response");
    assert!(o.repr.flags.contains(TcpFlags::FIN));
    input0(&mut c, ms(30), ack(r1() + 101, l1() + 9));
    assert!(c.is_closed());
}
