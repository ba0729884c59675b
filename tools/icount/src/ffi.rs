//! The part of QEMU's TCG plugin API (version 1, as QEMU 7.2 has it) this plugin uses,
//! declared here from the API's documentation (Debian does not package the header).
//!
//! The functions are exported by the QEMU executable; they are looked up with `dlsym`
//! when the plugin is installed, so that this crate links (and its unit tests run)
//! without QEMU.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

/// `qemu_plugin_id_t`.
pub type PluginId = u64;
/// `qemu_plugin_meminfo_t`: an opaque description of one memory access.
pub type MemInfo = u32;

/// `struct qemu_plugin_tb`: a translation block being translated (opaque).
#[repr(C)]
pub struct Tb {
    _opaque: [u8; 0],
}

/// `struct qemu_plugin_insn`: one instruction of a block being translated (opaque).
#[repr(C)]
pub struct Insn {
    _opaque: [u8; 0],
}

/// `struct qemu_plugin_hwaddr`: the physical side of a memory access (opaque).
#[repr(C)]
pub struct HwAddr {
    _opaque: [u8; 0],
}

/// `qemu_info_t` of API version 1: what QEMU tells the plugin at install time.
#[repr(C)]
pub struct Info {
    pub target_name: *const c_char,
    pub version_min: c_int,
    pub version_cur: c_int,
    pub system_emulation: bool,
    /// `system.smp_vcpus` (valid for system emulation).
    pub smp_vcpus: c_int,
    /// `system.max_vcpus`.
    pub max_vcpus: c_int,
}

/// `QEMU_PLUGIN_CB_NO_REGS`: the callback reads no guest register.
pub const CB_NO_REGS: c_int = 0;
/// `QEMU_PLUGIN_MEM_RW`: loads and stores.
pub const MEM_RW: c_int = 3;

pub type TbTransCb = extern "C" fn(PluginId, *mut Tb);
pub type VcpuUdataCb = extern "C" fn(c_uint, *mut c_void);
pub type VcpuMemCb = extern "C" fn(c_uint, MemInfo, u64, *mut c_void);
pub type UdataCb = extern "C" fn(PluginId, *mut c_void);

/// Looks `name` up in the process (QEMU exports its plugin API from the executable).
fn sym(name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the global scope.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if p.is_null() {
        Err(format!("{} not found: not running inside QEMU with TCG plugins?", name.to_string_lossy()))
    } else {
        Ok(p)
    }
}

/// Declares `Api`, one field per function with its C signature, and `Api::resolve`.
macro_rules! api {
    ($($field:ident: $ty:ty = $name:literal,)*) => {
        /// The API functions, resolved once at install time.
        pub struct Api {
            $(pub $field: $ty,)*
        }

        impl Api {
            /// Resolves every function, or names the first one missing.
            pub fn resolve() -> Result<Api, String> {
                Ok(Api {
                    $(
                        // SAFETY: QEMU's symbol of that name is a function with the C
                        // signature declared for the field (plugin API version 1).
                        $field: unsafe { std::mem::transmute::<*mut c_void, $ty>(sym($name)?) },
                    )*
                })
            }
        }
    };
}

api! {
    register_vcpu_tb_trans_cb: unsafe extern "C" fn(PluginId, TbTransCb) = c"qemu_plugin_register_vcpu_tb_trans_cb",
    register_vcpu_tb_exec_cb: unsafe extern "C" fn(*mut Tb, VcpuUdataCb, c_int, *mut c_void) =
        c"qemu_plugin_register_vcpu_tb_exec_cb",
    register_vcpu_insn_exec_cb: unsafe extern "C" fn(*mut Insn, VcpuUdataCb, c_int, *mut c_void) =
        c"qemu_plugin_register_vcpu_insn_exec_cb",
    register_vcpu_mem_cb: unsafe extern "C" fn(*mut Insn, VcpuMemCb, c_int, c_int, *mut c_void) =
        c"qemu_plugin_register_vcpu_mem_cb",
    register_atexit_cb: unsafe extern "C" fn(PluginId, UdataCb, *mut c_void) = c"qemu_plugin_register_atexit_cb",
    tb_n_insns: unsafe extern "C" fn(*const Tb) -> usize = c"qemu_plugin_tb_n_insns",
    tb_get_insn: unsafe extern "C" fn(*const Tb, usize) -> *mut Insn = c"qemu_plugin_tb_get_insn",
    insn_data: unsafe extern "C" fn(*const Insn) -> *const c_void = c"qemu_plugin_insn_data",
    insn_size: unsafe extern "C" fn(*const Insn) -> usize = c"qemu_plugin_insn_size",
    insn_vaddr: unsafe extern "C" fn(*const Insn) -> u64 = c"qemu_plugin_insn_vaddr",
    mem_is_store: unsafe extern "C" fn(MemInfo) -> bool = c"qemu_plugin_mem_is_store",
    get_hwaddr: unsafe extern "C" fn(MemInfo, u64) -> *mut HwAddr = c"qemu_plugin_get_hwaddr",
    hwaddr_is_io: unsafe extern "C" fn(*const HwAddr) -> bool = c"qemu_plugin_hwaddr_is_io",
    hwaddr_phys_addr: unsafe extern "C" fn(*const HwAddr) -> u64 = c"qemu_plugin_hwaddr_phys_addr",
}
