//! A transmit the glue could not build ([`Connection::transmit_failed`]): the connection
//! is left as if the poll had not happened (SND.NXT, the retransmission state, the
//! pending ACK, the timers, the counters), a short retry is armed, and the retry sends
//! what a poll that had not failed would have sent. One test per kind of segment, state
//! by state.

use super::*;
use crate::connection::timers::{model_timeout, LINUX_RTO_BASE};
use std::format;
use std::string::String;

const SEG: usize = 1460;

/// The connection's whole state, for comparisons.
fn dump(c: &TestConn) -> String {
    format!("{c:?}")
}

/// Fails the next transmit at `now`, then checks that the failure left no trace: the
/// connection reads exactly as before the poll but for the retry timer; after the retry
/// timer's expiry its segments are the ones a connection whose poll had not failed
/// sends at that instant, and the two connections are then identical. Returns the
/// segments of the retry.
#[track_caller]
fn fail_then_retry(c: &mut TestConn, now: Instant) -> Vec<Out> {
    let mut twin = c.clone();
    let before = dump(c);
    let (failed, undo) = c.poll_transmit_undoable(now).expect("a transmit to fail");
    c.transmit_failed(undo, now);
    let retry = c.tx_retry_deadline.expect("a retry armed");
    assert_eq!(
        retry,
        now + TX_RETRY_MIN,
        "first failure in a row: the shortest wait"
    );
    assert!(c.next_deadline().is_some_and(|d| d <= retry));
    let mut cmp = c.clone();
    cmp.tx_retry_deadline = twin.tx_retry_deadline;
    cmp.tx_failures = twin.tx_failures;
    cmp.tx_failing_since = twin.tx_failing_since;
    assert_eq!(dump(&cmp), before, "the failed poll left a trace");

    c.on_timer(retry);
    let got = output(c, retry);
    twin.on_timer(retry);
    let want = output(&mut twin, retry);
    assert_eq!(
        got.len(),
        want.len(),
        "retry sent {got:#?}, an unfailed poll {want:#?}"
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.repr, w.repr);
        assert_eq!(g.payload, w.payload);
        assert_eq!(g.retransmit, w.retransmit);
    }
    let first = got.first().expect("the retry sends the failed segment");
    assert_eq!(first.repr.seq, failed.repr.seq);
    assert_eq!(first.repr.flags, failed.repr.flags);
    assert_eq!(first.payload.len(), failed.payload_len);
    assert_eq!(first.retransmit, failed.retransmit);
    assert_eq!(
        dump(c),
        dump(&twin),
        "after the retry the connection differs"
    );
    assert_eq!(c.tx_failures, 0);
    got
}

// ----- SYN-SENT and SYN-RECEIVED -----

#[test]
fn syn_not_built_is_sent_by_the_retry() {
    let mut c = connecting(plain_cfg(), BUF, BUF);
    let out = fail_then_retry(&mut c, T0);
    check(&out[0], TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
    // The retry is the first transmission: not counted as a retransmission, and the
    // handshake's RTT is sampled from it.
    assert_eq!(out[0].retransmit, None);
    assert_eq!(c.stats().rto_retransmits, 0);
    assert_eq!(c.syn_sent_at, Some(T0 + TX_RETRY_MIN));
}

#[test]
fn syn_not_built_leaves_no_retransmission_timer() {
    let mut c = connecting(plain_cfg(), BUF, BUF);
    let (_, undo) = c.poll_transmit_undoable(T0).unwrap();
    c.transmit_failed(undo, T0);
    assert_eq!(c.snd_nxt, LOCAL_ISS);
    assert_eq!(c.snd_max, LOCAL_ISS);
    assert_eq!(c.rto_deadline, None);
    assert_eq!(c.next_deadline(), Some(T0 + TX_RETRY_MIN));
}

#[test]
fn syn_retransmission_not_built_stays_a_retransmission() {
    let mut c = syn_sent();
    let rto = c.next_deadline().unwrap();
    c.on_timer(rto);
    let out = fail_then_retry(&mut c, rto);
    check(&out[0], TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
    assert_eq!(out[0].retransmit, Some(Retransmit::Timeout));
}

#[test]
fn synack_of_simultaneous_open_not_built() {
    let mut c = syn_sent();
    input0(&mut c, ms(5), peer_syn());
    let out = fail_then_retry(&mut c, ms(5));
    check(&out[0], TcpFlags::SYN | TcpFlags::ACK, LOCAL_ISS, r1());
}

// ----- ESTABLISHED: new data -----

#[test]
fn new_data_not_built_keeps_snd_nxt() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 3 * SEG)).unwrap();
    let stats = c.stats();
    let (t, undo) = c.poll_transmit_undoable(ms(20)).unwrap();
    assert_eq!(t.repr.seq, l1());
    // Committed by the poll...
    assert_eq!(c.snd_nxt, l1() + t.payload_len);
    assert!(c.rto_deadline.is_some());
    c.transmit_failed(undo, ms(20));
    // ... and taken back: nothing in flight, no retransmission timer, no RTT timing.
    assert_eq!(c.snd_nxt, l1());
    assert_eq!(c.snd_max, l1());
    assert_eq!(c.rto_deadline, None);
    assert_eq!(c.send_times.len(), 0);
    assert_eq!(c.stats(), stats, "nothing counted");
}

