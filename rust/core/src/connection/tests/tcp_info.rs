//! `TCP_INFO` fields computed by their own mechanisms (`connection::info`), one section
//! per field, checked against values worked out by hand from Linux's formulas:
//! `tcpi_rcv_rtt` (`rcv_rtt`: Linux `tcp_rcv_rtt_measure`, `tcp_rcv_rtt_measure_ts`),
//! `tcpi_pacing_rate` (Linux `tcp_update_pacing_rate`), `tcpi_delivery_rate` and
//! `tcpi_delivery_rate_app_limited` (Linux `net/ipv4/tcp_rate.c`), `tcpi_busy_time`,
//! `tcpi_rwnd_limited`, `tcpi_sndbuf_limited` (Linux's chronographs,
//! `tcp_chrono_start` / `tcp_chrono_stop`).

use super::*;

// ----- rcv_rtt: the receiver's RTT estimate, state ESTABLISHED -----

/// ESTABLISHED (plain options: no timestamps) with an 8000-byte receive buffer, so the
/// window offered is 8000 bytes.
fn small_window() -> TestConn {
    established_bufs(plain_cfg(), synack(), BUF, 8000)
}

/// Peer data of `len` bytes at stream offset `off` arrives at `t`; the application
/// reads it and the connection sends what it has (the ACK, a window update).
fn deliver(c: &mut TestConn, t: u64, off: usize, len: usize) {
    input_data(c, ms(t), r1() + off, l1(), off, len);
    recv_all(c).unwrap();
    let _ = output(c, ms(t));
}

#[test]
fn rcv_rtt_is_the_time_a_window_of_data_takes() {
    let mut c = small_window();
    assert_eq!(c.info(ms(10)).rcv_rtt, 0, "no sample before data");
    // The first in-order data starts a measurement: it ends once RCV.NXT reaches
    // 1000 + the 8000-byte window last advertised.
    deliver(&mut c, 20, 0, 1000);
    deliver(&mut c, 25, 1000, 7000);
    assert_eq!(c.info(ms(25)).rcv_rtt, 0, "8000 < 9000: not yet");
    // RCV.NXT reaches 9000 at ms(32): 12 ms after the measurement started.
    deliver(&mut c, 32, 8000, 1000);
    assert_eq!(c.info(ms(32)).rcv_rtt, 12_000);
    assert_eq!(c.rcv_rtt(), 12_000);
}

#[test]
fn rcv_rtt_window_samples_only_lower_the_estimate() {
    let mut c = small_window();
    // The measurement started at ms(20) ends with the segment reaching 9000 (12 ms);
    // each later one with the next segment, a full 8000-byte window on.
    deliver(&mut c, 20, 0, 1000);
    deliver(&mut c, 32, 1000, 8000);
    assert_eq!(c.rcv_rtt(), 12_000);
    // A window taking 30 ms (the sender was idle): an upper bound, ignored.
    deliver(&mut c, 62, 9000, 8000);
    assert_eq!(c.rcv_rtt(), 12_000);
    // 5 ms: taken at once.
    deliver(&mut c, 67, 17_000, 8000);
    assert_eq!(c.rcv_rtt(), 5_000);
}

#[test]
fn rcv_rtt_out_of_order_data_does_not_end_a_measurement() {
    let mut c = small_window();
    input_data(&mut c, ms(20), r1(), l1(), 0, 1000);
    let _ = output(&mut c, ms(20));
    recv_all(&mut c).unwrap();
    // Beyond a hole: RCV.NXT stays at 1000.
    input_data(&mut c, ms(30), r1() + 2000, l1(), 2000, 6000);
    assert_eq!(c.rcv_rtt(), 0);
    // The hole fills at ms(40): RCV.NXT jumps to 8000, still short of 9000.
    input_data(&mut c, ms(40), r1() + 1000, l1(), 1000, 1000);
    assert_eq!(c.rcv_rtt(), 0);
}

