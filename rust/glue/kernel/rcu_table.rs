// SPDX-License-Identifier: GPL-2.0

//! Layer: kernel wrappers.
//!
//! A hash table read under RCU with no lock, as Linux finds established sockets
//! (`__inet_lookup_established`): buckets of RCU hlists (the C shim's `partcp_hnode_*`,
//! over `hlist_add_head_rcu`/`hlist_del_rcu`/`hlist_for_each_entry_rcu`), a node embedded
//! in each object, and a reference the table holds on each object it contains.
//!
//! # Lifetime rules
//!
//! - Inserting an object gives the table one of its `Arc` references.
//! - Removing it unlinks it at once (new readers miss it) and releases the table's
//!   reference only after an RCU grace period (`call_rcu`), through [`Hashed::release`].
//! - So a reader inside an RCU read-side section that found an object knows the table's
//!   reference still exists: the reference count is at least one, and taking another
//!   ([`RcuTable::find`] returns a counted reference) is sound without
//!   `refcount_inc_not_zero`.
//! - Writers (insert, remove, iteration that takes references) prove they hold the
//!   table's writer lock by a `&mut W`, the data of that lock.
//!
//! Whoever frees the tables first removes every object and waits for the callbacks
//! ([`kernel::sync::rcu::rcu_barrier`]).

use core::marker::PhantomData;

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::rcu;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::Opaque;

use crate::glue::kernel::shim;

/// Mirror of the C shim's `struct partcp_hnode`: list linkage, key, RCU head.
#[repr(C)]
pub(crate) struct RawHNode {
    node: Opaque<bindings::hlist_node>,
    key: [u64; 3],
    rcu: Opaque<bindings::callback_head>,
}

const _: () = assert!(core::mem::size_of::<RawHNode>() == 56);

/// Where a node is in its life (changed only under the writer lock).
const NEW: i32 = 0;
const HASHED: i32 = 1;
const REMOVED: i32 = 2;

/// The node an object embeds to be stored in an [`RcuTable`]. Its key is fixed when
/// the object is built; it is hashed at most once and removed at most once.
#[repr(C)]
pub(crate) struct HashNode {
    raw: RawHNode,
    state: Atomic<i32>,
}

// SAFETY: The links are written only under the table's writer lock and read under RCU
// (the C list primitives use the RCU accessors); the key is immutable; the state is
// atomic. The RCU head is used once, by the removal.
unsafe impl Send for HashNode {}
// SAFETY: As above.
unsafe impl Sync for HashNode {}

impl HashNode {
    /// A node with `key`, in no table yet.
    pub(crate) fn new(key: [u64; 3]) -> Self {
        HashNode {
            raw: RawHNode { node: Opaque::zeroed(), key, rcu: Opaque::zeroed() },
            state: Atomic::new(NEW),
        }
    }

    /// Whether the object is in its table now (a racy hint outside the writer lock).
    pub(crate) fn is_hashed(&self) -> bool {
        self.state.load(Relaxed) == HASHED
    }
}

/// An object that can be stored in an [`RcuTable`].
///
/// # Safety
///
/// `node` returns a field of `self` (the same one every time), so that the table can
/// go from a node back to its object.
pub(crate) unsafe trait Hashed: Sized + Send + Sync + 'static {
    /// The embedded node.
    fn node(&self) -> &HashNode;

    /// The byte offset of the [`HashNode`] in `Self` (`core::mem::offset_of!`).
    const NODE_OFFSET: usize;

    /// Drops the table's reference after removal (an RCU callback: softirq context).
    fn release(this: Arc<Self>);
}

/// Buckets of RCU hlists holding `T`s, written under the lock whose data is `W`.
///
/// # Invariants
///
/// Every node linked in `buckets` is embedded in a live `T` on which the table holds
/// one reference (from `Arc::into_raw`), with state [`HASHED`]; `len` counts them.
/// `buckets.len()` is a power of two.
pub(crate) struct RcuTable<T: Hashed, W> {
    buckets: KVVec<Opaque<bindings::hlist_head>>,
    seed: u32,
    len: Atomic<usize>,
    _t: PhantomData<(Arc<T>, fn(&mut W))>,
}

// SAFETY: The buckets are only written under the writer lock (`&mut W`) and read under
// RCU; the objects are `Send + Sync`.
unsafe impl<T: Hashed, W> Send for RcuTable<T, W> {}
// SAFETY: As above.
unsafe impl<T: Hashed, W> Sync for RcuTable<T, W> {}

