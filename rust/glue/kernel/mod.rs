// SPDX-License-Identifier: GPL-2.0

//! Layer 1, kernel wrappers: thin, typed access to kernel facilities. Nothing here knows
//! about connections or strategies.

pub(crate) mod clock;
pub(crate) mod frontvec;
pub(crate) mod handles;
pub(crate) mod lock;
pub(crate) mod mem;
pub(crate) mod percpu;
pub(crate) mod rcu_table;
pub(crate) mod route;
pub(crate) mod rxq;
pub(crate) mod shim;
pub(crate) mod side;
pub(crate) mod skb;
pub(crate) mod stats;
pub(crate) mod sysctl;
pub(crate) mod timer;
pub(crate) mod trace;
pub(crate) mod txq;
