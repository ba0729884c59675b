//! `libpartcp_icount.so`: a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts
//! what the guest executes, for `scripts/bench`'s counts section:
//!
//! - guest instructions per class (`user`, `kernel`, and the kernel's scheduler `sched`
//!   and wake-up `wake` paths, from symbol ranges), per vCPU, counted per translation
//!   block as it starts executing;
//! - with `cache=1`, every load and store through a cache model of the paper's machine
//!   (`cache.rs`).
//!
//! partcp-bench executes a marker instruction at the start and at the end of its measured
//! window (`tools/bench/src/mark.rs`); at each, the plugin appends one line with the
//! totals over every vCPU to its output file, so the report subtracts start from end.
//!
//! Arguments (`-plugin PATH,out=FILE[,ranges=FILE][,cache=1]`):
//! - `out=FILE`: where the lines go (required);
//! - `ranges=FILE`: `START END sched|wake` lines (hex) from the kernel's System.map;
//! - `cache=1`: run the cache model on every load and store. The model sits behind one
//!   mutex, so under multi-threaded TCG the vCPUs' accesses reach it in one real
//!   interleaved order (fine-grained, as on hardware); every access pays for the lock.
//!
//! Output lines (`key=value` words):
//! `icount install version=1 vcpus=N ranges=K cache=0|1`, then per marker
//! `icount mark=start id=I seq=S vcpu=V user=.. kernel=.. sched=.. wake=..` (I: the `PTCI`
//! markers executed since the previous start, partcp-bench's `--mark-id`) or
//! `icount mark=end seq=S vcpu=V ...` and, with the
//! model, `accesses= l1_misses= l2_misses= remote= invalidations=`; `icount exit ...`
//! with the same counters when QEMU exits.

pub mod cache;
pub mod classify;
mod ffi;

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use classify::{Ranges, CLASSES};

/// The plugin API version this plugin is written against (QEMU refuses a plugin that
/// does not export it).
#[no_mangle]
pub static qemu_plugin_version: c_int = 1;

/// vCPUs the counters have room for.
pub const MAX_VCPUS: usize = 64;

/// Parsed plugin arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub out: String,
    pub ranges: Option<String>,
    pub cache: bool,
}

impl Args {
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Args, String> {
        let mut a = Args::default();
        for w in args {
            match w.split_once('=') {
                Some(("out", v)) if !v.is_empty() => a.out = v.to_string(),
                Some(("ranges", v)) if !v.is_empty() => a.ranges = Some(v.to_string()),
                Some(("cache", "0" | "off")) => a.cache = false,
                Some(("cache", "1" | "on")) => a.cache = true,
                _ => return Err(format!("unknown argument {w:?} (want out=FILE, ranges=FILE, cache=0|1)")),
            }
        }
        if a.out.is_empty() {
            return Err("out=FILE is required".into());
        }
        Ok(a)
    }
}

/// One vCPU's instruction counters (written only by that vCPU's thread).
#[derive(Default)]
struct Vcpu {
    insns: [AtomicU64; 4],
}

struct Plugin {
    api: ffi::Api,
    out: Mutex<std::fs::File>,
    ranges: Ranges,
    vcpus: Vec<Vcpu>,
    cache: Option<Mutex<cache::System>>,
    seq: AtomicU64,
    /// `PTCI` markers executed since the last window started: the next window's run id.
    pending_id: AtomicU64,
    /// One leaked `TbCounts` per distinct count vector, shared by every block that has
    /// it (blocks are translated again after each code-cache flush: without sharing,
    /// memory would grow with every flush). The value is the `TbCounts` address.
    interned: Mutex<std::collections::HashMap<[u32; 4], usize>>,
}

static PLUGIN: OnceLock<Plugin> = OnceLock::new();

/// Instructions of one translation block per class (leaked and interned: lives as long
/// as QEMU may still run a block that has it).
struct TbCounts([u32; 4]);

