#!/usr/bin/env bash
# Installs a built Orchion into a prefix:
#   <prefix>/bin/orchion
#   <prefix>/bin/orchion-spawn                     (the agent's exec helper, found beside orchion)
#   <prefix>/lib/orchion/plugins/liborchion-*.so   (the built-in plugins)
#   <prefix>/include/orchion/plugin.h              (for plugin authors)
#   <systemd-dir>/orchion-agent.service, orchion-server.service
#                                                  (deploy/systemd, ExecStart pointed at <prefix>/bin/orchion;
#                                                   default <prefix>/lib/systemd/system, which systemd reads for
#                                                   the prefixes /usr and /usr/local; --no-systemd skips them)
# Usage: deploy/install.sh [--prefix /usr/local] [--build-dir .build/release] [--systemd-dir DIR | --no-systemd]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local
build=.build/release
systemd_dir=""
units=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --systemd-dir) systemd_dir=$2; shift 2 ;;
    --no-systemd) units=no; shift ;;
    *) echo "install.sh: unknown option $1 (expected --prefix, --build-dir, --systemd-dir or --no-systemd)" >&2; exit 2 ;;
  esac
done
[ -x "$build/orchion" ] || { echo "install.sh: $build/orchion not found: run 'swift build -c release' first" >&2; exit 1; }
install -d "$prefix/bin" "$prefix/lib/orchion/plugins" "$prefix/include/orchion"
install -m 0755 "$build/orchion" "$prefix/bin/orchion"
install -m 0755 "$build/orchion-spawn" "$prefix/bin/orchion-spawn"
install -m 0644 "$build"/liborchion-*.so "$prefix/lib/orchion/plugins/"
install -m 0644 sdk/c/include/orchion/plugin.h "$prefix/include/orchion/plugin.h"
if [ "$units" = yes ]; then
  systemd_dir=${systemd_dir:-$prefix/lib/systemd/system}
  install -d "$systemd_dir"
  for unit in orchion-agent.service orchion-server.service; do
    sed "s#^ExecStart=/usr/local/bin/orchion #ExecStart=$prefix/bin/orchion #" "deploy/systemd/$unit" > "$systemd_dir/$unit.tmp"
    chmod 0644 "$systemd_dir/$unit.tmp"
    mv "$systemd_dir/$unit.tmp" "$systemd_dir/$unit"
  done
  echo "installed orchion-agent.service and orchion-server.service in $systemd_dir" \
    "(systemctl daemon-reload, then systemctl enable --now orchion-agent or orchion-server)"
fi
echo "installed orchion and $(ls "$build"/liborchion-*.so | wc -l) plugins under $prefix"
