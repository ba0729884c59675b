//! Side structures held only while in use (`crate::side`): an idle connection holds
//! none, each is taken when first needed and given back as soon as it is empty, all are
//! freed with the connection, and a failed allocation is counted and degrades as a full
//! structure does (nothing recorded, nothing corrupted).

use super::*;

const SEG: usize = 1460;

/// SACK connection with ten full segments in flight and `extra` bytes queued.
fn in_flight(cfg: Config, extra: usize) -> TestConn {
    let mut c = established_bufs(cfg, sack_synack(), 10 * SEG + extra, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG + extra)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 10);
    c
}

/// Peer text `off..off + len` arrives; returns what goes out in answer.
fn peer_text(c: &mut TestConn, t: Instant, off: usize, len: usize) -> Vec<Out> {
    input_data(c, t, r1() + off, c.snd_una(), off, len);
    output(c, t)
}

/// Feed an ACK and return the segment indices sent in response.
fn step(c: &mut TestConn, t: Instant, a: TcpRepr) -> Vec<(usize, Option<Retransmit>)> {
    input0(c, t, a);
    output(c, t)
        .iter()
        .map(|o| (o.repr.seq.since(l1()) / SEG, o.retransmit))
        .collect()
}

fn sack_blocks(o: &Out) -> usize {
    o.repr.options.sacks().len()
}

#[test]
fn idle_established_connection_holds_nothing() {
    let mut c = established_full();
    assert!(c.side_held().none(), "{:?}", c.side_held());
    assert_eq!(side_boxes(), 0);
    // Data both ways, all of it acknowledged and read: idle again.
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 5000)).unwrap();
    let t = send_all_acked(&mut c, ms(20));
    let _ = peer_text(&mut c, t, 0, 1000);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 1000));
    let _ = output(&mut c, t + Duration::from_millis(500));
    assert!(c.side_held().none(), "{:?}", c.side_held());
    assert_eq!(side_boxes(), 0);
    assert_eq!(c.stats().side_alloc_failures, 0);
}

#[test]
fn send_times_are_held_while_new_data_is_in_flight() {
    let mut c = established_sack();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 2 * SEG)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 2);
    assert!(c.side_held().send_times);
    assert_eq!(side_boxes(), 1);
    input0(&mut c, ms(30), ack(r1(), s(1)));
    assert!(c.side_held().send_times, "one range still in flight");
    input0(&mut c, ms(31), ack(r1(), s(2)));
    assert!(c.side_held().none(), "{:?}", c.side_held());
    assert_eq!(side_boxes(), 0);
}

#[test]
fn out_of_order_ranges_are_held_until_the_holes_fill() {
    let mut c = established_sack();
    let _ = peer_text(&mut c, ms(20), 100, 50);
    assert!(c.side_held().ooo_ranges);
    assert_eq!(side_boxes(), 1);
    let _ = peer_text(&mut c, ms(21), 300, 50);
    assert_eq!(side_boxes(), 1, "one set of ranges, however many");
    let _ = peer_text(&mut c, ms(22), 0, 100);
    assert!(c.side_held().ooo_ranges, "300..350 still out of order");
    let out = peer_text(&mut c, ms(23), 150, 150);
    assert!(c.side_held().none(), "{:?}", c.side_held());
    assert_eq!(side_boxes(), 0);
    assert_eq!(out.last().map(sack_blocks), Some(0), "nothing left to SACK");
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 350));
}

#[test]
fn scoreboard_is_held_while_something_is_sacked() {
    let mut c = in_flight(sack_cfg(), 0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 2)]));
    assert!(c.side_held().scoreboard);
    assert_eq!(side_boxes(), 2, "scoreboard and send times");
    // A cumulative ACK below the SACKed range keeps it.
    let _ = step(&mut c, ms(31), sack_ack(1, &[(3, 4)]));
    assert!(c.side_held().scoreboard);
    // One past it gives it back; the rest of the flight keeps the send times.
    let _ = step(&mut c, ms(32), ack(r1(), s(4)));
    assert!(!c.side_held().scoreboard);
    assert!(c.side_held().send_times);
    let _ = step(&mut c, ms(33), ack(r1(), s(10)));
    assert!(c.side_held().none(), "{:?}", c.side_held());
    assert_eq!(side_boxes(), 0);
}

#[test]
fn scoreboard_is_given_back_when_a_repeated_timeout_clears_it() {
    let mut c = in_flight(sack_cfg(), 0);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(5, 6)]));
    assert!(c.side_held().scoreboard);
    for _ in 0..2 {
        let t = c.next_deadline().unwrap();
        c.on_timer(t);
        let _ = output(&mut c, t);
    }
    assert!(
        !c.side_held().scoreboard,
        "RFC 2018 section 8: SACK information forgotten"
    );
}

#[test]
fn frto_state_is_held_only_while_deciding() {
    let mut c = in_flight(sack_cfg(), 4 * SEG);
    assert!(!c.side_held().frto);
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let _ = output(&mut c, t);
    assert!(c.side_held().frto);
    // The ACK of original data decides: spurious, undone.
    let _ = step(&mut c, t + Duration::from_millis(5), ack(r1(), s(2)));
    assert_eq!(c.stats().spurious_rtos, 1);
    assert!(!c.side_held().frto);
}

