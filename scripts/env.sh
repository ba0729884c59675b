# Shared settings for partcp's scripts. Sourced, not executed.
# Every value can be overridden from the environment.

PARTCP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PARTCP_ROOT

# The kernel's Rust compiler: Debian's rustc-web, which ships rust-src. The rustup
# toolchain first on PATH has no rust-src and must not be used for the kernel.
export KRUSTC="${KRUSTC:-/usr/bin/rustc}"
export BINDGEN="${BINDGEN:-$HOME/.cargo/bin/bindgen}"
export LIBCLANG_PATH="${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}"

# Kernel builds are cached outside the repository, keyed by source version,
# config fragment and toolchain (see scripts/kernel).
export PARTCP_CACHE="${PARTCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/partcp}"
