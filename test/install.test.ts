/** Install-time behaviour: the libtorch provider, the loader's refusals, and the packed tarball. */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, run, tmpDir } from './helpers/run';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const provider = require(path.join(ROOT, 'scripts', 'libtorch.js'));

describe('libtorch provider', () => {
  it('finds the torch of python3', () => {
    const t = provider.findLibtorch({ PATH: process.env.PATH });
    expect(t.source).to.equal('python:python3');
    expect(fs.existsSync(path.join(t.libDir, 'libtorch_cpu.so'))).to.equal(true);
    expect(t.version).to.match(/^2\.\d+\.\d+$/);
  });

  it('prefers LIBTORCH, then CMAKE_PREFIX_PATH', () => {
    const t = provider.findLibtorch({ PATH: process.env.PATH });
    expect(provider.findLibtorch({ LIBTORCH: t.root, PYTHON: '/nonexistent/python' }).source).to.equal('LIBTORCH');
    const viaPrefix = provider.findLibtorch({ CMAKE_PREFIX_PATH: path.join(t.root, 'share', 'cmake'), PYTHON: '/nonexistent/python' });
    expect(viaPrefix.source).to.equal('CMAKE_PREFIX_PATH');
    expect(viaPrefix.libDir).to.equal(t.libDir);
  });

  it('names every place tried and the fix when nothing is found', () => {
    const empty = tmpDir('notorch');
    let err: (Error & { code?: string; tried?: unknown[] }) | undefined;
    try {
      provider.findLibtorch({ LIBTORCH: empty, CMAKE_PREFIX_PATH: empty, PYTHON: '/nonexistent/python3' });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.code).to.equal('ERR_LIBTORCH_NOT_FOUND');
    expect(err?.message).to.include(`LIBTORCH=${empty}`);
    expect(err?.message).to.include(`CMAKE_PREFIX_PATH entry ${empty}`);
    expect(err?.message).to.include('PYTHON=/nonexistent/python3');
    expect(err?.message).to.include('pip install torch');
    expect(err?.tried).to.have.length(3);
  });

  it('the install script fails with that message and exit code 1 when no torch is found', () => {
    const r = run(process.execPath, [path.join(ROOT, 'scripts', 'install.js')], {
      env: { PATH: process.env.PATH, PYTHON: '/nonexistent/python3' },
    });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/no usable libtorch found/);
    expect(r.stderr).to.match(/pip install torch/);
  });
});

