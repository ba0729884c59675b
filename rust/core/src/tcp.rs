//! The TCP core's module tree, shared by the host crate and the kernel module.
//!
//! Nothing here performs IO, reads a clock, allocates or uses `unsafe`: the caller feeds
//! segments, time and application calls in, and carries out what comes back.

#![forbid(unsafe_code)]

pub mod assembler;
pub mod buffer;
pub mod congestion;
pub mod connection;
pub mod isn;
pub mod listener;
pub mod rtt;
pub mod seq;
pub mod side;
pub mod siphash;
pub mod stats;
pub mod syncookie;
pub mod sysctl;
pub mod time;
pub mod wire;
