#!/usr/bin/env bash
# Compile check of the CUDA path on a machine with no GPU (docs/cuda.md).
#
#   scripts/check-cuda-build.sh [--fresh] [--ptx] [--test]
#
# 1. Makes a CUDA torch available in its own venv (never the system Python's torch):
#    CN_CUDA_VENV (default /work/venv-cu130), created as shared/design/cuda-build.md says if absent.
# 2. Builds the addon against it into CN_BUILD_DIR (default build-cuda/), so the CPU build in
#    build/ that the loader uses is never touched. CN_BUILD_JOBS defaults to 1 (nvcc is heavy).
#    --fresh deletes that build dir first (a full configure + build, as the timings in the docs).
# 3. Checks the result: CUDA objects were compiled, and the binary loads here (no driver is
#    needed until a CUDA call) and reports build.cuda = true and kernels.cudaBuilt = true, and
#    build.nccl = true (c10d's ProcessGroupNCCL compiled in: ProcessGroup.backends has 'nccl';
#    with no GPU here, asking for it is a DeviceError naming `device`, not "not available").
#    --ptx   also compiles each native/kernels/*.cu to PTX and reports its global loads/stores
#            (128-bit: ld/st ...v4) and fails on any local-memory traffic (spilled registers).
#    --test  also runs test/kernels.test.ts against this binary (CPU paths; GPU cases skip here).
# Needs: nvcc (CUDA_HOME, default /usr/local/cuda), cmake, a C++20 compiler, node_modules.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CN_CUDA_VENV:-/work/venv-cu130}"
BUILD_DIR="${CN_BUILD_DIR:-build-cuda}"
JOBS="${CN_BUILD_JOBS:-1}"
FRESH=0 PTX=0 TEST=0
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    --ptx) PTX=1 ;;
    --test) TEST=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
case "$BUILD_DIR" in
  build|./build|build/|"$ROOT/build") echo "CN_BUILD_DIR must not be build/ (the CPU build)" >&2; exit 2 ;;
esac

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- 1. CUDA torch in its own venv ---------------------------------------------------------------
if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' 2>/dev/null; then
  echo "== creating $VENV with a CUDA torch (torch 2.14.1+cu130, about 5 GB)"
  t0=$(now)
  python3 -m venv "$VENV"
  # cuda-bindings is not on the local index: torch without its dependency list, then the rest.
  PIP_RETRIES=0 "$VENV/bin/pip" install --no-deps torch==2.14.1
  PIP_RETRIES=0 "$VENV/bin/pip" install filelock typing-extensions setuptools sympy networkx jinja2 fsspec \
    'cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.3' \
    nvidia-cudnn-cu13==9.24.0.43 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.4.5
  echo "== venv ready in $(elapsed "$t0") s"
fi
"$VENV/bin/python" -c 'import torch; print("== torch", torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null

# ---- 2. build into its own directory -------------------------------------------------------------
if [ "$FRESH" = 1 ]; then rm -rf "$BUILD_DIR"; fi
echo "== building into $BUILD_DIR with $JOBS job(s)"
t0=$(now)
PYTHON="$VENV/bin/python" CN_BUILD_DIR="$BUILD_DIR" CN_BUILD_JOBS="$JOBS" node scripts/build-native.js
echo "== build took $(elapsed "$t0") s"

# ---- 3. checks -----------------------------------------------------------------------------------
objects=$(find "$BUILD_DIR/CMakeFiles" -name '*.cu.o' | sort)
sources=$(find native/kernels -name '*.cu' | wc -l)
echo "== CUDA objects ($(echo "$objects" | grep -c . || true) of $sources sources):"
echo "$objects" | sed 's/^/   /'
[ "$(echo "$objects" | grep -c . || true)" -eq "$sources" ] || { echo "missing CUDA objects" >&2; exit 1; }

CONTINUAL_NEXT_NATIVE_DIR="$BUILD_DIR/Release" node -e '
  require("tsx/cjs");
  const { loadNative, info } = require("./ts/index");
  const n = loadNative(), i = info();
  console.log(`== loads here: torch ${i.torch.version}, build.cuda=${i.build.cuda}, kernels.cudaBuilt=${n.kernels.cudaBuilt}, cudaAvailable=${i.torch.cudaAvailable}`);
  if (!i.build.cuda || !n.kernels.cudaBuilt) process.exit(1);
  console.log(`== process group backends: ${n.ProcessGroup.backends.join(", ")} (build.nccl=${i.build.nccl})`);
  if (!i.build.nccl || !n.ProcessGroup.backends.includes("nccl")) process.exit(1);
  if (!i.torch.cudaAvailable) {
    n.ProcessGroup.create({ rank: 0, worldSize: 1, masterAddr: "127.0.0.1", masterPort: 1, timeoutMs: 1000, backend: "nccl" }).then(
      () => process.exit(1),
      (e) => {
        console.log(`== backend nccl without a GPU: ${e.name} (field ${e.field}): ${e.message}`);
        if (e.name !== "DeviceError" || e.field !== "device") process.exit(1);
      });
  }
'

if [ "$PTX" = 1 ]; then
  echo "== PTX of native/kernels/*.cu (same flags as the build)"
  for cu in native/kernels/*.cu; do
    obj="CMakeFiles/continual_next.dir/$cu.o"
    cmd=$(cd "$BUILD_DIR" && ninja -t commands "$obj" | tail -1)
    ptx="$BUILD_DIR/$(basename "$cu" .cu).ptx"
    cmd=$(echo "$cmd" | sed -E "s# -MD -MT [^ ]+ -MF [^ ]+##; s# -c # -ptx #; s# -o [^ ]+\$# -o $ROOT/$ptx#")
    (cd "$BUILD_DIR" && sh -c "$cmd")
    v4=$(grep -cE '^\s*(ld|st)\.global\S*\.v4' "$ptx" || true)
    local_mem=$(grep -cE '^\s*(ld|st)\.local' "$ptx" || true)
    echo "   $(basename "$cu"): $v4 128-bit global loads/stores, $local_mem local-memory accesses"
    [ "$local_mem" -eq 0 ] || { echo "local memory in $cu (spills or a run-time-indexed register array)" >&2; exit 1; }
  done
fi

if [ "$TEST" = 1 ]; then
  CONTINUAL_NEXT_NATIVE_DIR="$BUILD_DIR/Release" npx mocha --no-config -r tsx/cjs --timeout 120000 test/kernels.test.ts
fi
echo "== CUDA compile check passed"
