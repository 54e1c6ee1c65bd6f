#!/usr/bin/env bash
# Packs what the GPU machine lacks into .device/pack/ (ignored by git), for the device tool's
# `carry` (64 MiB with the working tree): this Node binary (xz), node_modules (tar.xz) and gloo's
# headers (Debian's libgloo-dev). The machine has python3 with a CUDA torch, nvcc, cmake and ninja,
# no Node and no registry. scripts/device/run.sh unpacks them there. docs/cuda.md, "On a GPU".
#
#   scripts/device/pack.sh          # then: device run, carry [".device/pack"],
#                                   #   command "bash scripts/device/run.sh 2>&1 | tee $OUT/log.txt"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PACK="$ROOT/.device/pack"
LIMIT_MB=64
cd "$ROOT"
[ -d node_modules ] || { echo "pack: node_modules is missing: run npm install first" >&2; exit 1; }
[ -f /usr/include/gloo/config.h ] || { echo "pack: /usr/include/gloo is missing: apt-get install libgloo-dev" >&2; exit 1; }
mkdir -p "$PACK"
tmp="$PACK/.partial"
rm -rf "$tmp" && mkdir -p "$tmp"

node_bin="$(command -v node)"
xz -T0 -6 -c "$node_bin" > "$tmp/node.xz"
node -p 'process.version' > "$tmp/node-version.txt"
# the TypeScript compiler stays: run.sh builds dist/ there (the CLI tests run dist/cli/main.js)
tar -C "$ROOT" -cf - node_modules | xz -T0 -6 > "$tmp/node_modules.tar.xz"
tar -C /usr/include -cf - gloo | xz -T0 -6 > "$tmp/gloo-include.tar.xz"
# one version of each, replaced whole: an interrupted pack leaves the previous one intact
for f in "$tmp"/*; do mv -f "$f" "$PACK/"; done
rmdir "$tmp"

tree_kb=$(git ls-files -z | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
pack_kb=$(du -sk "$PACK" | cut -f1)
total_mb=$(( (tree_kb + pack_kb) / 1024 ))
ls -la "$PACK"
echo "pack: ${pack_kb} KiB packed + ${tree_kb} KiB tracked tree = ${total_mb} MiB of the ${LIMIT_MB} MiB a call carries"
if [ "$total_mb" -ge "$LIMIT_MB" ]; then echo "pack: over the limit" >&2; exit 1; fi
