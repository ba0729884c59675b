//! ESTABLISHED: data transfer both ways (RFC 9293 3.10.7.4).

use super::*;

#[test]
fn send_one_segment() {
    let mut c = established();
    assert_eq!(send(&mut c, b"hello"), Ok(5));
    let o = output_one(&mut c, ms(20));
    check(&o, TcpFlags::ACK | TcpFlags::PSH, l1(), r1());
    assert_eq!(o.payload, b"hello");
    assert_eq!(c.snd_nxt(), l1() + 5);
    assert_eq!(c.stats().bytes_out, 5);
}

#[test]
fn data_crosses_sequence_wrap() {
    let mut c = established();
    // LOCAL_ISS is 16 below the wrap: 100 bytes cross zero.
    send(&mut c, &pattern(0, 100)).unwrap();
    let o = output_one(&mut c, ms(20));
    assert_eq!(o.payload.len(), 100);
    input0(&mut c, ms(30), ack(r1(), l1() + 100));
    assert_eq!(c.snd_una(), SeqNum(LOCAL_ISS.0.wrapping_add(101)));
    assert!(c.snd_una().0 < 100);
    assert!(c.send_buffer().is_empty());
}

#[test]
fn ack_frees_send_buffer() {
    let mut c = established();
    send(&mut c, b"hello world").unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ack(r1(), l1() + 5));
    assert_eq!(c.send_buffer().len(), 6);
    input0(&mut c, ms(31), ack(r1(), l1() + 11));
    assert!(c.send_buffer().is_empty());
    assert_eq!(
        c.next_deadline(),
        None,
        "retransmission timer stops when all is acked"
    );
}

#[test]
fn large_send_is_segmented_and_limited_by_cwnd() {
    let mut c = established();
    let p = pattern(0, 30_000);
    assert_eq!(send(&mut c, &p), Ok(BUF));
    let out = output(&mut c, ms(20));
    // RFC 6928 IW: 10 segments of 1460.
    assert_eq!(out.len(), 10);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.repr.seq, l1() + i * 1460);
        assert_eq!(o.payload, &p[i * 1460..(i + 1) * 1460]);
    }
    assert_eq!(c.bytes_in_flight(), 14600);
}

#[test]
fn acks_grow_cwnd_and_release_more() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, BUF)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 10);
    input0(&mut c, ms(40), ack(r1(), l1() + 2920));
    let more = output(&mut c, ms(40));
    // Slow start: cwnd grew by 2920, and 2920 left the flight: 4 more segments, but
    // the buffer only holds 16384 - 14600 = 1784 more bytes.
    let sent: usize = more.iter().map(|o| o.payload.len()).sum();
    assert_eq!(sent, BUF - 14600);
}

#[test]
fn peer_window_limits_sending() {
    let mut c = syn_sent();
    let mut sa = synack();
    sa.window = 3000;
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    send(&mut c, &pattern(0, 10_000)).unwrap();
    let out = output(&mut c, ms(20));
    // Two full segments; the 80 bytes left in the window are less than a segment and
    // less than half the largest window seen: sender SWS avoidance holds them.
    let sizes: Vec<usize> = out.iter().map(|o| o.payload.len()).collect();
    assert_eq!(sizes, vec![1460, 1460]);
    // The ACK with a larger window opens more.
    let mut upd = ack(r1(), l1() + 2920);
    upd.window = 6000;
    input0(&mut c, ms(30), upd);
    let out = output(&mut c, ms(30));
    let sent: usize = out.iter().map(|o| o.payload.len()).sum();
    assert_eq!(sent, 4 * 1460);
}

#[test]
fn window_update_without_ack_advance() {
    let mut c = syn_sent();
    let mut sa = synack();
    sa.window = 1000;
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    send(&mut c, &pattern(0, 3000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 1000);
    c.set_nodelay(true);
    let mut upd = ack(r1(), l1());
    upd.window = 4000;
    input0(&mut c, ms(25), upd);
    let out = output(&mut c, ms(25));
    let sent: usize = out.iter().map(|o| o.payload.len()).sum();
    assert_eq!(sent, 2000);
}

#[test]
fn old_window_update_is_ignored() {
    let mut c = established();
    // A newer segment sets the window...
    let mut a = ack(r1(), l1());
    a.window = 100;
    input0(&mut c, ms(20), a);
    assert_eq!(c.send_window(), 100);
    // ...then data from the peer moves WL1 on.
    input_data(&mut c, ms(21), r1(), l1(), 0, 10);
    let _ = output(&mut c, ms(21));
    // An older segment (lower seq) must not change the window (RFC 9293 SND.WL1 rule).
    let mut old = ack(r1(), l1());
    old.window = 9000;
    input0(&mut c, ms(22), old);
    assert_eq!(c.send_window(), usize::from(PEER_WIN));
}

#[test]
fn receive_in_order() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    assert!(c.readable());
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1() + 100);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 100));
    assert!(!c.readable());
    assert_eq!(c.stats().bytes_in, 100);
}

