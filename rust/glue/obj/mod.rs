// SPDX-License-Identifier: GPL-2.0

//! Layer 2, objects: connections and listeners as kernel objects, and the stack that
//! finds them (RCU tables, ports, secrets), and the work protocol threads are given.

pub(crate) mod conn;
pub(crate) mod stack;
pub(crate) mod work;
