//! Markers around the measured window for an instruction-counting TCG plugin
//! (`tools/icount`): each is one x86-64 `nopl disp32(%rax,%rax,1)` (`0f 1f 84 00` and a
//! 32-bit displacement) whose displacement spells `PTCS` (start) or `PTCE` (end) in
//! ASCII. A CPU executes it as a no-op (it reads no memory); the plugin recognizes the
//! eight bytes when it translates them and snapshots its counters each time one runs.
//! Each client run executes `start` then `end` once, from its main thread; before
//! `start`, `id(n)` executes a third marker (`PTCI`) n times, which the plugin counts to
//! tell which run the window belongs to (`--mark-id`).

/// Whether this build executes the markers (x86-64 only).
pub const AVAILABLE: bool = cfg!(target_arch = "x86_64");

/// Executes the marker whose last displacement byte is `$last` (the letter, in hex).
macro_rules! marker {
    ($last:literal) => {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a multi-byte NOP: no memory, stack, register or flag effects.
        unsafe {
            std::arch::asm!(
                concat!(".byte 0x0f, 0x1f, 0x84, 0x00, 0x50, 0x54, 0x43, ", $last),
                options(nomem, nostack, preserves_flags)
            );
        }
    };
}

/// Identifies the next window: `n` executions of the `PTCI` marker.
#[inline(never)]
pub fn id(n: u64) {
    for _ in 0..n {
        marker!("0x49");
    }
}

/// The start of the measured window (`PTCS`).
#[inline(never)]
pub fn start() {
    marker!("0x53");
}

/// The end of the measured window (`PTCE`).
#[inline(never)]
pub fn end() {
    marker!("0x45");
}
