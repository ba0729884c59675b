//! The listener: LISTEN (RFC 9293 3.10.7.2), the SYN queue with SYN-ACK retransmission,
//! SYN cookies (RFC 4987 3.6), accept-queue limits, and the handoff to
//! `Connection::accept`.

use partcp_core::buffer::Ring;
use partcp_core::connection::{Config, Connection, Endpoint, Handshake, State};
use partcp_core::isn::{self, IsnSecret};
use partcp_core::listener::{Listener, ListenerAction, ListenerConfig, SynCookies};
use partcp_core::seq::SeqNum;
use partcp_core::syncookie::{self, CookieSecret};
use partcp_core::time::{Duration, Instant};
use partcp_core::wire::ipv4::Ipv4Addr;
use partcp_core::wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

type Conn = Connection<Ring<Vec<u8>>, Ring<Vec<u8>>>;

const LOCAL: Endpoint = Endpoint::new(Ipv4Addr([10, 0, 0, 1]), 80);
const REMOTE: Endpoint = Endpoint::new(Ipv4Addr([10, 0, 0, 9]), 50000);
const ISN: IsnSecret = IsnSecret([1; 16]);
const COOKIE: CookieSecret = CookieSecret([2; 16]);
const IRS: SeqNum = SeqNum(777_000);
const T0: Instant = Instant(5_000_000);

fn remote(port: u16) -> Endpoint {
    Endpoint::new(REMOTE.addr, port)
}

fn cfg() -> ListenerConfig {
    ListenerConfig {
        recv_buffer: 1 << 20,
        syncookies: SynCookies::Never,
        ..ListenerConfig::default()
    }
}

fn listener(cfg: ListenerConfig) -> Listener<8> {
    Listener::new(cfg, LOCAL, ISN, COOKIE)
}

fn syn_from(port: u16, seq: SeqNum, opts: TcpOptions) -> TcpRepr {
    TcpRepr {
        src_port: port,
        dst_port: LOCAL.port,
        seq,
        flags: TcpFlags::SYN,
        window: 29200,
        options: opts,
        ..TcpRepr::default()
    }
}

fn linux_opts() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps {
            tsval: 4000,
            tsecr: 0,
        }),
        ..TcpOptions::default()
    }
}

fn syn(opts: TcpOptions) -> TcpRepr {
    syn_from(REMOTE.port, IRS, opts)
}

fn reply(a: ListenerAction) -> TcpRepr {
    match a {
        ListenerAction::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn established(a: ListenerAction) -> Handshake {
    match a {
        ListenerAction::Established(h) => h,
        other => panic!("expected a handshake, got {other:?}"),
    }
}

/// The final ACK for `synack`, echoing its timestamp.
fn final_ack(synack: &TcpRepr, port: u16, irs: SeqNum, len: usize) -> TcpRepr {
    let mut a = TcpRepr {
        src_port: port,
        dst_port: LOCAL.port,
        seq: irs + 1,
        ack: synack.seq + 1,
        flags: TcpFlags::ACK,
        window: 229,
        payload_len: len,
        ..TcpRepr::default()
    };
    if let Some(ts) = synack.options.timestamps {
        a.options.timestamps = Some(Timestamps {
            tsval: 4010,
            tsecr: ts.tsval,
        });
    }
    a
}

#[test]
fn syn_gets_synack_mirroring_options() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    assert_eq!(sa.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(sa.ack, IRS + 1);
    assert_eq!(sa.src_port, LOCAL.port);
    assert_eq!(sa.dst_port, REMOTE.port);
    assert_eq!(sa.options.mss, Some(1460));
    assert_eq!(sa.options.window_scale, Some(5));
    assert!(sa.options.sack_permitted);
    assert_eq!(sa.options.timestamps.unwrap().tsecr, 4000);
    assert_eq!(sa.window, u16::MAX);
    assert_eq!(l.syn_queue_len(), 1);
    assert_eq!(l.stats().syns_in, 1);
}

#[test]
fn synack_uses_rfc6528_isn() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    assert_eq!(
        sa.seq,
        isn::initial_seq(&ISN, LOCAL.tuple(), REMOTE.tuple(), T0)
    );
}

#[test]
fn bare_syn_gets_bare_synack() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(TcpOptions::default())));
    assert_eq!(sa.options.mss, Some(1460));
    assert_eq!(sa.options.window_scale, None);
    assert!(!sa.options.sack_permitted);
    assert_eq!(sa.options.timestamps, None);
}