#[test]
fn teardown_frees_everything_held() {
    let mut c = in_flight(sack_cfg(), 4 * SEG);
    let _ = step(&mut c, ms(30), sack_ack(0, &[(2, 3)]));
    let _ = peer_text(&mut c, ms(31), 500, 100);
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let _ = output(&mut c, t);
    let held = c.side_held();
    assert!(held.ooo_ranges && held.send_times && held.frto, "{held:?}");
    assert!(side_boxes() >= 3);
    let twin = c.clone();
    assert_eq!(side_boxes(), 2 * 4 - usize::from(!held.scoreboard) * 2);
    drop(c);
    drop(twin);
    assert_eq!(side_boxes(), 0);
}

#[test]
fn out_of_order_text_without_memory_is_dropped_and_counted() {
    let mut c = established_sack();
    fail_side_allocs(true);
    let out = peer_text(&mut c, ms(20), 100, 50);
    // The immediate duplicate ACK still goes, SACKing nothing: the text is as lost.
    assert_eq!(out.len(), 1);
    check_ack(&out[0], l1(), r1());
    assert_eq!(sack_blocks(&out[0]), 0);
    assert_eq!(c.stats().ooo_dropped, 1);
    assert_eq!(c.stats().side_alloc_failures, 1);
    assert_eq!(c.stats().ooo_queued, 0);
    assert!(c.side_held().none());
    // Memory again: the retransmission is queued, the hole filled, all delivered.
    fail_side_allocs(false);
    let out = peer_text(&mut c, ms(30), 100, 50);
    assert_eq!(sack_blocks(&out[0]), 1);
    let _ = peer_text(&mut c, ms(31), 0, 100);
    assert_eq!(recv_all(&mut c).unwrap(), pattern(0, 150));
    assert!(c.side_held().none());
    assert_eq!(side_boxes(), 0);
}

#[test]
fn ranges_already_held_need_no_memory() {
    let mut c = established_sack();
    let _ = peer_text(&mut c, ms(20), 100, 50);
    fail_side_allocs(true);
    let out = peer_text(&mut c, ms(21), 300, 50);
    assert_eq!(sack_blocks(&out[0]), 2);
    assert_eq!(c.stats().side_alloc_failures, 0);
    fail_side_allocs(false);
}

#[test]
fn sack_blocks_without_memory_are_ignored_and_counted() {
    let mut c = in_flight(sack_cfg(), 0);
    fail_side_allocs(true);
    // Enough SACKed to make segment 0 lost (RFC 6675 IsLost), were it recorded.
    let sent = step(&mut c, ms(30), sack_ack(0, &[(1, 5)]));
    assert!(sent.is_empty());
    assert!(!c.in_recovery());
    assert_eq!(c.stats().sack_blocks_in, 1);
    assert_eq!(c.stats().side_alloc_failures, 1);
    assert!(!c.side_held().scoreboard);
    // Memory again: the next SACK is recorded and recovery starts.
    fail_side_allocs(false);
    let sent = step(&mut c, ms(31), sack_ack(0, &[(1, 6)]));
    assert_eq!(sent, vec![(0, Some(Retransmit::Fast))]);
    assert!(c.in_recovery());
}

#[test]
fn send_times_without_memory_leave_the_data_untimed() {
    let mut c = established_sack();
    c.set_nodelay(true);
    let srtt = c.srtt();
    send(&mut c, &pattern(0, 2 * SEG)).unwrap();
    fail_side_allocs(true);
    assert_eq!(output(&mut c, ms(20)).len(), 2, "sent all the same");
    fail_side_allocs(false);
    assert_eq!(c.stats().side_alloc_failures, 2, "one per transmission");
    assert!(c.side_held().none());
    // No RTT sample from the untimed data (as from data sent with every slot in use).
    input0(&mut c, ms(300), ack(r1(), s(2)));
    assert_eq!(c.srtt(), srtt);
    assert_eq!(c.snd_una(), s(2));
}

#[test]
fn frto_without_memory_leaves_the_conventional_timeout_response() {
    let mut cfg = sack_cfg();
    cfg.frto = false;
    let mut plain = in_flight(cfg, 4 * SEG);
    let mut c = in_flight(sack_cfg(), 4 * SEG);
    let t = c.next_deadline().unwrap();
    assert_eq!(plain.next_deadline(), Some(t));
    fail_side_allocs(true);
    c.on_timer(t);
    fail_side_allocs(false);
    plain.on_timer(t);
    assert_eq!(c.stats().side_alloc_failures, 1);
    assert!(!c.side_held().frto);
    let a = output(&mut c, t);
    let b = output(&mut plain, t);
    assert_eq!(a.len(), b.len());
    // The ACK of original data: F-RTO would undo and send new data; without it the
    // go-back-N goes on, as with F-RTO off.
    let t = t + Duration::from_millis(5);
    let sent = step(&mut c, t, ack(r1(), s(2)));
    assert_eq!(sent, step(&mut plain, t, ack(r1(), s(2))));
    assert!(
        !sent.is_empty() && sent.iter().all(|&(_, r)| r == Some(Retransmit::Timeout)),
        "{sent:?}"
    );
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(c.cwnd(), plain.cwnd());
}
