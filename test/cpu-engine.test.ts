/**
 * The CPU engine's switches (docs/benchmarks.md): the oneDNN GEMM (CN_CPU_GEMM) and the caching
 * allocator (CN_CPU_ALLOCATOR) change speed, never results; each is reported by info().
 */
import { expect } from 'chai';
import path from 'node:path';

import { Model, Trainer, info } from '../ts/index';
import { ROOT, run } from './helpers/run';
import { TINY_SPEC } from './helpers/tiny-model';

interface Probe {
  cpuGemm: string;
  allocator: { kind: string; cachedBytes: number; limitBytes: number; hits: number; misses: number };
  logits: number[];
}

function probe(env: Record<string, string>): Probe {
  const r = run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'engine-probe.ts')], {
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe;
}

describe('CPU engine switches', function () {
  this.timeout(240_000);

  it('reuses freed step buffers (caching allocator): hits grow while training, the cache stays under its cap', async () => {
    const before = info().cpuAllocator;
    expect(before.kind).to.equal('caching');
    // wide enough that the step's buffers are above the 64 KiB the cache starts at
    const spec = { ...TINY_SPEC, vocabSize: 4096, hiddenSize: 256, numHeads: 8, numKvHeads: 2, headDim: 32, intermediateSize: 704 };
    await using model = await Model.random(spec, { seed: 1 });
    model.addAdapter({ type: 'lora', r: 4, targetModules: 'all-linear' });
    const examples = Array.from({ length: 8 }, (_, k) => {
      const ids = Array.from({ length: 64 }, (_, j) => 2 + ((k * 131 + j * 17) % 4000));
      return { inputIds: ids, labels: ids.map((t, j) => (j < 32 ? -100 : t)) };
    });
    await new Trainer(model, { epochs: 2, batchSize: 4, lrScheduler: 'constant' }).fit(examples);
    const after = info().cpuAllocator;
    expect(after.hits).to.be.above(before.hits);
    expect(after.cachedBytes).to.be.at.most(after.limitBytes);
  });

  it('CN_CPU_GEMM=mkl and CN_CPU_ALLOCATOR=system are reported and train to the same model (logits within 1e-4 of the scale)', () => {
    const fast = probe({ CN_CPU_GEMM: 'onednn' });
    const plain = probe({ CN_CPU_GEMM: 'mkl', CN_CPU_ALLOCATOR: 'system' });
    expect(fast.allocator.kind).to.equal('caching');
    expect(plain.allocator.kind).to.equal('system');
    expect(plain.cpuGemm).to.equal('aten');
    // oneDNN where libtorch has it and accepts this CPU (AVX-512); the default is what this process chose
    expect(fast.cpuGemm).to.equal(info().torch.cpuGemm);
    if (!info().torch.mkldnn) expect(fast.cpuGemm).to.equal('aten');
    expect(fast.logits.length).to.equal(plain.logits.length).and.to.be.above(0);
    const scale = Math.max(...plain.logits.map(Math.abs));
    const worst = Math.max(...fast.logits.map((x, i) => Math.abs(x - plain.logits[i])));
    // Different GEMM kernels round differently; after 3 epochs of training the logits agree to
    // float32 noise, while a wrong product would be off by O(scale).
    expect(worst, `max |diff| ${worst}, scale ${scale}`).to.be.at.most(1e-4 * scale);
  });
});
