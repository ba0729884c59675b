//! The application interface: errors, readiness, socket options, Nagle (RFC 896 / RFC
//! 9293 3.7.4) and delayed ACKs (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2).

use super::*;

#[test]
fn errno_values() {
    assert_eq!(Error::NotConnected.errno(), 107);
    assert_eq!(Error::WouldBlock.errno(), 11);
    assert_eq!(Error::ConnectionRefused.errno(), 111);
    assert_eq!(Error::ConnectionReset.errno(), 104);
    assert_eq!(Error::TimedOut.errno(), 110);
    assert_eq!(Error::BrokenPipe.errno(), 32);
}

#[test]
fn readiness_in_established() {
    let c = established();
    assert!(c.writable());
    assert!(!c.readable());
    assert!(!c.read_closed());
    assert!(!c.hung_up());
    assert_eq!(c.error(), None);
}

#[test]
fn readiness_with_data() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 1);
    assert!(c.readable());
}

#[test]
fn readiness_after_reset() {
    let mut c = established();
    input0(&mut c, ms(20), seg(TcpFlags::RST, r1(), SeqNum(0)));
    assert!(c.readable());
    assert!(!c.writable());
    assert!(c.hung_up());
    assert_eq!(c.take_error(), Some(Error::ConnectionReset));
    assert_eq!(c.take_error(), None);
}

#[test]
fn readiness_in_syn_sent() {
    let c = syn_sent();
    assert!(!c.writable());
    assert!(!c.readable());
    assert!(!c.hung_up());
}

#[test]
fn recv_in_syn_sent_would_block() {
    let mut c = syn_sent();
    assert_eq!(recv_all(&mut c), Err(Error::WouldBlock));
}

#[test]
fn stats_mut_records_glue_events() {
    let mut c = established();
    c.stats_mut().checksum_errors += 2;
    assert_eq!(c.stats().checksum_errors, 2);
}

#[test]
fn accessors() {
    let c = established();
    assert_eq!(c.config().mss, 1460);
    assert_eq!(c.snd_max(), l1());
    assert_eq!(c.rcv_nxt(), r1());
    assert!(!c.in_recovery());
    assert_eq!(c.recv_buffer().capacity(), BUF);
}

#[test]
fn set_congestion_switches_algorithm() {
    let mut c = established();
    c.set_congestion(CongestionAlgorithm::Cubic);
    assert_eq!(c.config().congestion, CongestionAlgorithm::Cubic);
    assert_eq!(c.cwnd(), 14600);
}

// ----- Nagle -----

#[test]
fn nagle_coalesces_small_writes() {
    let mut c = established();
    send(&mut c, b"a").unwrap();
    let o = output_one(&mut c, ms(20));
    assert_eq!(o.payload, b"a");
    send(&mut c, b"b").unwrap();
    send(&mut c, b"c").unwrap();
    output_none(&mut c, ms(21));
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    let o = output_one(&mut c, ms(30));
    assert_eq!(o.payload, b"bc");
}

#[test]
fn nagle_lets_full_segments_through() {
    let mut c = established();
    send(&mut c, b"a").unwrap();
    let _ = output_one(&mut c, ms(20));
    send(&mut c, &pattern(0, 1460)).unwrap();
    let o = output_one(&mut c, ms(21));
    assert_eq!(o.payload.len(), 1460);
}

#[test]
fn nodelay_sends_immediately() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, b"a").unwrap();
    let _ = output_one(&mut c, ms(20));
    send(&mut c, b"b").unwrap();
    let o = output_one(&mut c, ms(21));
    assert_eq!(o.payload, b"b");
}

// ----- TCP_CORK and MSG_MORE (Linux tcp_nagle_check with TCP_NAGLE_CORK) -----

#[test]
fn cork_holds_partial_segments_until_uncorked() {
    let mut c = established();
    c.set_nodelay(true);
    c.set_cork(true);
    send(&mut c, &pattern(0, 1000)).unwrap();
    output_none(&mut c, ms(20));
    // A full segment goes as soon as there is one; the rest waits.
    send(&mut c, &pattern(1000, 1000)).unwrap();
    let o = output_one(&mut c, ms(21));
    assert_eq!(o.payload.len(), 1460);
    output_none(&mut c, ms(21));
    c.set_cork(false);
    let o = output_one(&mut c, ms(22));
    assert_eq!(o.payload.len(), 540);
}

#[test]
fn cork_releases_after_one_rto_with_nothing_in_flight() {
    let mut c = established();
    c.set_cork(true);
    send(&mut c, b"abc").unwrap();
    output_none(&mut c, ms(20));
    let d = c.next_deadline().expect("cork deadline");
    assert_eq!(d, ms(20) + c.rto());
    c.on_timer(d);
    let o = output_one(&mut c, d);
    assert_eq!(o.payload, b"abc");
    // Still corked: the next partial segment waits again.
    send(&mut c, b"de").unwrap();
    output_none(&mut c, d);
}

