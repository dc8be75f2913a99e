#!/usr/bin/env bash
# Builds orchion-agent the way a Raspberry Pi (or any host without a Swift
# toolchain) runs it, with orchion-spawn, its exec helper, into a directory
# to copy to the host (see docs/agent-daemon.md):
#   deploy/build-agent.sh [--out DIR]      (default .build-static/dist)
# The Swift runtime is linked in (--static-swift-stdlib) and so is libstdc++
# (deploy/static-libstdc++); Package.swift links orchion-agent non-PIE with
# only the dynamic symbols its libraries need. Each step's effect on idle
# RSS is measured in docs/benchmarks.md. Builds in .build-static (the
# static release build .ci/footprint shares).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-static/dist
if [ "${1:-}" = "--out" ]; then out=$2; fi
for product in orchion-agent orchion-spawn; do
  swift build -c release --static-swift-stdlib --build-path .build-static --product "$product" \
    -Xlinker -L"$PWD/deploy/static-libstdc++" >/dev/null
done
install -d "$out"
strip -o "$out/orchion-agent" .build-static/release/orchion-agent
strip -o "$out/orchion-spawn" .build-static/release/orchion-spawn
echo "$out/orchion-agent and $out/orchion-spawn; they need these libraries on the host:"
ldd "$out/orchion-agent" | awk '$1 !~ /vdso|ld-linux/ {print "  " $1}'