#[test]
fn listener_config_limits_options() {
    let mut c = cfg();
    c.conn = Config {
        sack: false,
        timestamps: false,
        window_scale: false,
        mss: 1200,
        ..Config::default()
    };
    let mut l = listener(c);
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    assert_eq!(sa.options.mss, Some(1200));
    assert_eq!(sa.options.window_scale, None);
    assert!(!sa.options.sack_permitted);
    assert_eq!(sa.options.timestamps, None);
}

#[test]
fn final_ack_completes_handshake() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let t1 = T0 + Duration::from_millis(30);
    let hs = established(l.on_segment(t1, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.iss, sa.seq);
    assert_eq!(hs.irs, IRS);
    assert_eq!(hs.peer_mss, 1460);
    assert_eq!(hs.window_scale, Some((7, 5)));
    assert!(hs.sack);
    assert_eq!(hs.timestamps.unwrap().0, 4010);
    assert_eq!(hs.synack_sent, Some(T0));
    assert!(!hs.synack_retransmitted);
    assert_eq!(l.syn_queue_len(), 0);
    assert_eq!(l.accept_queue_len(), 1);
    assert_eq!(l.stats().accepted, 1);
    let c: Conn = Connection::accept(
        l.config().conn,
        &hs,
        Ring::new(vec![0; 4096]),
        Ring::new(vec![0; 1 << 20]),
        t1,
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.srtt(), Some(Duration::from_millis(30)));
    assert_eq!(c.negotiated(), (true, true, true));
    l.accepted();
    assert_eq!(l.accept_queue_len(), 0);
}

#[test]
fn final_ack_with_data_reaches_the_connection() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(TcpOptions::default())));
    let a = final_ack(&sa, REMOTE.port, IRS, 5);
    let hs = established(l.on_segment(T0, REMOTE, &a));
    let mut c: Conn = Connection::accept(
        Config::default(),
        &hs,
        Ring::new(vec![0; 4096]),
        Ring::new(vec![0; 4096]),
        T0,
    );
    let _ = c.on_segment(T0, &a, &b"hello"[..]);
    let mut buf = [0u8; 5];
    assert_eq!(c.recv_with(|b| b.read_at(0, &mut buf)), Ok(5));
    assert_eq!(&buf, b"hello");
    assert_eq!(c.send_window(), 229);
}

#[test]
fn retransmitted_syn_gets_same_synack() {
    let mut l = listener(cfg());
    let a = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let b = reply(l.on_segment(T0 + Duration::from_millis(500), REMOTE, &syn(linux_opts())));
    assert_eq!(a.seq, b.seq);
    assert_eq!(l.syn_queue_len(), 1);
}

#[test]
fn new_syn_with_other_isn_replaces_entry() {
    let mut l = listener(cfg());
    let _ = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let other = syn_from(REMOTE.port, IRS + 100_000, linux_opts());
    let sa = reply(l.on_segment(T0, REMOTE, &other));
    assert_eq!(sa.ack, IRS + 100_001);
    assert_eq!(l.syn_queue_len(), 1);
}

#[test]
fn wrong_ack_gets_reset() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let mut a = final_ack(&sa, REMOTE.port, IRS, 0);
    a.ack = sa.seq + 9;
    let rst = reply(l.on_segment(T0, REMOTE, &a));
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, sa.seq + 9);
    assert_eq!(l.syn_queue_len(), 1);
}

#[test]
fn unknown_ack_gets_reset() {
    let mut l = listener(cfg());
    let a = TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        seq: SeqNum(5),
        ack: SeqNum(99),
        flags: TcpFlags::ACK,
        ..TcpRepr::default()
    };
    let rst = reply(l.on_segment(T0, REMOTE, &a));
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, SeqNum(99));
    assert_eq!(l.stats().rsts_out, 1);
}

