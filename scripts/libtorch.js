'use strict';
// The libtorch provider: finds the libtorch that builds and runs the addon.
// Order: LIBTORCH (a libtorch directory) → CMAKE_PREFIX_PATH entries → the torch package of the
// Python named by PYTHON, else python3. Used by the install script, the native build, the
// prebuild writer and the runtime loader, so all agree on one libtorch.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const MIN_TORCH = [2, 4];
const FIX_HINT =
  'Install torch for Python (CPU: `PIP_RETRIES=0 pip install torch==2.13.0+cpu`; any torch >= 2.4 works), ' +
  'or set LIBTORCH to a libtorch directory (one with share/cmake/Torch/TorchConfig.cmake).';

class LibtorchNotFoundError extends Error {
  constructor(tried) {
    const lines = tried.map((t) => `  - ${t.place}: ${t.reason}`).join('\n');
    super(`continual-next: no usable libtorch found. Tried:\n${lines}\n${FIX_HINT}`);
    this.name = 'LibtorchNotFoundError';
    this.code = 'ERR_LIBTORCH_NOT_FOUND';
    this.tried = tried;
  }
}

function readVersion(root) {
  // pip's torch: <root>/version.py; the libtorch zip: <root>/build-version; else the header.
  const versionPy = path.join(root, 'version.py');
  if (fs.existsSync(versionPy)) {
    const text = fs.readFileSync(versionPy, 'utf8');
    const v = /__version__\s*=\s*'([^']+)'/.exec(text);
    const c = /^cuda[^=]*=\s*'([^']+)'/m.exec(text);
    if (v) return { version: v[1], cuda: c ? c[1] : null };
  }
  const buildVersion = path.join(root, 'build-version');
  if (fs.existsSync(buildVersion)) return { version: fs.readFileSync(buildVersion, 'utf8').trim(), cuda: null };
  for (const header of ['include/torch/headeronly/version.h', 'include/torch/csrc/api/include/torch/version.h']) {
    const file = path.join(root, header);
    if (!fs.existsSync(file)) continue;
    const m = /#define TORCH_VERSION\s*\\?\s*"([^"]+)"/.exec(fs.readFileSync(file, 'utf8'));
    if (m) return { version: m[1], cuda: null };
  }
  return null;
}

function cxx11AbiOf(root) {
  const cfg = path.join(root, 'share/cmake/Caffe2/Caffe2Config.cmake');
  const text = fs.existsSync(cfg) ? fs.readFileSync(cfg, 'utf8') : '';
  const m = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(text);
  return m ? m[1] === '1' : true; // torch >= 2.7 wheels are built with the new ABI only
}

/** Describes the libtorch rooted at `root` (the directory holding lib/ and share/cmake/Torch). */
function describeRoot(root, source) {
  const torchConfig = path.join(root, 'share/cmake/Torch/TorchConfig.cmake');
  if (!fs.existsSync(torchConfig)) return { reason: `no share/cmake/Torch/TorchConfig.cmake under ${root}` };
  const libDir = path.join(root, 'lib');
  if (!fs.existsSync(path.join(libDir, 'libtorch_cpu.so'))) return { reason: `no lib/libtorch_cpu.so under ${root}` };
  const v = readVersion(root);
  if (!v) return { reason: `cannot tell the torch version of ${root}` };
  const [major, minor] = v.version.split(/[.+]/).map(Number);
  if (major < MIN_TORCH[0] || (major === MIN_TORCH[0] && minor < MIN_TORCH[1])) {
    return { reason: `torch ${v.version} at ${root} is older than ${MIN_TORCH.join('.')}` };
  }
  const hasCudaLib = fs.existsSync(path.join(libDir, 'libc10_cuda.so'));
  const cuda = v.cuda || (hasCudaLib ? 'unknown' : null);
  return {
    torch: {
      source,
      root,
      torchDir: path.dirname(torchConfig),
      libDir,
      version: v.version.split('+')[0],
      fullVersion: v.version,
      cuda,
      cxx11Abi: cxx11AbiOf(root),
    },
  };
}

function probePython(python) {
  const code =
    'import json,os,torch\n' +
    'print(json.dumps({"root": os.path.dirname(torch.__file__)}))';
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 120000 });
  if (r.error) return { reason: r.error.code === 'ENOENT' ? `${python} not found` : String(r.error.message) };
  if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').pop();
    return { reason: `\`${python} -c "import torch"\` failed: ${last}` };
  }
  try {
    return { root: JSON.parse(r.stdout.trim().split('\n').pop()).root };
  } catch {
    return { reason: `unexpected output from ${python}` };
  }
}

/**
 * Finds libtorch or throws LibtorchNotFoundError naming every place tried.
 * @param {NodeJS.ProcessEnv} env
 */
function findLibtorch(env = process.env) {
  const tried = [];
  if (env.LIBTORCH) {
    const d = describeRoot(path.resolve(env.LIBTORCH), 'LIBTORCH');
    if (d.torch) return d.torch;
    tried.push({ place: `LIBTORCH=${env.LIBTORCH}`, reason: d.reason });
  } else {
    tried.push({ place: 'LIBTORCH', reason: 'not set' });
  }
  const prefixes = (env.CMAKE_PREFIX_PATH || '').split(path.delimiter).filter(Boolean);
  if (prefixes.length === 0) tried.push({ place: 'CMAKE_PREFIX_PATH', reason: 'not set' });
  for (const prefix of prefixes) {
    // An entry may be the libtorch root or its share/cmake directory (what torch.utils.cmake_prefix_path gives).
    const candidates = [prefix, path.resolve(prefix, '../..')];
    let found = null;
    for (const c of candidates) {
      const d = describeRoot(path.resolve(c), 'CMAKE_PREFIX_PATH');
      if (d.torch) { found = d.torch; break; }
    }
    if (found) return found;
    tried.push({ place: `CMAKE_PREFIX_PATH entry ${prefix}`, reason: 'no libtorch (share/cmake/Torch) there' });
  }
  const python = env.PYTHON || 'python3';
  const p = probePython(python);
  if (p.root) {
    const d = describeRoot(p.root, `python:${python}`);
    if (d.torch) return d.torch;
    tried.push({ place: `torch of ${python}`, reason: d.reason });
  } else {
    tried.push({ place: `torch of ${env.PYTHON ? `PYTHON=${python}` : 'python3'}`, reason: p.reason });
  }
  throw new LibtorchNotFoundError(tried);
}

/** The tag that names a prebuild compatible with this libtorch. */
function prebuildTag(torch, platform = process.platform, arch = process.arch) {
  const flavour = torch.cuda ? `cu${String(torch.cuda).replace('.', '')}` : 'cpu';
  return `${platform}-${arch}-torch${torch.version}-${flavour}`;
}

module.exports = { findLibtorch, describeRoot, prebuildTag, LibtorchNotFoundError, MIN_TORCH };

if (require.main === module) {
  try {
    console.log(JSON.stringify(findLibtorch(), null, 2));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
