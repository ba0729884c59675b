//! Unloading partcp under open connections (partcp only, behind `--partcp-net`; runs
//! last because it unloads and reloads the module, like `lifecycle.rs`).
//!
//! While AF_PARTCP sockets exist (a listener, an established connection with data in
//! flight, one the peer has closed) delete_module must refuse with EWOULDBLOCK and the
//! connections must keep working. Once they are closed (one aborted with SO_LINGER
//! {1, 0}, the others after the peer's FIN so that no TIME-WAIT is left on our side)
//! the module must unload, and load again. Connections that earlier tests closed may
//! still be in FIN-WAIT or TIME-WAIT (60 s) and keep the module in use, so the test
//! allows [`UNLOAD_WAIT`] and prints a note if unloading took more than a few seconds.

use std::io::{Read, Write};
use std::time::Duration;

use super::raw::{self, check};
use super::{accept, f_client, pass, peer_connect, setup, wait_until, Family, Ns};
use crate::sys::{self, errname};
use crate::{ensure, Case, TestResult};

/// How long unloading may take once every socket is closed: TIME-WAIT and a margin.
const UNLOAD_WAIT: Duration = Duration::from_secs(75);

/// `net.<prefix>.unload_with_open_connections`.
pub fn case(prefix: &str) -> Case {
    Case {
        name: format!("net.{prefix}.unload_with_open_connections"),
        timeout: UNLOAD_WAIT + Duration::from_secs(60),
        run: Box::new(|| {
            setup::ensure()?;
            let r = Family::Partcp(sys::partcp_family()?);
            let out = unload_with_open_connections(r);
            // Always leave the module loaded with default parameters.
            if !sys::module_loaded() {
                let ko = std::env::var("PARTCP_KO").map_err(|_| "PARTCP_KO not set".to_string())?;
                sys::load_module(&ko, "").map_err(|e| format!("reload: {}", errname(e)))?;
            }
            out
        }),
    }
}

/// partcp's own count of what is still alive, for failure messages.
fn live() -> String {
    let c = |file, name| sys::debugfs_counter(file, name).map_or("?".to_string(), |v| v.to_string());
    let conns = sys::live_conns().map_or("?".to_string(), |v| v.to_string());
    format!("debugfs: sockets_open {}, connections not freed {conns}", c("sockets", "sockets_open"))
}

fn unload_with_open_connections(fam: Family) -> TestResult {
    let (l, addr) = fam.listener(Ns::A)?;
    let (mut f, mut peer) = f_client(fam)?;
    let p2 = peer_connect(addr)?;
    let mut g = accept(&l)?;
    f.write_all(&[1u8; 100_000]).map_err(|e| format!("write: {e}"))?;
    // The peer of `g` closes; `g` stays open in CLOSE-WAIT.
    check("peer shutdown", raw::shutdown(&p2, libc::SHUT_WR))?;
    let r = sys::unload_module("partcp");
    ensure!(sys::module_loaded(), "module unloaded with connections open");
    ensure!(r == Err(libc::EAGAIN), "unload with connections open: {:?}, want EAGAIN", r.map_err(errname));
    // Still working.
    let mut b = vec![0u8; 100_000];
    peer.read_exact(&mut b).map_err(|e| format!("peer read after the unload attempt: {e}"))?;
    let mut one = [0u8; 1];
    ensure!(g.read(&mut one).map_err(|e| format!("read: {e}"))? == 0, "no EOF after the peer's FIN");
    pass(&g, &p2, b"bye").map_err(|e| format!("in CLOSE-WAIT: {e}"))?;
    // Close everything: `f` abortively, `g` after the peer's FIN (LAST-ACK, then gone).
    raw::set_linger(&f, true, 0)?;
    drop((f, g, l));
    drop((peer, p2));
    // A socket still open here is held by this process (a test that failed earlier and
    // left a thread blocked): the module cannot unload however long we wait.
    let open = || sys::debugfs_counter("sockets", "sockets_open");
    if wait_until("all AF_PARTCP sockets closed", Duration::from_secs(5), || Ok(open()? == 0)).is_err() {
        return Err(format!("{} AF_PARTCP socket(s) still open in this process after closing ours", open()?));
    }
    let mut last = Ok(());
    let t = std::time::Instant::now();
    let before = live();
    wait_until("module unloadable after closing", UNLOAD_WAIT, || {
        last = sys::unload_module("partcp");
        Ok(last.is_ok())
    })
    .map_err(|e| format!("{e}: last unload {:?}; {}", last.map_err(errname), live()))?;
    if t.elapsed() > Duration::from_secs(3) {
        println!(
            "# note: partcp unloaded {:.1}s after its last socket closed ({before} then)",
            t.elapsed().as_secs_f64()
        );
    }
    let ko = std::env::var("PARTCP_KO").map_err(|_| "PARTCP_KO not set".to_string())?;
    sys::load_module(&ko, "").map_err(|e| format!("reload: {}", errname(e)))?;
    // A new connection works after the reload.
    let fam = Family::Partcp(sys::partcp_family()?);
    let (f, peer) = f_client(fam)?;
    pass(&f, &peer, b"again").map_err(|e| format!("after reload: {e}"))
}
