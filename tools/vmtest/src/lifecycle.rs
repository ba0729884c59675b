//! Module lifecycle: unload with sockets open, use after unload, double load, bad
//! parameters. These tests unload and reload partcp.ko (path in `PARTCP_KO`) and
//! always leave it loaded with default parameters.

use crate::ensure;
use crate::sys::{self, errname};
use crate::{Test, TestResult};

pub const TESTS: &[Test] = &[
    Test { name: "lifecycle.unload_refused_while_socket_open", run: unload_refused_while_open },
    Test { name: "lifecycle.socket_after_unload", run: socket_after_unload },
    Test { name: "lifecycle.load_twice", run: load_twice },
    Test { name: "lifecycle.family_already_taken", run: family_taken },
    Test { name: "lifecycle.family_out_of_range", run: family_out_of_range },
    Test { name: "lifecycle.family_override", run: family_override },
];

fn ko() -> Result<String, String> {
    std::env::var("PARTCP_KO").map_err(|_| "PARTCP_KO not set (run through scripts/vm)".into())
}

/// Loads partcp with `params`, unloading it first if needed.
fn reload(params: &str) -> TestResult {
    if sys::module_loaded() {
        sys::unload_module("partcp").map_err(|e| format!("unload: {}", errname(e)))?;
    }
    sys::load_module(&ko()?, params).map_err(|e| format!("load({params:?}): {}", errname(e)))
}

/// Ensures partcp is loaded with default parameters, whatever a test did.
fn restore() -> TestResult {
    reload("")
}

fn unload_refused_while_open() -> TestResult {
    restore()?;
    let fam = sys::partcp_family()?;
    let fd = sys::socket(fam, libc::SOCK_STREAM, 0).map_err(|e| format!("socket: {}", errname(e)))?;
    let r = sys::unload_module("partcp");
    ensure!(sys::module_loaded(), "module unloaded while a socket was open");
    // delete_module(2) with O_NONBLOCK reports a module in use as EWOULDBLOCK (EAGAIN).
    ensure!(r == Err(libc::EAGAIN), "unload with socket open: {:?}, want EAGAIN", r.map_err(errname));
    drop(fd);
    sys::unload_module("partcp").map_err(|e| format!("unload after close: {}", errname(e)))?;
    restore()
}

fn socket_after_unload() -> TestResult {
    restore()?;
    let fam = sys::partcp_family()?;
    sys::unload_module("partcp").map_err(|e| format!("unload: {}", errname(e)))?;
    let r = sys::socket(fam, libc::SOCK_STREAM, 0);
    restore()?;
    match r {
        Ok(_) => Err("socket() succeeded with partcp unloaded".into()),
        Err(e) if e == libc::EAFNOSUPPORT => Ok(()),
        Err(e) => Err(format!("socket() after unload: {}, want EAFNOSUPPORT", errname(e))),
    }
}

fn load_twice() -> TestResult {
    restore()?;
    let r = sys::load_module(&ko()?, "");
    ensure!(r == Err(libc::EEXIST), "second load: {:?}, want EEXIST", r.map_err(errname));
    ensure!(sys::module_loaded(), "first instance gone after a second load attempt");
    Ok(())
}

fn family_taken() -> TestResult {
    if sys::module_loaded() {
        sys::unload_module("partcp").map_err(|e| format!("unload: {}", errname(e)))?;
    }
    // AF_INET is always registered.
    let r = sys::load_module(&ko()?, &format!("family={}", libc::AF_INET));
    let loaded = sys::module_loaded();
    restore()?;
    ensure!(!loaded, "loaded with family=AF_INET");
    // sock_register() fails with EEXIST; the module loader reserves EEXIST for "already
    // loaded" and reports an init function's EEXIST as EBUSY (kernel/module/main.c).
    ensure!(r == Err(libc::EBUSY), "family=AF_INET: {:?}, want EBUSY", r.map_err(errname));
    Ok(())
}

fn family_out_of_range() -> TestResult {
    if sys::module_loaded() {
        sys::unload_module("partcp").map_err(|e| format!("unload: {}", errname(e)))?;
    }
    let mut bad = Vec::new();
    for fam in ["0", "-1", "46", "1000"] {
        let r = sys::load_module(&ko()?, &format!("family={fam}"));
        if r != Err(libc::EINVAL) || sys::module_loaded() {
            bad.push(format!("family={fam}: {:?}", r.map_err(errname)));
            let _ = sys::unload_module("partcp");
        }
    }
    restore()?;
    ensure!(bad.is_empty(), "want EINVAL: {}", bad.join(", "));
    Ok(())
}

fn family_override() -> TestResult {
    // 19 is AF_ECONET, removed from Linux in 3.5 and free in every current kernel.
    reload("family=19")?;
    let fam = sys::partcp_family()?;
    let debugfs = sys::read_trimmed("/sys/kernel/debug/partcp/family")?;
    let s = sys::socket(19, libc::SOCK_STREAM, 0);
    let default_gone = sys::socket(22, libc::SOCK_STREAM, 0);
    drop(s);
    restore()?;
    ensure!(fam == 19, "sysfs family {fam}, want 19");
    ensure!(debugfs == "19", "debugfs family {debugfs:?}, want 19");
    ensure!(default_gone.is_err(), "family 22 still creates sockets with family=19");
    Ok(())
}
