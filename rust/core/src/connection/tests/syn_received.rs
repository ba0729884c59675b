//! SYN-RECEIVED after a simultaneous open (RFC 9293 3.5, figure 8).

use super::*;

#[test]
fn synack_of_simultaneous_open_is_no_timeout_retransmission() {
    // Our SYN was retransmitted once; the SYN-ACK that answers the peer's SYN is sent
    // because of that SYN, not because a timer expired.
    let mut c = syn_sent();
    c.on_timer(c.next_deadline().unwrap());
    let t = c.next_deadline().unwrap();
    let syn = output_one(&mut c, t);
    assert_eq!(syn.retransmit, Some(Retransmit::Timeout));
    input0(&mut c, t, seg(TcpFlags::SYN, REMOTE_ISS, SeqNum(0)));
    assert_eq!(c.state(), State::SynReceived);
    let sa = output_one(&mut c, t);
    check(&sa, TcpFlags::SYN | TcpFlags::ACK, LOCAL_ISS, r1());
    assert_eq!(sa.retransmit, None);
}

#[test]
fn simultaneous_open_ack_establishes() {
    let mut c = syn_received();
    input0(&mut c, ms(15), ack(r1(), l1()));
    assert_eq!(c.state(), State::Established);
    output_none(&mut c, ms(15));
}

#[test]
fn simultaneous_open_synack_establishes() {
    let mut c = syn_received();
    input0(
        &mut c,
        ms(15),
        seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1()),
    );
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(15));
    check_ack(&a, l1(), r1());
}

#[test]
fn simultaneous_open_synack_with_bad_ack_repeats_synack() {
    let mut c = syn_received();
    input0(
        &mut c,
        ms(15),
        seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1() + 9),
    );
    assert_eq!(c.state(), State::SynReceived);
    let sa = output_one(&mut c, ms(15));
    assert!(sa.repr.flags.contains(TcpFlags::SYN));
}

#[test]
fn bad_ack_gets_reset() {
    let mut c = syn_received();
    input0(&mut c, ms(15), ack(r1(), l1() + 50));
    let rst = output_one(&mut c, ms(15));
    check(&rst, TcpFlags::RST, l1() + 50, SeqNum(0));
    assert_eq!(c.state(), State::SynReceived);
}

#[test]
fn rst_refuses() {
    let mut c = syn_received();
    input0(&mut c, ms(15), seg(TcpFlags::RST, r1(), SeqNum(0)));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::ConnectionRefused));
}

#[test]
fn synack_is_retransmitted() {
    let mut c = syn_received();
    let t = c.next_deadline().unwrap();
    assert_eq!(t, T0 + Duration::from_secs(1));
    c.on_timer(t);
    let sa = output_one(&mut c, t);
    check(&sa, TcpFlags::SYN | TcpFlags::ACK, LOCAL_ISS, r1());
}

#[test]
fn retransmitted_syn_gets_synack_again() {
    let mut c = syn_received();
    input0(&mut c, ms(15), seg(TcpFlags::SYN, REMOTE_ISS, SeqNum(0)));
    let sa = output_one(&mut c, ms(15));
    check(&sa, TcpFlags::SYN | TcpFlags::ACK, LOCAL_ISS, r1());
}

#[test]
fn unacceptable_segment_gets_synack() {
    let mut c = syn_received();
    input_data(&mut c, ms(15), r1() + 100_000, l1(), 0, 5);
    let sa = output_one(&mut c, ms(15));
    assert!(sa.repr.flags.contains(TcpFlags::SYN));
}

#[test]
fn final_ack_with_data_is_delivered() {
    let mut c = syn_received();
    let _ = input(&mut c, ms(15), data(r1(), l1(), 4), b"ping");
    assert_eq!(c.state(), State::Established);
    assert_eq!(recv_all(&mut c).unwrap(), b"ping");
}

#[test]
fn shutdown_in_syn_received_sends_fin_after_ack() {
    let mut c = syn_received();
    c.shutdown_write().unwrap();
    input0(&mut c, ms(15), ack(r1(), l1()));
    assert_eq!(c.state(), State::FinWait1);
    let fin = output_one(&mut c, ms(15));
    check(&fin, TcpFlags::FIN | TcpFlags::ACK, l1(), r1());
}

#[test]
fn abort_in_syn_received_sends_reset() {
    let mut c = syn_received();
    c.abort(ms(15));
    let rst = output_one(&mut c, ms(15));
    assert!(rst.repr.flags.contains(TcpFlags::RST));
}

#[test]
fn synack_retries_exhausted_times_out() {
    let mut c = syn_received();
    while c.state() == State::SynReceived {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
}
