//! Which descriptors are partcp sockets: one atomic byte per descriptor number, no lock.
//!
//! The table covers descriptors below [`MAX_FDS`] (2^20, the kernel's default
//! `nr_open`); it is zero-initialized static memory, so only the pages of descriptor
//! numbers in use are ever touched. Above it (a raised `nr_open`), whether a socket is
//! partcp's is asked of the socket (SO_DOMAIN) each time, and selection by
//! `PARTCP_PORTS`/`PARTCP_ADDRS` does not apply (such sockets stay Linux TCP). Every call that creates, copies or closes a
//! descriptor and goes through the shim updates it: `socket`, `accept`/`accept4`,
//! `dup`/`dup2`/`dup3`, `fcntl(F_DUPFD*)`, `close`, `close_range`, `closefrom`.
//! Descriptors closed behind the shim's back (by the C library internally, as `fclose`
//! of an `fdopen`ed socket does) leave a stale entry; every use of an entry that could
//! matter checks the socket itself first (see `lib.rs`).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use libc::c_int;

/// Descriptors at or above this number are not tracked.
pub const MAX_FDS: usize = 1 << 20;

/// What the shim knows about a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not a socket the shim made: everything passes through.
    Other = 0,
    /// An AF_PARTCP socket standing in for an AF_INET TCP socket.
    Partcp = 1,
    /// An AF_INET TCP socket that becomes a partcp socket at `bind`/`connect` if the
    /// address matches the selection (`PARTCP_PORTS`/`PARTCP_ADDRS`).
    Candidate = 2,
}

static TABLE: [AtomicU8; MAX_FDS] = [const { AtomicU8::new(0) }; MAX_FDS];
/// One past the highest descriptor ever marked: `close_range` clears up to here only.
static HIGH: AtomicUsize = AtomicUsize::new(0);

fn slot(fd: c_int) -> Option<&'static AtomicU8> {
    usize::try_from(fd).ok().and_then(|i| TABLE.get(i))
}

/// Whether `fd` has an entry.
pub fn tracked(fd: c_int) -> bool {
    slot(fd).is_some()
}

/// What `fd` is.
pub fn get(fd: c_int) -> Kind {
    match slot(fd).map_or(0, |s| s.load(Ordering::Acquire)) {
        1 => Kind::Partcp,
        2 => Kind::Candidate,
        _ => Kind::Other,
    }
}

/// Records what `fd` is now.
pub fn set(fd: c_int, kind: Kind) {
    if let Some(s) = slot(fd) {
        if kind != Kind::Other {
            // CAST: `fd` is non-negative here (it has a slot).
            HIGH.fetch_max(fd as usize + 1, Ordering::Relaxed);
        }
        s.store(kind as u8, Ordering::Release);
    }
}

/// Forgets the descriptors `first..=last`.
pub fn clear_range(first: usize, last: usize) {
    let end = last.saturating_add(1).min(HIGH.load(Ordering::Relaxed));
    for s in TABLE.iter().take(end).skip(first) {
        s.store(0, Ordering::Release);
    }
}
