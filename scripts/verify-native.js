'use strict';
// Child-process check of a native binary: `node verify-native.js <dir> <torchLibDir>` loads
// libtorch globally, then the addon, calls info() and prints it as JSON. The loader runs this
// before loading a binary in-process, so an ABI mismatch or a crash in a static initialiser
// kills this child, not the user's process.
const path = require('node:path');

function torchLibraries(libDir, cuda) {
  const names = ['libc10.so', 'libtorch_cpu.so'];
  if (cuda) names.push('libc10_cuda.so', 'libtorch_cuda.so');
  names.push('libtorch.so');
  return names.map((n) => path.join(libDir, n));
}

function loadInto(dir, libDir, cuda) {
  const preload = require(path.join(dir, 'continual_next_preload.node'));
  const fs = require('node:fs');
  for (const lib of torchLibraries(libDir, cuda)) {
    if (fs.existsSync(lib) || !lib.includes('cuda')) preload.loadGlobal(lib);
  }
  return require(path.join(dir, 'continual_next.node'));
}

module.exports = { torchLibraries, loadInto };

if (require.main === module) {
  const [dir, libDir, cuda] = process.argv.slice(2);
  try {
    const addon = loadInto(dir, libDir, cuda === 'cuda');
    const info = addon.info();
    process.stdout.write(JSON.stringify({ ok: true, torch: info.torch.version }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, reason: String(e && e.message ? e.message : e) }) + '\n');
    process.exit(1);
  }
}
