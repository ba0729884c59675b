// SPDX-License-Identifier: GPL-2.0

//! Kernel glue: every line of partcp that touches kernel data structures.
//!
//! All `unsafe` in partcp lives below this module. See `Documentation/design.md` for the
//! contexts, locks and lifetimes.

pub(crate) mod clock;
pub(crate) mod conn;
pub(crate) mod debugfs;
pub(crate) mod dispatch;
pub(crate) mod handles;
pub(crate) mod family;
pub(crate) mod kbuf;
pub(crate) mod lock;
pub(crate) mod netdev;
pub(crate) mod percpu;
pub(crate) mod rcu_table;
pub(crate) mod rx;
pub(crate) mod shim;
pub(crate) mod socket;
pub(crate) mod stack;
pub(crate) mod stats;
pub(crate) mod strategy;
pub(crate) mod timer;
pub(crate) mod tx;

/// partcp's version, as shown in debugfs and the load message.
pub(crate) const VERSION: &str = "0.2.0";