/// ESTABLISHED with timestamps, SACK and window scaling (`established_full`), our
/// TSval clock read at `t`.
fn tsval(c: &TestConn, t: Instant) -> u32 {
    c.ts_now(t)
}

/// Peer data of `len` bytes at offset `off`, arriving at `now` and echoing `tsecr`.
fn ts_data(c: &mut TestConn, now: Instant, off: usize, len: usize, tsval: u32, tsecr: u32) {
    let mut d = data(r1() + off, l1(), len);
    d.options.timestamps = Some(Timestamps { tsval, tsecr });
    let p = pattern(off, len);
    let _ = input(c, now, d, &p);
}

#[test]
fn rcv_rtt_from_echoed_timestamps_is_smoothed() {
    let mut c = established_full();
    // A full-sized segment echoing our TSval of ms(10), 25 ms later: 25 ms.
    let echo = tsval(&c, ms(10));
    ts_data(&mut c, ms(35), 0, 1460, 5001, echo);
    assert_eq!(c.info(ms(35)).rcv_rtt, 25_000);
    // The same echo again: one sample per TSecr.
    let echo2 = tsval(&c, ms(20));
    ts_data(&mut c, ms(36), 1460, 1460, 5002, echo);
    assert_eq!(c.rcv_rtt(), 25_000);
    // A larger one (33 ms) is smoothed in by 1/8: 8 * 25 000 - 25 000 + 33 000
    // = 208 000, >> 3 = 26 000.
    ts_data(&mut c, ms(53), 2920, 1460, 5003, echo2);
    assert_eq!(c.rcv_rtt(), 26_000);
}

#[test]
fn rcv_rtt_ignores_short_segments_and_zero_ms_echoes() {
    let mut c = established_full();
    let _ = output(&mut c, ms(30));
    // Shorter than the receive MSS: no sample (but the echo is used up).
    let echo = tsval(&c, ms(10));
    ts_data(&mut c, ms(30), 0, 100, 5001, echo);
    assert_eq!(c.rcv_rtt(), 0);
    // A 0 ms echo is below the clock's resolution: no sample (Linux 6.16's
    // `tcp_rtt_tsopt_us(tp, 0)`).
    let now_ts = tsval(&c, ms(30));
    ts_data(&mut c, ms(30), 100, 1460, 5002, now_ts);
    assert_eq!(c.rcv_rtt(), 0);
}

#[test]
fn rcv_rtt_drives_receive_autotuning_not_the_senders_srtt() {
    // No data received: there is no receiver estimate, so reading does not measure,
    // whatever the sender's SRTT (10 ms from the handshake).
    let mut c = small_window();
    assert!(c.info(ms(10)).rtt > 0);
    input_data(&mut c, ms(40), r1(), l1(), 0, 1000);
    recv_all(&mut c).unwrap();
    // rcv_space stays at its initial value (the buffer, below 10 MSS).
    assert_eq!(c.info(ms(40)).rcv_space, 8000);
    assert_eq!(c.rcv_rtt(), 0);
}

// ----- pacing_rate: tcp_update_pacing_rate -----

const SEG: usize = 1460;

#[test]
fn pacing_rate_is_unset_before_an_rtt_sample() {
    let c = syn_sent();
    assert_eq!(c.info(T0).pacing_rate, u64::MAX);
}

#[test]
fn pacing_rate_in_slow_start_is_twice_cwnd_per_srtt() {
    // SRTT 10 ms (the handshake), cwnd 10 segments, ssthresh infinite: slow start,
    // 200 %: 1460 * 10 / 0.010 s * 2 = 2 920 000 bytes/s.
    let c = established();
    let i = c.info(ms(10));
    assert_eq!((i.rtt, i.snd_cwnd), (10_000, 10));
    assert_eq!(i.pacing_rate, 2_920_000);
}