#[test]
fn rst_is_never_answered() {
    let mut l = listener(cfg());
    let r = TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        flags: TcpFlags::RST,
        ..TcpRepr::default()
    };
    assert_eq!(l.on_segment(T0, REMOTE, &r), ListenerAction::None);
    assert_eq!(l.stats().rsts_in, 1);
}

#[test]
fn rst_removes_half_open_entry_only_on_exact_match() {
    let mut l = listener(cfg());
    let _ = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let mut r = TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        seq: IRS + 50,
        flags: TcpFlags::RST,
        ..TcpRepr::default()
    };
    let _ = l.on_segment(T0, REMOTE, &r);
    assert_eq!(l.syn_queue_len(), 1);
    r.seq = IRS + 1;
    let _ = l.on_segment(T0, REMOTE, &r);
    assert_eq!(l.syn_queue_len(), 0);
}

#[test]
fn synack_to_listener_gets_reset() {
    let mut l = listener(cfg());
    let mut s = syn(TcpOptions::default());
    s.flags = TcpFlags::SYN | TcpFlags::ACK;
    s.ack = SeqNum(1234);
    let rst = reply(l.on_segment(T0, REMOTE, &s));
    assert_eq!(rst.seq, SeqNum(1234));
}

#[test]
fn syn_fin_and_bare_data_are_dropped() {
    let mut l = listener(cfg());
    let mut s = syn(TcpOptions::default());
    s.flags = TcpFlags::SYN | TcpFlags::FIN;
    assert_eq!(l.on_segment(T0, REMOTE, &s), ListenerAction::None);
    let d = TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        flags: TcpFlags::PSH,
        payload_len: 10,
        ..TcpRepr::default()
    };
    assert_eq!(l.on_segment(T0, REMOTE, &d), ListenerAction::None);
    assert_eq!(l.syn_queue_len(), 0);
}

#[test]
fn synack_retransmission_backs_off_then_expires() {
    let mut l = listener(ListenerConfig {
        synack_retries: 3,
        ..cfg()
    });
    let first = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let mut t = T0;
    let mut gaps = Vec::new();
    while let Some(d) = l.next_deadline() {
        gaps.push((d - t).millis());
        t = d;
        l.on_timer(t);
        if let Some(x) = l.poll_transmit(t) {
            assert_eq!(x.remote, REMOTE);
            assert_eq!(x.repr.seq, first.seq);
            assert_eq!(x.repr.flags, TcpFlags::SYN | TcpFlags::ACK);
            assert!(l.poll_transmit(t).is_none());
        }
    }
    assert_eq!(gaps, vec![1000, 2000, 4000, 8000]);
    assert_eq!(l.syn_queue_len(), 0);
    assert_eq!(l.stats().rto_retransmits, 3);
}

#[test]
fn set_synack_retries_applies_to_waiting_entries() {
    // TCP_SYNCNT 1 set after the SYN arrived: one retransmission, then the entry expires.
    let mut l = listener(cfg());
    let _ = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    l.set_synack_retries(1);
    let mut t = T0;
    let mut sent = 0;
    while let Some(d) = l.next_deadline() {
        t = d;
        l.on_timer(t);
        sent += usize::from(l.poll_transmit(t).is_some());
    }
    assert_eq!(sent, 1);
    assert_eq!(t - T0, Duration::from_secs(3));
    assert_eq!(l.syn_queue_len(), 0);
}

#[test]
fn handshake_after_synack_retransmission_has_no_rtt_sample() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(TcpOptions::default())));
    let t = l.next_deadline().unwrap();
    let _ = l.poll_transmit(t).unwrap();
    let hs = established(l.on_segment(t, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.synack_sent, None);
    assert!(hs.synack_retransmitted);
    let c: Conn = Connection::accept(
        Config::default(),
        &hs,
        Ring::new(vec![0; 10]),
        Ring::new(vec![0; 10]),
        t,
    );
    assert_eq!(c.srtt(), None);
    assert_eq!(c.rto(), Duration::from_secs(3));
}

