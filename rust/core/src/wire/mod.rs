//! Wire formats: checked views over untrusted bytes and their parsed representations.
//!
//! Each header has two levels, after smoltcp's design: a `*Packet` view whose accessors
//! cannot panic once `new_checked` has validated lengths, and a `*Repr` parsed value with
//! `parse`, `emit` and `header_len`. Untrusted input always goes through `new_checked`.

pub mod checksum;
pub mod ipv4;
pub mod tcp;

pub use tcp::{SackBlock, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// Why a packet was rejected by a parser. The glue counts each kind separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its fixed header, or a length field points past the buffer.
    Truncated,
    /// A header field has a value the protocol forbids (bad IHL, data offset, version...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Well formed, but not something partcp handles (fragments, IP options we refuse...).
    Unsupported,
}