#[test]
fn pacing_rate_after_a_loss_is_120_percent_of_the_larger_of_cwnd_and_flight() {
    let mut c = established_bufs(plain_cfg(), synack(), 10 * SEG, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 10);
    for t in 30..33 {
        input0(&mut c, ms(t), ack(r1(), l1()));
        let _ = output(&mut c, ms(t));
    }
    // Recovery: ssthresh 5, cwnd 8 (>= 5 / 2: the 120 % ratio), 10 segments out
    // (max(cwnd, packets_out) = 10), SRTT still 10 ms: 1460 * 10 / 0.010 * 1.2.
    let i = c.info(ms(33));
    assert_eq!((i.snd_ssthresh, i.snd_cwnd, i.unacked), (5, 8, 10));
    assert_eq!(i.pacing_rate, 1_752_000);
}

// ----- delivery_rate: tcp_rate.c sampling -----

/// ESTABLISHED (plain, SRTT and min RTT 10 ms from the handshake) with room for 64
/// segments to send, Nagle off.
fn sender() -> TestConn {
    let mut c = established_bufs(plain_cfg(), synack(), 64 * SEG, BUF);
    c.set_nodelay(true);
    c
}

/// Sends what the window allows at `t`; returns the bytes sent.
fn flush(c: &mut TestConn, t: Instant) -> usize {
    output(c, t).iter().map(|o| o.payload.len()).sum()
}

#[test]
fn delivery_rate_first_flight_is_application_limited() {
    let mut c = sender();
    let i = c.info(ms(20));
    assert_eq!((i.delivery_rate, i.delivery_rate_app_limited), (0, true));
    // Ten segments at ms(20) into an empty pipe (Linux tcp_rate_check_app_limited
    // marks the bubble), all acknowledged at ms(40): 14 600 bytes over the ACK phase
    // of 20 ms = 730 000 bytes/s, application-limited.
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    assert_eq!(flush(&mut c, ms(20)), 10 * SEG);
    input0(&mut c, ms(40), ack(r1(), l1() + 10 * SEG));
    let i = c.info(ms(40));
    assert_eq!(
        (i.delivery_rate, i.delivery_rate_app_limited),
        (730_000, true)
    );
}

#[test]
fn delivery_rate_of_a_full_pipe_is_kept_over_a_slower_app_limited_one() {
    let mut c = sender();
    send(&mut c, &pattern(0, 40 * SEG)).unwrap();
    assert_eq!(flush(&mut c, ms(20)), 10 * SEG);
    input0(&mut c, ms(40), ack(r1(), l1() + 10 * SEG));
    // Slow start: cwnd 12 segments; 17 520 bytes sent at ms(40) with 14 600
    // delivered, the send phase starting at ms(20) (the newest delivered range's
    // send time), the ACK phase at ms(40).
    assert_eq!(c.info(ms(40)).snd_cwnd, 12);
    assert_eq!(flush(&mut c, ms(40)), 12 * SEG);
    input0(&mut c, ms(60), ack(r1(), l1() + 22 * SEG));
    // max(send 20 ms, ACK 20 ms): 17 520 bytes / 20 ms, not application-limited.
    let i = c.info(ms(60));
    assert_eq!(
        (i.delivery_rate, i.delivery_rate_app_limited),
        (876_000, false)
    );
    // The rest goes; then the pipe drains and one more segment is written into the
    // empty pipe: application-limited, 1460 bytes / 10 ms = 146 000 bytes/s, lower
    // than the sample kept, so not kept.
    let (mut t, mut acked) = (60, 22 * SEG);
    while acked < 40 * SEG {
        acked += flush(&mut c, ms(t));
        t += 20;
        input0(&mut c, ms(t), ack(r1(), l1() + acked));
    }
    assert_eq!(t, 100);
    // The last flight: 4 segments sent at ms(80), the send phase from ms(60):
    // 5840 bytes / 20 ms, not application-limited (kept though lower).
    let kept = c.info(ms(100));
    assert_eq!(
        (kept.delivery_rate, kept.delivery_rate_app_limited),
        (292_000, false)
    );
    send(&mut c, &pattern(40 * SEG, SEG)).unwrap();
    assert_eq!(flush(&mut c, ms(100)), SEG);
    input0(&mut c, ms(110), ack(r1(), l1() + 41 * SEG));
    let i = c.info(ms(110));
    assert_eq!(
        (i.delivery_rate, i.delivery_rate_app_limited),
        (kept.delivery_rate, false)
    );
}

