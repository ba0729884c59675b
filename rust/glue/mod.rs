// SPDX-License-Identifier: GPL-2.0

//! Kernel glue: every line of partcp that touches kernel data structures. The TCP core
//! (`core/src`) knows nothing of the kernel; everything here is layered, each layer
//! using only the ones below it (each file's header names its layer):
//!
//! 1. [`kernel`]: wrappers over kernel facilities, where all but a few `unsafe` blocks
//!    live: the C shim's declarations, locks with statistics, timers, per-CPU counters,
//!    RCU hash tables, byte rings, typed handles (namespace, socket, received skb).
//! 2. [`strategy`] (executors) and [`obj`] (objects): the three strategies' guards and
//!    protocol threads; connections, listeners and the stack's tables. A connection holds
//!    its strategy's guard, and ConnP-T's queued work names the objects it carries, so
//!    these two sit side by side.
//! 3. [`dispatch`]: runs a piece of TCP work for a connection where, and under the
//!    exclusion, its strategy says.
//! 4. [`entry`]: the entry points: the socket family and its calls, the receive hook,
//!    transmit, netdev notifications, debugfs.
//!
//! Calls against the layering, all callbacks: the connection and listener timers
//! (`obj/conn.rs`) and the protocol threads' main loop (`strategy/connp_t.rs`) call into
//! `dispatch`; `strategy::connp_t::Work` carries objects (`obj`) and received segments.
//!
//! See `Documentation/design.md` for the contexts, locks and lifetimes.

pub(crate) mod dispatch;
pub(crate) mod entry;
pub(crate) mod kernel;
pub(crate) mod obj;
pub(crate) mod strategy;

/// partcp's version, as shown in debugfs and the load message.
pub(crate) const VERSION: &str = "0.3.0";
