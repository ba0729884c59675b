//! Fuzz target for the wire layer: IPv4 parsing, TCP parsing in both checksum modes,
//! option parsing and checksum combining, with emit/parse round trips of whatever parses.
//! The checks themselves live in `../wire_check.rs`, shared with the unit tests.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// `wire_check.rs` is written against `crate::wire`.
mod wire {
    pub use partcp_core::wire::*;
}

#[path = "../wire_check.rs"]
mod wire_check;

fuzz_target!(|data: &[u8]| {
    wire_check::check(data);
});
