//! F-RTO after a retransmission timeout (RFC 5682: the basic algorithm of section 2.1
//! without SACK, the SACK-enhanced one of section 4.1 as Linux runs it) and the undo of
//! a spurious timeout's congestion response (RFC 4015).

use super::*;
use crate::congestion::INITIAL_SSTHRESH;
use crate::connection::info::{TCP_CA_LOSS, TCP_CA_OPEN};

const SEG: usize = 1460;

/// Ten full segments in flight (the initial window) and `extra` bytes queued behind
/// them, with `cfg` and the peer's SYN-ACK `sa`.
fn flight(cfg: Config, sa: TcpRepr, extra: usize) -> TestConn {
    let mut c = established_bufs(cfg, sa, 10 * SEG + extra, BUF);
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 10 * SEG + extra)).unwrap();
    assert_eq!(output(&mut c, ms(20)).len(), 10);
    c
}

/// Without SACK, four segments queued behind the flight.
fn plain_flight() -> TestConn {
    flight(plain_cfg(), synack(), 4 * SEG)
}

/// With SACK, four segments queued behind the flight.
fn sack_flight() -> TestConn {
    flight(sack_cfg(), sack_synack(), 4 * SEG)
}

/// Feed an ACK; the segments sent in response as (index, retransmission kind).
fn step(c: &mut TestConn, t: Instant, a: TcpRepr) -> Vec<(usize, Option<Retransmit>)> {
    input0(c, t, a);
    output(c, t)
        .iter()
        .map(|o| (o.repr.seq.since(l1()) / SEG, o.retransmit))
        .collect()
}

/// The retransmission timer fires: step 1 resends segment 0 alone. Returns the time.
fn timeout(c: &mut TestConn) -> Instant {
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let out = output(c, t);
    assert_eq!(out.len(), 1, "step 1 resends one segment: {out:#?}");
    assert_eq!(out[0].repr.seq, s(0));
    assert_eq!(out[0].retransmit, Some(Retransmit::Timeout));
    assert_eq!(c.cwnd(), SEG);
    t
}

/// `n` new segments from index `first`, none a retransmission.
fn new_segments(first: usize, n: usize) -> Vec<(usize, Option<Retransmit>)> {
    (first..first + n).map(|i| (i, None)).collect()
}