#[test]
fn full_syn_queue_drops_without_cookies() {
    let mut l = listener(ListenerConfig {
        syn_backlog: 3,
        ..cfg()
    });
    for p in 0..3u16 {
        let _ = reply(l.on_segment(T0, remote(1000 + p), &syn_from(1000 + p, IRS, linux_opts())));
    }
    assert_eq!(
        l.on_segment(T0, remote(2000), &syn_from(2000, IRS, linux_opts())),
        ListenerAction::None
    );
    assert_eq!(l.stats().listen_drops, 1);
    assert_eq!(l.syn_queue_len(), 3);
}

#[test]
fn const_capacity_bounds_the_queue() {
    let mut l = listener(cfg());
    for p in 0..20u16 {
        let _ = l.on_segment(T0, remote(1000 + p), &syn_from(1000 + p, IRS, linux_opts()));
    }
    assert_eq!(l.syn_queue_len(), 8);
    assert_eq!(l.stats().listen_drops, 12);
}

#[test]
fn full_syn_queue_uses_cookies() {
    let mut l = listener(ListenerConfig {
        syn_backlog: 1,
        syncookies: SynCookies::WhenFull,
        ..cfg()
    });
    let _ = reply(l.on_segment(T0, remote(1000), &syn_from(1000, IRS, linux_opts())));
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    assert_eq!(l.stats().syncookies_sent, 1);
    assert_eq!(l.syn_queue_len(), 1, "the cookie SYN-ACK keeps no state");
    assert_eq!(
        syncookie::decode(&COOKIE, LOCAL.tuple(), REMOTE.tuple(), IRS, sa.seq, T0),
        Some(1460)
    );
    // Options ride in the TSval.
    let opts = syncookie::decode_timestamp(sa.options.timestamps.unwrap().tsval);
    assert_eq!(opts.wscale, Some(7));
    assert!(opts.sack_permitted);
    let hs = established(l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.peer_mss, 1460);
    assert_eq!(hs.window_scale, Some((7, 5)));
    assert!(hs.sack);
    assert!(hs.timestamps.is_some());
    assert_eq!(l.stats().syncookies_ok, 1);
}

#[test]
fn cookie_mss_is_rounded_down_to_table() {
    let mut l = listener(ListenerConfig {
        syncookies: SynCookies::Always,
        ..cfg()
    });
    let mut o = linux_opts();
    o.mss = Some(1400);
    let sa = reply(l.on_segment(T0, REMOTE, &syn(o)));
    let hs = established(l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.peer_mss, 1380);
}

#[test]
fn cookie_without_timestamps_drops_scaling_and_sack() {
    let mut l = listener(ListenerConfig {
        syncookies: SynCookies::Always,
        ..cfg()
    });
    let mut o = linux_opts();
    o.timestamps = None;
    let sa = reply(l.on_segment(T0, REMOTE, &syn(o)));
    assert_eq!(sa.options.window_scale, None);
    assert!(!sa.options.sack_permitted);
    let hs = established(l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.window_scale, None);
    assert!(!hs.sack);
    assert_eq!(hs.timestamps, None);
}

#[test]
fn forged_cookie_gets_reset() {
    let mut l = listener(ListenerConfig {
        syncookies: SynCookies::Always,
        ..cfg()
    });
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let mut a = final_ack(&sa, REMOTE.port, IRS, 0);
    a.ack += 1;
    let rst = reply(l.on_segment(T0, REMOTE, &a));
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(l.stats().syncookies_failed, 1);
    assert_eq!(l.accept_queue_len(), 0);
}

#[test]
fn cookie_for_other_isn_is_rejected() {
    let mut l = listener(ListenerConfig {
        syncookies: SynCookies::Always,
        ..cfg()
    });
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let a = final_ack(&sa, REMOTE.port, IRS + 7, 0);
    assert!(matches!(
        l.on_segment(T0, REMOTE, &a),
        ListenerAction::Reply(_)
    ));
}

