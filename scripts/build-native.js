'use strict';
// Builds the native addon from source with cmake-js against the libtorch the provider finds,
// then records build metadata next to the binary (build/Release/build-info.json), which the
// loader and `npm run prebuild` compare with the torch found at run time.
// CN_BUILD_DIR (default: build/) puts the whole build elsewhere, e.g. build-cuda/ for the CUDA
// compile check (scripts/check-cuda-build.sh), so it never clobbers the CPU build the loader uses.
// CN_BUILD_JOBS caps the parallel compile jobs. CN_GLOO_INCLUDE names a folder holding gloo/ headers
// where the system has none.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { findLibtorch } = require('./libtorch');

const ROOT = path.resolve(__dirname, '..');
const OUT_DIR = process.env.CN_BUILD_DIR ? path.resolve(ROOT, process.env.CN_BUILD_DIR) : path.join(ROOT, 'build');
const RELEASE_DIR = path.join(OUT_DIR, 'Release');

/** Extra CMake definitions for a CUDA libtorch (docs/cuda.md). */
function cudaDefinitions(torch, env = process.env) {
  const defs = {};
  const toolkit = env.CUDA_HOME || env.CUDA_PATH || '/usr/local/cuda';
  // The toolkit's own directory: `nvcc` on PATH may be a wrapper script, from which torch's
  // FindCUDA guesses the wrong root.
  if (!fs.existsSync(path.join(toolkit, 'bin/nvcc'))) {
    throw new Error(
      `continual-next: torch ${torch.fullVersion} has CUDA ${torch.cuda}, which needs the CUDA toolkit (nvcc) to build ` +
        `the addon, and ${path.join(toolkit, 'bin/nvcc')} does not exist. Set CUDA_HOME to the toolkit, or use a CPU torch.`,
    );
  }
  defs.CUDA_TOOLKIT_ROOT_DIR = fs.realpathSync(toolkit);
  defs.CMAKE_CUDA_COMPILER = path.join(defs.CUDA_TOOLKIT_ROOT_DIR, 'bin/nvcc');
  // torch ignores CMAKE_CUDA_ARCHITECTURES; its fallback list starts below what nvcc 13 accepts.
  // Default: Hopper (H100/H200). Several: TORCH_CUDA_ARCH_LIST="8.0;9.0".
  defs.TORCH_CUDA_ARCH_LIST = env.TORCH_CUDA_ARCH_LIST || '9.0';
  // pip's nvidia-* wheels carry the headers (cublas, nccl) and libs the toolkit may lack.
  const sitePackages = path.dirname(torch.root);
  const includes = [];
  for (const sub of ['nvidia/cu13/include', 'nvidia/nccl/include', 'nvidia/cuda_runtime/include', 'nvidia/cublas/include']) {
    const dir = path.join(sitePackages, sub);
    if (fs.existsSync(dir)) includes.push(dir);
  }
  if (includes.length) defs.CN_EXTRA_INCLUDES = includes.join(';');
  for (const lib of ['nvidia/cu13/lib/libnvrtc.so.13', 'nvidia/cuda_nvrtc/lib/libnvrtc.so.12']) {
    const file = path.join(sitePackages, lib);
    if (fs.existsSync(file)) { defs.CUDA_nvrtc_LIBRARY = file; break; }
  }
  return defs;
}

function build({ quiet = false } = {}) {
  const torch = findLibtorch();
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const defs = {
    Torch_DIR: torch.torchDir,
    CMAKE_BUILD_TYPE: 'Release',
    CN_PACKAGE_VERSION: pkg.version,
    ...(torch.cuda ? cudaDefinitions(torch) : {}),
    // gloo's headers where the system has none (a carried copy: scripts/device/run.sh)
    ...(process.env.CN_GLOO_INCLUDE ? { CN_GLOO_INCLUDE: process.env.CN_GLOO_INCLUDE } : {}),
  };
  const env = { ...process.env };
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const jobs = String(Math.max(1, Math.min(os.availableParallelism(), Number(process.env.CN_BUILD_JOBS) || 64)));
  const args = [cmakeJs, 'build', '--out', OUT_DIR, '--parallel', jobs];
  if (fs.existsSync('/usr/bin/ninja') || fs.existsSync('/usr/local/bin/ninja')) args.push('--generator', 'Ninja');
  for (const [k, v] of Object.entries(defs)) args.push(`--CD${k}=${v}`);
  if (!quiet) console.log(`continual-next: building the native addon against torch ${torch.fullVersion} (${torch.source})`);
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) {
    const detail = quiet ? `\n${(r.stdout || '').slice(-4000)}${(r.stderr || '').slice(-4000)}` : '';
    throw new Error(`continual-next: the native build failed (cmake-js exit ${r.status}).${detail}`);
  }
  const info = buildInfo(torch, pkg.version);
  fs.writeFileSync(path.join(RELEASE_DIR, 'build-info.json'), JSON.stringify(info, null, 2) + '\n');
  return info;
}

/** Metadata that decides whether a binary fits a libtorch (compared by the loader and installer). */
function buildInfo(torch, packageVersion) {
  return {
    package: packageVersion,
    platform: process.platform,
    arch: process.arch,
    torchVersion: torch.version,
    cuda: torch.cuda,
    cxx11Abi: torch.cxx11Abi,
    napiVersion: 8,
    torchLibDir: torch.libDir,
    builtAt: new Date().toISOString(),
  };
}

module.exports = { build, buildInfo, cudaDefinitions, RELEASE_DIR, OUT_DIR };

if (require.main === module) {
  try {
    build();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
