//! SACK generation by the receiver: RFC 2018 section 4 and D-SACK (RFC 2883).

use super::*;

fn blocks(o: &Out) -> Vec<(SeqNum, SeqNum)> {
    o.repr
        .options
        .sacks()
        .iter()
        .map(|b| (b.left, b.right))
        .collect()
}

fn ooo(c: &mut TestConn, t: Instant, off: usize, len: usize) -> Out {
    input_data(c, t, r1() + off, l1(), off, len);
    output_one(c, t)
}

#[test]
fn out_of_order_segment_is_sacked() {
    let mut c = established_sack();
    let a = ooo(&mut c, ms(20), 100, 50);
    check_ack(&a, l1(), r1());
    assert_eq!(blocks(&a), vec![(r1() + 100, r1() + 150)]);
}

#[test]
fn most_recent_block_first() {
    let mut c = established_sack();
    let _ = ooo(&mut c, ms(20), 100, 50);
    let _ = ooo(&mut c, ms(21), 300, 50);
    let a = ooo(&mut c, ms(22), 500, 50);
    assert_eq!(
        blocks(&a),
        vec![
            (r1() + 500, r1() + 550),
            (r1() + 300, r1() + 350),
            (r1() + 100, r1() + 150)
        ]
    );
    // Touching an old block again moves it to the front.
    let a = ooo(&mut c, ms(23), 150, 10);
    assert_eq!(
        blocks(&a),
        vec![
            (r1() + 100, r1() + 160),
            (r1() + 500, r1() + 550),
            (r1() + 300, r1() + 350)
        ]
    );
}

#[test]
fn four_blocks_without_timestamps() {
    let mut c = established_sack();
    for i in 0..5usize {
        let _ = ooo(&mut c, ms(20 + i as u64), 100 + i * 100, 10);
    }
    let a = ooo(&mut c, ms(30), 800, 10);
    assert_eq!(blocks(&a).len(), 4);
    assert_eq!(blocks(&a)[0], (r1() + 800, r1() + 810));
}

#[test]
fn three_blocks_with_timestamps() {
    let mut c = established_full();
    for i in 0..5usize {
        let p = pattern(0, 10);
        let mut d = data(r1() + 100 + i * 100, l1(), 10);
        d.window = 512;
        let _ = input(&mut c, ms(20), d, &p);
    }
    let out = output(&mut c, ms(20));
    let last = out.last().unwrap();
    // The connection offers 4; the emitted header carries 3 (40 bytes of options).
    assert_eq!(last.repr.as_emitted().options.sack_count, 3);
    assert_eq!(last.repr.header_len(), 60);
}

#[test]
fn merged_ranges_report_one_block() {
    let mut c = established_sack();
    let _ = ooo(&mut c, ms(20), 100, 50);
    let _ = ooo(&mut c, ms(21), 200, 50);
    let a = ooo(&mut c, ms(22), 150, 50);
    assert_eq!(blocks(&a), vec![(r1() + 100, r1() + 250)]);
}

#[test]
fn filled_hole_removes_block() {
    let mut c = established_sack();
    let _ = ooo(&mut c, ms(20), 100, 50);
    let _ = ooo(&mut c, ms(21), 300, 50);
    input_data(&mut c, ms(22), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(22));
    check_ack(&a, l1(), r1() + 150);
    assert_eq!(blocks(&a), vec![(r1() + 300, r1() + 350)]);
    input_data(&mut c, ms(23), r1() + 150, l1(), 150, 150);
    let a = output_one(&mut c, ms(23));
    check_ack(&a, l1(), r1() + 350);
    assert!(blocks(&a).is_empty());
}

#[test]
fn dsack_for_duplicate_below_rcv_nxt() {
    let mut c = established_sack();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let _ = output(&mut c, ms(20));
    input_data(&mut c, ms(21), r1() + 20, l1(), 20, 30);
    let a = output_one(&mut c, ms(21));
    assert_eq!(blocks(&a), vec![(r1() + 20, r1() + 50)]);
    // Reported once.
    input_data(&mut c, ms(22), r1() + 100, l1(), 100, 10);
    let a = output_one(&mut c, ms(22));
    assert!(blocks(&a).is_empty());
}

