//! ICMP errors (RFC 1122 4.2.3.9, RFC 5927 section 4.1, Linux `tcp_v4_err`), state by
//! state.

use super::*;

const HOST_UNREACH: IcmpError = IcmpError::DestUnreachable(1);
const NET_UNREACH: IcmpError = IcmpError::DestUnreachable(0);
const PORT_UNREACH: IcmpError = IcmpError::DestUnreachable(3);
const FRAG_NEEDED: IcmpError = IcmpError::DestUnreachable(4);

/// Established with one 100-byte segment in flight (SND.UNA = l1(), SND.MAX = l1()+100).
fn established_in_flight() -> TestConn {
    let mut c = established();
    send(&mut c, &pattern(0, 100)).unwrap();
    let d = output_one(&mut c, ms(20));
    assert_eq!(d.payload.len(), 100);
    c
}

#[test]
fn conversion_follows_linux() {
    let want: [(u8, Option<Error>); 17] = [
        (0, Some(Error::NetUnreachable)),
        (1, Some(Error::HostUnreachable)),
        (2, Some(Error::ProtocolUnreachable)),
        (3, Some(Error::ConnectionRefused)),
        (4, None),
        (5, Some(Error::SourceRouteFailed)),
        (6, Some(Error::NetUnreachable)),
        (7, Some(Error::HostDown)),
        (8, Some(Error::HostIsolated)),
        (9, Some(Error::NetUnreachable)),
        (10, Some(Error::HostUnreachable)),
        (11, Some(Error::NetUnreachable)),
        (12, Some(Error::HostUnreachable)),
        (13, Some(Error::HostUnreachable)),
        (14, Some(Error::HostUnreachable)),
        (15, Some(Error::HostUnreachable)),
        (16, None),
    ];
    for (code, err) in want {
        assert_eq!(IcmpError::DestUnreachable(code).error(), err, "code {code}");
    }
    assert_eq!(IcmpError::DestUnreachable(255).error(), None);
    assert_eq!(
        IcmpError::TimeExceeded.error(),
        Some(Error::HostUnreachable)
    );
    assert_eq!(
        IcmpError::ParameterProblem.error(),
        Some(Error::ProtocolError)
    );
    let errnos = [
        (Error::NetUnreachable, 101),
        (Error::HostUnreachable, 113),
        (Error::ProtocolUnreachable, 92),
        (Error::SourceRouteFailed, 95),
        (Error::HostDown, 112),
        (Error::HostIsolated, 64),
        (Error::ProtocolError, 71),
    ];
    for (e, n) in errnos {
        assert_eq!(e.errno(), n, "{e:?}");
    }
}

#[test]
fn syn_sent_host_unreachable_fails_connect() {
    let mut c = syn_sent();
    assert!(c.on_icmp_error(ms(5), LOCAL_ISS, HOST_UNREACH));
    assert_eq!(c.state(), State::Closed);
    assert!(c.is_closed());
    assert_eq!(c.error(), Some(Error::HostUnreachable));
    assert_eq!(c.next_deadline(), None);
    output_none(&mut c, ms(5));
    assert_eq!(c.stats().icmp_errors, 1);
    assert_eq!(send(&mut c, b"x"), Err(Error::HostUnreachable));
}

#[test]
fn syn_sent_soft_codes_fail_too_as_linux() {
    for (icmp, err) in [
        (NET_UNREACH, Error::NetUnreachable),
        (PORT_UNREACH, Error::ConnectionRefused),
        (IcmpError::TimeExceeded, Error::HostUnreachable),
        (IcmpError::ParameterProblem, Error::ProtocolError),
    ] {
        let mut c = syn_sent();
        assert!(c.on_icmp_error(ms(5), LOCAL_ISS, icmp));
        assert_eq!(c.state(), State::Closed, "{icmp:?}");
        assert_eq!(c.error(), Some(err), "{icmp:?}");
    }
}

#[test]
fn syn_sent_sequence_outside_window_is_ignored() {
    // RFC 5927 4.1: SND.UNA =< SEG.SEQ < SND.NXT; only ISS qualifies in SYN-SENT.
    for seq in [LOCAL_ISS - 1, l1(), LOCAL_ISS + 1000, SeqNum(0)] {
        let mut c = syn_sent();
        assert!(!c.on_icmp_error(ms(5), seq, HOST_UNREACH), "{seq:?}");
        assert_eq!(c.state(), State::SynSent);
        assert_eq!(c.error(), None);
        assert_eq!(c.stats().icmp_ignored, 1);
    }
}

