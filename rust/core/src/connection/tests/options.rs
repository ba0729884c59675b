//! Option negotiation: MSS (RFC 9293 3.7.1), window scale (RFC 7323 section 2), SACK
//! permitted (RFC 2018 section 2), timestamps (RFC 7323 section 3).

use super::*;

fn synack_with(opts: TcpOptions) -> TcpRepr {
    TcpRepr {
        options: opts,
        ..seg(TcpFlags::SYN | TcpFlags::ACK, REMOTE_ISS, l1())
    }
}

/// On a full-options connection, the peer's ACK announcing a 512 << 7 window.
fn open_full_window(c: &mut TestConn, t: Instant) {
    let mut a = ack(r1(), l1());
    a.window = 512;
    input0(c, t, a);
}

#[test]
fn full_negotiation() {
    let c = established_full();
    assert_eq!(c.negotiated(), (true, true, true));
    assert_eq!(c.window_shifts(), (7, 0));
    // RFC 7323 2.2: the SYN-ACK's window is not scaled.
    assert_eq!(c.send_window(), 512);
}

#[test]
fn scaled_window_after_handshake() {
    let mut c = established_full();
    let mut a = ack(r1(), l1());
    a.window = 512;
    a.options.timestamps = Some(Timestamps {
        tsval: 5000,
        tsecr: 0,
    });
    input0(&mut c, ms(20), a);
    assert_eq!(c.send_window(), 512 << 7);
}

#[test]
fn our_shift_follows_receive_buffer() {
    let mut c = connecting(full_cfg(), BUF, 1 << 20);
    let syn = output_one(&mut c, T0);
    assert_eq!(syn.repr.options.window_scale, Some(5));
    let sa = synack_with(TcpOptions {
        mss: Some(1460),
        window_scale: Some(2),
        ..TcpOptions::default()
    });
    input0(&mut c, ms(10), sa);
    let a = output_one(&mut c, ms(10));
    assert_eq!(c.window_shifts(), (2, 5));
    assert_eq!(usize::from(a.repr.window), (1 << 20) >> 5);
}

#[test]
fn no_scaling_unless_both_offer() {
    let mut c = connecting(full_cfg(), BUF, 1 << 20);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack_with(TcpOptions::default()));
    let a = output_one(&mut c, ms(10));
    assert_eq!(c.negotiated(), (false, false, false));
    assert_eq!(c.window_shifts(), (0, 0));
    assert_eq!(a.repr.window, u16::MAX, "unscaled window capped at 65535");
}

#[test]
fn no_scaling_when_we_do_not_offer() {
    let mut c = connecting(plain_cfg(), BUF, 1 << 20);
    let _ = output_one(&mut c, T0);
    let sa = synack_with(TcpOptions {
        window_scale: Some(7),
        ..TcpOptions::default()
    });
    let mut sa = sa;
    sa.window = 100;
    input0(&mut c, ms(10), sa);
    let _ = output_one(&mut c, ms(10));
    let mut a = ack(r1(), l1());
    a.window = 100;
    input0(&mut c, ms(11), a);
    assert_eq!(c.send_window(), 100);
}

#[test]
fn window_shift_above_14_is_clamped() {
    let mut c = connecting(full_cfg(), BUF, BUF);
    let _ = output_one(&mut c, T0);
    let sa = synack_with(TcpOptions {
        window_scale: Some(30),
        ..TcpOptions::default()
    });
    input0(&mut c, ms(10), sa);
    assert_eq!(c.window_shifts().0, MAX_WINDOW_SCALE);
}

#[test]
fn window_shift_for_sizes() {
    assert_eq!(window_shift_for(0), 0);
    assert_eq!(window_shift_for(65535), 0);
    assert_eq!(window_shift_for(65536), 1);
    assert_eq!(window_shift_for(1 << 20), 5);
    assert_eq!(window_shift_for(usize::MAX), 14);
}

/// A connection with `cfg` after the peer's SYN-ACK carrying `opts`.
fn negotiate_with(cfg: Config, opts: TcpOptions) -> (TestConn, Out) {
    let mut c = connecting(cfg, BUF, BUF);
    let _ = output_one(&mut c, T0);
    input0(&mut c, ms(10), synack_with(opts));
    let a = output_one(&mut c, ms(10));
    (c, a)
}

#[test]
fn sack_needs_both() {
    let sack = TcpOptions {
        sack_permitted: true,
        ..TcpOptions::default()
    };
    assert!(negotiate_with(full_cfg(), sack).0.negotiated().1);
    assert!(!negotiate_with(plain_cfg(), sack).0.negotiated().1);
}

#[test]
fn timestamps_need_both() {
    let ts = TcpOptions {
        timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
        ..TcpOptions::default()
    };
    let (c, a) = negotiate_with(plain_cfg(), ts);
    assert!(!c.negotiated().2);
    assert_eq!(a.repr.options.timestamps, None);
    let (c, a) = negotiate_with(full_cfg(), ts);
    assert!(c.negotiated().2);
    assert_eq!(a.repr.options.timestamps.unwrap().tsecr, 1);
}

#[test]
fn timestamps_shrink_segment_payload() {
    let mut c = established_full();
    open_full_window(&mut c, ms(15));
    c.set_nodelay(true);
    send(&mut c, &pattern(0, 3000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out[0].payload.len(), 1448);
    assert_eq!(c.max_segment_size(), 1448);
}

#[test]
fn sack_blocks_shrink_segment_payload() {
    let mut c = established_full();
    open_full_window(&mut c, ms(15));
    // Create three out-of-order ranges at the receiver so our segments carry 3 blocks.
    for i in 0..3usize {
        let p = pattern(0, 10);
        let mut d = data(r1() + 100 + i * 100, l1(), 10);
        d.window = 512;
        let _ = input(&mut c, ms(16), d, &p);
    }
    let _ = output(&mut c, ms(16));
    send(&mut c, &pattern(0, 3000)).unwrap();
    let out = output(&mut c, ms(20));
    assert_eq!(out[0].repr.options.sack_count, 3);
    // 12 bytes of timestamps + 28 of SACK: 1460 - 40.
    assert_eq!(out[0].payload.len(), 1420);
    assert_eq!(out[0].repr.header_len(), 60);
}

#[test]
fn simultaneous_open_synack_echoes_only_offered_options() {
    let mut c = syn_sent_with(full_cfg());
    let syn = TcpRepr {
        options: TcpOptions {
            mss: Some(1200),
            sack_permitted: true,
            ..TcpOptions::default()
        },
        ..seg(TcpFlags::SYN, REMOTE_ISS, SeqNum(0))
    };
    input0(&mut c, ms(5), syn);
    let sa = output_one(&mut c, ms(5));
    assert_eq!(sa.repr.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert!(sa.repr.options.sack_permitted);
    assert_eq!(sa.repr.options.window_scale, None);
    assert_eq!(sa.repr.options.timestamps, None);
    assert_eq!(sa.repr.options.mss, Some(1460));
}

#[test]
fn set_max_segment_size_before_connect() {
    let mut c = connecting(plain_cfg(), BUF, BUF);
    c.set_max_segment_size(1000);
    let syn = output_one(&mut c, T0);
    assert_eq!(syn.repr.options.mss, Some(1000));
}

#[test]
fn set_max_segment_size_after_connect_lowers() {
    let mut c = established();
    c.set_max_segment_size(700);
    assert_eq!(c.max_segment_size(), 700);
    c.set_max_segment_size(9000);
    assert_eq!(c.max_segment_size(), 700);
}