impl Plugin {
    /// The `TbCounts` for `counts`, shared.
    fn tb_counts(&self, counts: [u32; 4]) -> *mut c_void {
        let mut m = self.interned.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(counts).or_insert_with(|| Box::into_raw(Box::new(TbCounts(counts))) as usize) as *mut c_void
    }

    /// The counter words of a line.
    fn counters(&self) -> String {
        let mut t = [0u64; 4];
        for v in &self.vcpus {
            for (t, c) in t.iter_mut().zip(&v.insns) {
                *t += c.load(Relaxed);
            }
        }
        let mut s = String::new();
        for (name, v) in CLASSES.iter().zip(t) {
            let _ = write!(s, " {name}={v}");
        }
        if let Some(c) = &self.cache {
            let c = c.lock().unwrap_or_else(|e| e.into_inner()).total();
            let _ = write!(
                s,
                " accesses={} l1_misses={} l2_misses={} remote={} invalidations={}",
                c.accesses, c.l1_misses, c.l2_misses, c.remote, c.invalidations
            );
        }
        s
    }

    fn line(&self, text: &str) {
        let mut f = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "{text}");
        let _ = f.flush();
    }
}

extern "C" fn on_tb_exec(vcpu: c_uint, udata: *mut c_void) {
    let Some(p) = PLUGIN.get() else { return };
    let Some(v) = p.vcpus.get(vcpu as usize) else { return };
    // SAFETY: `udata` is the leaked `TbCounts` registered with this block.
    let n = unsafe { &*(udata as *const TbCounts) };
    for (c, &k) in v.insns.iter().zip(&n.0) {
        if k != 0 {
            // Only this vCPU's thread writes its counters: no read-modify-write race.
            c.store(c.load(Relaxed) + u64::from(k), Relaxed);
        }
    }
}

extern "C" fn on_marker(vcpu: c_uint, udata: *mut c_void) {
    let Some(p) = PLUGIN.get() else { return };
    let kind = match classify::Marker::from_udata(udata as usize) {
        Some(classify::Marker::Id) => {
            p.pending_id.fetch_add(1, Relaxed);
            return;
        }
        Some(classify::Marker::Start) => format!("start id={}", p.pending_id.swap(0, Relaxed)),
        Some(classify::Marker::End) => "end".to_string(),
        None => return,
    };
    let seq = p.seq.fetch_add(1, Relaxed) + 1;
    p.line(&format!("icount mark={kind} seq={seq} vcpu={vcpu}{}", p.counters()));
}

extern "C" fn on_mem(vcpu: c_uint, info: ffi::MemInfo, vaddr: u64, _udata: *mut c_void) {
    let Some(p) = PLUGIN.get() else { return };
    let Some(c) = &p.cache else { return };
    // SAFETY: `info` and `vaddr` describe the access this callback reports.
    let (store, phys) = unsafe {
        let store = (p.api.mem_is_store)(info);
        let hw = (p.api.get_hwaddr)(info, vaddr);
        if hw.is_null() {
            (store, vaddr)
        } else if (p.api.hwaddr_is_io)(hw) {
            return;
        } else {
            (store, (p.api.hwaddr_phys_addr)(hw))
        }
    };
    c.lock().unwrap_or_else(|e| e.into_inner()).access(vcpu as usize, phys, store);
}

extern "C" fn on_tb_trans(_id: ffi::PluginId, tb: *mut ffi::Tb) {
    let Some(p) = PLUGIN.get() else { return };
    let api = &p.api;
    let mut counts = [0u32; 4];
    // SAFETY: `tb` is the block being translated; its instructions are valid during
    // this callback, and `insn_data` points to `insn_size` bytes.
    unsafe {
        let n = (api.tb_n_insns)(tb);
        for i in 0..n {
            let insn = (api.tb_get_insn)(tb, i);
            counts[p.ranges.class((api.insn_vaddr)(insn))] += 1;
            let size = (api.insn_size)(insn);
            let data = (api.insn_data)(insn) as *const u8;
            if size == 8 && !data.is_null() {
                if let Some(m) = classify::Marker::of(std::slice::from_raw_parts(data, size)) {
                    (api.register_vcpu_insn_exec_cb)(insn, on_marker, ffi::CB_NO_REGS, m as usize as *mut c_void);
                }
            }
            if p.cache.is_some() {
                (api.register_vcpu_mem_cb)(insn, on_mem, ffi::CB_NO_REGS, ffi::MEM_RW, std::ptr::null_mut());
            }
        }
        (api.register_vcpu_tb_exec_cb)(tb, on_tb_exec, ffi::CB_NO_REGS, p.tb_counts(counts));
    }
}

