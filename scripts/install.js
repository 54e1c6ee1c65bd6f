'use strict';
// `npm install` entry point: use a prebuilt binary when one matches the libtorch found,
// otherwise build from source. Either way the chosen binary ends up in build/Release with a
// build-info.json that records which libtorch it loads.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { findLibtorch, prebuildTag } = require('./libtorch');

const ROOT = path.resolve(__dirname, '..');
const RELEASE_DIR = path.join(ROOT, 'build', 'Release');
const FILES = ['continual_next.node', 'continual_next_preload.node'];

/** Why a prebuild's metadata does not fit the libtorch found, or null when it fits. */
function mismatch(meta, torch) {
  if (meta.platform !== process.platform || meta.arch !== process.arch) return `built for ${meta.platform}-${meta.arch}`;
  if (meta.torchVersion !== torch.version) return `built for torch ${meta.torchVersion}, found ${torch.version}`;
  if ((meta.cuda || null) !== (torch.cuda || null)) return `built for CUDA ${meta.cuda || 'none'}, found ${torch.cuda || 'none'}`;
  if (meta.cxx11Abi !== torch.cxx11Abi) return 'C++ ABI differs';
  if (Number(process.versions.napi) < meta.napiVersion) return `needs N-API ${meta.napiVersion}`;
  return null;
}

function tryPrebuild(torch) {
  if (process.env.CONTINUAL_NEXT_BUILD_FROM_SOURCE) return 'CONTINUAL_NEXT_BUILD_FROM_SOURCE is set';
  const dir = path.join(ROOT, 'prebuilds', prebuildTag(torch));
  const metaFile = path.join(dir, 'build-info.json');
  if (!fs.existsSync(metaFile)) return `no prebuild for ${prebuildTag(torch)}`;
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  const why = mismatch(meta, torch);
  if (why) return why;
  const check = spawnSync(process.execPath, [path.join(__dirname, 'verify-native.js'), dir, torch.libDir, torch.cuda ? 'cuda' : 'cpu'], { encoding: 'utf8' });
  if (check.status !== 0) return `prebuild failed its test load: ${(check.stdout || check.stderr || '').trim()}`;
  fs.mkdirSync(RELEASE_DIR, { recursive: true });
  for (const f of FILES) fs.copyFileSync(path.join(dir, f), path.join(RELEASE_DIR, f));
  fs.writeFileSync(path.join(RELEASE_DIR, 'build-info.json'), JSON.stringify({ ...meta, torchLibDir: torch.libDir, prebuild: prebuildTag(torch) }, null, 2) + '\n');
  return null;
}

function main() {
  let torch;
  try {
    torch = findLibtorch();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  const why = tryPrebuild(torch);
  if (why === null) {
    console.log(`continual-next: using the prebuilt binary for ${prebuildTag(torch)} (torch at ${torch.root})`);
    return;
  }
  console.log(`continual-next: building from source (${why})`);
  try {
    require('./build-native').build();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}

main();
