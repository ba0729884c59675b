//! CLOSED: the RST reply for segments without a connection (RFC 9293 3.10.7.1) and a
//! connection object that has closed.

use super::*;

#[test]
fn reset_for_ack_uses_ack_as_seq() {
    let rst = reset_for(&ack(SeqNum(100), SeqNum(5000))).unwrap();
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, SeqNum(5000));
    assert_eq!(rst.src_port, LOCAL.port);
    assert_eq!(rst.dst_port, REMOTE.port);
    assert_eq!(rst.payload_len, 0);
}

#[test]
fn reset_for_syn_acks_it() {
    let rst = reset_for(&seg(TcpFlags::SYN, SeqNum(100), SeqNum(0))).unwrap();
    assert_eq!(rst.flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(rst.seq, SeqNum(0));
    assert_eq!(rst.ack, SeqNum(101));
}

#[test]
fn reset_for_data_without_ack_covers_text_and_fin() {
    let mut s = seg(TcpFlags::FIN, SeqNum(u32::MAX - 1), SeqNum(0));
    s.payload_len = 10;
    let rst = reset_for(&s).unwrap();
    assert_eq!(rst.ack, SeqNum(9), "wraps: MAX-1 + 10 + FIN");
}

#[test]
fn reset_for_rst_is_nothing() {
    assert_eq!(reset_for(&seg(TcpFlags::RST, SeqNum(1), SeqNum(0))), None);
    assert_eq!(
        reset_for(&seg(TcpFlags::RST | TcpFlags::ACK, SeqNum(1), SeqNum(2))),
        None
    );
}

#[test]
fn reset_for_syn_ack_uses_ack() {
    let rst = reset_for(&seg(TcpFlags::SYN | TcpFlags::ACK, SeqNum(7), SeqNum(77))).unwrap();
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, SeqNum(77));
}

#[test]
fn closed_connection_answers_with_reset() {
    let mut c = established();
    c.abort(ms(20));
    let _ = output(&mut c, ms(20));
    input_data(&mut c, ms(30), r1(), l1(), 0, 5);
    let rst = output_one(&mut c, ms(30));
    assert_eq!(rst.repr.flags, TcpFlags::RST);
    assert_eq!(rst.repr.seq, l1());
    input0(&mut c, ms(31), seg(TcpFlags::RST, r1(), SeqNum(0)));
    output_none(&mut c, ms(31));
}

#[test]
fn closed_connection_is_inert() {
    let mut c = established();
    c.abort(ms(20));
    let _ = output(&mut c, ms(20));
    assert!(c.is_closed());
    assert_eq!(c.next_deadline(), None);
    c.on_timer(ms(100_000));
    output_none(&mut c, ms(100_000));
    assert_eq!(c.shutdown_write(), Err(Error::NotConnected));
    assert_eq!(send(&mut c, b"x"), Err(Error::BrokenPipe));
    assert_eq!(recv_all(&mut c), Ok(vec![]));
    c.close(ms(100_001));
    c.abort(ms(100_002));
    output_none(&mut c, ms(100_003));
}

#[test]
fn abort_sends_reset_once() {
    let mut c = established();
    send(&mut c, b"pending").unwrap();
    c.abort(ms(20));
    let rst = output_one(&mut c, ms(20));
    check(&rst, TcpFlags::RST | TcpFlags::ACK, l1(), r1());
    assert_eq!(c.error(), None);
    assert_eq!(c.stats().rsts_out, 1);
    output_none(&mut c, ms(21));
}

#[test]
fn abort_in_time_wait_sends_nothing() {
    let mut c = time_wait();
    c.abort(ms(50));
    output_none(&mut c, ms(50));
    assert!(c.is_closed());
}

/// Linux's state numbers (include/net/tcp_states.h): distinct, 1..=11.
#[test]
fn linux_state_numbers() {
    use crate::connection::State;
    let all = [
        State::Established,
        State::SynSent,
        State::SynReceived,
        State::FinWait1,
        State::FinWait2,
        State::TimeWait,
        State::Closed,
        State::CloseWait,
        State::LastAck,
        State::Listen,
        State::Closing,
    ];
    for (i, s) in all.iter().enumerate() {
        assert_eq!(usize::from(s.linux_number()), i + 1, "{s:?}");
    }
}
