// SPDX-License-Identifier: GPL-2.0

//! Kernel glue: every line of partcp that touches kernel data structures.
//!
//! All `unsafe` in partcp lives below this module, and within it in as few places as
//! possible: `shim` (the C shim's declarations), `family` (the socket-layer entry points).

pub(crate) mod debugfs;
pub(crate) mod family;
pub(crate) mod shim;
pub(crate) mod socket;
pub(crate) mod stats;

/// partcp's version, as shown in debugfs and the load message.
pub(crate) const VERSION: &str = "0.1.0";