impl<T: Hashed, W> RcuTable<T, W> {
    /// An empty table of `1 << order` buckets.
    pub(crate) fn new(order: u32, seed: u32) -> Result<Self> {
        let n = 1usize.checked_shl(order).ok_or(EINVAL)?;
        let mut buckets = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            // An all-zero `hlist_head` is an empty list (`HLIST_HEAD_INIT`).
            buckets.push_within_capacity(Opaque::zeroed()).map_err(|_| ENOMEM)?;
        }
        Ok(RcuTable { buckets, seed, len: Atomic::new(0), _t: PhantomData })
    }

    /// Number of objects in the table.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    fn bucket(&self, key: &[u64; 3]) -> *mut bindings::hlist_head {
        // SAFETY: `key` is three readable words.
        let h = unsafe { shim::partcp_hkey_hash(key.as_ptr(), self.seed) };
        // CAST: u32 to usize; the mask keeps it in range (the length is a power of two).
        let i = (h as usize) & (self.buckets.len().wrapping_sub(1));
        match self.buckets.get(i) {
            Some(b) => b.get(),
            // The mask makes this impossible; the first bucket is as good as any.
            None => self.buckets.as_ptr().cast_mut().cast(),
        }
    }

    /// The object whose node `n` is.
    ///
    /// # Safety
    ///
    /// `n` is a node linked in this table (or just found in it under RCU).
    unsafe fn obj<'a>(n: *mut RawHNode) -> &'a T {
        // The `RawHNode` is the first field of the (`repr(C)`) `HashNode`.
        // SAFETY: By `Hashed`'s contract the node is at `NODE_OFFSET` in a `T`; the table's reference keeps the
        // object alive for the caller's RCU section or writer lock.
        unsafe { &*n.cast::<u8>().sub(T::NODE_OFFSET).cast::<T>() }
    }

    /// The object with `key`, found under RCU with no lock; a counted reference.
    pub(crate) fn find(&self, _rcu: &rcu::Guard, key: &[u64; 3]) -> Option<Arc<T>> {
        // SAFETY: Under an RCU read-side section (`_rcu`); `key` is readable.
        let n = unsafe { shim::partcp_hnode_find(self.bucket(key), key.as_ptr()) };
        if n.is_null() {
            return None;
        }
        // SAFETY: Found in this table under RCU: a live `T` whose table reference is
        // released no earlier than a grace period after its removal (module docs).
        let obj = unsafe { Self::obj(n) };
        // SAFETY: `obj` came from `Arc::into_raw` (insert); its count is at least the
        // table's one for the duration of this borrow (module docs), and no `UniqueArc`
        // of a shared object exists.
        let b = unsafe { ArcBorrow::from_raw(obj as *const T) };
        Some(b.into())
    }

    /// Whether an object has `key` (as [`find`](Self::find), without a reference).
    pub(crate) fn contains(&self, key: &[u64; 3]) -> bool {
        let _rcu = rcu::read_lock();
        // SAFETY: Under RCU; `key` is readable.
        !unsafe { shim::partcp_hnode_find(self.bucket(key), key.as_ptr()) }.is_null()
    }

    /// Inserts `obj` unless an object with its key is there or `obj` was hashed before;
    /// gives `obj` back on failure.
    pub(crate) fn insert(&self, _w: &mut W, obj: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let node = obj.node();
        if node.state.load(Relaxed) != NEW || self.contains(&node.raw.key) {
            return Err(obj);
        }
        node.state.store(HASHED, Relaxed);
        let bucket = self.bucket(&node.raw.key);
        let raw = (&node.raw as *const RawHNode).cast_mut();
        self.len.store(self.len() + 1, Relaxed);
        // The table's reference (released in `rcu_release`).
        let _ = Arc::into_raw(obj);
        // SAFETY: Writer lock held (`_w`); `raw` lives in the object, kept alive by the
        // table's reference just taken, and is in no list (state was `NEW`).
        unsafe { shim::partcp_hnode_add(bucket, raw.cast()) };
        Ok(())
    }

    /// Unlinks `obj` if it is in the table, and releases the table's reference after a
    /// grace period. False if it was not hashed.
    pub(crate) fn remove(&self, _w: &mut W, obj: &T) -> bool {
        let node = obj.node();
        if node.state.load(Relaxed) != HASHED {
            return false;
        }
        node.state.store(REMOVED, Relaxed);
        self.len.store(self.len().saturating_sub(1), Relaxed);
        let raw = (&node.raw as *const RawHNode).cast_mut();
        // SAFETY: Writer lock held; the node is linked (state was `HASHED`, and nodes of
        // `T` are only ever linked in a table of `T`s under that table's writer lock).
        unsafe { shim::partcp_hnode_del(raw.cast()) };
        // SAFETY: The RCU head is unused (a node is removed once); the object stays alive
        // until the callback drops the table's reference.
        unsafe { bindings::call_rcu(node.raw.rcu.get(), Some(rcu_release::<T>)) };
        true
    }

    /// Calls `f` with each object, under the writer lock (no object can go away); `f`
    /// may take a counted reference (`Arc::from`).
    pub(crate) fn for_each(&self, _w: &mut W, mut f: impl FnMut(ArcBorrow<'_, T>)) {
        let _rcu = rcu::read_lock();
        for b in self.buckets.iter() {
            let mut n = core::ptr::null_mut();
            loop {
                // SAFETY: Under RCU and the writer lock; `n` is null or a node of `b`.
                n = unsafe { shim::partcp_hnode_next(b.get(), n) };
                if n.is_null() {
                    break;
                }
                // SAFETY: A node linked in this table, which holds a reference on it
                // (from `Arc::into_raw`) while the writer lock is held.
                let b = unsafe { ArcBorrow::from_raw(Self::obj(n) as *const T) };
                f(b);
            }
        }
    }
}

