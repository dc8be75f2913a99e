#!/usr/bin/env bash
# Builds the dashboard and regenerates its embedding in the orchion binary:
#   1. type-checks the TypeScript (strict, tsc --noEmit; the app, its tests, sdk/ts);
#   2. bundles src/main.tsx with esbuild (modules from Debian's /usr/share/nodejs),
#      minified, split (Chart.js loads with the first node page), with
#      names hashed from their bytes (content_names.py) under assets/;
#   3. writes index.html naming those assets, gzips everything (-9 -n: no name
#      or time, so the bytes depend on the input only);
#   4. writes Sources/COrchionDashboard/assets.c (embed.py), which is committed.
#
#   bash sdk/dashboard/build.sh           regenerate assets.c
#   bash sdk/dashboard/build.sh --check   rebuild in a temporary directory and fail
#                                         if the committed assets.c (or sdk/ts) is not
#                                         what it gives
#   bash sdk/dashboard/build.sh --out DIR also keep the built files in DIR
set -euo pipefail
cd "$(dirname "$0")"
mode=write
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check ;;
    --out) keep="$2"; shift ;;
    *) echo "build.sh: unknown argument $1 (expected --check or --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
modules=/usr/share/nodejs
for tool in tsc esbuild gzip python3; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (run .ci/setup)" >&2; exit 1; }
done

tsc --noEmit -p tsconfig.json

work=$(mktemp -d -t orchion-dashboard.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/site/assets"
NODE_PATH="$modules" esbuild src/main.tsx --bundle --minify --format=esm --target=es2020 \
  --jsx=automatic --define:process.env.NODE_ENV='"production"' --legal-comments=none --charset=utf8 \
  --splitting --entry-names='[name]-[hash]' --chunk-names='chunk-[hash]' --outdir="$work/site/assets" \
  --log-level=warning
# esbuild's hashes depend on where the clone is; these depend on the bytes only.
names=$(python3 content_names.py "$work/site/assets")
js=$(echo "$names" | sed -n 's/.*main\.js=\([^ ]*\).*/\1/p')
css=$(echo "$names" | sed -n 's/.*main\.css=\([^ ]*\).*/\1/p')
[ -n "$js" ] && [ -n "$css" ] || { echo "build.sh: no main .js and .css among the built files ($names)" >&2; exit 1; }
sed -e "s/{{js}}/$js/" -e "s/{{css}}/$css/" index.html > "$work/site/index.html"
find "$work/site" -type f ! -name '*.gz' -exec gzip -9 -n -k {} +
python3 embed.py "$work/site" "$work/assets.c"
[ -z "$keep" ] || { rm -rf "$keep"; cp -r "$work/site" "$keep"; }

target=../../Sources/COrchionDashboard/assets.c
if [ "$mode" = check ]; then
  # The schema's TypeScript types, too (sdk/proto/generate.sh writes them).
  ../../.venv/bin/python ../proto/ts_types.py ../proto/orchion.protoset "$work/orchion.ts"
  if ! cmp -s "$work/orchion.ts" ../ts/orchion.ts; then
    echo "build.sh: sdk/ts/orchion.ts is stale: run bash sdk/proto/generate.sh and commit it" >&2
    exit 1
  fi
  if ! cmp -s "$work/assets.c" "$target"; then
    echo "build.sh: $target is stale: run bash sdk/dashboard/build.sh and commit it" >&2
    exit 1
  fi
  echo "dashboard: $target is fresh"
else
  cp "$work/assets.c" "$target"
  echo "dashboard: wrote $target ($js, $css)"
fi
