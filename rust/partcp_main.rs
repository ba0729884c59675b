// SPDX-License-Identifier: GPL-2.0

//! partcp: a TCP/IPv4 stack as a loadable module, behind its own socket family
//! (AF_PARTCP), with a choice of parallelization strategies.
//!
//! This file is the kernel crate root. It holds the `module!` declaration and nothing
//! else of substance: the protocol core lives in `core/src` (shared, unchanged, with the
//! host crate `partcp-core`), and everything that touches the kernel lives in `glue/`.
//! See `Documentation/design.md`.

use kernel::prelude::*;

// The protocol core: `no_std`, allocation-free, `#![forbid(unsafe_code)]`, compiled
// unchanged from the host crate's sources. Items the glue does not use yet would warn
// (the kernel builds with `-Wunreachable_pub` and dead-code lints), hence the allows.
#[path = "core/src/tcp.rs"]
#[allow(dead_code, unused_imports, unreachable_pub, missing_docs, clippy::all)]
mod tcp;

// The core's modules refer to each other as `crate::seq`, `crate::wire`, ... because in
// the host crate they sit at the crate root. Re-exporting them here gives those paths the
// same meaning in the module.
#[allow(unused_imports)]
use tcp::*;

mod glue;

module! {
    type: Partcp,
    name: "partcp",
    authors: ["partcp developers"],
    description: "Parallel TCP/IPv4 stack with selectable parallelization strategies (AF_PARTCP)",
    license: "GPL",
}

/// The loaded module: everything registered with the kernel, torn down in reverse order
/// when dropped (on `rmmod`).
struct Partcp {
    // Field order is drop order: debugfs goes first so nothing reads state that the
    // family registration's teardown is about to free.
    _debugfs: glue::debugfs::DebugFs,
    _family: glue::family::Registration,
}

impl kernel::Module for Partcp {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let family = glue::shim::param_family();
        let registration = glue::family::Registration::new(module, family)?;
        let debugfs = glue::debugfs::DebugFs::new(family)?;
        pr_info!(
            "{} loaded: AF_PARTCP = {}\n",
            glue::VERSION,
            family
        );
        Ok(Partcp {
            _debugfs: debugfs,
            _family: registration,
        })
    }
}

impl Drop for Partcp {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
