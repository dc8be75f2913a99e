#!/usr/bin/env bash
# Installs a built Orchion into a prefix:
#   <prefix>/bin/orchion
#   <prefix>/bin/orchion-spawn                     (the agent's exec helper, found beside orchion)
#   <prefix>/lib/orchion/plugins/liborchion-*.so   (the built-in plugins)
#   <prefix>/include/orchion/plugin.h              (for plugin authors)
# Usage: deploy/install.sh [--prefix /usr/local] [--build-dir .build/release]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local
build=.build/release
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    *) echo "install.sh: unknown option $1 (expected --prefix or --build-dir)" >&2; exit 2 ;;
  esac
done
[ -x "$build/orchion" ] || { echo "install.sh: $build/orchion not found: run 'swift build -c release' first" >&2; exit 1; }
install -d "$prefix/bin" "$prefix/lib/orchion/plugins" "$prefix/include/orchion"
install -m 0755 "$build/orchion" "$prefix/bin/orchion"
install -m 0755 "$build/orchion-spawn" "$prefix/bin/orchion-spawn"
install -m 0644 "$build"/liborchion-*.so "$prefix/lib/orchion/plugins/"
install -m 0644 sdk/c/include/orchion/plugin.h "$prefix/include/orchion/plugin.h"
echo "installed orchion and $(ls "$build"/liborchion-*.so | wc -l) plugins under $prefix"