/// `n` milliseconds.
fn d(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ----- Without SACK (RFC 5682 section 2.1) -----

#[test]
fn spurious_timeout_without_sack_is_undone_after_new_data() {
    let mut c = plain_flight();
    let t = timeout(&mut c);
    assert_eq!(c.ssthresh(), 5 * SEG);
    assert_eq!(c.info(t).ca_state, TCP_CA_LOSS);
    // Step 2b: the ACK covers the retransmission (and, without SACK, that cannot yet
    // tell): two new segments instead of resending segments 2 and 3.
    assert_eq!(step(&mut c, t + d(1), ack(r1(), s(2))), new_segments(10, 2));
    assert_eq!(c.info(t + d(1)).ca_state, TCP_CA_LOSS);
    // Step 3b: the window advances again over data never retransmitted: spurious.
    assert_eq!(step(&mut c, t + d(2), ack(r1(), s(4))), new_segments(12, 2));
    assert_eq!(c.stats().spurious_rtos, 1);
    assert_eq!((c.cwnd(), c.ssthresh()), (10 * SEG, INITIAL_SSTHRESH));
    assert_eq!(c.info(t + d(2)).ca_state, TCP_CA_OPEN);
    // The rest of the original flight is acknowledged; nothing was sent twice but the
    // first segment.
    let _ = step(&mut c, t + d(3), ack(r1(), s(14)));
    assert!(c.send_buffer().is_empty());
    assert_eq!(c.stats().rto_retransmits, 1);
}

#[test]
fn duplicate_ack_in_step_3_means_the_loss_was_real() {
    let mut c = plain_flight();
    let t = timeout(&mut c);
    // Only the retransmitted segment got through: step 2b sends new data.
    assert_eq!(step(&mut c, t + d(1), ack(r1(), s(1))), new_segments(10, 2));
    // Step 3a: the new data makes duplicate ACKs, segment 1 is missing: conventional
    // recovery resends from SND.UNA in slow start.
    let sent = step(&mut c, t + d(2), ack(r1(), s(1)));
    assert_eq!(sent.first(), Some(&(1, Some(Retransmit::Timeout))));
    assert!(sent
        .iter()
        .all(|&(i, k)| i < 10 && k == Some(Retransmit::Timeout)));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(c.ssthresh(), 5 * SEG);
    assert!(c.cwnd() <= 2 * SEG);
}

#[test]
fn duplicate_ack_in_step_2_reverts_to_conventional_recovery() {
    let mut c = plain_flight();
    let t = timeout(&mut c);
    // Step 2a: a duplicate ACK first (limited transmit lets go-back-N resend one more).
    let sent = step(&mut c, t + d(1), ack(r1(), s(0)));
    assert_eq!(sent, vec![(1, Some(Retransmit::Timeout))]);
    // Later ACKs of data never retransmitted undo nothing: go-back-N goes on, no new
    // data.
    for (i, acked) in [2, 4].into_iter().enumerate() {
        let sent = step(&mut c, t + d(2 + i as u64), ack(r1(), s(acked)));
        assert!(!sent.is_empty());
        assert!(sent.iter().all(|&(i, k)| i < 10 && k.is_some()), "{sent:?}");
    }
    assert_eq!(c.stats().spurious_rtos, 0);
}

#[test]
fn without_new_data_to_send_recovery_is_conventional() {
    // Nothing queued behind the flight: step 2b cannot send new data.
    let mut c = flight(plain_cfg(), synack(), 0);
    let t = timeout(&mut c);
    let sent = step(&mut c, t + d(1), ack(r1(), s(2)));
    assert_eq!(sent.first(), Some(&(2, Some(Retransmit::Timeout))));
    let _ = step(&mut c, t + d(2), ack(r1(), s(4)));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(c.ssthresh(), 5 * SEG);
}

#[test]
fn ack_of_everything_ends_frto_without_undo() {
    let mut c = plain_flight();
    let t = timeout(&mut c);
    // Step 2a: the ACK covers "recover"; without SACK nothing shows the timeout was
    // spurious, and nothing is left to resend.
    let sent = step(&mut c, t + d(1), ack(r1(), s(10)));
    assert!(sent.iter().all(|&(_, k)| k.is_none()));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(c.ssthresh(), 5 * SEG);
    assert_eq!(c.info(t + d(1)).ca_state, TCP_CA_OPEN);
}

#[test]
fn tcp_frto_0_resends_the_flight() {
    let cfg = Config {
        frto: false,
        ..plain_cfg()
    };
    let mut c = flight(cfg, synack(), 4 * SEG);
    let t = timeout(&mut c);
    // Go-back-N at once: segments 2, 3... again, however late the ACK.
    let sent = step(&mut c, t + d(1), ack(r1(), s(2)));
    assert_eq!(sent.first(), Some(&(2, Some(Retransmit::Timeout))));
    assert!(sent.iter().all(|&(i, k)| i < 10 && k.is_some()));
    let sent = step(&mut c, t + d(2), ack(r1(), s(4)));
    assert!(sent.iter().all(|&(i, k)| i < 10 && k.is_some()));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(c.ssthresh(), 5 * SEG);
}

// ----- With SACK (RFC 5682 section 4.1, as Linux) -----

#[test]
fn spurious_timeout_with_sack_is_undone_by_the_first_ack() {
    let mut c = sack_flight();
    let t = timeout(&mut c);
    // The ACK covers segments 1 and 2, sent once and never SACKed: spurious at once,
    // and the restored window sends new data.
    let sent = step(&mut c, t + d(1), sack_ack(3, &[]));
    assert_eq!(c.stats().spurious_rtos, 1);
    assert_eq!((c.cwnd(), c.ssthresh()), (10 * SEG, INITIAL_SSTHRESH));
    assert_eq!(sent, new_segments(10, 3));
    assert_eq!(c.info(t + d(1)).ca_state, TCP_CA_OPEN);
}

#[test]
fn sack_of_original_data_in_step_2_is_spurious() {
    let mut c = sack_flight();
    let t = timeout(&mut c);
    // A duplicate ACK SACKing segments 1 and 2 (never retransmitted).
    let sent = step(&mut c, t + d(1), sack_ack(0, &[(1, 3)]));
    assert_eq!(c.stats().spurious_rtos, 1);
    assert_eq!(c.ssthresh(), INITIAL_SSTHRESH);
    assert!(sent.iter().all(|&(i, _)| i >= 10), "{sent:?}");
}

#[test]
fn ack_of_sacked_data_only_is_not_spurious() {
    // A DupThresh above the flight keeps the SACKs below from starting fast recovery.
    let cfg = Config {
        dupthresh: 20,
        ..sack_cfg()
    };
    let mut c = flight(cfg, sack_synack(), 4 * SEG);
    // Segments 1 to 9 arrive and are SACKed, segment 0 is lost, the timer fires.
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 2)]));
    let _ = step(&mut c, ms(31), sack_ack(0, &[(1, 10)]));
    assert!(!c.in_recovery());
    let t = timeout(&mut c);
    // The retransmission fills the hole: the ACK covers only data SACKed already.
    // (The SACKs let limited transmit send segments 10 to 13 before the timeout.)
    let sent = step(&mut c, t + d(2), sack_ack(10, &[]));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(c.ssthresh(), 7 * SEG);
    assert_eq!(sent.first(), Some(&(10, Some(Retransmit::Timeout))));
}

