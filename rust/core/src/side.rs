//! Side storage: the structures a connection needs only now and then, held only while
//! in use.
//!
//! An idle established connection has nothing out of order, nothing SACKed, nothing in
//! flight and no F-RTO episode running, yet the receiver's out-of-order ranges, the
//! sender's SACK scoreboard, the send times of the data in flight and the F-RTO undo
//! state take about 900 bytes when kept inline (Documentation/design.md,
//! "Per-connection memory"; Linux keeps the first three in the skbs it queues). The core
//! has no allocator, so it asks the glue for that memory through [`SideAlloc`]: a
//! [`Slot`] holds at most one value, in memory of its own, obtained when the core first
//! needs the structure (the first out-of-order segment, the first SACK block, the first
//! range of new data in flight, a retransmission timeout that starts F-RTO) and given
//! back as soon as it is empty again.
//!
//! Obtaining memory may fail (the kernel allocates in softirq context, without
//! sleeping). The core then goes on without the structure, as it does when one is full:
//! an out-of-order segment is dropped (the peer retransmits it), a SACK block or a send
//! time is not recorded (at worst an unneeded retransmission or a missing RTT sample),
//! F-RTO does not start (the conventional timeout response stands). Every such event
//! is counted (`Stats::side_alloc_failures`); none corrupts state or panics.
//!
//! [`Inline`] keeps the value inside the slot (`Option<T>`): no allocator, no failure,
//! the memory always reserved, which is what a user without an allocator gets by
//! default. The kernel's slots are `KBox`es (`rust/glue/kernel/side.rs`).

/// The memory for one value could not be obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMemory;

/// Holds at most one `T`; when empty it should hold no memory for it.
pub trait Slot<T> {
    /// An empty slot.
    fn empty() -> Self;
    /// The value held, if any.
    fn get(&self) -> Option<&T>;
    /// The value held, if any, mutably.
    fn get_mut(&mut self) -> Option<&mut T>;
    /// Hold `value`: in the memory already held if the slot is full, else in memory
    /// obtained now. Fails, holding nothing and dropping `value`, if that memory cannot
    /// be had.
    fn put(&mut self, value: T) -> Result<&mut T, NoMemory>;
    /// Take the value out and give its memory back.
    fn take(&mut self) -> Option<T>;
    /// Drop the value, if any, and give its memory back.
    fn release(&mut self);
    /// True if a value is held.
    fn is_held(&self) -> bool {
        self.get().is_some()
    }
}

/// Where a connection's side structures live: a family of [`Slot`]s, one type per
/// structure (`Slot<T>` for every `T`).
pub trait SideAlloc {
    /// The slot for a `T`.
    type Slot<T>: Slot<T>;
}

/// Side structures kept inline (`Option<T>`): nothing is allocated and nothing fails,
/// and the memory is always reserved. The default of
/// [`Connection`](crate::connection::Connection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inline;

impl SideAlloc for Inline {
    type Slot<T> = Option<T>;
}

impl<T> Slot<T> for Option<T> {
    fn empty() -> Self {
        None
    }

    fn get(&self) -> Option<&T> {
        self.as_ref()
    }

    fn get_mut(&mut self) -> Option<&mut T> {
        self.as_mut()
    }

    fn put(&mut self, value: T) -> Result<&mut T, NoMemory> {
        Ok(self.insert(value))
    }

    fn take(&mut self) -> Option<T> {
        Option::take(self)
    }

    fn release(&mut self) {
        *self = None;
    }
}