#[test]
fn delivery_rate_no_sample_from_an_ack_that_may_be_for_a_retransmission() {
    let mut c = sender();
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    assert_eq!(flush(&mut c, ms(20)), 10 * SEG);
    // The retransmission timer (200 ms) expires; the first segment goes again.
    c.on_timer(ms(220));
    assert_eq!(flush(&mut c, ms(220)), SEG);
    // Its ACK cannot tell which transmission arrived (the range's snapshot is the
    // original's): no sample, as no RTT sample either (Karn).
    input0(&mut c, ms(230), ack(r1(), l1() + SEG));
    let i = c.info(ms(230));
    assert_eq!((i.delivery_rate, i.delivery_rate_app_limited), (0, true));
}

// ----- busy_time, rwnd_limited, sndbuf_limited: the chronographs -----

/// (busy, rwnd-limited, send-buffer-limited) microseconds at `t`.
fn chrono(c: &TestConn, t: Instant) -> (u64, u64, u64) {
    let i = c.info(t);
    (i.busy_time, i.rwnd_limited, i.sndbuf_limited)
}

#[test]
fn busy_time_runs_while_data_is_queued_or_in_flight() {
    let mut c = sender();
    assert_eq!(chrono(&c, ms(20)), (0, 0, 0));
    // Queued at ms(20) (busy starts at the transmit), acknowledged at ms(45).
    send(&mut c, &pattern(0, 2 * SEG)).unwrap();
    assert_eq!(flush(&mut c, ms(20)), 2 * SEG);
    assert_eq!(chrono(&c, ms(30)), (10_000, 0, 0), "running");
    input0(&mut c, ms(35), ack(r1(), l1() + SEG));
    assert_eq!(chrono(&c, ms(40)), (20_000, 0, 0), "still data in flight");
    input0(&mut c, ms(45), ack(r1(), l1() + 2 * SEG));
    assert_eq!(
        chrono(&c, ms(100)),
        (25_000, 0, 0),
        "stopped: all acknowledged"
    );
    // Again from ms(200) to ms(210): the times add up.
    send(&mut c, &pattern(2 * SEG, 100)).unwrap();
    assert_eq!(flush(&mut c, ms(200)), 100);
    input0(&mut c, ms(210), ack(r1(), l1() + 2 * SEG + 100));
    assert_eq!(chrono(&c, ms(300)), (35_000, 0, 0));
}