#[test]
fn stale_cookie_is_rejected() {
    let mut l = listener(ListenerConfig {
        syncookies: SynCookies::Always,
        ..cfg()
    });
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let late = T0 + Duration::from_secs(600);
    let rst = reply(l.on_segment(late, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(rst.flags, TcpFlags::RST);
}

/// A listener with `backlog` 0 (room for one connection, as Linux's) that completed one
/// handshake and got a second final ACK with its accept queue full: the ACK is dropped
/// (and kept from Linux's stack, which would reset the connection). Returns the
/// listener and that ACK.
fn overflowed(c: ListenerConfig) -> (Listener<8>, TcpRepr) {
    let mut l = listener(ListenerConfig { backlog: 0, ..c });
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let sb = reply(l.on_segment(T0, remote(1001), &syn_from(1001, IRS, linux_opts())));
    let _ = established(l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    let b_ack = final_ack(&sb, 1001, IRS, 0);
    assert_eq!(
        l.on_segment(T0, remote(1001), &b_ack),
        ListenerAction::Consumed
    );
    assert_eq!(l.stats().listen_overflows, 1);
    (l, b_ack)
}

#[test]
fn full_accept_queue_drops_syns_and_final_acks() {
    let (mut l, b_ack) = overflowed(cfg());
    // The dropped final ACK's entry is kept...
    assert_eq!(l.syn_queue_len(), 1);
    // ...and new SYNs are dropped.
    assert_eq!(
        l.on_segment(T0, remote(1002), &syn_from(1002, IRS, linux_opts())),
        ListenerAction::None
    );
    assert_eq!(l.stats().listen_drops, 1);
    // Once the application accepts, the retransmitted final ACK gets through.
    l.accepted();
    let _ = established(l.on_segment(T0, remote(1001), &b_ack));
}

#[test]
fn full_accept_queue_drops_valid_cookie_acks() {
    // With cookies only, the second handshake has no entry: its valid cookie is dropped
    // the same way and stays valid for the next ACK.
    let (mut l, b_ack) = overflowed(ListenerConfig {
        syncookies: SynCookies::Always,
        ..cfg()
    });
    assert_eq!(l.syn_queue_len(), 0);
    assert_eq!(l.stats().syncookies_ok, 1);
    l.accepted();
    let _ = established(l.on_segment(T0, remote(1001), &b_ack));
}

#[test]
fn out_of_window_ack_for_queued_entry_is_consumed() {
    let mut l = listener(cfg());
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let mut a = final_ack(&sa, REMOTE.port, IRS, 0);
    a.seq += 100;
    assert_eq!(l.on_segment(T0, REMOTE, &a), ListenerAction::Consumed);
    assert_eq!(l.syn_queue_len(), 1);
    assert_eq!(l.accept_queue_len(), 0);
}

#[test]
fn set_backlog_takes_effect() {
    let mut l = listener(cfg());
    l.set_backlog(0);
    // Backlog 0 holds one connection (Linux: full when more than the backlog wait).
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let _ = established(l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(
        l.on_segment(T0, remote(1001), &syn_from(1001, IRS, linux_opts())),
        ListenerAction::None
    );
    assert_eq!(l.stats().listen_drops, 1);
    assert_eq!(l.local(), LOCAL);
}

#[test]
fn backlog_one_holds_two_connections() {
    let mut l = listener(ListenerConfig {
        backlog: 1,
        ..cfg()
    });
    for port in [1001, 1002] {
        let sa = reply(l.on_segment(T0, remote(port), &syn_from(port, IRS, linux_opts())));
        let _ = established(l.on_segment(T0, remote(port), &final_ack(&sa, port, IRS, 0)));
    }
    assert_eq!(l.accept_queue_len(), 2);
    assert_eq!(
        l.on_segment(T0, remote(1003), &syn_from(1003, IRS, linux_opts())),
        ListenerAction::None
    );
}

#[test]
fn end_to_end_with_client_connection() {
    let mut l = listener(cfg());
    let client_cfg = Config::default();
    let mut client: Conn = Connection::connect(
        client_cfg,
        REMOTE,
        LOCAL,
        &IsnSecret([3; 16]),
        Ring::new(vec![0; 8192]),
        Ring::new(vec![0; 8192]),
        T0,
    );
    let syn = client.poll_transmit(T0).unwrap().repr;
    let sa = reply(l.on_segment(T0, REMOTE, &syn));
    let t1 = T0 + Duration::from_millis(5);
    let _ = client.on_segment(t1, &sa, &[][..]);
    assert_eq!(client.state(), State::Established);
    assert_eq!(client.negotiated(), (true, true, true));
    let ack = client.poll_transmit(t1).unwrap().repr;
    let hs = established(l.on_segment(t1, REMOTE, &ack));
    let mut server: Conn = Connection::accept(
        l.config().conn,
        &hs,
        Ring::new(vec![0; 8192]),
        Ring::new(vec![0; 1 << 20]),
        t1,
    );
    let _ = server.on_segment(t1, &ack, &[][..]);
    assert_eq!(server.negotiated(), (true, true, true));
    assert_eq!(client.window_shifts(), (5, 0));
    assert_eq!(server.window_shifts(), (0, 5));
    // Data flows client -> server.
    client.send_with(|b| b.enqueue_slice(b"request")).unwrap();
    let t = client.poll_transmit(t1).unwrap();
    let mut p = vec![0u8; t.payload_len];
    client.send_buffer().read_at(t.payload_offset, &mut p);
    let _ = server.on_segment(t1, &t.repr, &p[..]);
    let mut got = [0u8; 7];
    assert_eq!(server.recv_with(|b| b.read_at(0, &mut got)), Ok(7));
    assert_eq!(&got, b"request");
}

#[test]
fn synack_scale_follows_the_window_space() {
    // Linux tcp_openreq_init_rwin: the scale for max(tcp_rmem[2], rmem_max).
    let mut c = cfg();
    c.recv_buffer = 128 * 1024;
    c.conn.window_space = Some(6 << 20);
    let mut l = listener(c);
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    assert_eq!(sa.options.window_scale, Some(7));
    let hs = established(l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.window_scale, Some((7, 7)));
    // Without a window space, the buffer's: 128 KB needs a shift of 2.
    let mut c = cfg();
    c.recv_buffer = 128 * 1024;
    let mut l = listener(c);
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    assert_eq!(sa.options.window_scale, Some(2));
}

// ----- TCP_DEFER_ACCEPT (Linux tcp_check_req, syn_ack_recalc) -----

/// A listener deferring for one SYN-ACK timeout (TCP_DEFER_ACCEPT 1 s).
fn deferring() -> (Listener<8>, TcpRepr) {
    let mut l = listener(ListenerConfig {
        defer_accept: 1,
        ..cfg()
    });
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    (l, sa)
}

#[test]
fn defer_accept_drops_a_bare_ack_and_accepts_data() {
    let (mut l, sa) = deferring();
    let t = T0 + Duration::from_millis(10);
    assert_eq!(
        l.on_segment(t, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)),
        ListenerAction::Consumed
    );
    // Data completes the handshake at once.
    let hs = established(l.on_segment(t, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 10)));
    assert_eq!(hs.irs, IRS);
}

#[test]
fn defer_accept_resends_the_synack_at_the_end_of_the_period() {
    let (mut l, sa) = deferring();
    let t = T0 + Duration::from_millis(10);
    let _ = l.on_segment(t, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0));
    // The first timeout is the period's last: its SYN-ACK gives the peer a last chance,
    // and the ACK that answers it makes the connection, without data.
    let t1 = T0 + Duration::from_secs(1);
    assert!(l.poll_transmit(t1).is_some());
    let hs = established(l.on_segment(t1, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.irs, IRS);
}

#[test]
fn defer_accept_stays_silent_before_the_last_timeout() {
    let mut l = listener(ListenerConfig {
        defer_accept: 3,
        ..cfg()
    });
    let sa = reply(l.on_segment(T0, REMOTE, &syn(linux_opts())));
    let _ = l.on_segment(T0, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0));
    // Timeouts at 1 s and 3 s pass without a SYN-ACK; the one at 7 s sends it.
    assert!(l.poll_transmit(T0 + Duration::from_secs(1)).is_none());
    assert!(l.poll_transmit(T0 + Duration::from_secs(3)).is_none());
    assert!(l.poll_transmit(T0 + Duration::from_secs(7)).is_some());
    let t = T0 + Duration::from_secs(7);
    let hs = established(l.on_segment(t, REMOTE, &final_ack(&sa, REMOTE.port, IRS, 0)));
    assert_eq!(hs.irs, IRS);
}