extern "C" fn on_exit(_id: ffi::PluginId, _udata: *mut c_void) {
    if let Some(p) = PLUGIN.get() {
        p.line(&format!("icount exit{}", p.counters()));
    }
}

fn install(info: &ffi::Info, args: &[&str]) -> Result<(), String> {
    let api = ffi::Api::resolve()?;
    let a = Args::parse(args.iter().copied())?;
    if !info.system_emulation {
        return Err("system emulation only".into());
    }
    let vcpus = usize::try_from(info.max_vcpus.max(info.smp_vcpus)).unwrap_or(0);
    if vcpus == 0 || vcpus > MAX_VCPUS {
        return Err(format!("{vcpus} vCPUs: 1..={MAX_VCPUS} supported"));
    }
    let ranges = match &a.ranges {
        Some(f) => Ranges::parse(&std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?)?,
        None => Ranges::default(),
    };
    let out =
        std::fs::OpenOptions::new().create(true).append(true).open(&a.out).map_err(|e| format!("{}: {e}", a.out))?;
    let p = Plugin {
        api,
        out: Mutex::new(out),
        vcpus: (0..vcpus).map(|_| Vcpu::default()).collect(),
        cache: a.cache.then(|| Mutex::new(cache::System::new(vcpus, cache::L1, cache::L2))),
        seq: AtomicU64::new(0),
        pending_id: AtomicU64::new(0),
        interned: Mutex::new(std::collections::HashMap::new()),
        ranges,
    };
    p.line(&format!("icount install version=1 vcpus={vcpus} ranges={} cache={}", p.ranges.len(), u8::from(a.cache)));
    PLUGIN.set(p).map_err(|_| "installed twice".to_string())?;
    Ok(())
}

/// QEMU's entry point: parses the arguments, opens the output and registers the
/// callbacks. Returns non-zero (QEMU then exits) on any error, after printing it.
///
/// # Safety
///
/// Called by QEMU once, with `info` valid and `argv` holding `argc` C strings.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: ffi::PluginId,
    info: *const ffi::Info,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    let args: Vec<&str> = (0..argc.max(0) as usize)
        // SAFETY: QEMU passes `argc` valid C strings.
        .filter_map(|i| unsafe { CStr::from_ptr(*argv.add(i)) }.to_str().ok())
        .collect();
    // SAFETY: QEMU passes a valid `qemu_info_t`.
    let r = install(unsafe { &*info }, &args).and_then(|()| PLUGIN.get().ok_or_else(|| "not installed".to_string()));
    match r {
        Ok(p) => {
            // SAFETY: the callbacks match the API's signatures and live for the process.
            unsafe {
                (p.api.register_vcpu_tb_trans_cb)(id, on_tb_trans);
                (p.api.register_atexit_cb)(id, on_exit, std::ptr::null_mut());
            }
            0
        }
        Err(e) => {
            eprintln!("partcp-icount: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    #[test]
    fn arguments() {
        let a = Args::parse(["out=/tmp/x", "ranges=/tmp/r", "cache=1"]).unwrap();
        assert_eq!(a, Args { out: "/tmp/x".into(), ranges: Some("/tmp/r".into()), cache: true });
        assert!(!Args::parse(["out=/tmp/x"]).unwrap().cache);
        for bad in [&["ranges=/tmp/r"][..], &["out="], &["out=/x", "cache=2"], &["out=/x", "bogus"]] {
            assert!(Args::parse(bad.iter().copied()).is_err(), "{bad:?} accepted");
        }
    }
}