describe('native loader', () => {
  it('refuses a corrupt binary through a child-process test load and lists the candidate', () => {
    const dir = tmpDir('badnative');
    const good = path.join(ROOT, 'build', 'Release');
    fs.copyFileSync(path.join(good, 'build-info.json'), path.join(dir, 'build-info.json'));
    fs.copyFileSync(path.join(good, 'continual_next_preload.node'), path.join(dir, 'continual_next_preload.node'));
    fs.writeFileSync(path.join(dir, 'continual_next.node'), Buffer.from('\x7fELF this is not a shared object'));
    const code = `
      const { loadNative } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
      try { loadNative(); console.log('loaded'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, candidates: e.candidates })); }`;
    const r = run(process.execPath, ['-e', code], { env: { ...process.env, CONTINUAL_NEXT_NATIVE_DIR: dir } });
    expect(r.status, r.stderr).to.equal(0); // the host survived
    const out = JSON.parse(r.stdout) as { name: string; code: string; candidates: { path: string; reason: string }[] };
    expect(out.name).to.equal('NativeLoadError');
    expect(out.code).to.equal('ERR_NATIVE_LOAD');
    expect(out.candidates[0].path).to.equal(dir);
    expect(out.candidates[0].reason).to.match(/test load failed/);
  });

  it('refuses a binary whose libtorch is gone, saying so', () => {
    const dir = tmpDir('staletorch');
    const good = path.join(ROOT, 'build', 'Release');
    for (const f of ['continual_next.node', 'continual_next_preload.node']) fs.copyFileSync(path.join(good, f), path.join(dir, f));
    const info = JSON.parse(fs.readFileSync(path.join(good, 'build-info.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'build-info.json'), JSON.stringify({ ...info, torchLibDir: '/nonexistent/torch/lib' }));
    const code = `
      const { loadNative } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
      try { loadNative(); } catch (e) { console.log(e.candidates[0].reason); }`;
    const r = run(process.execPath, ['-e', code], { env: { ...process.env, CONTINUAL_NEXT_NATIVE_DIR: dir } });
    expect(r.stdout).to.match(/libtorch \(\/nonexistent\/torch\/lib\) is gone/);
  });
});

describe('npm pack → install with no compiler → load', function () {
  this.timeout(300_000);

  it('installs the tarball from a matching prebuild and loads it', () => {
    const work = tmpDir('pack');
    // 1. pack the package as published (prepack compiles the TypeScript)
    const pack = run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: ROOT });
    expect(pack.status, pack.stderr).to.equal(0);
    const tarball = path.join(work, pack.stdout.trim().split('\n').pop()!);
    // 2. add a prebuild made from the current build (in a copy: the repo's prebuilds/ stays untouched)
    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    expect(run('tar', ['xzf', tarball, '-C', unpacked]).status).to.equal(0);
    // prebuild.js packages the build beside it: give the unpacked copy ours, then remove it again
    const pkgDir = path.join(unpacked, 'package');
    fs.mkdirSync(path.join(pkgDir, 'build', 'Release'), { recursive: true });
    for (const f of ['continual_next.node', 'continual_next_preload.node', 'build-info.json']) {
      fs.copyFileSync(path.join(ROOT, 'build', 'Release', f), path.join(pkgDir, 'build', 'Release', f));
    }
    const pre = run(process.execPath, [path.join(pkgDir, 'scripts', 'prebuild.js'), '--no-build'], { cwd: pkgDir });
    expect(pre.status, pre.stderr).to.equal(0);
    fs.rmSync(path.join(pkgDir, 'build'), { recursive: true });
    const prebuilds = fs.readdirSync(path.join(unpacked, 'package', 'prebuilds')).filter((d) => d.startsWith('linux-'));
    expect(prebuilds).to.have.length(1);
    const meta = JSON.parse(fs.readFileSync(path.join(unpacked, 'package', 'prebuilds', prebuilds[0], 'build-info.json'), 'utf8'));
    for (const k of ['platform', 'arch', 'torchVersion', 'cuda', 'cxx11Abi', 'napiVersion']) expect(meta).to.have.property(k);
    const withPrebuild = path.join(work, 'continual-next-with-prebuild.tgz');
    expect(run('tar', ['czf', withPrebuild, '-C', unpacked, 'package']).status).to.equal(0);

    // 3. an empty project, a PATH with node, sh and python3 but no compiler, cmake or make
    const project = path.join(work, 'project');
    const bin = path.join(work, 'bin');
    fs.mkdirSync(project);
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const python3 = run('python3', ['-c', 'import sys; print(sys.executable)']).stdout.trim();
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync(python3, path.join(bin, 'python3'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh')); // npm runs install scripts through sh
    const npmCli = fs.realpathSync(run('sh', ['-c', 'command -v npm']).stdout.trim());
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'cmake', 'make', 'ninja']) {
      expect(run('/bin/sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } }).status, `${tool} must not be on PATH`).to.not.equal(0);
    }
    const env = { PATH: bin, HOME: process.env.HOME, npm_config_cache: process.env.npm_config_cache ?? path.join(process.env.HOME ?? '/root', '.npm') };
    const install = run(process.execPath, [npmCli, 'install', '--foreground-scripts', '--prefer-offline', '--no-audit', '--no-fund', withPrebuild], { cwd: project, env });
    expect(install.status, install.stdout + install.stderr).to.equal(0);
    expect(install.stdout + install.stderr).to.match(/using the prebuilt binary/);
    const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'continual-next', 'build', 'Release', 'build-info.json'), 'utf8'));
    expect(installed.prebuild).to.equal(prebuilds[0]);

    // 4. it loads and works
    const use = run(process.execPath, ['-e', "const c = require('continual-next'); const i = c.info(); console.log(JSON.stringify({ v: i.torch.version, dir: i.nativeDir }))"], { cwd: project, env });
    expect(use.status, use.stderr).to.equal(0);
    const out = JSON.parse(use.stdout) as { v: string; dir: string };
    expect(out.v).to.match(/^2\./);
    expect(out.dir).to.equal(path.join(project, 'node_modules', 'continual-next', 'build', 'Release'));
    const bin2 = run(path.join(project, 'node_modules', '.bin', 'continual-next'), ['info'], { cwd: project, env });
    expect(bin2.status, bin2.stderr).to.equal(0);
  });
});
