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
    // Torn down in this order by `Drop`: debugfs first (removing a file waits for its
    // readers and writers, so no debugfs read of the stack and no strategy switch
    // overlaps the rest); then the socket family (no new sockets; none exist, each holds
    // a module reference); then the receive hooks (no more segments); then the
    // remaining orphaned connections.
    debugfs: Option<glue::entry::debugfs::DebugFs>,
    family: Option<glue::entry::family::Registration>,
    hooks: Option<Pin<KBox<glue::entry::netdev::NetdevHooks>>>,
}

impl kernel::Module for Partcp {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let family = glue::kernel::shim::param_family();
        let (lo, hi) = glue::kernel::shim::param_ports();
        if !(1024..=65535).contains(&lo) || !(lo..=65535).contains(&hi) {
            pr_err!("port_lo={} port_hi={}: need 1024 <= port_lo <= port_hi <= 65535\n", lo, hi);
            return Err(EINVAL);
        }
        // The connection-state cache, destroyed last (`teardown`).
        let (size, align) = glue::obj::conn::STATE_LAYOUT;
        glue::kernel::mem::state_cache_create(size, align)?;
        // The strategy first: connections and listeners take a share of it.
        if let Err(e) = glue::strategy::init() {
            glue::kernel::mem::state_cache_destroy();
            return Err(e);
        }
        glue::entry::socket::init_binds();
        // CAST: range checked above.
        if let Err(e) = glue::obj::stack::init(lo as u16, hi as u16) {
            glue::strategy::quiesce();
            glue::strategy::exit();
            glue::kernel::mem::state_cache_destroy();
            return Err(e);
        }
        let registration = match glue::entry::family::Registration::new(module, family) {
            Ok(r) => r,
            Err(e) => {
                teardown();
                return Err(e);
            }
        };
        let hooks = match glue::entry::netdev::NetdevHooks::new() {
            Ok(h) => h,
            Err(e) => {
                drop(registration);
                teardown();
                return Err(e);
            }
        };
        let debugfs = match glue::entry::debugfs::DebugFs::new(family) {
            Ok(d) => d,
            Err(e) => {
                drop(registration);
                drop(hooks);
                teardown();
                return Err(e);
            }
        };
        pr_info!(
            "{} loaded: AF_PARTCP = {}, strategy {:?}\n",
            glue::VERSION,
            family,
            glue::strategy::active()
        );
        Ok(Partcp {
            debugfs: Some(debugfs),
            family: Some(registration),
            hooks: Some(hooks),
        })
    }
}

/// Tears down what the socket family and receive hooks leave behind, in order: the
/// protocol threads stop (no new segments can arrive: the hooks are gone; queued work is
/// discarded), then the remaining connections and listeners go, then the strategy's
/// resources, and last the connection-state cache (empty by then).
fn teardown() {
    glue::strategy::quiesce();
    glue::obj::stack::exit();
    glue::strategy::exit();
    glue::entry::socket::exit_binds();
    glue::kernel::mem::state_cache_destroy();
}

impl Drop for Partcp {
    fn drop(&mut self) {
        self.debugfs = None;
        // No strategy switch can start from here on (the `strategy` file is gone).
        glue::strategy::latch();
        self.family = None;
        self.hooks = None;
        teardown();
        pr_info!("unloaded\n");
    }
}
