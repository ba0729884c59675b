//! Transfers over an impaired link: netem on both veth ends (loss, reordering,
//! duplication, delay); the streams must still arrive byte-exact. `impaired_link_f_f`
//! puts the family under test at both ends, so that one stream is sent from its send
//! queue's pages (retransmissions reference the same pages) and received into its
//! skb-holding receive queue (out-of-order pieces, duplicates trimmed against it).

use std::time::Duration;

use super::setup::{dev, run};
use super::transfer::{sequential, simultaneous};
use super::{accept, f_client, f_server, Family, Ns, Table};
use crate::TestResult;

pub const TESTS: Table = &[("impaired_link_4M", impaired), ("impaired_link_f_f_4M", impaired_f_f)];

/// The impairment of each direction (tc-netem(8)): reordering needs the delay.
const NETEM: &str = "loss 2% reorder 10% 50% duplicate 1% delay 1ms";

/// netem on both veth ends while alive; removed on drop, also when the test fails or
/// panics (and a run that dies with it in place leaves it to the next run's
/// `setup::ensure`, which rebuilds the network).
struct Netem;

impl Netem {
    fn add() -> Result<Netem, String> {
        let guard = Netem;
        for ns in [Ns::A, Ns::B] {
            run(&format!("ip netns exec {} tc qdisc add dev {} root netem {NETEM}", ns.name(), dev(ns)))?;
        }
        Ok(guard)
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        for ns in [Ns::A, Ns::B] {
            let _ = run(&format!("ip netns exec {} tc qdisc del dev {} root", ns.name(), dev(ns)));
        }
    }
}

const SIZE: usize = 4 << 20;

fn impaired(fam: Family) -> TestResult {
    // Connect first: a lost SYN costs a 1 s retransmission timeout.
    let (f, peer) = f_client(fam)?;
    let (g, peer2) = f_server(fam)?;
    let _netem = Netem::add()?;
    let t = std::time::Instant::now();
    sequential(&f, &peer, SIZE).map_err(|e| format!("side under test as client, sequential: {e}"))?;
    simultaneous(&peer2, &g, SIZE).map_err(|e| format!("side under test as server, simultaneous: {e}"))?;
    if t.elapsed() > Duration::from_secs(30) {
        println!("# note: impaired transfers took {:?}", t.elapsed());
    }
    Ok(())
}

fn impaired_f_f(fam: Family) -> TestResult {
    // Two connections (a transfer ends its direction with a shutdown), made first.
    let (l, addr) = fam.listener(Ns::A)?;
    let c1 = fam.connect(Ns::B, addr)?;
    let s1 = accept(&l)?;
    let c2 = fam.connect(Ns::B, addr)?;
    let s2 = accept(&l)?;
    let _netem = Netem::add()?;
    sequential(&c1, &s1, SIZE).map_err(|e| format!("sequential: {e}"))?;
    simultaneous(&c2, &s2, SIZE).map_err(|e| format!("simultaneous: {e}"))?;
    Ok(())
}
