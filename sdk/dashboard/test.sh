#!/usr/bin/env bash
# Runs the dashboard's unit tests (test/*.test.ts) with node's built-in test
# runner: each file is bundled by esbuild for node into a temporary
# directory, then `node --test` runs them. Type-checking is build.sh's.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d -t orchion-dashboard-tests.XXXXXX)
trap 'rm -rf "$work"' EXIT
NODE_PATH=/usr/share/nodejs esbuild test/*.test.ts --bundle --platform=node --format=esm --target=node18 \
  --outdir="$work" --out-extension:.js=.mjs --log-level=warning
node --test "$work"/*.test.mjs
