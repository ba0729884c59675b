// SPDX-License-Identifier: GPL-2.0

//! Layer 2, objects: connections and listeners as kernel objects, and the stack that
//! finds them (RCU tables, ports, secrets).

pub(crate) mod conn;
pub(crate) mod stack;
