/**
 * The one place that loads the native addon.
 *
 * Candidates, in order:
 *   1. CONTINUAL_NEXT_NATIVE_DIR (a folder holding continual_next.node and build-info.json);
 *      when set, it is the only candidate
 *   2. build/Release: a source build, or the prebuild the installer chose and copied there
 *   3. prebuilds/<tag>/ whose metadata matches the libtorch found now (scripts/libtorch.js)
 * Each candidate's metadata must fit this platform and an existing libtorch; it is then loaded
 * once in a child process (scripts/verify-native.js) so a mismatched binary cannot crash this
 * process, then libtorch is loaded globally through the preload helper and the addon required.
 * Failure throws NativeLoadError listing every candidate and why it was refused.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { NativeLoadError, nativeErrorClasses } from '../errors';
import type { NativeBindings } from './bindings';

/** The package root (this file is at ts/native or dist/native). */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

interface BuildInfo {
  package: string;
  platform: string;
  arch: string;
  torchVersion: string;
  cuda: string | null;
  cxx11Abi: boolean;
  napiVersion: number;
  torchLibDir: string;
}

interface Candidate {
  dir: string;
  /** Where libtorch's libraries are for this candidate (from its metadata or the provider). */
  torchLibDir?: string;
}

let loaded: NativeBindings | undefined;
let loadedFrom: string | undefined;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const scripts = (name: string) => require(path.join(PACKAGE_ROOT, 'scripts', name));

function readBuildInfo(dir: string): BuildInfo {
  const file = path.join(dir, 'build-info.json');
  if (!fs.existsSync(path.join(dir, 'continual_next.node'))) throw new Error('no continual_next.node');
  if (!fs.existsSync(file)) throw new Error('no build-info.json beside the binary');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as BuildInfo;
}

function checkFits(info: BuildInfo, torchLibDir: string): void {
  if (info.platform !== process.platform || info.arch !== process.arch) {
    throw new Error(`built for ${info.platform}-${info.arch}, this is ${process.platform}-${process.arch}`);
  }
  const napi = Number(process.versions.napi);
  if (napi < info.napiVersion) throw new Error(`needs N-API ${info.napiVersion}, Node has ${napi}`);
  if (!fs.existsSync(path.join(torchLibDir, 'libtorch_cpu.so'))) {
    throw new Error(`its libtorch (${torchLibDir}) is gone; reinstall torch or rebuild (npm run build:native)`);
  }
}

/** A stamp that changes whenever the binary or the libtorch it loads changes. */
function stampOf(dir: string, torchLibDir: string): string {
  const parts = [path.join(dir, 'continual_next.node'), path.join(torchLibDir, 'libtorch_cpu.so')].map((f) => {
    const s = fs.statSync(f);
    return `${f}:${s.size}:${s.mtimeMs}`;
  });
  return createHash('sha256').update(parts.join('|') + process.version).digest('hex').slice(0, 16);
}

/** Loads the candidate in a child process first; remembers success in a stamp file. */
function verifyInChild(dir: string, torchLibDir: string, cuda: boolean): void {
  const stampFile = path.join(dir, '.verified');
  const stamp = stampOf(dir, torchLibDir);
  try {
    if (fs.readFileSync(stampFile, 'utf8').trim() === stamp) return;
  } catch {
    /* not verified yet */
  }
  const child = spawnSync(
    process.execPath,
    [path.join(PACKAGE_ROOT, 'scripts', 'verify-native.js'), dir, torchLibDir, cuda ? 'cuda' : 'cpu'],
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OMP_NUM_THREADS: '1' } },
  );
  if (child.status !== 0) {
    let reason = child.signal ? `test load was killed by ${child.signal}` : `test load exited with code ${child.status}`;
    try {
      const out = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { reason?: string };
      if (out.reason) reason = `test load failed: ${out.reason}`;
    } catch {
      /* keep the exit status */
    }
    throw new Error(reason);
  }
  try {
    fs.writeFileSync(stampFile, stamp + '\n');
  } catch {
    /* read-only install: verify again next time */
  }
}

function candidates(tried: { path: string; reason: string }[]): Candidate[] {
  const list: Candidate[] = [];
  const envDir = process.env.CONTINUAL_NEXT_NATIVE_DIR;
  if (envDir) return [{ dir: path.resolve(envDir) }];
  list.push({ dir: path.join(PACKAGE_ROOT, 'build', 'Release') });
  const prebuilds = path.join(PACKAGE_ROOT, 'prebuilds');
  if (fs.existsSync(prebuilds)) {
    const dirs = fs.readdirSync(prebuilds).filter((d) => fs.existsSync(path.join(prebuilds, d, 'build-info.json')));
    if (dirs.length > 0) {
      try {
        const torch = scripts('libtorch.js').findLibtorch();
        const tag = scripts('libtorch.js').prebuildTag(torch) as string;
        for (const d of dirs) {
          if (d === tag) list.push({ dir: path.join(prebuilds, d), torchLibDir: torch.libDir });
          else tried.push({ path: path.join(prebuilds, d), reason: `prebuild for ${d}, the libtorch found is ${tag}` });
        }
      } catch (e) {
        tried.push({ path: prebuilds, reason: (e as Error).message });
      }
    }
  }
  return list;
}

/** Loads (once) and returns the native addon, or throws NativeLoadError. */
export function loadNative(): NativeBindings {
  if (loaded) return loaded;
  const tried: { path: string; reason: string }[] = [];
  for (const c of candidates(tried)) {
    try {
      const info = readBuildInfo(c.dir);
      const torchLibDir = c.torchLibDir ?? info.torchLibDir;
      checkFits(info, torchLibDir);
      verifyInChild(c.dir, torchLibDir, Boolean(info.cuda));
      const addon = scripts('verify-native.js').loadInto(c.dir, torchLibDir, Boolean(info.cuda)) as NativeBindings;
      addon.registerErrorClasses(nativeErrorClasses);
      loaded = addon;
      loadedFrom = c.dir;
      return addon;
    } catch (e) {
      tried.push({ path: c.dir, reason: (e as Error).message });
    }
  }
  const lines = tried.map((t) => `  - ${t.path}: ${t.reason}`).join('\n');
  throw new NativeLoadError(
    `continual-next: could not load the native addon. Tried:\n${lines}\n` +
      'Rebuild it with `npm rebuild continual-next` (needs a C++ compiler, cmake and pip torch), ' +
      'or install a torch that matches a shipped prebuild.',
    tried,
  );
}

/** The folder the addon was loaded from (undefined before loading). */
export function nativeDir(): string | undefined {
  return loadedFrom;
}