#[test]
fn msg_more_holds_the_tail_until_a_send_without_it() {
    let mut c = established();
    c.set_nodelay(true);
    c.set_more(true);
    send(&mut c, b"head").unwrap();
    output_none(&mut c, ms(20));
    c.set_more(false);
    send(&mut c, b"tail").unwrap();
    let o = output_one(&mut c, ms(21));
    assert_eq!(o.payload, b"headtail");
}

#[test]
fn msg_more_ends_with_an_ack_of_new_data() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, b"a").unwrap();
    let _ = output_one(&mut c, ms(20));
    c.set_more(true);
    send(&mut c, b"b").unwrap();
    output_none(&mut c, ms(21));
    input0(&mut c, ms(30), ack(r1(), l1() + 1));
    let o = output_one(&mut c, ms(30));
    assert_eq!(o.payload, b"b");
}

#[test]
fn notsent_bytes_counts_unsent_data() {
    let mut c = established();
    c.set_cork(true);
    send(&mut c, &pattern(0, 2000)).unwrap();
    assert_eq!(c.notsent_bytes(), 2000);
    let _ = output_one(&mut c, ms(20));
    assert_eq!(c.notsent_bytes(), 540);
}

// ----- TCP_WINDOW_CLAMP -----

#[test]
fn window_clamp_bounds_the_syn_and_later_windows() {
    let cfg = Config {
        window_scale: true,
        window_space: Some(6 << 20),
        window_clamp: Some(8192),
        ..plain_cfg()
    };
    let mut c = connecting(cfg, BUF, BUF);
    let syn = output_one(&mut c, T0);
    assert_eq!(syn.repr.options.window_scale, Some(0));
    assert_eq!(syn.repr.window, 8192);
    let mut c = established();
    c.set_window_clamp(Some(4000));
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(20));
    // The edge offered before (BUF bytes from r1) stays: the clamp only stops growth.
    assert!(usize::from(a.repr.window) <= BUF);
    recv_all(&mut c).unwrap();
    // Past the old edge, the window offered is the clamp's.
    let mut seq = r1() + 100;
    let mut last = None;
    for t in [30, 40] {
        input_data(&mut c, ms(t), seq, l1(), 0, 8000);
        seq += 8000;
        recv_all(&mut c).unwrap();
        while let Some(a) = c.poll_transmit(ms(t)) {
            last = Some(a.repr.window);
        }
    }
    let w = usize::from(last.expect("an ACK"));
    assert!((284..=4000).contains(&w), "window {w}");
}

// ----- TCP_INFO -----

#[test]
fn info_reports_state_windows_and_counters() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 3000)).unwrap();
    let v = output(&mut c, ms(20));
    assert_eq!(
        v.iter().map(|o| o.payload.len()).collect::<Vec<_>>(),
        [1460, 1460, 80]
    );
    input0(&mut c, ms(30), ack(r1(), l1() + 1460));
    input_data(&mut c, ms(40), r1(), l1() + 1460, 0, 100);
    let i = c.info(ms(50));
    let states = (i.state, i.ca_state, i.options);
    assert_eq!(states, (1, info::TCP_CA_OPEN, 0));
    let segments = (
        i.snd_mss,
        i.unacked,
        i.data_segs_out,
        i.data_segs_in,
        i.total_retrans,
    );
    assert_eq!(segments, (1460, 2, 3, 1, 0));
    let bytes = (
        i.bytes_acked,
        i.bytes_sent,
        i.bytes_received,
        i.notsent_bytes,
    );
    assert_eq!(bytes, (1460, 3000, 100, 0));
    let times = (i.last_data_recv_ms, i.last_data_sent_ms);
    assert_eq!(times, (10, 30));
    assert!(i.rtt > 0);
    assert_eq!(i.snd_wnd, usize::from(PEER_WIN) as u32);
}

#[test]
fn stream_writeable_needs_a_third_of_the_buffer_free() {
    let mut c = established();
    assert!(c.stream_writeable());
    assert_eq!(send(&mut c, &pattern(0, 11_000)).unwrap(), 11_000);
    // 5384 bytes free, less than half of the 11000 queued: a byte still fits, but the
    // socket is not reported writable (Linux sk_stream_min_wspace).
    assert!(c.writable());
    assert!(!c.stream_writeable());
    assert!(!output(&mut c, ms(20)).is_empty());
    // The peer acknowledges 1000 bytes: 10000 queued, 6384 free >= 5000.
    input0(&mut c, ms(30), ack(r1(), l1() + 1000usize));
    assert!(c.stream_writeable());
    // A full buffer is never writeable, an empty one always.
    let mut d = established();
    assert_eq!(send(&mut d, &pattern(0, BUF)).unwrap(), BUF);
    assert!(!d.writable() && !d.stream_writeable());
}