#[test]
fn before_the_syn_is_sent_everything_is_ignored() {
    let mut c = connecting(plain_cfg(), BUF, BUF);
    assert!(!c.on_icmp_error(T0, LOCAL_ISS, HOST_UNREACH));
    assert_eq!(c.state(), State::SynSent);
    let syn = output_one(&mut c, T0);
    check(&syn, TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
}

#[test]
fn syn_sent_fragmentation_needed_is_ignored() {
    let mut c = syn_sent();
    assert!(!c.on_icmp_error(ms(5), LOCAL_ISS, FRAG_NEEDED));
    assert!(!c.on_icmp_error(ms(5), LOCAL_ISS, IcmpError::DestUnreachable(16)));
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(c.error(), None);
    assert_eq!(c.stats().icmp_ignored, 2);
    // The SYN is still retransmitted.
    let t = c.next_deadline().unwrap();
    c.on_timer(t);
    let syn = output_one(&mut c, t);
    check(&syn, TcpFlags::SYN, LOCAL_ISS, SeqNum(0));
}

#[test]
fn syn_received_fails() {
    let mut c = syn_received();
    assert!(c.on_icmp_error(ms(6), LOCAL_ISS, HOST_UNREACH));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::HostUnreachable));
    output_none(&mut c, ms(6));
}

#[test]
fn established_records_a_soft_error_only() {
    let mut c = established_in_flight();
    assert!(c.on_icmp_error(ms(25), l1(), HOST_UNREACH));
    // RFC 1122 4.2.3.9: "TCP MUST NOT abort the connection".
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.error(), None);
    assert!(!c.readable());
    assert!(c.writable());
    assert_eq!(c.stats().icmp_errors, 1);
    // Port unreachable is hard per RFC 1122 but soft in Linux's synchronized states.
    assert!(c.on_icmp_error(ms(26), l1() + 99, PORT_UNREACH));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.error(), None);
}

#[test]
fn established_sequence_checks() {
    let mut c = established_in_flight();
    // SND.MAX itself and SND.UNA - 1 are outside; nothing in flight accepts nothing.
    assert!(!c.on_icmp_error(ms(25), l1() + 100, HOST_UNREACH));
    assert!(!c.on_icmp_error(ms(25), l1() - 1, HOST_UNREACH));
    assert_eq!(c.stats().icmp_ignored, 2);
    let mut idle = established();
    assert!(!idle.on_icmp_error(ms(25), l1(), HOST_UNREACH));
}

#[test]
fn soft_error_replaces_etimedout() {
    let mut c = one_byte_in_flight_3_retries();
    assert!(c.on_icmp_error(ms(30), l1(), NET_UNREACH));
    // tcp_retries2 = 3 with a 200 ms RTO: four retransmissions (see rto.rs).
    assert_eq!(run_timers_while_established(&mut c), 4);
    // Linux tcp_write_err: sk_err_soft ?: ETIMEDOUT.
    assert_eq!(c.error(), Some(Error::NetUnreachable));
    assert_eq!(send(&mut c, b"y"), Err(Error::NetUnreachable));
}

#[test]
fn acknowledged_data_clears_the_soft_error() {
    let mut c = one_byte_in_flight_3_retries();
    assert!(c.on_icmp_error(ms(30), l1(), HOST_UNREACH));
    input0(&mut c, ms(40), ack(r1(), l1() + 1));
    send(&mut c, b"y").unwrap();
    let _ = output_one(&mut c, ms(50));
    run_timers_while_established(&mut c);
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn closing_states_keep_going() {
    for mut c in [fin_wait_1(), closing(), last_ack()] {
        let st = c.state();
        let una = c.snd_una();
        assert!(c.on_icmp_error(ms(50), una, HOST_UNREACH), "{st:?}");
        assert_eq!(c.state(), st);
        assert_eq!(c.error(), None);
    }
    // FIN-WAIT-2 and CLOSE-WAIT with nothing in flight: the quoted segment cannot be ours.
    for mut c in [fin_wait_2(), close_wait()] {
        let una = c.snd_una();
        assert!(!c.on_icmp_error(ms(50), una, HOST_UNREACH));
    }
}

#[test]
fn time_wait_and_closed_ignore_errors() {
    let mut c = time_wait();
    assert!(!c.on_icmp_error(ms(50), l1(), HOST_UNREACH));
    assert_eq!(c.state(), State::TimeWait);
    let mut c = syn_sent();
    c.abort(ms(5));
    assert!(!c.on_icmp_error(ms(6), LOCAL_ISS, HOST_UNREACH));
    assert_eq!(c.error(), None);
}

// --- Fragmentation needed: path MTU discovery (RFC 1191) ---------------------------------

/// Established (MSS 1460, no options) with 4000 bytes sent in three segments.
fn three_segments_in_flight() -> TestConn {
    let mut c = established();
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 4000)).unwrap();
    let sent: Vec<usize> = output(&mut c, ms(20))
        .iter()
        .map(|o| o.payload.len())
        .collect();
    assert_eq!(sent, vec![1460, 1460, 1080]);
    c
}

