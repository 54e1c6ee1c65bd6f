/** The CUDA side of the build scripts, checked without a GPU or a CUDA torch (fake layouts). */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, run, tmpDir } from './helpers/run';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const libtorch = require(path.join(ROOT, 'scripts', 'libtorch.js'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const buildNative = require(path.join(ROOT, 'scripts', 'build-native.js'));

/** A pip-style site-packages with a torch whose version.py says `cuda` (null: a CPU torch). */
function fakeTorch(cuda: string | null): { sitePackages: string; root: string } {
  const sitePackages = tmpDir('fake-torch');
  const root = path.join(sitePackages, 'torch');
  fs.mkdirSync(path.join(root, 'share/cmake/Torch'), { recursive: true });
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(root, 'share/cmake/Torch/TorchConfig.cmake'), '# fake\n');
  fs.writeFileSync(path.join(root, 'lib/libtorch_cpu.so'), '');
  // The layout of torch 2.14's generated version.py.
  fs.writeFileSync(
    path.join(root, 'version.py'),
    "from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'rocm', 'xpu']\n" +
      `__version__ = '2.14.1${cuda ? '+cu' + cuda.replace('.', '') : '+cpu'}'\ndebug = False\n` +
      `cuda: Optional[str] = ${cuda ? `'${cuda}'` : 'None'}\ngit_version = 'abc'\nhip: Optional[str] = None\n`,
  );
  return { sitePackages, root };
}

describe('CUDA build scripts', () => {
  it("the provider reads torch's CUDA version and names the prebuild cuXYZ", () => {
    const gpu = fakeTorch('13.0');
    const cpu = fakeTorch(null);
    try {
      const t = libtorch.describeRoot(gpu.root, 'test').torch;
      expect(t.cuda).to.equal('13.0');
      expect(t.version).to.equal('2.14.1');
      expect(libtorch.prebuildTag(t, 'linux', 'x64')).to.equal('linux-x64-torch2.14.1-cu130');
      const c = libtorch.describeRoot(cpu.root, 'test').torch;
      expect(c.cuda).to.equal(null);
      expect(libtorch.prebuildTag(c, 'linux', 'x64')).to.equal('linux-x64-torch2.14.1-cpu');
    } finally {
      fs.rmSync(gpu.sitePackages, { recursive: true, force: true });
      fs.rmSync(cpu.sitePackages, { recursive: true, force: true });
    }
  });

  it('passes the toolkit, arch list, nvrtc and the nvidia wheels’ include dirs to CMake', () => {
    const { sitePackages, root } = fakeTorch('13.0');
    const toolkit = tmpDir('fake-cuda');
    try {
      fs.mkdirSync(path.join(toolkit, 'bin'));
      fs.writeFileSync(path.join(toolkit, 'bin/nvcc'), '');
      for (const dir of ['nvidia/cu13/include', 'nvidia/cu13/lib', 'nvidia/nccl/include']) fs.mkdirSync(path.join(sitePackages, dir), { recursive: true });
      fs.writeFileSync(path.join(sitePackages, 'nvidia/cu13/lib/libnvrtc.so.13'), '');
      const torch = { root, cuda: '13.0', fullVersion: '2.14.1+cu130' };
      const defs = buildNative.cudaDefinitions(torch, { CUDA_HOME: toolkit });
      expect(defs.CUDA_TOOLKIT_ROOT_DIR).to.equal(fs.realpathSync(toolkit));
      expect(defs.CMAKE_CUDA_COMPILER).to.equal(path.join(fs.realpathSync(toolkit), 'bin/nvcc'));
      expect(defs.TORCH_CUDA_ARCH_LIST).to.equal('9.0');
      expect(defs.CUDA_nvrtc_LIBRARY).to.equal(path.join(sitePackages, 'nvidia/cu13/lib/libnvrtc.so.13'));
      expect(defs.CN_EXTRA_INCLUDES.split(';')).to.deep.equal([
        path.join(sitePackages, 'nvidia/cu13/include'),
        path.join(sitePackages, 'nvidia/nccl/include'),
      ]);
      expect(buildNative.cudaDefinitions(torch, { CUDA_HOME: toolkit, TORCH_CUDA_ARCH_LIST: '8.0;9.0' }).TORCH_CUDA_ARCH_LIST).to.equal('8.0;9.0');
      expect(() => buildNative.cudaDefinitions(torch, { CUDA_HOME: path.join(toolkit, 'nope') })).to.throw(/needs the CUDA toolkit \(nvcc\)/);
    } finally {
      fs.rmSync(sitePackages, { recursive: true, force: true });
      fs.rmSync(toolkit, { recursive: true, force: true });
    }
  });

  it('CN_BUILD_DIR moves the whole build out of build/ (which stays the default)', () => {
    const releaseDir = (env: NodeJS.ProcessEnv) =>
      run(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(path.join(ROOT, 'scripts', 'build-native.js'))}).RELEASE_DIR)`], {
        env: { ...process.env, CN_BUILD_DIR: undefined, ...env },
      }).stdout;
    expect(releaseDir({})).to.equal(path.join(ROOT, 'build', 'Release'));
    expect(releaseDir({ CN_BUILD_DIR: 'build-cuda' })).to.equal(path.join(ROOT, 'build-cuda', 'Release'));
  });
});