#[test]
fn recv_partial_reads() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let mut buf = [0u8; 30];
    let n = c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    assert_eq!(n, 30);
    assert_eq!(&buf[..], &pattern(0, 30)[..]);
    assert_eq!(c.recv_buffer().len(), 70);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(30, 70));
}

#[test]
fn recv_reader_overclaim_is_clamped() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 10);
    assert_eq!(c.recv_with(|_| 1000), Ok(10));
    assert!(c.recv_buffer().is_empty());
}

#[test]
fn recv_nothing_would_block() {
    let mut c = established();
    assert_eq!(recv_all(&mut c), Err(Error::WouldBlock));
}

#[test]
fn out_of_order_then_fill() {
    let mut c = established();
    input_data(&mut c, ms(20), r1() + 100, l1(), 100, 100);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert!(!c.readable());
    assert_eq!(c.stats().ooo_queued, 1);
    input_data(&mut c, ms(21), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 200);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 200));
}

#[test]
fn many_out_of_order_segments_reassemble() {
    let mut c = established();
    // Deliver 20 segments of 50 bytes in a scrambled order.
    let order = [
        7usize, 3, 19, 0, 12, 5, 1, 18, 9, 2, 15, 4, 11, 6, 17, 8, 14, 10, 16, 13,
    ];
    for (k, &i) in order.iter().enumerate() {
        input_data(&mut c, ms(20 + k as u64), r1() + i * 50, l1(), i * 50, 50);
        let _ = output(&mut c, ms(20 + k as u64));
    }
    assert_eq!(c.rcv_nxt(), r1() + 1000);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 1000));
}

#[test]
fn overlapping_retransmissions_reassemble() {
    let mut c = established();
    input_data(&mut c, ms(20), r1() + 50, l1(), 50, 100);
    input_data(&mut c, ms(21), r1() + 120, l1(), 120, 100);
    input_data(&mut c, ms(22), r1(), l1(), 0, 80);
    assert_eq!(c.rcv_nxt(), r1() + 220);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 220));
}

#[test]
fn duplicate_data_is_acked_not_redelivered() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let _ = output_one(&mut c, ms(20));
    input_data(&mut c, ms(21), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 100);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 100));
    assert_eq!(c.stats().duplicate_segments, 1);
}

#[test]
fn partially_duplicate_data_is_trimmed() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    input_data(&mut c, ms(21), r1() + 50, l1(), 50, 100);
    assert_eq!(c.rcv_nxt(), r1() + 150);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 150));
}

#[test]
fn data_beyond_window_is_trimmed() {
    let mut c = connecting(plain_cfg(), BUF, 1000);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack());
    let _ = output_one(&mut c, ms(10));
    input_data(&mut c, ms(20), r1(), l1(), 0, 1500);
    assert_eq!(c.rcv_nxt(), r1() + 1000);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1() + 1000);
    assert_eq!(a.repr.window, 0);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 1000));
}

#[test]
fn segment_entirely_out_of_window_is_acked_and_dropped() {
    let mut c = established();
    input_data(&mut c, ms(20), r1() + 100_000, l1(), 0, 10);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.stats().out_of_window, 1);
    assert!(!c.readable());
}

#[test]
fn old_segment_is_acked_and_dropped() {
    let mut c = established();
    input_data(&mut c, ms(20), r1() - 50, l1(), 0, 10);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.stats().duplicate_segments, 1);
}

#[test]
fn ack_of_unsent_data_is_answered_and_dropped() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1() + 10, 0, 10);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.rcv_nxt(), r1(), "the segment's data is dropped too");
    assert_eq!(c.stats().bad_acks, 1);
}

#[test]
fn segment_without_ack_is_dropped() {
    let mut c = established();
    let s = TcpRepr {
        payload_len: 3,
        ..seg(TcpFlags::PSH, r1(), SeqNum(0))
    };
    let _ = input(&mut c, ms(20), s, b"abc");
    assert_eq!(c.rcv_nxt(), r1());
    output_none(&mut c, ms(20));
}

#[test]
fn fin_moves_to_close_wait_and_reads_eof() {
    let mut c = close_wait();
    assert!(c.readable());
    assert!(c.read_closed());
    assert_eq!(recv_all(&mut c), Ok(vec![]));
    assert!(c.writable(), "half-close: we can still send");
    send(&mut c, b"late").unwrap();
    let o = output_one(&mut c, ms(30));
    assert_eq!(o.payload, b"late");
}

