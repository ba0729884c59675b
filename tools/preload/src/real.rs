//! The C library's own functions, found with `dlsym(RTLD_NEXT, name)` on first use and
//! cached. The shim calls these, never the `libc` crate's bindings of the functions it
//! interposes: those resolve to the shim itself.

use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{c_int, c_uint, c_void, sockaddr, socklen_t};

/// Sets the calling thread's `errno`.
pub fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno, always valid.
    unsafe { *libc::__errno_location() = e };
}

/// The calling thread's `errno`.
pub fn errno() -> c_int {
    // SAFETY: as in `set_errno`.
    unsafe { *libc::__errno_location() }
}

/// The address of the next definition of `name` (NUL-terminated) after this library,
/// cached in `cache`; null if there is none.
fn resolve(cache: &AtomicPtr<c_void>, name: &'static str) -> *mut c_void {
    let p = cache.load(Ordering::Relaxed);
    if !p.is_null() {
        return p;
    }
    // SAFETY: RTLD_NEXT with a NUL-terminated name (every caller passes a literal ending
    // in "\0"); dlsym has no other precondition.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    cache.store(p, Ordering::Relaxed);
    p
}

/// Defines `pub unsafe fn NAME(args) -> RET` calling the C library's `NAME`; when the
/// C library has none (an old glibc without `close_range`), it fails with ENOSYS.
macro_rules! real {
    ($( fn $name:ident($($arg:ident: $t:ty),*) -> $ret:ty; )*) => {$(
        /// The C library's function of the same name.
        ///
        /// # Safety
        ///
        /// The C function's own contract (valid pointers of the sizes given).
        pub unsafe fn $name($($arg: $t),*) -> $ret {
            static CACHE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
            let p = resolve(&CACHE, concat!(stringify!($name), "\0"));
            if p.is_null() {
                set_errno(libc::ENOSYS);
                return -1;
            }
            // SAFETY: `p` is the address of the C library's function of this name, whose
            // C prototype is this signature.
            let f = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($t),*) -> $ret>(p) };
            // SAFETY: by this function's contract.
            unsafe { f($($arg),*) }
        }
    )*};
}

real! {
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn dup(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
}

/// The C library's `fcntl` (or `fcntl64`, `which`), called with an integer argument.
///
/// # Safety
///
/// `arg` must be what `cmd` expects: an integer, or the address of the structure it
/// reads or writes.
pub unsafe fn fcntl(which: Fcntl, fd: c_int, cmd: c_int, arg: libc::c_ulong) -> c_int {
    static CACHE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    static CACHE64: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    let p = match which {
        Fcntl::Plain => resolve(&CACHE, "fcntl\0"),
        Fcntl::Large => resolve(&CACHE64, "fcntl64\0"),
    };
    if p.is_null() {
        set_errno(libc::ENOSYS);
        return -1;
    }
    // SAFETY: `p` is the C library's variadic `int fcntl(int, int, ...)`; calling it
    // through a variadic pointer passes the third argument as the C convention wants.
    let f = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(c_int, c_int, ...) -> c_int>(p) };
    // SAFETY: by this function's contract.
    unsafe { f(fd, cmd, arg) }
}

/// fcntl for a command that takes no argument (F_GETFL, F_GETFD).
pub fn fcntl_get(fd: c_int, cmd: c_int) -> c_int {
    // SAFETY: the commands this is used for read no argument.
    unsafe { fcntl(Fcntl::Plain, fd, cmd, 0) }
}

/// Which of the two exported names of fcntl.
#[derive(Clone, Copy)]
pub enum Fcntl {
    Plain,
    Large,
}

/// The C library's `closefrom` (glibc 2.34+); false if there is none.
pub fn closefrom(low: c_int) -> bool {
    static CACHE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    let p = resolve(&CACHE, "closefrom\0");
    if p.is_null() {
        return false;
    }
    // SAFETY: `p` is the C library's `void closefrom(int)`.
    let f = unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn(c_int)>(p) };
    // SAFETY: closefrom takes any integer.
    unsafe { f(low) };
    true
}

/// getsockopt for an `int` option.
pub fn getsockopt_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int, c_int> {
    let mut v: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given.
    let r = unsafe { getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(v)
    }
}

/// Writes `msg` to standard error with one write(2) (no allocation, no panic).
pub fn say(msg: &str) {
    // SAFETY: `msg` is valid for reads of its length.
    let _ = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}