#[test]
fn new_data_not_built_is_sent_by_the_retry() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 3 * SEG)).unwrap();
    let out = fail_then_retry(&mut c, ms(20));
    assert_eq!(out.len(), 3);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.repr.seq, l1() + i * SEG);
        assert_eq!(o.payload, pattern(i * SEG, SEG));
        assert_eq!(o.retransmit, None);
    }
    assert_eq!(c.stats().rto_retransmits + c.stats().fast_retransmits, 0);
}

#[test]
fn second_segment_not_built_keeps_the_first_ones_timer() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 2 * SEG)).unwrap();
    let first = c.poll_transmit(ms(20)).unwrap();
    assert_eq!(first.repr.seq, l1());
    let rto = c.rto_deadline;
    assert!(rto.is_some());
    let out = fail_then_retry(&mut c, ms(21));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.seq, l1() + SEG);
    assert_eq!(c.rto_deadline, rto, "the first segment's timer runs on");
}

#[test]
fn data_after_idle_not_built_restarts_cwnd_once() {
    // RFC 5681 4.1: the idle restart is decided at the poll; a failed poll must not
    // apply it twice.
    let mut c = established_bufs(plain_cfg(), synack(), 100 * SEG, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 40 * SEG)).unwrap();
    let t = send_all_acked(&mut c, ms(20)) + Duration::from_secs(2);
    send(&mut c, &pattern(0, 20 * SEG)).unwrap();
    let out = fail_then_retry(&mut c, t);
    assert_eq!(out.len(), 10, "the initial window, once");
}

// ----- FIN -----

#[test]
fn fin_not_built_is_sent_by_the_retry() {
    let mut c = established();
    c.shutdown_write().unwrap();
    let mut once = c.clone();
    let (_, undo) = once.poll_transmit_undoable(ms(20)).unwrap();
    assert_eq!(once.snd_max, l1() + 1);
    once.transmit_failed(undo, ms(20));
    assert_eq!(once.snd_max, l1(), "the FIN does not count as sent");
    assert_eq!(once.state(), State::FinWait1);
    let out = fail_then_retry(&mut c, ms(20));
    check(&out[0], TcpFlags::FIN | TcpFlags::ACK, l1(), r1());
}

#[test]
fn data_with_fin_not_built() {
    let mut c = established();
    send(&mut c, b"last words").unwrap();
    c.shutdown_write().unwrap();
    let out = fail_then_retry(&mut c, ms(20));
    check(
        &out[0],
        TcpFlags::FIN | TcpFlags::ACK | TcpFlags::PSH,
        l1(),
        r1(),
    );
    assert_eq!(out[0].payload, b"last words");
}

// ----- Retransmissions -----

#[test]
fn timeout_retransmission_not_built() {
    let mut c = one_byte_in_flight_3_retries();
    let rto = c.next_deadline().unwrap();
    c.on_timer(rto);
    let out = fail_then_retry(&mut c, rto);
    check(&out[0], TcpFlags::ACK | TcpFlags::PSH, l1(), r1());
    assert_eq!(out[0].retransmit, Some(Retransmit::Timeout));
    assert_eq!(c.stats().rto_retransmits, 1, "one retransmission counted");
}

/// SACK connection with ten segments in flight; three SACKs make segment 0 lost.
fn sack_recovery_pending() -> TestConn {
    let mut c = established_bufs(sack_cfg(), sack_synack(), 10 * SEG, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 10);
    let s = |i: usize| l1() + i * SEG;
    for (n, blocks) in [
        [(1, 2), (0, 0), (0, 0)],
        [(3, 4), (1, 2), (0, 0)],
        [(5, 6), (3, 4), (1, 2)],
    ]
    .iter()
    .enumerate()
    {
        let mut a = ack(r1(), l1());
        let mut k = 0;
        for &(l, r) in blocks.iter().filter(|b| b.1 > 0) {
            a.options.sack_blocks[k] = SackBlock {
                left: s(l),
                right: s(r),
            };
            k += 1;
        }
        a.options.sack_count = k as u8;
        input0(&mut c, ms(30 + n as u64), a);
        if n < 2 {
            output_none(&mut c, ms(30 + n as u64));
        }
    }
    assert!(c.in_recovery());
    c
}

