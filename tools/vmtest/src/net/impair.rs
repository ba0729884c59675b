//! Transfers over an impaired link: netem on both veth ends (loss, reordering,
//! duplication, delay); the streams must still arrive byte-exact.

use std::time::Duration;

use super::setup::{dev, run};
use super::transfer::{sequential, simultaneous};
use super::{f_client, f_server, Family, Ns, Table};
use crate::TestResult;

pub const TESTS: Table = &[("impaired_link_4M", impaired)];

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
