'use strict';
// `npm run prebuild`: builds the addon and writes it with its metadata to
// prebuilds/<platform>-<arch>-torch<version>-<cpu|cuXYZ>/, where `npm install` looks first.
const fs = require('node:fs');
const path = require('node:path');
const { build, RELEASE_DIR } = require('./build-native');
const { findLibtorch, prebuildTag } = require('./libtorch');

const ROOT = path.resolve(__dirname, '..');

function main() {
  // --no-build: package the current build; --out DIR: write under DIR instead of ./prebuilds
  const skipBuild = process.argv.includes('--no-build');
  const outArg = process.argv.indexOf('--out');
  const prebuildsRoot = outArg > 0 ? path.resolve(process.argv[outArg + 1]) : path.join(ROOT, 'prebuilds');
  const info = skipBuild ? JSON.parse(fs.readFileSync(path.join(RELEASE_DIR, 'build-info.json'), 'utf8')) : build();
  const torch = findLibtorch();
  const tag = prebuildTag(torch);
  const out = path.join(prebuildsRoot, tag);
  fs.mkdirSync(out, { recursive: true });
  for (const f of ['continual_next.node', 'continual_next_preload.node']) fs.copyFileSync(path.join(RELEASE_DIR, f), path.join(out, f));
  // torchLibDir is this machine's; the installer records the user's own.
  const { torchLibDir, builtAt, ...meta } = info;
  fs.writeFileSync(path.join(out, 'build-info.json'), JSON.stringify({ ...meta, tag, builtAt }, null, 2) + '\n');
  console.log(`continual-next: wrote prebuild ${out}`);
}

main();
