//! When the receiver acknowledges (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2, RFC 5681 4.2):
//! delayed ACKs with Linux's quick-ACK mode, adaptive timeout and pingpong mode
//! (`connection/delack.rs`).

use super::*;
use crate::connection::delack::ATO_MIN;

/// Plain options with delayed ACKs at their default maximum (200 ms).
fn delack_cfg() -> Config {
    Config {
        delayed_ack: Config::default().delayed_ack,
        ..plain_cfg()
    }
}

/// [`delaying`], offering at most 8192 bytes of window from the handshake on
/// (`TCP_WINDOW_CLAMP`) with a larger buffer: the window an ACK carries keeps its size
/// while the application leaves a few segments unread (Linux's window below its free
/// space, `rcv_ssthresh`).
fn delaying_headroom() -> TestConn {
    let mut c = established_with(
        Config {
            window_clamp: Some(8192),
            ..delack_cfg()
        },
        synack(),
    );
    c.quick = 0;
    c.ato = ATO_MIN;
    c.ato_lrcv = ms(10);
    c
}

/// ESTABLISHED with delayed ACKs, as after the quick-ACK phase of the connection's
/// start: no quick ACKs left, the timeout at its start (40 ms), the last data at ms(10).
fn delaying() -> TestConn {
    let mut c = established_with(delack_cfg(), synack());
    c.quick = 0;
    c.ato = ATO_MIN;
    c.ato_lrcv = ms(10);
    c
}

/// Feed `len` bytes of peer data at `t` (stream offset `off`); true if an ACK of it
/// went out at once.
fn data_acked_at_once(c: &mut TestConn, t: Instant, off: usize, len: usize) -> bool {
    input_data(c, t, r1() + off, l1(), off, len);
    let out = output(c, t);
    out.iter().any(|o| o.repr.ack == r1() + off + len)
}

// ----- Quick-ACK mode (Linux tcp_incr_quickack, tcp_enter_quickack_mode) -----

#[test]
fn first_segments_are_acked_at_once() {
    let mut c = established_with(delack_cfg(), synack());
    assert_eq!(c.info(ms(10)).ato, 0, "no ATO before data");
    // Half the offered window (16384 bytes) in 536-byte segments: 15 quick ACKs.
    let mut off = 0;
    for i in 0..15 {
        assert!(
            data_acked_at_once(&mut c, ms(20 + i), off, 100),
            "segment {i}"
        );
        off += 100;
    }
    assert_eq!(c.info(ms(40)).ato, 40_000);
    // The sixteenth waits for the delayed-ACK timer.
    assert!(!data_acked_at_once(&mut c, ms(40), off, 100));
    assert_eq!(c.next_deadline(), Some(ms(80)));
}

#[test]
fn quick_acks_are_at_most_sixteen() {
    let mut c = established_bufs(delack_cfg(), synack(), BUF, 256 * 1024);
    let mut off = 0;
    let mut quick = 0;
    while data_acked_at_once(&mut c, ms(20 + off as u64 / 100), off, 100) {
        quick += 1;
        off += 100;
        assert!(quick < 100);
    }
    assert_eq!(quick, 16);
}

#[test]
fn duplicate_segment_restarts_quick_acks() {
    let mut c = delaying();
    assert!(!data_acked_at_once(&mut c, ms(20), 0, 100));
    c.on_timer(ms(60));
    let _ = output_one(&mut c, ms(60));
    // The same segment again (the peer missed our ACK): acknowledged at once, and the
    // next new segments too.
    assert!(data_acked_at_once(&mut c, ms(70), 0, 100));
    assert_eq!(c.stats().duplicate_segments, 1);
    assert!(data_acked_at_once(&mut c, ms(71), 100, 100));
    assert_eq!(c.ato(), ATO_MIN);
}

#[test]
fn gap_longer_than_rto_restarts_quick_acks() {
    let mut c = delaying();
    assert!(!data_acked_at_once(&mut c, ms(20), 0, 100));
    c.on_timer(ms(60));
    let _ = output_one(&mut c, ms(60));
    // The RTO is 200 ms (10 ms RTT): a second later the sender restarts slowly.
    assert!(data_acked_at_once(&mut c, ms(1020), 100, 100));
}

// ----- The adaptive timeout (Linux icsk_ack.ato) -----