#[test]
fn fin_with_data() {
    let mut c = established();
    let s = TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::FIN,
        payload_len: 4,
        ..seg(TcpFlags::ACK, r1(), l1())
    };
    let _ = input(&mut c, ms(20), s, b"bye!");
    assert_eq!(c.state(), State::CloseWait);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1() + 5);
    assert_eq!(recv_all(&mut c).unwrap(), b"bye!");
    assert_eq!(recv_all(&mut c), Ok(vec![]));
}

#[test]
fn out_of_order_fin_waits_for_hole() {
    let mut c = established();
    let s = TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::FIN,
        payload_len: 10,
        ..seg(TcpFlags::ACK, r1() + 10, l1())
    };
    let _ = input(&mut c, ms(20), s, &pattern(10, 10));
    assert_eq!(c.state(), State::Established);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    input_data(&mut c, ms(21), r1(), l1(), 0, 10);
    assert_eq!(c.state(), State::CloseWait);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 21);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 20));
}

#[test]
fn gro_merged_segment_larger_than_mss() {
    let mut c = connecting(plain_cfg(), BUF, 65536);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack());
    let _ = output_one(&mut c, ms(10));
    input_data(&mut c, ms(20), r1(), l1(), 0, 40_000);
    assert_eq!(c.rcv_nxt(), r1() + 40_000);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 40_000));
}

#[test]
fn tso_super_segments() {
    let mut c = connecting(plain_cfg(), 100_000, BUF);
    c.set_tso_max(65536);
    let _ = output_one(&mut c, T0);
    let mut sa = synack();
    sa.window = u16::MAX;
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    send(&mut c, &pattern(0, 100_000)).unwrap();
    let out = output(&mut c, ms(20));
    // IW = 14600 = 10 segments, in one super-segment.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 14600);
    assert_eq!(out[0].gso_size, 1460);
    assert_eq!(out[0].payload, pattern(0, 14600));
}

#[test]
fn psh_only_on_last_segment_of_queue() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 3000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 3);
    assert!(!out[0].repr.flags.contains(TcpFlags::PSH));
    assert!(!out[1].repr.flags.contains(TcpFlags::PSH));
    assert!(out[2].repr.flags.contains(TcpFlags::PSH));
}

#[test]
fn bidirectional_data_piggybacks_ack() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 10);
    send(&mut c, b"reply").unwrap();
    let o = output_one(&mut c, ms(20));
    assert_eq!(o.payload, b"reply");
    assert_eq!(o.repr.ack, r1() + 10);
}

#[test]
fn send_buffer_full_would_block() {
    let mut c = established();
    assert_eq!(send(&mut c, &pattern(0, BUF + 10)), Ok(BUF));
    assert!(!c.writable());
    assert_eq!(send(&mut c, b"x"), Err(Error::WouldBlock));
}

#[test]
fn counters_track_segments() {
    let mut c = established();
    let before = c.stats();
    input_data(&mut c, ms(20), r1(), l1(), 0, 10);
    let _ = output(&mut c, ms(20));
    assert_eq!(c.stats().segments_in, before.segments_in + 1);
    assert_eq!(c.stats().segments_out, before.segments_out + 1);
    assert_eq!(c.stats().pure_acks_out, before.pure_acks_out + 1);
}

#[test]
fn reopen_ack_after_full_ack_stops_timer() {
    let mut c = established();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    assert!(c.next_deadline().is_some());
    input0(&mut c, ms(25), ack(r1(), l1() + 3));
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn accepted_connection_final_ack_with_data() {
    let hs = Handshake {
        local: LOCAL,
        remote: REMOTE,
        iss: LOCAL_ISS,
        irs: REMOTE_ISS,
        peer_mss: 1400,
        window_scale: None,
        sack: false,
        timestamps: None,
        rcv_window: 8192,
        synack_sent: Some(T0),
        synack_retransmitted: false,
    };
    let mut c: TestConn = Connection::accept(plain_cfg(), &hs, ring(BUF), ring(BUF), ms(7));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.srtt(), Some(Duration::from_millis(7)));
    let _ = input(&mut c, ms(7), data(r1(), l1(), 3), b"GET");
    assert_eq!(c.send_window(), usize::from(PEER_WIN));
    let a = output_one(&mut c, ms(7));
    check_ack(&a, l1(), r1() + 3);
    assert_eq!(recv_all(&mut c).unwrap(), b"GET");
    assert_eq!(c.max_segment_size(), 1400);
}
