//! RFC 7323: timestamps (sections 3 and 4) and PAWS (section 5).

use super::*;

/// `r` with a timestamps option.
fn ts(mut r: TcpRepr, tsval: u32, tsecr: u32) -> TcpRepr {
    r.options.timestamps = Some(Timestamps { tsval, tsecr });
    r.window = 512;
    r
}

fn ts_data(c: &mut TestConn, now: Instant, seq: SeqNum, off: usize, len: usize, tsval: u32) {
    let p = pattern(off, len);
    let _ = input(c, now, ts(data(seq, l1(), len), tsval, 10_000), &p);
}

#[test]
fn every_segment_carries_timestamps() {
    let mut c = established_full();
    c.set_delayed_ack(None);
    send(&mut c, b"hello").unwrap();
    let o = output_one(&mut c, ms(20));
    let t = o.repr.options.timestamps.unwrap();
    assert_eq!(t.tsval, ms(20).millis() as u32);
    assert_eq!(t.tsecr, 5000);
    ts_data(&mut c, ms(30), r1(), 0, 10, 5001);
    let a = output_one(&mut c, ms(30));
    assert_eq!(a.repr.options.timestamps.unwrap().tsecr, 5001);
}

#[test]
fn old_timestamp_is_dropped_and_acked() {
    let mut c = established_full();
    ts_data(&mut c, ms(20), r1(), 0, 10, 4000);
    assert_eq!(c.rcv_nxt(), r1());
    let a = output_one(&mut c, ms(20));
    check_ack(&a, l1(), r1());
    assert_eq!(c.stats().paws_drops, 1);
}

#[test]
fn equal_timestamp_is_accepted() {
    let mut c = established_full();
    ts_data(&mut c, ms(20), r1(), 0, 10, 5000);
    assert_eq!(c.rcv_nxt(), r1() + 10);
}

#[test]
fn newer_timestamp_updates_ts_recent() {
    let mut c = established_full();
    ts_data(&mut c, ms(20), r1(), 0, 10, 6000);
    let _ = output(&mut c, ms(20));
    // Now 5500 is old.
    ts_data(&mut c, ms(21), r1() + 10, 10, 10, 5500);
    assert_eq!(c.rcv_nxt(), r1() + 10);
    assert_eq!(c.stats().paws_drops, 1);
}

#[test]
fn timestamp_wrap_is_newer() {
    let mut c = established_full();
    ts_data(&mut c, ms(20), r1(), 0, 10, u32::MAX - 5);
    // 5000 -> u32::MAX - 5 is "older" by wrapping comparison: dropped.
    assert_eq!(c.rcv_nxt(), r1());
    let mut c = established_full();
    c.set_delayed_ack(None);
    let mut tsval = 5000u32;
    for i in 0..3usize {
        tsval = tsval.wrapping_add(0x7000_0000);
        ts_data(&mut c, ms(20 + i as u64), r1() + i * 10, i * 10, 10, tsval);
        let _ = output(&mut c, ms(20 + i as u64));
    }
    assert!(tsval < 5000 + 0x7000_0000, "the last TSval wrapped");
    assert_eq!(c.rcv_nxt(), r1() + 30, "newer across the 2^32 wrap");
}

#[test]
fn rst_is_exempt_from_paws() {
    let mut c = established_full();
    input0(
        &mut c,
        ms(20),
        ts(seg(TcpFlags::RST, r1(), SeqNum(0)), 1, 0),
    );
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn ts_recent_expires_after_24_days() {
    let mut c = established_full();
    let later = ms(20) + Duration::from_secs(25 * 24 * 3600);
    ts_data(&mut c, later, r1(), 0, 10, 1);
    assert_eq!(c.rcv_nxt(), r1() + 10);
}

#[test]
fn out_of_order_segment_does_not_update_ts_recent() {
    let mut c = established_full();
    ts_data(&mut c, ms(20), r1() + 100, 100, 10, 9000);
    let a = output_one(&mut c, ms(20));
    // RFC 7323 4.3: only segments at or before Last.ACK.sent update TS.Recent.
    assert_eq!(a.repr.options.timestamps.unwrap().tsecr, 5000);
}

#[test]
fn segment_without_timestamp_is_accepted() {
    let mut c = established_full();
    let mut d = data(r1(), l1(), 3);
    d.window = 512;
    let _ = input(&mut c, ms(20), d, b"abc");
    assert_eq!(c.rcv_nxt(), r1() + 3);
}

#[test]
fn rtt_sample_from_echoed_timestamp() {
    let mut c = established_full();
    send(&mut c, b"abc").unwrap();
    let o = output_one(&mut c, ms(20));
    let tsval = o.repr.options.timestamps.unwrap().tsval;
    input0(&mut c, ms(120), ts(ack(r1(), l1() + 3), 5001, tsval));
    // First sample 10 ms (handshake), second 100 ms: SRTT = 7/8*10 + 1/8*100.
    assert_eq!(c.srtt(), Some(Duration::from_micros(21_250)));
}

#[test]
fn timestamps_sample_retransmitted_data() {
    let mut c = established_full();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let o = output_one(&mut c, t);
    let tsval = o.repr.options.timestamps.unwrap().tsval;
    // The ACK echoes the retransmission's TSval: an unambiguous sample (RFC 7323 4.1).
    input0(
        &mut c,
        t + Duration::from_millis(10),
        ts(ack(r1(), l1() + 3), 5001, tsval),
    );
    let srtt = c.srtt().unwrap();
    assert!(srtt < Duration::from_millis(11), "{srtt:?}");
}

#[test]
fn duplicate_ack_gives_no_sample() {
    let mut c = established_full();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    let before = c.srtt();
    input0(&mut c, ms(500), ts(ack(r1(), l1()), 5001, 1));
    assert_eq!(c.srtt(), before);
}

#[test]
fn paws_applies_to_pure_acks() {
    let mut c = established_full();
    send(&mut c, b"abc").unwrap();
    let _ = output_one(&mut c, ms(20));
    input0(&mut c, ms(30), ts(ack(r1(), l1() + 3), 100, 20));
    assert_eq!(c.snd_una(), l1(), "an ACK failing PAWS is not processed");
    assert_eq!(c.stats().paws_drops, 1);
}

#[test]
fn tsval_offset_is_applied() {
    let mut c = Connection::connect_with_iss(
        full_cfg(),
        LOCAL,
        REMOTE,
        LOCAL_ISS,
        12345,
        ring(BUF),
        ring(BUF),
        T0,
    );
    let syn = output_one(&mut c, T0);
    assert_eq!(
        syn.repr.options.timestamps.unwrap().tsval,
        (T0.millis() as u32).wrapping_add(12345)
    );
}