#[test]
fn rwnd_limited_while_the_peers_window_holds_new_data_back() {
    // The peer offers 2 segments; cwnd is 10.
    let sa = TcpRepr {
        window: 2 * SEG as u16,
        ..synack()
    };
    let mut c = established_bufs(plain_cfg(), sa, 64 * SEG, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    assert_eq!(flush(&mut c, ms(20)), 2 * SEG);
    // The next segment does not fit: receive-window-limited from ms(20).
    assert_eq!(chrono(&c, ms(30)), (10_000, 10_000, 0));
    let mut a = ack(r1(), l1() + 2 * SEG);
    a.window = 2 * SEG as u16;
    input0(&mut c, ms(40), a);
    assert_eq!(flush(&mut c, ms(40)), 2 * SEG);
    // The window opens at ms(60): the rest goes, busy only.
    let mut a = ack(r1(), l1() + 4 * SEG);
    a.window = u16::MAX;
    input0(&mut c, ms(60), a);
    assert_eq!(flush(&mut c, ms(60)), 6 * SEG);
    assert_eq!(chrono(&c, ms(70)), (50_000, 40_000, 0));
    input0(&mut c, ms(80), ack(r1(), l1() + 10 * SEG));
    // busy_time includes the limited time (Linux sums the three).
    assert_eq!(chrono(&c, ms(90)), (60_000, 40_000, 0));
}

#[test]
fn sndbuf_limited_while_the_application_waits_with_everything_sent() {
    // A 4-segment send buffer, below the 10-segment cwnd.
    let mut c = established_bufs(plain_cfg(), synack(), 4 * SEG, BUF);
    c.set_nodelay(true);
    assert_eq!(send(&mut c, &pattern(0, 8 * SEG)), Ok(4 * SEG));
    // The application waits for room (the glue sets SOCK_NOSPACE).
    c.note_nospace();
    assert_eq!(flush(&mut c, ms(20)), 4 * SEG);
    // All sent, not cwnd-limited, the application waiting: send-buffer-limited.
    assert_eq!(chrono(&c, ms(30)), (10_000, 0, 10_000));
    // Half acknowledged at ms(40): a third of the buffer is free, the writer is
    // woken, busy again.
    input0(&mut c, ms(40), ack(r1(), l1() + 2 * SEG));
    assert!(c.stream_writeable());
    assert_eq!(chrono(&c, ms(45)), (25_000, 0, 20_000));
    input0(&mut c, ms(50), ack(r1(), l1() + 4 * SEG));
    assert_eq!(chrono(&c, ms(60)), (30_000, 0, 20_000));
}

#[test]
fn sndbuf_limited_needs_the_application_to_be_waiting() {
    // Same, but the application does not wait for room: busy only.
    let mut c = established_bufs(plain_cfg(), synack(), 4 * SEG, BUF);
    c.set_nodelay(true);
    assert_eq!(send(&mut c, &pattern(0, 4 * SEG)), Ok(4 * SEG));
    assert_eq!(flush(&mut c, ms(20)), 4 * SEG);
    input0(&mut c, ms(40), ack(r1(), l1() + 4 * SEG));
    assert_eq!(chrono(&c, ms(60)), (20_000, 0, 0));
}

#[test]
fn delivery_rate_app_limited_is_checked_once_per_application_send() {
    // A 4-segment send buffer: the application waits for room, and ACKs free it. Only
    // the start of an application send checks for a bubble (Linux checks at the start
    // of `tcp_sendmsg_locked`), so the rest of the same send is not app-limited; a
    // new send into a pipe the window is not filling is.
    for continued in [true, false] {
        let mut c = established_bufs(plain_cfg(), synack(), 4 * SEG, BUF);
        c.set_nodelay(true);
        assert_eq!(send(&mut c, &pattern(0, 4 * SEG)), Ok(4 * SEG));
        assert_eq!(flush(&mut c, ms(20)), 4 * SEG);
        input0(&mut c, ms(40), ack(r1(), l1() + 2 * SEG));
        let more = pattern(4 * SEG, 2 * SEG);
        let n = if continued {
            c.send_continued_with(|b| b.enqueue_slice(&more))
        } else {
            send(&mut c, &more)
        };
        assert_eq!(n, Ok(2 * SEG));
        assert_eq!(flush(&mut c, ms(40)), 2 * SEG);
        input0(&mut c, ms(60), ack(r1(), l1() + 6 * SEG));
        let i = c.info(ms(60));
        // 4 segments delivered since the ms(40) sends (ACK phase 20 ms).
        assert_eq!(
            i.delivery_rate,
            4 * SEG as u64 * 50,
            "continued {continued}"
        );
        assert_eq!(i.delivery_rate_app_limited, !continued);
    }
}

#[test]
fn delivery_rate_does_not_count_the_fin() {
    let mut c = sender();
    send(&mut c, &pattern(0, 1000)).unwrap();
    c.shutdown_write().unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 1);
    assert!(out[0].repr.flags.contains(TcpFlags::FIN));
    // The data acknowledged, the FIN not yet: 1000 bytes over 20 ms.
    input0(&mut c, ms(40), ack(r1(), l1() + 1000));
    assert_eq!(c.info(ms(40)).delivery_rate, 50_000);
    // The FIN's ACK delivers no data: no new sample.
    input0(&mut c, ms(50), ack(r1(), l1() + 1001));
    assert_eq!(c.info(ms(50)).delivery_rate, 50_000);
}
