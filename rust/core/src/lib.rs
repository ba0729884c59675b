//! partcp's TCP engine.
//!
//! This crate is the host-side root of the protocol core. The kernel module does not
//! link this crate: it includes `tcp.rs` as a module of its own crate root (see
//! `rust/partcp_main.rs`), so the same source is compiled unchanged in both places.
//! Everything is therefore `no_std`, allocation-free and free of `unsafe`.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

#[path = "tcp.rs"]
mod tcp;

pub use tcp::*;
