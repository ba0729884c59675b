//! A receive buffer that refuses to store a segment's text (the kernel glue keeps
//! payload in the skbs it arrived in and refuses what it cannot account for): the core
//! treats the text as lost, so nothing is acknowledged or SACKed for it and the peer's
//! retransmission is accepted normally.

use super::*;
use crate::buffer::{RecvBuffer, WriteAt};

/// A ring that refuses every write while `refuse` is set.
struct Picky {
    ring: Ring<Vec<u8>>,
    refuse: bool,
}

impl RecvBuffer for Picky {
    fn capacity(&self) -> usize {
        self.ring.capacity()
    }
    fn len(&self) -> usize {
        self.ring.len()
    }
    fn commit(&mut self, n: usize) {
        RecvBuffer::commit(&mut self.ring, n);
    }
    fn consume(&mut self, n: usize) {
        RecvBuffer::consume(&mut self.ring, n);
    }
}

impl WriteAt<[u8]> for Picky {
    fn write_at(
        &mut self,
        offset: usize,
        payload: &[u8],
        payload_offset: usize,
        len: usize,
    ) -> bool {
        !self.refuse && self.ring.write_at(offset, payload, payload_offset, len)
    }
}

type PickyConn = Connection<Ring<Vec<u8>>, Picky, Boxed>;

/// Established with SACK, the receive buffer accepting.
fn established_picky() -> PickyConn {
    let picky = Picky {
        ring: ring(BUF),
        refuse: false,
    };
    let mut c = Connection::connect_with_iss(
        sack_cfg(),
        LOCAL,
        REMOTE,
        LOCAL_ISS,
        0,
        ring(BUF),
        picky,
        T0,
    );
    assert!(c.poll_transmit(T0).is_some(), "SYN");
    let _ = c.on_segment(ms(10), &sack_synack(), &[][..]);
    assert_eq!(c.state(), State::Established);
    let a = c.poll_transmit(ms(10)).expect("final ACK");
    assert_eq!(a.repr.ack, r1());
    c
}

/// Feed pattern bytes `off..off + len` of the peer's stream.
fn feed(c: &mut PickyConn, now: Instant, off: usize, len: usize) {
    let p = pattern(off, len);
    let _ = c.on_segment(now, &data(r1() + off, l1(), len), &p[..]);
}

/// The one segment the connection sends now.
fn one(c: &mut PickyConn, now: Instant) -> Transmit {
    let t = c.poll_transmit(now).expect("a segment");
    assert!(c.poll_transmit(now).is_none(), "more than one segment");
    t
}

#[test]
fn refused_in_order_text_is_not_acknowledged() {
    let mut c = established_picky();
    c.recv_buf.refuse = true;
    feed(&mut c, ms(20), 0, 100);
    assert_eq!(c.stats().rcv_refused, 1);
    assert_eq!(c.recv_buffer().len(), 0);
    assert_eq!(c.stats().bytes_in, 0);
    // Whatever is sent acknowledges nothing new.
    while let Some(t) = c.poll_transmit(ms(20)) {
        assert_eq!(t.repr.ack, r1());
    }
    // The retransmission is stored and acknowledged.
    c.recv_buf.refuse = false;
    feed(&mut c, ms(30), 0, 100);
    assert_eq!(c.recv_buffer().len(), 100);
    let mut out = vec![0u8; 100];
    assert_eq!(c.recv_buffer().ring.read_at(0, &mut out), 100);
    assert_eq!(out, pattern(0, 100));
    let mut acked = false;
    for n in 0..100u64 {
        if let Some(t) = c.poll_transmit(ms(30 + n * 50)) {
            assert_eq!(t.repr.ack, r1() + 100usize);
            acked = true;
            break;
        }
    }
    assert!(acked, "the accepted text is acknowledged");
}

#[test]
fn refused_out_of_order_text_is_neither_sacked_nor_reassembled() {
    let mut c = established_picky();
    c.recv_buf.refuse = true;
    feed(&mut c, ms(20), 100, 50);
    assert_eq!(c.stats().rcv_refused, 1);
    assert_eq!(c.stats().ooo_queued, 0);
    // The immediate duplicate ACK carries no SACK block for the refused range.
    let a = one(&mut c, ms(20));
    assert_eq!(a.repr.ack, r1());
    assert!(
        a.repr.options.sacks().is_empty(),
        "{:?}",
        a.repr.options.sacks()
    );
    // The hole's filler then completes only the filler: the refused range was never
    // recorded, so RCV.NXT stops at 100.
    c.recv_buf.refuse = false;
    feed(&mut c, ms(30), 0, 100);
    assert_eq!(c.recv_buffer().len(), 100);
    let a = one(&mut c, ms(30));
    assert_eq!(a.repr.ack, r1() + 100usize);
    // Its retransmission is accepted.
    feed(&mut c, ms(40), 100, 50);
    assert_eq!(c.recv_buffer().len(), 150);
    let mut out = vec![0u8; 150];
    assert_eq!(c.recv_buffer().ring.read_at(0, &mut out), 150);
    assert_eq!(out, pattern(0, 150));
}

#[test]
fn refused_out_of_order_text_gives_its_ranges_memory_back() {
    let mut c = established_picky();
    c.recv_buf.refuse = true;
    feed(&mut c, ms(20), 100, 50);
    assert!(c.side_held().none(), "{:?}", c.side_held());
    // With ranges held, a refused segment leaves them as they were.
    c.recv_buf.refuse = false;
    feed(&mut c, ms(21), 100, 50);
    c.recv_buf.refuse = true;
    feed(&mut c, ms(22), 150, 50);
    assert!(c.side_held().ooo_ranges);
    assert_eq!(c.assembler.ranges().len(), 1);
    assert_eq!(c.assembler.ranges()[0].end, r1() + 150usize);
    assert_eq!(c.stats().rcv_refused, 2);
}