/// The RCU callback of [`RcuTable::remove`]: drops the table's reference.
///
/// # Safety
///
/// `head` is the `rcu` field of a node removed from a table of `T`s, which held the
/// reference this releases.
unsafe extern "C" fn rcu_release<T: Hashed>(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(RawHNode, rcu);
    // SAFETY: `head` is inside a `RawHNode` inside a `T` (function precondition).
    let obj = unsafe { head.cast::<u8>().sub(off).sub(T::NODE_OFFSET).cast::<T>() };
    // SAFETY: The table's reference, from `Arc::into_raw` in `insert`, released once.
    let arc = unsafe { Arc::from_raw(obj) };
    T::release(arc);
}

/// KUnit: a private table of a small test type: insert, find, remove, duplicate and
/// re-insert refusal, iteration, and that every table reference is released after a
/// grace period (no leak, no double release).
#[kunit_tests(partcp_rcu_table)]
mod tests {
    use super::*;

    /// Test objects alive (created, not yet dropped) and released by the table.
    static ALIVE: Atomic<i64> = Atomic::new(0);
    static RELEASED: Atomic<i64> = Atomic::new(0);

    /// The writer lock's data: the tests are single-threaded, a plain value will do.
    struct Writer;

    struct Obj {
        id: u32,
        node: HashNode,
    }

    impl Drop for Obj {
        fn drop(&mut self) {
            ALIVE.add(-1, Relaxed);
        }
    }

    // SAFETY: `node` returns the `node` field, whose offset `NODE_OFFSET` is.
    unsafe impl Hashed for Obj {
        fn node(&self) -> &HashNode {
            &self.node
        }

        const NODE_OFFSET: usize = core::mem::offset_of!(Obj, node);

        fn release(this: Arc<Self>) {
            RELEASED.add(1, Relaxed);
            drop(this);
        }
    }

    fn key(net: u64, n: u64) -> [u64; 3] {
        [net, n << 32 | 0x0a00_0001, n]
    }

    fn obj(id: u32, k: [u64; 3]) -> Result<Arc<Obj>> {
        let o = Arc::new(Obj { id, node: HashNode::new(k) }, GFP_KERNEL)?;
        ALIVE.add(1, Relaxed);
        Ok(o)
    }

    /// The id of the object with key `k`, looked up under RCU.
    fn find_id(t: &RcuTable<Obj, Writer>, k: &[u64; 3]) -> Option<u32> {
        let g = rcu::read_lock();
        t.find(&g, k).map(|o| o.id)
    }

