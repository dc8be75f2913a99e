#!/usr/bin/env bash
# Builds orchion-agent the way a Raspberry Pi (or any host without a Swift
# toolchain) runs it, with orchion-spawn, its exec helper, into a directory
# to copy to the host (see docs/agent-daemon.md); .ci/footprint runs what it
# builds:
#   deploy/build-agent.sh [--out DIR]      (default .build-agent/dist)
# The Swift runtime is linked in (--static-swift-stdlib) and so is libstdc++
# (deploy/static-libstdc++), non-PIE, with only the dynamic symbols its
# libraries need. Each step's effect on idle RSS is measured in
# docs/benchmarks.md. Its own build path (.build-agent): these options
# reach every compile command, so sharing one would rebuild the others.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-agent/dist
if [ "${1:-}" = "--out" ]; then out=$2; fi
# Linked non-PIE (start-up relocates nothing: a PIE dirties its data pages
# and reads 1 MB of .rela.dyn) and exporting only the symbols its libraries
# need (SwiftPM exports all: a 1 MB dynamic symbol table that every symbol
# lookup of every library searches first). Only with the runtime linked in:
# against the shared Swift runtime the linker warns that a non-PIE binary
# may break function pointer equality (protected symbols).
swift build -c release --static-swift-stdlib --build-path .build-agent --product orchion-agent \
  -Xswiftc -Xclang-linker -Xswiftc -no-pie -Xlinker --no-export-dynamic \
  -Xlinker -L"$PWD/deploy/static-libstdc++" >/dev/null
install -d "$out"
strip -o "$out/orchion-agent" .build-agent/release/orchion-agent
# orchion-spawn is C: built with cc it needs libc only (SwiftPM links it
# with the Swift runtime: 6 MB with --static-swift-stdlib, or a dependency on
# libswiftCore.so without). Static: it runs as root until it drops to the
# job's user, so no dynamic loader may run in it (the agent also starts it
# with an empty environment).
"${CC:-cc}" -O2 -Wall -Wextra -static -o "$out/orchion-spawn" Sources/orchion-spawn/main.c
strip "$out/orchion-spawn"
echo "$out/orchion-agent and $out/orchion-spawn; they need these libraries on the host:"
ldd "$out/orchion-agent" | awk '$1 !~ /vdso|ld-linux/ {print "  " $1}'
