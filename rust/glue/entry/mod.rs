// SPDX-License-Identifier: GPL-2.0

//! Layer 4, entry points: where the kernel calls partcp (socket calls, the receive
//! hook, netdev events, debugfs) and where partcp hands segments to the kernel
//! (transmit).

pub(crate) mod debugfs;
pub(crate) mod family;
pub(crate) mod netdev;
pub(crate) mod rx;
pub(crate) mod socket;
pub(crate) mod tx;