#[test]
fn fast_retransmission_not_built() {
    let mut c = sack_recovery_pending();
    assert!(c.rtx_first_pending);
    let out = fail_then_retry(&mut c, ms(32));
    assert_eq!(out[0].repr.seq, l1());
    assert_eq!(out[0].retransmit, Some(Retransmit::Fast));
    assert_eq!(c.stats().fast_retransmits, out.len() as u64);
    assert!(c.high_rxt > l1());
}

#[test]
fn fast_retransmission_not_built_keeps_high_rxt() {
    let mut c = sack_recovery_pending();
    let high = c.high_rxt;
    let (t, undo) = c.poll_transmit_undoable(ms(32)).unwrap();
    assert_eq!(t.retransmit, Some(Retransmit::Fast));
    assert!(c.high_rxt > high);
    c.transmit_failed(undo, ms(32));
    assert_eq!(c.high_rxt, high);
    assert!(
        c.rtx_first_pending,
        "the first hole is still to be resent at once"
    );
    assert_eq!(c.stats().fast_retransmits, 0);
}

// ----- Segments without data -----

#[test]
fn ack_not_built_stays_pending() {
    let mut c = established();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let mut once = c.clone();
    let (t, undo) = once.poll_transmit_undoable(ms(20)).unwrap();
    assert_eq!(t.repr.ack, r1() + 100);
    once.transmit_failed(undo, ms(20));
    assert!(once.ack_now);
    assert_eq!(once.last_ack_sent, r1());
    let out = fail_then_retry(&mut c, ms(20));
    check_ack(&out[0], l1(), r1() + 100);
}

#[test]
fn delayed_ack_not_built_stays_delayed() {
    let cfg = Config {
        delayed_ack: Some(Duration::from_millis(40)),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    // Pingpong mode: the first data is not acknowledged at once (quick-ACK mode would).
    c.set_quickack(0);
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    output_none(&mut c, ms(20));
    let d = c.next_deadline().unwrap();
    c.on_timer(d);
    let out = fail_then_retry(&mut c, d);
    check_ack(&out[0], l1(), r1() + 100);
    assert_eq!(c.stats().delayed_acks, 1);
}

#[test]
fn window_update_not_built_keeps_the_advertised_edge() {
    let mut c = connecting(plain_cfg(), BUF, 10_000);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack());
    let _ = output_one(&mut c, ms(10));
    input_data(&mut c, ms(20), r1(), l1(), 0, 10_000);
    let _ = output_one(&mut c, ms(20));
    let mut buf = std::vec![0u8; 6000];
    c.recv_with(|b| b.read_at(0, &mut buf)).unwrap();
    let edge = c.rcv_adv;
    let mut once = c.clone();
    let (t, undo) = once.poll_transmit_undoable(ms(21)).unwrap();
    assert_eq!(t.repr.window, 6000);
    assert!(once.rcv_adv > edge, "the update moves the edge");
    once.transmit_failed(undo, ms(21));
    assert_eq!(once.rcv_adv, edge, "not advertised: the edge stays");
    let out = fail_then_retry(&mut c, ms(21));
    check_ack(&out[0], l1(), r1() + 10_000);
    assert_eq!(out[0].repr.window, 6000);
    assert_eq!(c.stats().window_updates, 1);
}

/// Runs the next timer, which must make a probe (SND.UNA - 1, no data), and fails it.
fn fail_probe_then_retry(c: &mut TestConn) {
    let d = c.next_deadline().unwrap();
    c.on_timer(d);
    let out = fail_then_retry(c, d);
    check_ack(&out[0], l1() - 1, r1());
}

#[test]
fn zero_window_probe_not_built() {
    let mut c = syn_sent();
    let mut sa = synack();
    sa.window = 0;
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    send(&mut c, b"hello").unwrap();
    output_none(&mut c, ms(20));
    fail_probe_then_retry(&mut c);
    assert_eq!(c.stats().zero_window_probes, 1);
}

