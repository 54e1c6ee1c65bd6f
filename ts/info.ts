/** Versions, devices, threads and build flags, plus a quick self-check of the native conventions. */
import fs from 'node:fs';
import path from 'node:path';

import type { NativeCudaMemory, NativeInfo } from './native/bindings';
import { loadNative, nativeDir, PACKAGE_ROOT } from './native/load';

export interface Info extends NativeInfo {
  packageVersion: string;
  node: string;
  nativeDir: string;
}

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export function info(): Info {
  const native = loadNative();
  return { packageVersion: packageVersion(), node: process.version, nativeDir: nativeDir() ?? '', ...native.info() };
}

export type CudaMemory = NativeCudaMemory;

/**
 * The CUDA caching allocator's counters for one device (what torch.cuda.memory_allocated /
 * max_memory_allocated read): bytes allocated and reserved, now and at peak, plus the device's
 * name and size. `resetPeak` starts a new peak after reading. DeviceError without CUDA.
 */
export function cudaMemory(device = 'cuda', options: { resetPeak?: boolean } = {}): CudaMemory {
  return loadNative().cudaMemory(device, options);
}

export interface SelfCheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** Exercises the native conventions end to end; every check is independent. */
export async function selfCheck(): Promise<SelfCheckResult[]> {
  const native = loadNative();
  const results: SelfCheckResult[] = [];
  const check = async (name: string, body: () => Promise<string> | string) => {
    try {
      results.push({ name, ok: true, detail: await body() });
    } catch (e) {
      results.push({ name, ok: false, detail: (e as Error).message });
    }
  };
  await check('matmul on a worker thread', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    let progress = 0;
    const r = await native.diagnostics.spin(300, () => progress++, 512);
    clearInterval(timer);
    if (ticks < 5) throw new Error(`event loop stalled (${ticks} timer ticks in 300 ms)`);
    return `${r.gflops.toFixed(1)} GFLOP/s (512² fp32), ${progress} progress events, ${ticks} timer ticks meanwhile`;
  });
  await check('C++ exceptions become typed errors', async () => {
    try {
      native.diagnostics.throwError('torch-shape');
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_TORCH') throw new Error(`got ${(e as Error).name}`);
    }
    try {
      await native.diagnostics.throwErrorAsync('typed');
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_SAFETENSORS') throw new Error(`got ${(e as Error).name}`);
    }
    return 'sync and async';
  });
  await check('tensor round trip', () => {
    const t = native.Tensor.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const back = t.toArray() as Float32Array;
    t.dispose();
    if (back.join(',') !== '1,2,3,4') throw new Error(`got ${back.join(',')}`);
    return 'Float32Array → tensor → Float32Array';
  });
  return results;
}