#[test]
fn fragmentation_needed_is_not_an_application_error() {
    assert_eq!(IcmpError::FragmentationNeeded(1000).error(), None);
}

#[test]
fn fragmentation_needed_lowers_the_mss_and_resends_at_once() {
    let mut c = three_segments_in_flight();
    let (cwnd, ssthresh) = (c.cwnd(), c.ssthresh());
    assert!(c.on_icmp_error(ms(25), l1() + 1460, IcmpError::FragmentationNeeded(1000)));
    assert_eq!(c.max_segment_size(), 960);
    assert_eq!(c.stats().pmtu_reductions, 1);
    // Everything from SND.UNA again, in segments that fit 1000 bytes, no timeout needed.
    let again = output(&mut c, ms(25));
    let sizes: Vec<usize> = again.iter().map(|o| o.payload.len()).collect();
    assert_eq!(sizes, vec![960, 960, 960, 960, 160]);
    assert_eq!(again[0].repr.seq, l1());
    let resent: Vec<u8> = again.iter().flat_map(|o| o.payload.clone()).collect();
    assert_eq!(resent, pattern(0, 4000));
    // Not congestion: the window is untouched, and no error for the application.
    assert_eq!((c.cwnd(), c.ssthresh()), (cwnd, ssthresh));
    assert_eq!(c.error(), None);
    // The acknowledgment of all of it ends the episode; new data uses the new size.
    input0(&mut c, ms(30), ack(r1(), l1() + 4000));
    send(&mut c, &pattern(4000, 2000)).unwrap();
    let next: Vec<usize> = output(&mut c, ms(30))
        .iter()
        .map(|o| o.payload.len())
        .collect();
    assert_eq!(next, vec![960, 960, 80]);
}

#[test]
fn fragmentation_needed_never_goes_below_the_minimum_path_mtu() {
    for mtu in [0, 68, 100, MIN_PATH_MTU - 1] {
        let mut c = three_segments_in_flight();
        assert!(c.on_icmp_error(ms(25), l1(), IcmpError::FragmentationNeeded(mtu)));
        assert_eq!(
            c.max_segment_size(),
            usize::from(MIN_PATH_MTU) - 40,
            "mtu {mtu}"
        );
    }
}

#[test]
fn fragmentation_needed_that_would_not_lower_the_mss_is_ignored() {
    for mtu in [1500, 9000] {
        let mut c = three_segments_in_flight();
        assert!(!c.on_icmp_error(ms(25), l1(), IcmpError::FragmentationNeeded(mtu)));
        assert_eq!(c.max_segment_size(), 1460);
        assert_eq!(c.stats().icmp_ignored, 1);
        assert_eq!(c.stats().pmtu_reductions, 0);
        output_none(&mut c, ms(25));
    }
}

#[test]
fn fragmentation_needed_outside_the_window_is_ignored() {
    // RFC 5927 4.1 applies to it too: a blind attacker cannot shrink segments.
    let mut c = three_segments_in_flight();
    for seq in [l1() - 1, l1() + 4000, l1() + 1_000_000] {
        assert!(!c.on_icmp_error(ms(25), seq, IcmpError::FragmentationNeeded(600)));
    }
    assert_eq!(c.max_segment_size(), 1460);
    assert_eq!(c.stats().icmp_ignored, 3);
}

#[test]
fn fragmentation_needed_about_a_syn_is_ignored() {
    let mut c = syn_sent();
    assert!(!c.on_icmp_error(ms(5), LOCAL_ISS, IcmpError::FragmentationNeeded(600)));
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(c.stats().pmtu_reductions, 0);
}