#[test]
fn dsack_first_then_sack_blocks() {
    let mut c = established_sack();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let _ = ooo(&mut c, ms(21), 200, 50);
    input_data(&mut c, ms(22), r1() + 10, l1(), 10, 10);
    let a = output_one(&mut c, ms(22));
    assert_eq!(
        blocks(&a),
        vec![(r1() + 10, r1() + 20), (r1() + 200, r1() + 250)]
    );
}

#[test]
fn dsack_for_duplicate_out_of_order_segment() {
    let mut c = established_sack();
    let _ = ooo(&mut c, ms(20), 200, 50);
    let a = ooo(&mut c, ms(21), 210, 20);
    assert_eq!(
        blocks(&a),
        vec![(r1() + 210, r1() + 230), (r1() + 200, r1() + 250)]
    );
}

#[test]
fn partial_duplicate_reports_dsack_for_old_part() {
    let mut c = established_sack();
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let _ = output(&mut c, ms(20));
    input_data(&mut c, ms(21), r1() + 80, l1(), 80, 40);
    let a = output_one(&mut c, ms(21));
    assert_eq!(blocks(&a), vec![(r1() + 80, r1() + 100)]);
    assert_eq!(c.rcv_nxt(), r1() + 120);
}

#[test]
fn dsack_can_be_disabled() {
    let cfg = Config {
        dsack: false,
        ..sack_cfg()
    };
    let mut c = established_with(cfg, sack_synack());
    input_data(&mut c, ms(20), r1(), l1(), 0, 100);
    let _ = output(&mut c, ms(20));
    input_data(&mut c, ms(21), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(21));
    assert!(blocks(&a).is_empty());
}

#[test]
fn no_sack_without_negotiation() {
    let mut c = established();
    let a = ooo(&mut c, ms(20), 100, 50);
    assert!(blocks(&a).is_empty());
}

#[test]
fn data_segments_carry_sack_blocks() {
    let mut c = established_sack();
    let _ = ooo(&mut c, ms(20), 100, 50);
    send(&mut c, b"hi").unwrap();
    let o = output_one(&mut c, ms(21));
    assert_eq!(o.payload, b"hi");
    assert_eq!(blocks(&o), vec![(r1() + 100, r1() + 150)]);
    let (b, n) = c.sack_blocks();
    assert_eq!(n, 1);
    assert_eq!(b[0].left, r1() + 100);
}

#[test]
fn assembler_overflow_drops_segment() {
    let mut c = established_sack();
    let cap = crate::assembler::ASSEMBLER_RANGES;
    for i in 0..cap {
        let _ = ooo(&mut c, ms(20), 100 + i * 20, 10);
    }
    assert_eq!(c.stats().ooo_queued as usize, cap);
    let _ = ooo(&mut c, ms(21), 100 + cap * 20, 10);
    assert_eq!(c.stats().ooo_dropped, 1);
    // Filling the first hole still works and reassembly continues.
    input_data(&mut c, ms(22), r1(), l1(), 0, 110);
    assert_eq!(c.rcv_nxt(), r1() + 110);
}

#[test]
fn out_of_order_acks_are_immediate_even_with_delayed_ack() {
    let cfg = Config {
        delayed_ack: Some(Duration::from_millis(40)),
        ..sack_cfg()
    };
    let mut c = established_with(cfg, sack_synack());
    let a = ooo(&mut c, ms(20), 100, 50);
    assert_eq!(blocks(&a).len(), 1);
    // Gap filling is acknowledged at once too (RFC 5681 4.2).
    input_data(&mut c, ms(21), r1(), l1(), 0, 100);
    let a = output_one(&mut c, ms(21));
    check_ack(&a, l1(), r1() + 150);
}