#[test]
fn timeout_follows_the_spacing_of_segments() {
    let mut c = delaying();
    // A gap of 30 ms (above 20, below the ATO): ATO = 40/2 + 30 = 50 ms.
    let _ = data_acked_at_once(&mut c, ms(40), 0, 100);
    assert_eq!(c.ato(), Duration::from_millis(50));
    // 45 ms: 50/2 + 45 = 70 ms.
    let _ = data_acked_at_once(&mut c, ms(85), 100, 100);
    assert_eq!(c.ato(), Duration::from_millis(70));
    // Close segments bring it back towards 40 ms: 70/2 + 20 = 55 ms.
    let _ = data_acked_at_once(&mut c, ms(86), 200, 100);
    assert_eq!(c.ato(), Duration::from_millis(55));
    assert_eq!(c.info(ms(86)).ato, 55_000);
}

#[test]
fn armed_delay_is_bounded_by_the_rtt() {
    let mut c = delaying();
    c.ato = Duration::from_millis(150);
    // A gap of 90 ms: ATO = 75 + 90 = 165 ms; SRTT is 10 ms, so the delay armed is
    // max(SRTT, 40 ms).
    assert!(!data_acked_at_once(&mut c, ms(100), 0, 100));
    assert_eq!(c.ato(), Duration::from_millis(165));
    assert_eq!(c.next_deadline(), Some(ms(140)));
}

#[test]
fn missed_delayed_ack_doubles_the_timeout() {
    let mut c = delaying();
    assert!(!data_acked_at_once(&mut c, ms(20), 0, 100));
    c.on_timer(ms(60));
    let _ = output_one(&mut c, ms(60));
    assert_eq!(c.ato(), Duration::from_millis(80));
    // At most the RTO (200 ms), and reported at most the maximum delay.
    c.ato = Duration::from_millis(150);
    assert!(!data_acked_at_once(&mut c, ms(65), 100, 100));
    c.on_timer(ms(105));
    assert_eq!(c.ato, Duration::from_millis(200));
    c.set_delayed_ack(Some(Duration::from_millis(100)));
    assert_eq!(c.info(ms(105)).ato, 100_000);
}

// ----- Pingpong (interactive) mode (Linux tcp_event_data_sent, TCP_QUICKACK) -----

#[test]
fn reply_within_the_timeout_enters_pingpong_mode() {
    let mut c = established_with(delack_cfg(), synack());
    assert!(!c.pingpong_mode());
    assert!(data_acked_at_once(&mut c, ms(20), 0, 100));
    send(&mut c, b"reply").unwrap();
    let _ = output_one(&mut c, ms(25));
    assert!(c.pingpong_mode());
    // Quick ACKs are suspended: the next request waits for the reply or the timer.
    assert!(!data_acked_at_once(&mut c, ms(30), 100, 100));
    // The timer fires instead: out of pingpong mode, ATO back at 40 ms.
    c.on_timer(c.next_deadline().unwrap());
    assert!(!c.pingpong_mode());
    assert_eq!(c.ato(), ATO_MIN);
}

#[test]
fn late_reply_does_not_enter_pingpong_mode() {
    let mut c = established_with(delack_cfg(), synack());
    assert!(data_acked_at_once(&mut c, ms(20), 0, 100));
    send(&mut c, b"reply").unwrap();
    let _ = output_one(&mut c, ms(70));
    assert!(!c.pingpong_mode());
}

#[test]
fn pingpong_threshold_counts_replies() {
    let cfg = Config {
        pingpong_thresh: 2,
        ..delack_cfg()
    };
    let mut c = established_with(cfg, synack());
    c.set_nodelay(true);
    for (i, t) in [20u64, 30].into_iter().enumerate() {
        let _ = data_acked_at_once(&mut c, ms(t), i * 100, 100);
        assert!(!c.pingpong_mode());
        send(&mut c, b"reply").unwrap();
        let _ = output(&mut c, ms(t + 1));
    }
    assert!(c.pingpong_mode());
}

#[test]
fn quickack_0_suspends_quick_acks() {
    let mut c = established_with(delack_cfg(), synack());
    c.set_quickack(0);
    assert!(c.pingpong_mode());
    assert!(!data_acked_at_once(&mut c, ms(20), 0, 100));
    // TCP_QUICKACK 1: the held ACK now, out of pingpong mode.
    c.set_quickack(1);
    assert!(!c.pingpong_mode());
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 100);
    // TCP_QUICKACK 2 with an ACK held: sent, and back in pingpong mode.
    c.set_quickack(0);
    assert!(!data_acked_at_once(&mut c, ms(30), 100, 100));
    c.set_quickack(2);
    assert!(c.pingpong_mode());
    let _ = output_one(&mut c, ms(31));
}

