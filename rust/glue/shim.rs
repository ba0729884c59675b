// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C shim (`rust/shim/partcp_shim.c`) and safe wrappers where the
//! call has no preconditions.
//!
//! The shim exists only for what Rust cannot reach: `struct proto` (missing from the 7.3
//! bindings) and the functions that need it, static inlines (`sock_orphan`, `sock_put`),
//! and module parameters that must be visible in sysfs (the `module!` macro registers
//! its parameters with permission 0, so they never appear under
//! `/sys/module/partcp/parameters/`).

use kernel::bindings;
use kernel::ffi::{c_int, c_void};

// Kernel structs cross this boundary only as pointers, never by value; with lockdep off
// some contain zero-sized members, which the lint flags although pointers are fine.
#[allow(improper_ctypes)]
unsafe extern "C" {
    fn partcp_param_family() -> c_int;
    pub(crate) fn partcp_proto_register() -> c_int;
    pub(crate) fn partcp_proto_unregister();
    pub(crate) fn partcp_sk_alloc(
        net: *mut bindings::net,
        sock: *mut bindings::socket,
        family: c_int,
        kern: c_int,
    ) -> *mut bindings::sock;
    pub(crate) fn partcp_sk_release(sk: *mut bindings::sock);
    pub(crate) fn partcp_sk_priv(sk: *const bindings::sock) -> *mut c_void;
    pub(crate) fn partcp_sk_set_priv(sk: *mut bindings::sock, priv_: *mut c_void);
}

/// The `family=` module parameter.
pub(crate) fn param_family() -> c_int {
    // SAFETY: Reads a module parameter that the module loader has set before `init`
    // runs; parameters are read-only (0444) afterwards.
    unsafe { partcp_param_family() }
}
