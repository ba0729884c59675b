//! The TCP core's module tree, shared by the host crate and the kernel module.

#![forbid(unsafe_code)]

pub mod seq;
pub mod time;
pub mod wire;
