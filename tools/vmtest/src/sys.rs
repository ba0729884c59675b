//! Thin wrappers over the system calls the tests use, returning `Result<_, errno>`.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;

/// The errno of the last failed call.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Symbolic name of an errno, for messages.
pub fn errname(e: i32) -> String {
    let name = match e {
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EINVAL => "EINVAL",
        libc::EEXIST => "EEXIST",
        libc::EBUSY => "EBUSY",
        libc::EAGAIN => "EAGAIN",
        libc::ENOENT => "ENOENT",
        libc::ENOMEM => "ENOMEM",
        libc::EBADF => "EBADF",
        libc::EPERM => "EPERM",
        libc::ENOBUFS => "ENOBUFS",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EALREADY => "EALREADY",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EINTR => "EINTR",
        libc::EISCONN => "EISCONN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::ENOTCONN => "ENOTCONN",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EPIPE => "EPIPE",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EFAULT => "EFAULT",
        0 => "0",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// An open file descriptor, closed on drop.
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> i32 {
        self.0
    }
}

impl std::os::fd::IntoRawFd for Fd {
    fn into_raw_fd(self) -> i32 {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }
}

impl Fd {
    /// Closes explicitly, returning the result of close(2).
    pub fn close(self) -> Result<(), i32> {
        let fd = self.0;
        std::mem::forget(self);
        // SAFETY: the descriptor was owned by `self`, which no longer closes it.
        if unsafe { libc::close(fd) } == 0 {
            Ok(())
        } else {
            Err(errno())
        }
    }
}

/// socket(2).
pub fn socket(family: i32, ty: i32, proto: i32) -> Result<Fd, i32> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::socket(family, ty, proto) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(Fd(fd))
    }
}

/// getsockopt(2) for an `int` option.
pub fn getsockopt_int(fd: &impl AsRawFd, level: i32, name: i32) -> Result<i32, i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given.
    let r = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&mut v as *mut i32).cast(), &mut len) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(v)
    }
}

/// setsockopt(2) for an `int` option.
pub fn setsockopt_int(fd: &impl AsRawFd, level: i32, name: i32, v: i32) -> Result<(), i32> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` is valid for reads of `len` bytes.
    let r = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&v as *const i32).cast(), len) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// finit_module(2) of the `.ko` at `path` with `params`.
pub fn load_module(path: &str, params: &str) -> Result<(), i32> {
    let file = std::fs::File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let params = CString::new(params).map_err(|_| libc::EINVAL)?;
    // SAFETY: `file` is an open descriptor and `params` a NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// delete_module(2) with O_NONBLOCK, as rmmod does.
pub fn unload_module(name: &str) -> Result<(), i32> {
    let name = CString::new(name).map_err(|_| libc::EINVAL)?;
    // SAFETY: `name` is a NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Reads a small sysfs/debugfs file, trimmed.
pub fn read_trimmed(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| format!("reading {path}: {e}"))
}

/// The address family partcp registered, from its sysfs module parameter.
pub fn partcp_family() -> Result<i32, String> {
    let s = read_trimmed("/sys/module/partcp/parameters/family")?;
    s.parse().map_err(|_| format!("family parameter {s:?} is not a number"))
}

/// Whether partcp is in /proc/modules.
pub fn module_loaded() -> bool {
    std::fs::read_to_string("/proc/modules").map(|s| s.lines().any(|l| l.starts_with("partcp "))).unwrap_or(false)
}

/// partcp connections allocated and not yet freed (`stats`: `conns_created` -
/// `conns_freed`).
pub fn live_conns() -> Result<i64, String> {
    Ok(debugfs_counter("stats", "conns_created")? - debugfs_counter("stats", "conns_freed")?)
}

/// Open AF_PARTCP sockets (`sockets`: `sockets_open`).
pub fn sockets_open() -> Result<i64, String> {
    debugfs_counter("sockets", "sockets_open")
}

/// One counter from a debugfs `name value` file.
pub fn debugfs_counter(file: &str, name: &str) -> Result<i64, String> {
    let path = format!("/sys/kernel/debug/partcp/{file}");
    let text = read_trimmed(&path)?;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(name) {
            let v = it.next().ok_or_else(|| format!("{path}: {name} has no value"))?;
            return v.parse().map_err(|_| format!("{path}: {name} = {v:?}"));
        }
    }
    Err(format!("{path}: no counter {name}"))
}