#[test]
fn keepalive_not_built() {
    let cfg = Config {
        keepalive: Some(Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            count: 3,
        }),
        ..plain_cfg()
    };
    let mut c = established_with(cfg, synack());
    c.on_timer(ms(10));
    fail_probe_then_retry(&mut c);
    assert_eq!(c.stats().keepalives, 1);
}

#[test]
fn reset_of_a_closed_connection_gets_no_retry() {
    let mut c = established();
    c.abort(ms(20));
    assert_eq!(c.state(), State::Closed);
    let before = dump(&c);
    let (t, undo) = c.poll_transmit_undoable(ms(20)).unwrap();
    assert!(t.repr.flags.contains(TcpFlags::RST));
    c.transmit_failed(undo, ms(20));
    assert_eq!(c.next_deadline(), None);
    assert_eq!(
        dump(&c),
        before,
        "the RST is still pending, nothing counted"
    );
}

// ----- The retry timer -----

#[test]
fn failures_in_a_row_back_off_to_the_resource_interval() {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, SEG)).unwrap();
    let mut now = ms(20);
    let mut waits = Vec::new();
    for _ in 0..12 {
        let (_, undo) = c.poll_transmit_undoable(now).unwrap();
        c.transmit_failed(undo, now);
        let d = c.next_deadline().unwrap();
        waits.push((d - now).micros() / 1000);
        c.on_timer(d);
        now = d;
    }
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 500, 500]);
    assert_eq!(TX_RETRY_MAX, Duration::from_millis(500));
    // A transmit that goes out ends the streak.
    let o = output_one(&mut c, now);
    assert_eq!(o.repr.seq, l1());
    assert_eq!(c.tx_failures, 0);
    send(&mut c, &pattern(SEG, SEG)).unwrap();
    let (_, undo) = c.poll_transmit_undoable(now).unwrap();
    c.transmit_failed(undo, now);
    assert_eq!(c.tx_retry_deadline, Some(now + TX_RETRY_MIN));
}

/// ESTABLISHED, one segment of data whose transmit failed at ms(20).
fn one_segment_failed() -> TestConn {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, SEG)).unwrap();
    let (_, undo) = c.poll_transmit_undoable(ms(20)).unwrap();
    c.transmit_failed(undo, ms(20));
    c
}

#[test]
fn any_event_retries_before_the_timer() {
    let mut c = one_segment_failed();
    // The application writes more: its poll sends the failed segment first.
    send(&mut c, &pattern(SEG, SEG)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].repr.seq, l1());
    assert_eq!(out[0].payload, pattern(0, SEG));
    assert_eq!(c.tx_retry_deadline, None, "sent: no retry left");
}

#[test]
fn retry_timer_alone_sends_nothing_twice() {
    let mut c = one_segment_failed();
    let _ = output_one(&mut c, ms(20));
    // The retry deadline went with the send; nothing is due at the old instant.
    c.on_timer(ms(20) + TX_RETRY_MIN);
    output_none(&mut c, ms(20) + TX_RETRY_MIN);
}

// ----- Giving up -----

/// Fails every transmit of `c` from `now` on, following its retry timer, until it stops
/// retrying; returns the failures and the instant of the last one.
fn fail_until_given_up(c: &mut TestConn, mut now: Instant) -> (u32, Instant) {
    let mut failures = 0;
    while let Some((_, undo)) = c.poll_transmit_undoable(now) {
        c.transmit_failed(undo, now);
        failures += 1;
        assert!(failures < 10_000, "still retrying after 10000 failures");
        let Some(d) = c.tx_retry_deadline else { break };
        c.on_timer(d);
        now = d;
    }
    (failures, now)
}

/// ESTABLISHED with one segment queued and nothing in flight, from `cfg`.
fn head_queued(cfg: Config) -> TestConn {
    let mut c = established_with(cfg, synack());
    c.set_nodelay(true);
    send(&mut c, &pattern(0, SEG)).unwrap();
    c
}

#[test]
fn unsendable_head_with_nothing_in_flight_times_out() {
    let mut c = head_queued(plain_cfg());
    let start = ms(20);
    let (failures, at) = fail_until_given_up(&mut c, start);
    // tcp_retries2 = 15 probes of Linux's probe timer at most: 924.6 s, retried every
    // 500 ms once the ramp is over.
    let budget = model_timeout(15, LINUX_RTO_BASE, c.rtt.config().max_rto);
    assert_eq!(budget, Duration::from_millis(924_600));
    assert!(
        at - start >= budget && at - start < budget + TX_RETRY_MAX,
        "gave up after {:?}",
        at - start
    );
    assert_eq!(failures, 9 + 1 + (924_600 - 511) / 500 + 1);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(c.stats().timeouts, 1);
    assert_eq!(c.tx_retry_deadline, None);
    assert_eq!(
        c.next_deadline(),
        None,
        "a closed connection keeps no timer"
    );
    output_none(&mut c, at);
}

