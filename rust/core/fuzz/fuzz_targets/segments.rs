//! Fuzz target for the connection state machine: arbitrary segment sequences, timer
//! steps and application calls against a connection in every state, checking
//! invariants and the integrity of both byte streams. The checker lives in
//! `../tests/support/segfuzz.rs`, shared with the bounded randomized test
//! `tests/fuzz_segments.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/segfuzz.rs"]
mod segfuzz;

fuzz_target!(|data: &[u8]| {
    segfuzz::run(data);
});
