# partcp: see README.md.
#
#   make run     build everything, boot a test VM, load the module, demonstrate it
#   make test    every test; ends with "N passed, M failed"
#   make test-debug  the VM tests on the debug kernel (lockdep, KFENCE, kmemleak, UBSAN, ...)
#   make test-kasan  the same on the KASAN kernel (debug + KASAN, built with Clang)
#   make module  build partcp.ko (the test kernel is built once, cached outside the repo)
#   make vm CMD="..."  run a command in the test VM with the module loaded
#   make bench   benchmarks (long; not part of make test)
#   make profile [DIR=l2p|p2l|p2p]  perf profile of partcp against Linux TCP, CPU per byte by symbol
#
# KDIR=/path/to/a/CONFIG_RUST/kernel/tree uses an existing kernel instead of the
# cached test kernel.

SHELL := /bin/bash
export KDIR

.PHONY: all toolchain kernel module tools run test test-debug test-kasan host-test vm-test vm bench profile fuzz clean

all: module tools

toolchain:
	@scripts/toolchain

kernel: toolchain
	@scripts/kernel

module: toolchain
	@scripts/module

tools:
	@cd tools && cargo build --release

run: toolchain module tools
	@scripts/demo

test:
	@scripts/test

test-debug:
	@scripts/test --debug

test-kasan:
	@scripts/test --kasan

host-test:
	@scripts/test --host-only

vm-test:
	@scripts/test --vm-only

vm: module
	@scripts/vm -- bash -c '$(CMD)'

bench: toolchain
	@scripts/bench

profile: toolchain module tools
	@scripts/profile $(DIR)

fuzz:
	@cd rust/core/fuzz && ./run.sh

clean:
	rm -rf tools/target rust/core/target
	@kdir=$$(scripts/kernel 2>/dev/null) && $(MAKE) -C $$kdir M=$(CURDIR) clean || true