    #[test]
    fn insert_find_remove() -> Result {
        let (alive, released) = (ALIVE.load(Relaxed), RELEASED.load(Relaxed));
        let t = RcuTable::<Obj, Writer>::new(4, 0x1234_5678)?;
        let mut w = Writer;
        let a = obj(1, key(1, 1))?;
        assert!(!a.node.is_hashed());
        assert!(t.insert(&mut w, a.clone()).is_ok());
        assert!(a.node.is_hashed() && t.len() == 1);
        assert!(find_id(&t, &key(1, 1)) == Some(1));
        assert!(t.contains(&key(1, 1)));
        // Keys differ in any word: another namespace, another tuple.
        assert!(find_id(&t, &key(2, 1)).is_none());
        assert!(find_id(&t, &key(1, 2)).is_none());
        // The same key again (another object, or the same one) is refused and given back.
        let dup = obj(2, key(1, 1))?;
        assert!(matches!(t.insert(&mut w, dup), Err(d) if d.id == 2));
        assert!(matches!(t.insert(&mut w, a.clone()), Err(d) if d.id == 1));
        assert!(t.len() == 1 && find_id(&t, &key(1, 1)) == Some(1));
        // Removal unlinks at once; a second removal is refused.
        assert!(t.remove(&mut w, &a));
        assert!(!a.node.is_hashed() && t.len() == 0);
        assert!(find_id(&t, &key(1, 1)).is_none());
        assert!(!t.remove(&mut w, &a));
        // A node is hashed at most once: a removed object cannot come back.
        assert!(t.insert(&mut w, a.clone()).is_err());
        assert!(t.len() == 0);
        // The table's reference goes after a grace period, exactly once.
        rcu::rcu_barrier();
        assert!(RELEASED.load(Relaxed) == released + 1);
        drop(a);
        assert!(ALIVE.load(Relaxed) == alive);
        Ok(())
    }

    #[test]
    fn many_keys_few_buckets() -> Result {
        const N: u32 = 200;
        let (alive, released) = (ALIVE.load(Relaxed), RELEASED.load(Relaxed));
        // 4 buckets for 200 objects: long chains.
        let t = RcuTable::<Obj, Writer>::new(2, 42)?;
        let mut w = Writer;
        for i in 0..N {
            // The table holds the only reference.
            assert!(t.insert(&mut w, obj(i, key(7, u64::from(i)))?).is_ok());
        }
        assert!(t.len() == 200);
        for i in 0..N {
            assert!(find_id(&t, &key(7, u64::from(i))) == Some(i));
        }
        assert!(find_id(&t, &key(7, u64::from(N))).is_none());
        // Iteration visits each object once; references taken in it outlive removal.
        let mut seen = KVec::<Arc<Obj>>::with_capacity(200, GFP_KERNEL)?;
        let mut ids = 0u64;
        t.for_each(&mut w, |o| {
            ids += u64::from(o.id);
            let _ = seen.push_within_capacity(o.into());
        });
        assert!(seen.len() == 200 && ids == u64::from(N * (N - 1) / 2));
        // Remove the even ones; the odd ones are still found.
        for o in seen.iter().filter(|o| o.id % 2 == 0) {
            assert!(t.remove(&mut w, o));
        }
        assert!(t.len() == 100);
        for i in 0..N {
            assert!(find_id(&t, &key(7, u64::from(i))).is_some() == (i % 2 == 1));
        }
        for o in seen.iter() {
            let _ = t.remove(&mut w, o);
        }
        assert!(t.len() == 0);
        drop(seen);
        rcu::rcu_barrier();
        assert!(RELEASED.load(Relaxed) == released + 200);
        assert!(ALIVE.load(Relaxed) == alive);
        Ok(())
    }

    #[test]
    fn zero_keys_and_order_zero() -> Result {
        let released = RELEASED.load(Relaxed);
        // One bucket; an all-zero key is an ordinary key.
        let t = RcuTable::<Obj, Writer>::new(0, 0)?;
        let mut w = Writer;
        let z = obj(5, [0, 0, 0])?;
        assert!(t.insert(&mut w, z.clone()).is_ok());
        assert!(find_id(&t, &[0, 0, 0]) == Some(5));
        assert!(t.remove(&mut w, &z));
        rcu::rcu_barrier();
        assert!(RELEASED.load(Relaxed) == released + 1);
        // Too many buckets to count is refused, not a panic.
        assert!(RcuTable::<Obj, Writer>::new(64, 0).is_err());
        Ok(())
    }
}