/// Fails every transmit of a connection with `cfg` until it gives up: it must take
/// `want` (within one retry at the resource interval) and end with ETIMEDOUT.
#[track_caller]
fn gives_up_after(cfg: Config, want: Duration) {
    let mut c = head_queued(cfg);
    let (_, at) = fail_until_given_up(&mut c, ms(20));
    let took = at - ms(20);
    assert!(
        took >= want && took < want + TX_RETRY_MAX,
        "gave up after {took:?}, want {want:?}"
    );
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn retries2_sets_the_give_up_time() {
    let mut cfg = plain_cfg();
    cfg.max_retries = 3;
    // Linux tcp_model_timeout(3, 200 ms): (2^4 - 1) x 200 ms.
    gives_up_after(cfg, Duration::from_millis(3000));
}

#[test]
fn user_timeout_sets_the_give_up_time() {
    let mut cfg = plain_cfg();
    cfg.user_timeout = Some(Duration::from_millis(2000));
    gives_up_after(cfg, Duration::from_millis(2000));
}

#[test]
fn unsendable_orphan_gives_up_after_orphan_retries() {
    let mut c = head_queued(plain_cfg());
    c.close(ms(20));
    let (_, at) = fail_until_given_up(&mut c, ms(20));
    // tcp_orphan_retries 0: 8 probes while the interval is below the maximum RTO.
    let budget = model_timeout(8, LINUX_RTO_BASE, c.rtt.config().max_rto);
    let took = at - ms(20);
    assert!(
        took >= budget && took < budget + TX_RETRY_MAX,
        "{took:?} for {budget:?}"
    );
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn a_transmit_that_goes_out_restarts_the_budget() {
    let mut cfg = plain_cfg();
    cfg.max_retries = 3;
    let mut c = head_queued(cfg);
    let mut now = ms(20);
    for _ in 0..12 {
        let (_, undo) = c.poll_transmit_undoable(now).unwrap();
        c.transmit_failed(undo, now);
        now = c.tx_retry_deadline.unwrap();
        c.on_timer(now);
    }
    assert!(now - ms(20) > Duration::from_millis(1400));
    assert_ne!(
        c.state(),
        State::Closed,
        "the budget is checked at a failure"
    );
    // The segment goes out and is acknowledged; a new one then fails: a new streak.
    let o = output_one(&mut c, now);
    input0(
        &mut c,
        now + Duration::from_millis(1),
        ack(r1(), o.repr.seq + o.payload.len()),
    );
    send(&mut c, &pattern(SEG, SEG)).unwrap();
    now += Duration::from_millis(1);
    let (_, undo) = c.poll_transmit_undoable(now).unwrap();
    c.transmit_failed(undo, now);
    assert_ne!(c.state(), State::Closed);
    assert_eq!(c.tx_failing_since, Some(now));
}

#[test]
fn a_retransmission_that_cannot_be_built_gives_up_in_time() {
    let mut cfg = plain_cfg();
    cfg.max_retries = 3;
    let mut c = established_with(cfg, synack());
    c.set_nodelay(true);
    send(&mut c, &pattern(0, SEG)).unwrap();
    let _ = output_one(&mut c, ms(20));
    send(&mut c, &pattern(SEG, SEG)).unwrap();
    let mut now = ms(20);
    let mut first_failure = None;
    // Every transmit fails: the new segment, then the timeout's retransmission, whose
    // failed poll takes back the retransmission timer it armed. The failures' own
    // budget (three probes: 3 s) still ends the connection.
    loop {
        if let Some((_, undo)) = c.poll_transmit_undoable(now) {
            first_failure.get_or_insert(now);
            c.transmit_failed(undo, now);
        }
        if c.state() == State::Closed {
            break;
        }
        now = c.next_deadline().expect("a timer while data is unsent");
        c.on_timer(now);
        if c.state() == State::Closed {
            break;
        }
        assert!(
            now - ms(20) < Duration::from_secs(60),
            "no timeout after 60 s"
        );
    }
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert!(
        c.stats().rto_expirations >= 1,
        "the retransmission timer fired"
    );
    let took = now - first_failure.unwrap();
    assert!(
        took >= Duration::from_millis(3000) && took < Duration::from_millis(3500),
        "{took:?}"
    );
}
