// SPDX-License-Identifier: GPL-2.0

//! Attaching the receive hook to network devices in every namespace.
//!
//! A netdevice notifier sees every device: registering it replays `NETDEV_REGISTER` for
//! all existing devices of all namespaces, unregistering it replays `NETDEV_UNREGISTER`,
//! so load and unload need no walk of their own. Notifier callbacks run under RTNL,
//! which `netdev_rx_handler_register` requires. A device can have one rx_handler: when a
//! bridge or bond is about to enslave a device (`NETDEV_JOIN`), partcp steps aside;
//! devices that already have a handler (bridge ports, macvlan lowers, ...) are skipped
//! (their upper devices get partcp's hook instead).

use kernel::bindings;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::glue::entry::rx::rx_handler;
use crate::glue::kernel::shim;

/// The registered notifier; unregistered (and every hook removed) on drop.
#[pin_data(PinnedDrop)]
pub(crate) struct NetdevHooks {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
}

// SAFETY: The notifier block is only touched by the notifier core after registration.
unsafe impl Send for NetdevHooks {}
// SAFETY: As above.
unsafe impl Sync for NetdevHooks {}

impl NetdevHooks {
    /// Registers the notifier (and so hooks every existing device).
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        let hooks = KBox::pin_init(
            pin_init!(NetdevHooks {
                nb <- Opaque::ffi_init(|slot: *mut bindings::notifier_block| {
                    // SAFETY: `slot` is valid for writes.
                    unsafe {
                        core::ptr::write_bytes(slot, 0, 1);
                        (*slot).notifier_call = Some(notifier);
                    }
                }),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The notifier block is pinned in `hooks` and unregistered in `drop`
        // before it is freed.
        let r = unsafe { shim::register_netdevice_notifier(hooks.nb.get()) };
        if r != 0 {
            // The block was not registered; `drop` must not unregister it. Forget the
            // pinned box's drop by leaking nothing: unregistering an unregistered block
            // is harmless (-ENOENT), so simply return the error.
            return Err(Error::from_errno(r));
        }
        Ok(hooks)
    }
}

#[pinned_drop]
impl PinnedDrop for NetdevHooks {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `new` (or not, in which case this returns -ENOENT).
        // Unregistering replays NETDEV_UNREGISTER for every device, removing every hook
        // (and `netdev_rx_handler_unregister` waits for running handlers).
        unsafe { shim::unregister_netdevice_notifier(self.nb.get()) };
    }
}

/// Whether `dev`'s rx_handler is ours.
fn hooked(dev: *mut bindings::net_device) -> bool {
    // SAFETY: Called under RTNL with a registered device.
    unsafe { shim::partcp_dev_has_our_handler(dev, rx_handler) }
}

/// The notifier callback (process context, RTNL held).
///
/// # Safety
///
/// Called by the netdevice notifier chain with a valid `netdev_notifier_info`.
unsafe extern "C" fn notifier(_nb: *mut bindings::notifier_block, event: c_ulong, info: *mut c_void) -> c_int {
    // SAFETY: `info` is a `netdev_notifier_info` for netdevice events.
    let dev = unsafe { shim::partcp_notifier_dev(info) };
    if dev.is_null() {
        return bindings::NOTIFY_DONE as c_int;
    }
    match event {
        shim::NETDEV_REGISTER => {
            // SAFETY: RTNL is held (notifier contract); `rx_handler` stays valid until the
            // notifier is unregistered, which unhooks every device first. Failure (the
            // device has another handler) just leaves the device to Linux.
            let _ = unsafe { shim::netdev_rx_handler_register(dev, Some(rx_handler), core::ptr::null_mut()) };
        }
        shim::NETDEV_UNREGISTER | shim::NETDEV_JOIN => {
            if hooked(dev) {
                // SAFETY: RTNL is held and the handler is ours.
                unsafe { shim::netdev_rx_handler_unregister(dev) };
            }
        }
        _ => {}
    }
    bindings::NOTIFY_DONE as c_int
}
