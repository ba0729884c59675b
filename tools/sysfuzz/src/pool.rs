//! The shared table of open descriptors every thread picks its targets from.
//!
//! Only the pool closes descriptors: `take` removes a slot's descriptor under the lock
//! before the caller closes it, so a close never hits a number the fuzzer does not own.
//! Other threads may still be using that number (that is the point: concurrent close);
//! each slot carries a generation so that a call can tell afterwards whether its
//! descriptor was closed (or closed and reused) while it ran, which is when EBADF and
//! ENOTSOCK are legitimate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub const SLOTS: usize = 24;

pub struct Pool {
    slots: Mutex<Vec<Option<(i32, u64)>>>,
    gen: AtomicU64,
}

/// A descriptor picked from the pool: slot index, number and generation.
#[derive(Clone, Copy, Debug)]
pub struct Pick {
    pub slot: usize,
    pub fd: i32,
    pub gen: u64,
}

impl Pool {
    pub fn new() -> Pool {
        Pool { slots: Mutex::new(vec![None; SLOTS]), gen: AtomicU64::new(1) }
    }

    /// The descriptor in slot `i`, if any.
    pub fn get(&self, i: usize) -> Option<Pick> {
        let s = self.slots.lock().unwrap();
        s[i % SLOTS].map(|(fd, gen)| Pick { slot: i % SLOTS, fd, gen })
    }

    /// Stores `fd` in a free slot (searching from `hint`); false if the pool is full.
    pub fn put(&self, fd: i32, hint: usize) -> bool {
        let mut s = self.slots.lock().unwrap();
        for k in 0..SLOTS {
            let i = (hint + k) % SLOTS;
            if s[i].is_none() {
                s[i] = Some((fd, self.gen.fetch_add(1, Ordering::Relaxed)));
                return true;
            }
        }
        false
    }

    /// Removes slot `p.slot`'s descriptor if it is still `p`; the caller closes it.
    pub fn take(&self, p: Pick) -> Option<i32> {
        let mut s = self.slots.lock().unwrap();
        if s[p.slot] == Some((p.fd, p.gen)) {
            s[p.slot] = None;
            return Some(p.fd);
        }
        None
    }

    /// Whether `p` is still in the pool (so its descriptor was open for the whole call).
    pub fn still(&self, p: Pick) -> bool {
        self.slots.lock().unwrap()[p.slot] == Some((p.fd, p.gen))
    }

    /// Empties the pool, returning every descriptor.
    pub fn drain(&self) -> Vec<i32> {
        self.slots.lock().unwrap().iter_mut().filter_map(|s| s.take().map(|(fd, _)| fd)).collect()
    }
}