#[test]
fn sack_of_new_data_alone_in_step_3_means_loss() {
    let mut c = sack_flight();
    let t = timeout(&mut c);
    // Segment 0's retransmission arrives, segment 1 and the rest were lost.
    assert_eq!(
        step(&mut c, t + d(1), sack_ack(1, &[])),
        new_segments(10, 2)
    );
    // Step 3a: the new data is SACKed, nothing of the old flight.
    let sent = step(&mut c, t + d(2), sack_ack(1, &[(10, 12)]));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert_eq!(sent.first(), Some(&(1, Some(Retransmit::Timeout))));
    assert!(sent.iter().all(|&(i, _)| i < 10));
    assert_eq!(c.ssthresh(), 5 * SEG);
}

#[test]
fn repeated_timeout_undoes_to_the_state_before_the_first() {
    let mut c = sack_flight();
    let _ = timeout(&mut c);
    let t = timeout(&mut c);
    let _ = step(&mut c, t + d(1), sack_ack(4, &[]));
    assert_eq!(c.stats().spurious_rtos, 1);
    assert_eq!((c.cwnd(), c.ssthresh()), (10 * SEG, INITIAL_SSTHRESH));
}

#[test]
fn timeout_during_fast_recovery_is_not_undone() {
    let mut c = sack_flight();
    let _ = step(&mut c, ms(30), sack_ack(0, &[(1, 2)]));
    let _ = step(&mut c, ms(31), sack_ack(0, &[(3, 4), (1, 2)]));
    let _ = step(&mut c, ms(32), sack_ack(0, &[(5, 6), (3, 4), (1, 2)]));
    assert!(c.in_recovery());
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let _ = output(&mut c, t);
    // Never-retransmitted data arrives: no F-RTO ran, so nothing is undone.
    let _ = step(&mut c, t + d(1), sack_ack(3, &[(5, 6)]));
    assert_eq!(c.stats().spurious_rtos, 0);
    assert!(c.ssthresh() < 10 * SEG);
}

#[test]
fn sack_tcp_frto_0_resends_unsacked_flight() {
    let cfg = Config {
        frto: false,
        ..sack_cfg()
    };
    let mut c = flight(cfg, sack_synack(), 4 * SEG);
    let t = timeout(&mut c);
    let sent = step(&mut c, t + d(1), sack_ack(3, &[]));
    assert_eq!(sent.first(), Some(&(3, Some(Retransmit::Timeout))));
    assert_eq!(c.stats().spurious_rtos, 0);
}