// ----- After the quick-ACK phase -----

#[test]
fn quickack_sends_a_delayed_ack_now() {
    let mut c = delaying();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    output_none(&mut c, ms(20));
    c.set_quickack(1);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 100);
    // Nothing scheduled: nothing to send.
    c.set_quickack(1);
    output_none(&mut c, ms(22));
}

#[test]
fn single_segment_ack_is_delayed() {
    let mut c = delaying();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    output_none(&mut c, ms(20));
    assert_eq!(c.next_deadline(), Some(ms(60)));
    c.on_timer(ms(60));
    let a = output_one(&mut c, ms(60));
    check_ack(&a, l1(), r1() + 100);
    assert_eq!(c.stats().delayed_acks, 1);
}

#[test]
fn every_second_full_segment_is_acked_at_once() {
    let mut c = delaying_headroom();
    input_data(&mut c, ms(20), r1(), l1(), 0, 1460);
    output_none(&mut c, ms(20));
    input_data(&mut c, ms(21), r1() + 1460, l1(), 1460, 1460);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 2920);
    assert_eq!(c.next_deadline(), None);
    assert_eq!(c.stats().delayed_acks, 0);
}

#[test]
fn delayed_ack_piggybacks_on_data() {
    let mut c = delaying();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    output_none(&mut c, ms(20));
    send(&mut c, b"answer").unwrap();
    let o = output_one(&mut c, ms(25));
    assert_eq!(o.repr.ack, r1() + 100);
    // The delayed-ACK timer is gone; only the retransmission timer remains.
    assert_eq!(c.next_deadline(), Some(ms(225)));
}

#[test]
fn delay_is_configurable() {
    let mut c = delaying();
    c.set_delayed_ack(Some(Duration::from_millis(10)));
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    assert_eq!(c.next_deadline(), Some(ms(30)));
    c.set_delayed_ack(None);
    input_data(&mut c, ms(21), r1() + 100, l1(), 100, 100);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 200);
}

#[test]
fn fin_is_acked_immediately() {
    let mut c = delaying();
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1()),
    );
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1() + 1);
}

#[test]
fn gro_segment_counts_as_several_full_segments() {
    let mut c = delaying_headroom();
    input_data(&mut c, ms(20), r1(), l1(), 0, 5000);
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1() + 5000);
}

/// Linux `__tcp_ack_snd_check`: with the window filling (the application has not read,
/// the ACK would offer less than last time), the second full segment's ACK waits; the
/// read that frees the room sends it (`tcp_cleanup_rbuf`: more than one full segment
/// unacknowledged and a delayed ACK pending), before any window update would.
#[test]
fn second_full_segment_waits_for_the_read_while_the_window_shrinks() {
    let mut c = delaying();
    input_data(&mut c, ms(20), r1(), l1(), 0, 1460);
    input_data(&mut c, ms(21), r1() + 1460, l1(), 1460, 1460);
    output_none(&mut c, ms(21));
    assert_eq!(c.next_deadline(), Some(ms(60)));
    let mut buf = [0u8; 100];
    c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    let a = output_one(&mut c, ms(22));
    check_ack(&a, l1(), r1() + 2920);
    assert_eq!(c.next_deadline(), None);
    assert_eq!(c.stats().delayed_acks, 0);
}

/// A read of less than one full segment's worth unacknowledged leaves the delayed ACK
/// to its timer.
#[test]
fn read_of_a_small_segment_leaves_the_delayed_ack() {
    let mut c = delaying();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let mut buf = [0u8; 100];
    c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    output_none(&mut c, ms(21));
    assert_eq!(c.next_deadline(), Some(ms(60)));
}

#[test]
fn fin_enters_pingpong_mode() {
    let mut c = established_with(delack_cfg(), synack());
    input0(
        &mut c,
        ms(20),
        seg(TcpFlags::FIN | TcpFlags::ACK, r1(), l1()),
    );
    assert_eq!(c.state(), State::CloseWait);
    assert!(c.pingpong_mode());
}
