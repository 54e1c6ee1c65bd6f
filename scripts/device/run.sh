#!/usr/bin/env bash
# The GPU machine's one prepared script (docs/cuda.md, "On a GPU"): unpacks what
# scripts/device/pack.sh carried, builds the addon with CUDA against that machine's torch, runs
# the GPU-tagged tests and the side-by-side benchmarks, and writes everything under $OUT.
#
#   bash scripts/device/run.sh [stage ...]      stages, in this order by default:
#     build      Node, node_modules, gloo headers unpacked; addon + dist/ built (needed by all below)
#     gpu-tests  every test titled [gpu] (CUDA kernels vs reference, the engine in bf16, NCCL)
#     suite      the whole test suite (not in the default: minutes of CPU tests)
#     train      bench/train-step.ts: qwen0.5b and qwen7b, bf16, seq 2048, LoRA r=16, vs HF + PEFT
#     generate   bench/generate.ts: qwen0.5b, 64 prompts × 128 new tokens, vs HF generate
#     embed      bench/embed.ts: MiniLM-L12 shape vs sentence-transformers
# Each stage has a time limit (CN_STAGE_LIMIT_S, default 240 s); a failed stage is reported and
# the next runs. The last lines printed are the summary table ($OUT/summary.txt).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PACK="$ROOT/.device/pack"
OUT="${OUT:-/tmp/cn-device-out}"
LIMIT="${CN_STAGE_LIMIT_S:-240}"
mkdir -p "$OUT"
export ROOT PACK OUT
cd "$ROOT"
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(build gpu-tests train generate embed)
summary="$OUT/summary.txt"
: > "$summary"
now() { date +%s.%N; }
note() { echo "$*" | tee -a "$summary"; }

export PATH="/tmp/cn-node:$PATH" PYTHON="${PYTHON:-python3}" PYTHONUNBUFFERED=1
export CN_GLOO_INCLUDE=/tmp/cn-gloo CN_BUILD_JOBS="${CN_BUILD_JOBS:-16}"

stage_build() {
  mkdir -p /tmp/cn-node /tmp/cn-gloo
  xz -dc "$PACK/node.xz" > /tmp/cn-node/node && chmod +x /tmp/cn-node/node || return 1
  [ -d node_modules ] || tar -xJf "$PACK/node_modules.tar.xz" -C "$ROOT" || return 1
  tar -xJf "$PACK/gloo-include.tar.xz" -C /tmp/cn-gloo || return 1
  echo "node $(node -p process.version); $("$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")')"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader || true
  if ! node scripts/build-native.js; then
    # the carried gloo headers are Debian's; should they not fit this torch, build without Gloo
    # (the CUDA work needs only NCCL) rather than lose the call
    echo "== build failed; retrying without gloo"
    CN_GLOO_INCLUDE=CN_GLOO_INCLUDE-NOTFOUND node scripts/build-native.js || return 1
  fi
  node node_modules/typescript/bin/tsc -p tsconfig.json || return 1
  node -e 'require("tsx/cjs"); const i = require("./ts/index").info(); console.log(JSON.stringify({ torch: i.torch.version, cuda: i.build.cuda, nccl: i.build.nccl, gloo: i.build.gloo, devices: i.devices }));
    if (!i.build.cuda || !i.torch.cudaAvailable) { console.error("the addon has no usable CUDA"); process.exit(1); }'
}
stage_gpu-tests() { node node_modules/mocha/bin/mocha.js --grep '\[gpu\]' 'test/**/*.test.ts'; }
stage_suite() { node node_modules/mocha/bin/mocha.js 'test/**/*.test.ts'; }
stage_train() {
  local ok=0
  for shape in qwen0.5b qwen7b; do
    node --import tsx bench/train-step.ts --device cuda --dtype bf16 --shape "$shape" --seq 2048 --rank 16 --steps 8 --warmup 2 || ok=1
  done
  return $ok
}
stage_generate() { node --import tsx bench/generate.ts --device cuda --dtype bf16 --shape qwen0.5b --prompts 64 --new-tokens 128 --repeats 3; }
stage_embed() {
  node --import tsx bench/embed.ts --device cuda --dtype fp32 --sentences 2048 --batch 128 &&
    node --import tsx bench/embed.ts --device cuda --dtype bf16 --sentences 2048 --batch 128
}

for s in "${stages[@]}"; do
  if ! declare -F "stage_$s" > /dev/null; then note "unknown stage '$s'"; continue; fi
  log="$OUT/$s.log"
  t0=$(now)
  echo "== $s (limit ${LIMIT} s, log $s.log)"
  # a function cannot be timed out directly: run it in a child bash that has it
  timeout --kill-after=10 "$LIMIT" bash -c "$(declare -f now "stage_$s"); stage_$s" > >(tee "$log") 2>&1
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
  grep -h '^{"bench"' "$log" >> "$OUT/bench.jsonl" 2>/dev/null
  note "$s: $([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc)") in ${secs} s"
  if [ "$s" = build ] && [ $rc -ne 0 ]; then note "build failed: the later stages need it"; break; fi
done
echo "== summary"
cat "$summary"
grep -h -E '^(train-step|generate|embed|  (continual-next|hf|sentence|ratio|max))' "$OUT"/train.log "$OUT"/generate.log "$OUT"/embed.log 2>/dev/null | tee -a "$summary"
