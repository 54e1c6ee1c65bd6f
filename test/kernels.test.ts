/**
 * Fused ops (native/kernels): each libtorch reference against PyTorch's autograd (HF's way of
 * writing the op) and against finite differences; on a CUDA machine, each CUDA kernel against
 * its reference, forward and backward, in float32, bfloat16 and float16.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { DeviceError, InvalidArgumentError, info, loadNative } from '../ts/index';
import type { DType, KernelOptions, KernelResult, NativeTensor } from '../ts/native/bindings';
import { ROOT } from './helpers/run';

type Op = 'rmsNorm' | 'swiglu' | 'rope' | 'linear' | 'loraLinear' | 'distillKl' | 'crossEntropy';

interface Spec {
  shape: number[];
  data: Float32Array;
  /** int64 for token ids (the values in `data` are integers); float32 when absent */
  dtype?: 'int64';
}

interface Case {
  name: string;
  op: Op;
  inputs: Record<string, Spec>;
  eps?: number;
  layout?: 'bhsd' | 'bshd';
  gradOutput: Spec;
  scaling?: number;
}

const DIFFERENTIABLE: Record<Op, string[]> = {
  rmsNorm: ['x', 'weight'],
  swiglu: ['gate', 'up'],
  rope: ['x'],
  linear: ['x', 'weight', 'bias'],
  loraLinear: ['x', 'weight', 'bias', 'a', 'b'],
  distillKl: ['student'],
  crossEntropy: ['logits'],
};
/** The inputs whose gradient an op returns (a zero-length bias is "no bias"). */
const differentiable = (c: Case) => DIFFERENTIABLE[c.op].filter((n) => c.inputs[n].data.length > 0);

// ---- data ----------------------------------------------------------------------------------------

/** Deterministic standard-normal-ish values (mulberry32 + Box-Muller). */
function randn(seed: number, n: number, scale = 1, shift = 0): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    const u = Math.max(next(), 1e-12), v = next();
    out[i] = shift + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const spec = (shape: number[], seed: number, scale = 1, shift = 0): Spec => ({ shape, data: randn(seed, numel(shape), scale, shift) });

/** cos/sin [B, 1, S, D] as the decoder makes them: positions * inv_freq, halves duplicated. */
function rotary(batch: number, seq: number, dim: number, offsets: number[]): { cos: Spec; sin: Spec } {
  const cos = new Float32Array(batch * seq * dim), sin = new Float32Array(batch * seq * dim);
  for (let b = 0; b < batch; ++b) {
    for (let s = 0; s < seq; ++s) {
      for (let i = 0; i < dim; ++i) {
        const f = (s + offsets[b]) / Math.pow(10000, (2 * (i % (dim / 2))) / dim);
        cos[(b * seq + s) * dim + i] = Math.cos(f);
        sin[(b * seq + s) * dim + i] = Math.sin(f);
      }
    }
  }
  return { cos: { shape: [batch, 1, seq, dim], data: cos }, sin: { shape: [batch, 1, seq, dim], data: sin } };
}

function rmsNormCase(name: string, lead: number[], cols: number, seed: number): Case {
  const shape = [...lead, cols];
  return {
    name,
    op: 'rmsNorm',
    eps: 1e-6,
    inputs: { x: spec(shape, seed, 1.5, 0.2), weight: spec([cols], seed + 1, 0.1, 1) },
    gradOutput: spec(shape, seed + 2),
  };
}

function swigluCase(name: string, shape: number[], seed: number): Case {
  return { name, op: 'swiglu', inputs: { gate: spec(shape, seed, 2), up: spec(shape, seed + 1) }, gradOutput: spec(shape, seed + 2) };
}

function ropeCase(name: string, [b, h, s, d]: number[], seed: number, options: { general?: boolean; layout?: 'bshd' } = {}): Case {
  const { cos, sin } = options.general
    ? { cos: spec([1, 1, s, d], seed + 3), sin: spec([1, 1, s, d], seed + 4) } // arbitrary values, broadcast over B too
    : rotary(b, s, d, Array.from({ length: b }, (_, i) => 3 * i));
  const xShape = options.layout === 'bshd' ? [b, s, h, d] : [b, h, s, d];
  return { name, op: 'rope', layout: options.layout, inputs: { x: spec(xShape, seed), cos, sin }, gradOutput: spec([b, h, s, d], seed + 2) };
}

/** x [..., in] -> [..., out]; bias of length 0 for none; LoRA a [r, in], b [out, r] when r > 0. */
function linearCase(name: string, lead: number[], inF: number, outF: number, seed: number, o: { bias: boolean; r?: number }): Case {
  const inputs: Record<string, Spec> = {
    x: spec([...lead, inF], seed),
    weight: spec([outF, inF], seed + 1, 0.2),
    bias: o.bias ? spec([outF], seed + 2) : { shape: [0], data: new Float32Array(0) },
  };
  if (o.r) {
    inputs.a = spec([o.r, inF], seed + 3, 0.3);
    inputs.b = spec([outF, o.r], seed + 4, 0.3);
  }
  return { name, op: o.r ? 'loraLinear' : 'linear', inputs, scaling: o.r ? 2 : undefined, gradOutput: spec([...lead, outF], seed + 5) };
}

/** LwF's KL over [rows, vocab] logits at temperature T (passed as `scaling`); gradOutput is 0-d. */
function distillCase(name: string, rows: number, vocab: number, T: number, seed: number): Case {
  return {
    name,
    op: 'distillKl',
    inputs: { student: spec([rows, vocab], seed, 3), teacher: spec([rows, vocab], seed + 1, 3) },
    scaling: T,
    gradOutput: { shape: [], data: Float32Array.from([0.7]) },
  };
}

/** The LM loss over [rows, vocab] logits; `ignored` rows get target −100. gradOutput is 0-d. */
function crossEntropyCase(name: string, rows: number, vocab: number, seed: number, ignored: number[] = []): Case {
  const targets = new Float32Array(rows);
  for (let r = 0; r < rows; ++r) targets[r] = ignored.includes(r) ? -100 : (r * 7919 + seed) % vocab;
  return {
    name,
    op: 'crossEntropy',
    inputs: { logits: spec([rows, vocab], seed, 3), targets: { shape: [rows], data: targets, dtype: 'int64' } },
    gradOutput: { shape: [], data: Float32Array.from([0.7]) },
  };
}

// ---- running ops ---------------------------------------------------------------------------------

const native = loadNative();
const kernels = native.kernels;

function tensor(s: Spec): NativeTensor {
  if (s.dtype === 'int64') return native.Tensor.fromArray(BigInt64Array.from(s.data, (v) => BigInt(v)), s.shape, 'int64');
  return native.Tensor.fromArray(s.data, s.shape, 'float32');
}

interface Result {
  output: Float32Array;
  grads: Record<string, Float32Array>;
}

async function runCase(c: Case, options: KernelOptions & { dropout?: number; seed?: number }, withGrad = true): Promise<Result> {
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([n, s]) => [n, tensor(s)]));
  const gradOutput = withGrad ? tensor(c.gradOutput) : undefined;
  const opts = { ...options, gradOutput };
  let r: KernelResult<string>;
  try {
    if (c.op === 'rmsNorm') r = await kernels.rmsNorm(inputs.x, inputs.weight, c.eps ?? 1e-6, opts);
    else if (c.op === 'swiglu') r = await kernels.swiglu(inputs.gate, inputs.up, opts);
    else if (c.op === 'rope') r = await kernels.rope(inputs.x, inputs.cos, inputs.sin, { ...opts, layout: c.layout });
    else if (c.op === 'linear') r = await kernels.linear(inputs.x, inputs.weight, inputs.bias, opts);
    else if (c.op === 'loraLinear') r = await kernels.loraLinear(inputs.x, inputs.weight, inputs.bias, inputs.a, inputs.b, c.scaling ?? 1, opts);
    else if (c.op === 'distillKl') r = await kernels.distillKl(inputs.student, inputs.teacher, c.scaling ?? 1, opts);
    else r = await kernels.crossEntropy(inputs.logits, inputs.targets, opts);
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
    gradOutput?.dispose();
  }
  const out: Result = { output: r.output.toArray() as Float32Array, grads: {} };
  r.output.dispose();
  for (const [n, g] of Object.entries(r.grads)) {
    out.grads[n] = g!.toArray() as Float32Array;
    g!.dispose();
  }
  return out;
}

/** Every |a - e| <= tol * max|e| (a scale-aware bound: wrong indexing or math gives O(1) errors). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string): void {
  expect(actual.length, `${label}: length`).to.equal(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; ++i) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = -1, worstErr = 0;
  for (let i = 0; i < expected.length; ++i) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= worstErr)) {
      worstErr = err;
      worst = i;
    }
  }
  expect(Number.isFinite(scale) && scale > 0, `${label}: expected values are finite and not all zero`).to.equal(true);
  expect(worstErr, `${label}: max |diff| ${worstErr} at ${worst} (${actual[worst]} vs ${expected[worst]}), scale ${scale}`).to.be.at.most(tol * scale);
}

// ---- cases ---------------------------------------------------------------------------------------

const CPU_CASES: Case[] = [
  rmsNormCase('rmsNorm [2,3,64]', [2, 3], 64, 11),
  rmsNormCase('rmsNorm [5,37] (odd width)', [5], 37, 21),
  swigluCase('swiglu [3,5,24]', [3, 5, 24], 31),
  swigluCase('swiglu [7,13] (odd size)', [7, 13], 41),
  ropeCase('rope [2,3,5,16] decoder cos/sin', [2, 3, 5, 16], 51),
  ropeCase('rope [2,2,4,6] general cos/sin, broadcast batch', [2, 2, 4, 6], 61, { general: true }),
  ropeCase('rope [2,3,5,16] strided (bshd view)', [2, 3, 5, 16], 71, { layout: 'bshd' }),
];

// The projections on the engine's GEMM (kernels/linear.h) against ATen's at::linear composition,
// LwF's fused KL (kernels/distill_kl.h) against log_softmax + kl_div, and the LM loss
// (kernels/cross_entropy.h) against at::cross_entropy_loss.
const LINEAR_CASES: Case[] = [
  linearCase('linear [4,7,24]->40 with bias', [4, 7], 24, 40, 81, { bias: true }),
  linearCase('linear [9,33]->17 without bias', [9], 33, 17, 91, { bias: false }),
  linearCase('linear one row with bias (as in decoding)', [1, 1], 24, 40, 101, { bias: true }),
  // the few-rows product (kernels/few_rows_gemm.h) at each width of its row vectors (1-4 × 8 rows,
  // 12-3 W rows at a time), with padded rows and a tail of W rows, and a range shorter than a group
  linearCase('linear [5,40]->29 with bias (few-rows: one row vector, 12 W rows, tail 5)', [5], 40, 29, 102, { bias: true }),
  linearCase('linear [13,67]->50 with bias (few-rows: two row vectors, 6 W rows, tail 2)', [13], 67, 50, 103, { bias: true }),
  linearCase('linear [20,33]->10 without bias (few-rows: three row vectors, 4 W rows, tail 2)', [20], 33, 10, 104, { bias: false }),
  linearCase('linear [32,64]->96 without bias (the most rows the few-rows product takes)', [32], 64, 96, 105, { bias: false }),
  linearCase('linear [7,300]->2 with bias (few-rows: fewer W rows than a group)', [7], 300, 2, 106, { bias: true }),
  linearCase('loraLinear [3,5,24]->40 r 4 with bias', [3, 5], 24, 40, 111, { bias: true, r: 4 }),
  linearCase('loraLinear one row r 8 without bias', [1], 16, 24, 121, { bias: false, r: 8 }),
  // shapes gemm.cc sends to oneDNN's inner product on AVX2-only CPUs (backend 'mixed')
  linearCase('linear [2,3,16]->8192 with bias (an LM head)', [2, 3], 16, 8192, 151, { bias: true }),
  linearCase('loraLinear 5 rows 512->3000 r 4 with bias (decoding over a large weight)', [5], 512, 3000, 161, { bias: true, r: 4 }),
  // ranks kernels/low_rank_cpu.cc fuses, row counts that leave a tail after its row blocks, and one it does not (12)
  linearCase('loraLinear [37]->200 r 8 with bias (fused low-rank products)', [37], 96, 200, 171, { bias: true, r: 8 }),
  linearCase('loraLinear [3,7,40]->70 r 16 (fused)', [3, 7], 40, 70, 181, { bias: false, r: 16 }),
  linearCase('loraLinear [2,9,40]->70 r 32 (fused)', [2, 9], 40, 70, 191, { bias: true, r: 32 }),
  linearCase('loraLinear [11]->48 r 64 (fused)', [11], 64, 48, 201, { bias: true, r: 64 }),
  linearCase('loraLinear [4,256,256]->704 r 8 (rows split over threads)', [4, 256], 256, 704, 221, { bias: false, r: 8 }),
  linearCase('loraLinear [5,3] 44->50 r 8 (fused, column tails in both up-products)', [5, 3], 44, 50, 231, { bias: true, r: 8 }),
  linearCase('loraLinear [13]->30 r 12 (ATen products)', [13], 20, 30, 211, { bias: true, r: 12 }),
  distillCase('distillKl [7,300] T 2', 7, 300, 2, 131),
  distillCase('distillKl [3,4099] T 1 (odd vocab)', 3, 4099, 1, 141),
  crossEntropyCase('crossEntropy [9,300]', 9, 300, 231),
  crossEntropyCase('crossEntropy [20,4099] (odd vocab, rows over threads, two rows ignored)', 20, 4099, 241, [3, 17]),
];

function pythonReference(cases: Case[], dtypes: DType[]): Result[] {
  const payload = dtypes.flatMap((dtype) =>
    cases.map((c) => ({
      op: c.op,
      dtype,
      eps: c.eps,
      layout: c.layout,
      inputs: Object.fromEntries(Object.entries(c.inputs).map(([n, s]) => [n, { shape: s.shape, data: Array.from(s.data) }])),
      gradOutput: { shape: c.gradOutput.shape, data: Array.from(c.gradOutput.data) },
    })),
  );
  const r = spawnSync('python3', [path.join(ROOT, 'test', 'python', 'kernels_reference.py')], {
    input: JSON.stringify(payload),
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`kernels_reference.py failed (${r.status}):\n${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as { output: number[]; grads: Record<string, number[]> }[];
  return parsed.map((p) => ({
    output: Float32Array.from(p.output),
    grads: Object.fromEntries(Object.entries(p.grads).map(([n, g]) => [n, Float32Array.from(g)])),
  }));
}

// ---- tests ---------------------------------------------------------------------------------------

describe('fused kernels (native/kernels)', function () {
  this.timeout(120_000);

  describe('reference ops against PyTorch autograd (HF formulation)', () => {
    const dtypes: DType[] = ['float32', 'bfloat16'];
    let expected: Result[] = [];
    before(function () {
      this.timeout(120_000);
      expected = pythonReference(CPU_CASES, dtypes);
    });
    dtypes.forEach((dtype, di) => {
      // float32: same math up to summation order; bfloat16: within about one bf16 rounding.
      const tol = dtype === 'float32' ? 2e-6 : 1 / 64;
      CPU_CASES.forEach((c, ci) => {
        it(`${c.name} ${dtype}: output and gradients`, async () => {
          const want = expected[di * CPU_CASES.length + ci];
          const got = await runCase(c, { impl: 'reference', dtype });
          expectClose(got.output, want.output, tol, 'output');
          expect(Object.keys(got.grads).sort()).to.deep.equal([...DIFFERENTIABLE[c.op]].sort());
          for (const n of DIFFERENTIABLE[c.op]) expectClose(got.grads[n], want.grads[n], dtype === 'float32' ? 1e-5 : 1 / 32, `grad ${n}`);
        });
      });
    });
  });

  describe('reference gradients against finite differences (float64)', () => {
    // d/dh sum(op(inputs + h v) * gradOutput) at h = 0, for a random direction v per input.
    for (const c of CPU_CASES) {
      it(`${c.name}`, async () => {
        const analytic = await runCase(c, { impl: 'reference', dtype: 'float64' });
        for (const name of DIFFERENTIABLE[c.op]) {
          const base = c.inputs[name];
          const v = randn(999, base.data.length);
          const h = 1e-3;
          const objective = async (sign: number) => {
            const moved = { ...c, inputs: { ...c.inputs, [name]: { shape: base.shape, data: base.data.map((x, i) => x + sign * h * v[i]) } } };
            const r = await runCase(moved, { impl: 'reference', dtype: 'float64' }, false);
            return r.output.reduce((acc, y, i) => acc + y * c.gradOutput.data[i], 0);
          };
          const numeric = ((await objective(1)) - (await objective(-1))) / (2 * h);
          const g = analytic.grads[name];
          const exact = g.reduce((acc, gi, i) => acc + gi * v[i], 0);
          const norm = Math.sqrt(g.reduce((a, gi) => a + gi * gi, 0) * v.reduce((a, vi) => a + vi * vi, 0));
          expect(Math.abs(numeric - exact), `${name}: numeric ${numeric} vs autograd ${exact}`).to.be.at.most(2e-3 * norm + 1e-6);
        }
      });
    }
  });

  describe('CPU kernels against the reference (float32)', () => {
    // Same math, one pass: equal up to float32 summation order.
    for (const c of [...CPU_CASES, ...LINEAR_CASES]) {
      it(`${c.name}: output and gradients`, async () => {
        const got = await runCase(c, { impl: 'cpu' });
        const want = await runCase(c, { impl: 'reference' });
        // the KL and the loss are sums over rows × vocab of float32 terms: summation order shows at ~1e-5
        expectClose(got.output, want.output, c.op === 'distillKl' || c.op === 'crossEntropy' ? 2e-5 : 2e-6, 'output');
        expect(Object.keys(got.grads).sort()).to.deep.equal(differentiable(c).sort());
        for (const n of differentiable(c)) expectClose(got.grads[n], want.grads[n], 1e-5, `grad ${n}`);
      });
    }

    it('leaves every input as it was (a one-row product must not write into the bias)', async () => {
      for (const c of LINEAR_CASES.filter((l) => l.op === 'linear' || l.op === 'loraLinear')) {
        const inputs = Object.fromEntries(Object.entries(c.inputs).map(([n, sp]) => [n, tensor(sp)]));
        try {
          const r = c.op === 'linear'
            ? await kernels.linear(inputs.x, inputs.weight, inputs.bias, { impl: 'cpu' })
            : await kernels.loraLinear(inputs.x, inputs.weight, inputs.bias, inputs.a, inputs.b, c.scaling ?? 1, { impl: 'cpu' });
          r.output.dispose();
          for (const [n, t] of Object.entries(inputs)) expect(Array.from(t.toArray() as Float32Array), `${c.name}: ${n}`).to.deep.equal(Array.from(c.inputs[n].data));
        } finally {
          for (const t of Object.values(inputs)) t.dispose();
        }
      }
    });
    it('crossEntropy: a target outside the vocabulary is an InvalidArgumentError naming its row', async () => {
      const c = crossEntropyCase('bad target', 4, 10, 1);
      c.inputs.targets.data[2] = 10;
      let err: unknown;
      try {
        await runCase(c, { impl: 'cpu' });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(InvalidArgumentError);
      expect((err as Error).message).to.match(/target 10 at row 2/);
    });
  });

  describe('dispatch', () => {
    it("'auto' runs the CPU kernel on float32 CPU tensors and the reference on bfloat16 ones", async () => {
      for (const c of CPU_CASES) {
        const a = await runCase(c, { impl: 'auto' });
        const k = await runCase(c, { impl: 'cpu' });
        expect(Array.from(a.output)).to.deep.equal(Array.from(k.output));
        for (const n of DIFFERENTIABLE[c.op]) expect(Array.from(a.grads[n])).to.deep.equal(Array.from(k.grads[n]));
        const ab = await runCase(c, { impl: 'auto', dtype: 'bfloat16' });
        const rb = await runCase(c, { impl: 'reference', dtype: 'bfloat16' });
        expect(Array.from(ab.output)).to.deep.equal(Array.from(rb.output));
      }
    });

    it("'cpu' on what the CPU kernel cannot take is an InvalidArgumentError saying why", async () => {
      const err = await runCase(CPU_CASES[0], { impl: 'cpu', dtype: 'bfloat16' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(InvalidArgumentError);
      expect((err as Error).message).to.match(/rmsNorm: the CPU kernel cannot run: float32 only/);
    });

    it("'cuda' on CPU tensors is a DeviceError naming the reason", async () => {
      for (const c of CPU_CASES.slice(0, 3)) {
        const err = await runCase(c, { impl: 'cuda' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(DeviceError);
        expect((err as Error).message).to.match(kernels.cudaBuilt ? /needs CUDA tensors/ : /not in this build/);
      }
    });

    it('rejects an unknown impl and bad arguments with typed errors', async () => {
      const c = CPU_CASES[0];
      const err = await runCase(c, { impl: 'fastest' as never }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(InvalidArgumentError);
      const x = tensor(c.inputs.x), w = tensor(c.inputs.weight);
      try {
        expect(() => kernels.rmsNorm(x, w, 'small' as never)).to.throw(InvalidArgumentError, /eps/);
        expect(() => kernels.rope(x, w, w, { layout: 'hsd' as never })).to.throw(InvalidArgumentError, /layout/);
      } finally {
        x.dispose();
        w.dispose();
      }
    });

    it('reports whether the CUDA kernels are compiled in, consistently with info()', () => {
      expect(kernels.cudaBuilt).to.equal(info().build.cuda);
    });
  });

  describe('CUDA kernels against the reference [gpu]', function () {
    const GPU_CASES: Case[] = [
      ...CPU_CASES,
      rmsNormCase('rmsNorm [3000,256] (more rows than blocks)', [3000], 256, 101),
      rmsNormCase('rmsNorm [4,4096]', [4], 4096, 111),
      rmsNormCase('rmsNorm [6,20000] (too wide: reference)', [6], 20000, 115),
      swigluCase('swiglu [4,333,129] (unaligned)', [4, 333, 129], 121),
      swigluCase('swiglu [8,64,1024]', [8, 64, 1024], 131),
      ropeCase('rope [2,8,96,128] strided (bshd view)', [2, 8, 96, 128], 141, { layout: 'bshd' }),
      ropeCase('rope [1,4,33,64] general cos/sin', [1, 4, 33, 64], 151, { general: true }),
    ];
    const gpu = info().torch.cudaAvailable && kernels.cudaBuilt;
    before(function () {
      if (!gpu) this.skip();
    });
    const tolerances: Record<string, { out: number; grad: number }> = {
      float32: { out: 1e-5, grad: 1e-4 },
      bfloat16: { out: 1 / 64, grad: 1 / 32 },
      float16: { out: 1 / 512, grad: 1 / 256 },
    };
    for (const dtype of ['float32', 'bfloat16', 'float16'] as DType[]) {
      for (const c of GPU_CASES) {
        it(`${c.name} ${dtype}: kernel vs reference, forward and backward`, async () => {
          const ref = await runCase(c, { impl: 'reference', device: 'cuda', dtype });
          const wide = c.name.includes('too wide');
          const cu = await runCase(c, { impl: wide ? 'auto' : 'cuda', device: 'cuda', dtype });
          const tol = tolerances[dtype];
          expectClose(cu.output, ref.output, tol.out, 'output');
          for (const n of DIFFERENTIABLE[c.op]) expectClose(cu.grads[n], ref.grads[n], tol.grad, `grad ${n}`);
          if (!wide) {
            // 'auto' on CUDA tensors takes the kernel: deterministic, so bit-identical to 'cuda'.
            const auto = await runCase(c, { impl: 'auto', device: 'cuda', dtype });
            expect(Array.from(auto.output)).to.deep.equal(Array.from(cu.output));
            for (const n of DIFFERENTIABLE[c.op]) expect(Array.from(auto.grads[n])).to.deep.equal(Array.from(cu.grads[n]));
          }
        });
      }
    }

    it("'cuda' refuses what the kernel cannot take, saying why", async () => {
      const x = native.Tensor.fromArray(new Float32Array(20000), [1, 20000], 'float32');
      const w = native.Tensor.fromArray(new Float32Array(20000), [20000], 'float32');
      try {
        const err = await kernels.rmsNorm(x, w, 1e-6, { impl: 'cuda', device: 'cuda' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(InvalidArgumentError);
        expect((err as Error).message).to.match(/last dimension above/);
      } finally {
        x.dispose();
        w.dispose();
      }
    });
  });
});

describe('decode attention (one query per row over a KV cache, kernels/decode_attention.h)', () => {
  /** keyValid as 0/1; k and v get `capacity` ≥ prefix + keys positions, as a cache buffer has. */
  async function step(B: number, Hq: number, Hkv: number, D: number, capacity: number, prefix: number, valid: number[][], seed: number, impl: 'cpu' | 'reference') {
    const q = native.Tensor.fromArray(randn(seed, B * Hq * D), [B, Hq, 1, D], 'float32');
    const k = native.Tensor.fromArray(randn(seed + 1, B * Hkv * capacity * D), [B, Hkv, capacity, D], 'float32');
    const v = native.Tensor.fromArray(randn(seed + 2, B * Hkv * capacity * D), [B, Hkv, capacity, D], 'float32');
    const keyValid = native.Tensor.fromArray(Uint8Array.from(valid.flat()), [B, valid[0].length], 'bool');
    try {
      const r = await kernels.decodeAttention(q, k, v, keyValid, prefix, { impl });
      const out = r.output.toArray() as Float32Array;
      expect(r.output.shape).to.deep.equal([B, 1, Hq * D]);
      r.output.dispose();
      return out;
    } finally {
      for (const t of [q, k, v, keyValid]) t.dispose();
    }
  }
  const rows = (B: number, T: number, invalid: (b: number, t: number) => boolean) =>
    Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (invalid(b, t) ? 0 : 1)));

  const cases = [
    // left padding (row b has b padded keys), grouped-query heads, a cache with spare capacity
    { name: 'B 3, Hq 8 / Hkv 2, D 32, 21 keys of 64, left padding', B: 3, Hq: 8, Hkv: 2, D: 32, cap: 64, prefix: 0, valid: rows(3, 21, (b, t) => t < 2 * b) },
    // a finished row whose new key is padding: it still sees itself; D with an eight-lane tail
    { name: 'B 2, Hq 4 / Hkv 4, D 20, finished row (its own key masked)', B: 2, Hq: 4, Hkv: 4, D: 20, cap: 9, prefix: 0, valid: rows(2, 9, (b, t) => b === 1 && t >= 6) },
    // prefix-tuning keys before the real ones, always visible
    { name: 'B 2, Hq 6 / Hkv 3, D 16, 5 prefix keys', B: 2, Hq: 6, Hkv: 3, D: 16, cap: 40, prefix: 5, valid: rows(2, 30, (b, t) => b === 0 && t < 4) },
  ];
  for (const c of cases) {
    it(`${c.name}: the kernel equals SDPA with a mask`, async () => {
      const got = await step(c.B, c.Hq, c.Hkv, c.D, c.cap, c.prefix, c.valid, 300, 'cpu');
      const want = await step(c.B, c.Hq, c.Hkv, c.D, c.cap, c.prefix, c.valid, 300, 'reference');
      expectClose(got, want, 2e-6, 'output');
    });
  }

  it('masked keys do not move the output; visible ones do', async () => {
    const valid = rows(1, 12, (_, t) => t < 3);
    const base = await step(1, 2, 1, 8, 12, 0, valid, 310, 'cpu');
    const unmasked = await step(1, 2, 1, 8, 12, 0, rows(1, 12, () => false), 310, 'cpu');
    expect(Array.from(base)).to.not.deep.equal(Array.from(unmasked));
    const ref = await step(1, 2, 1, 8, 12, 0, valid, 310, 'reference');
    expectClose(base, ref, 2e-6, 'output');
  });

  it("'cpu' on two queries per row is an InvalidArgumentError", async () => {
    const q = native.Tensor.fromArray(randn(1, 2 * 2 * 8), [1, 2, 2, 8], 'float32');
    const k = native.Tensor.fromArray(randn(2, 2 * 4 * 8), [1, 2, 4, 8], 'float32');
    const keyValid = native.Tensor.fromArray(Uint8Array.from([1, 1, 1, 1]), [1, 4], 'bool');
    try {
      const err = await kernels.decodeAttention(q, k, k, keyValid, 0, { impl: 'cpu' }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(InvalidArgumentError);
      expect((err as Error).message).to.match(/decodeAttention: the CPU kernel cannot run/);
    } finally {
      for (const t of [q, k, keyValid]) t.dispose();
    }
  });
});

describe('causal attention (whole sequences, kernels/causal_attention.h)', () => {
  /** Output and gradients of q, k, v for one call; layout 'bshd' passes them as transposed views (the decoder's). */
  async function attend(B: number, Hq: number, Hkv: number, S: number, D: number, seed: number, impl: 'cpu' | 'reference', layout: 'bhsd' | 'bshd' = 'bhsd') {
    const shape = (H: number) => (layout === 'bhsd' ? [B, H, S, D] : [B, S, H, D]);
    const q = native.Tensor.fromArray(randn(seed, B * Hq * S * D), shape(Hq), 'float32');
    const k = native.Tensor.fromArray(randn(seed + 1, B * Hkv * S * D), shape(Hkv), 'float32');
    const v = native.Tensor.fromArray(randn(seed + 2, B * Hkv * S * D), shape(Hkv), 'float32');
    const g = native.Tensor.fromArray(randn(seed + 3, B * Hq * S * D), shape(Hq), 'float32');
    try {
      const r = await kernels.causalAttention(q, k, v, { impl, gradOutput: g, layout });
      expect(r.output.shape).to.deep.equal(shape(Hq));
      const out = { output: r.output.toArray() as Float32Array, q: r.grads.q.toArray() as Float32Array, k: r.grads.k.toArray() as Float32Array, v: r.grads.v.toArray() as Float32Array };
      for (const t of [r.output, r.grads.q, r.grads.k, r.grads.v]) t.dispose();
      return out;
    } finally {
      for (const t of [q, k, v, g]) t.dispose();
    }
  }

  const cases = [
    // the tiny benchmark model's layer: grouped 4:1, four blocks of 32 queries
    { name: 'B 2, Hq 8 / Hkv 2, S 128, D 32', B: 2, Hq: 8, Hkv: 2, S: 128, D: 32 },
    // S not a multiple of the 4-query tile, the 16-key tile or the 32-query block
    { name: 'B 3, Hq 4 / Hkv 4, S 37, D 16', B: 3, Hq: 4, Hkv: 4, S: 37, D: 16 },
    { name: 'B 1, Hq 14 / Hkv 2, S 70, D 64 (qwen 0.5B heads)', B: 1, Hq: 14, Hkv: 2, S: 70, D: 64 },
    { name: 'B 2, Hq 2 / Hkv 1, S 45, D 128', B: 2, Hq: 2, Hkv: 1, S: 45, D: 128 },
    { name: 'B 2, Hq 3 / Hkv 3, S 3, D 8 (shorter than a tile)', B: 2, Hq: 3, Hkv: 3, S: 3, D: 8 },
    // strided inputs, as the decoder passes them ([B, S, H, D] storage)
    { name: 'B 2, Hq 8 / Hkv 2, S 50, D 32, [B, S, H, D] views', B: 2, Hq: 8, Hkv: 2, S: 50, D: 32, layout: 'bshd' as const },
  ];
  for (const c of cases) {
    it(`${c.name}: output and gradients equal SDPA (is_causal)`, async () => {
      const got = await attend(c.B, c.Hq, c.Hkv, c.S, c.D, 400, 'cpu', c.layout);
      const want = await attend(c.B, c.Hq, c.Hkv, c.S, c.D, 400, 'reference', c.layout);
      expectClose(got.output, want.output, 2e-5, 'output');
      for (const n of ['q', 'k', 'v'] as const) expectClose(got[n], want[n], 1e-4, `grad ${n}`);
    });
  }

  it('a later key does not move an earlier query (causality)', async () => {
    const [B, H, S, D] = [1, 2, 20, 16];
    const data = randn(410, B * H * S * D);
    const run = async (vData: Float32Array) => {
      const q = native.Tensor.fromArray(data, [B, H, S, D], 'float32');
      const v = native.Tensor.fromArray(vData, [B, H, S, D], 'float32');
      try {
        const r = await kernels.causalAttention(q, q, v, { impl: 'cpu' });
        const out = r.output.toArray() as Float32Array;
        r.output.dispose();
        return out;
      } finally {
        q.dispose();
        v.dispose();
      }
    };
    const base = await run(data);
    const changed = Float32Array.from(data);
    for (let h = 0; h < H; ++h) for (let d = 0; d < D; ++d) changed[(h * S + (S - 1)) * D + d] += 5;  // the last position's values
    const moved = await run(changed);
    const row = (t: Float32Array, h: number, s: number) => Array.from(t.subarray((h * S + s) * D, (h * S + s + 1) * D));
    for (let h = 0; h < H; ++h) {
      for (let s = 0; s < S - 1; ++s) expect(row(moved, h, s)).to.deep.equal(row(base, h, s));
      expect(row(moved, h, S - 1)).to.not.deep.equal(row(base, h, S - 1));
    }
  });

  it("'cpu' on an unsupported head dimension is an InvalidArgumentError naming it", async () => {
    const q = native.Tensor.fromArray(randn(1, 2 * 4 * 12), [1, 2, 4, 12], 'float32');
    try {
      const err = await kernels.causalAttention(q, q, q, { impl: 'cpu' }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(InvalidArgumentError);
      expect((err as Error).message).to.match(/causalAttention: the CPU kernel cannot run: head dimension 12/);
      const ref = await kernels.causalAttention(q, q, q, { impl: 'auto' });  // auto takes SDPA
      expect(ref.output.shape).to.deep.equal([1, 2, 4, 12]);
      ref.output.dispose();
    } finally {
      q.dispose();
    }
  });
});

describe('hash dropout (kernels/hash_dropout.h) and the LoRA linear with it', () => {
  async function drop(shape: number[], seed: number, p: number, on: KernelOptions = {}) {
    const n = numel(shape);
    const x = native.Tensor.fromArray(randn(900, n, 1, 3), shape, 'float32');  // values away from 0
    const g = native.Tensor.fromArray(randn(901, n), shape, 'float32');
    try {
      const r = await kernels.hashDropout(x, seed, p, { ...on, gradOutput: g });
      const out = { x: x.toArray() as Float32Array, g: g.toArray() as Float32Array, y: r.output.toArray() as Float32Array, dx: r.grads.x!.toArray() as Float32Array };
      r.output.dispose();
      r.grads.x!.dispose();
      return out;
    } finally {
      x.dispose();
      g.dispose();
    }
  }

  for (const p of [0.1, 0.5]) {
    it(`p ${p}: keeps 1 − p of 100 000 elements, scales them by 1/(1 − p), and the gradient takes the same mask`, async () => {
      const { x, g, y, dx } = await drop([200, 500], 7, p);
      let kept = 0, pairs = 0, wrong = 0;
      for (let i = 0; i < y.length; i++) {
        const keep = y[i] !== 0;
        if (keep) {
          kept++;
          if (Math.abs(y[i] - x[i] / (1 - p)) > 1e-5 * Math.abs(x[i] / (1 - p))) wrong++;
          if (Math.abs(dx[i] - g[i] / (1 - p)) > 1e-5 * Math.abs(g[i] / (1 - p)) + 1e-7) wrong++;
        } else if (dx[i] !== 0) {
          wrong++;
        }
        if (i > 0 && keep && y[i - 1] !== 0) pairs++;
      }
      expect(wrong, 'kept values not scaled by 1/(1 − p), or gradients off the mask').to.equal(0);
      const n = y.length, sigma = Math.sqrt((p * (1 - p)) / n);
      expect(kept / n).to.be.closeTo(1 - p, 5 * sigma);
      // neighbours are independent: both kept with probability (1 − p)²
      expect(pairs / (n - 1)).to.be.closeTo((1 - p) ** 2, 5 * Math.sqrt(((1 - p) ** 2 * (1 - (1 - p) ** 2)) / n));
    });
  }

  it('replays its mask from the seed, and another seed draws another mask', async () => {
    const a = await drop([64, 100], 11, 0.5);
    const b = await drop([64, 100], 11, 0.5);
    const c = await drop([64, 100], 12, 0.5);
    expect(Array.from(b.y)).to.deep.equal(Array.from(a.y));
    let agree = 0;
    for (let i = 0; i < a.y.length; i++) if ((a.y[i] !== 0) === (c.y[i] !== 0)) agree++;
    expect(agree / a.y.length).to.be.within(0.45, 0.55);
  });

  it('p outside [0, 1) is an InvalidArgumentError; impl cpu too (no CPU kernel); cuda without CUDA tensors a DeviceError', async () => {
    const fails = (p: number, on: KernelOptions = {}) => drop([4, 4], 1, p, on).then(() => undefined, (e: unknown) => e);
    expect(await fails(1)).to.be.instanceOf(InvalidArgumentError);
    expect(await fails(-0.1)).to.be.instanceOf(InvalidArgumentError);
    expect(await fails(0.2, { impl: 'cpu' })).to.be.instanceOf(InvalidArgumentError);
    expect(await fails(0.2, { impl: 'cuda' })).to.be.instanceOf(DeviceError);
  });

  const loraCases = [
    linearCase('loraLinear [3,5,24]->40 r 4 with bias', [3, 5], 24, 40, 131, { bias: true, r: 4 }),
    linearCase('loraLinear [37]->200 r 8 (fused low-rank products)', [37], 96, 200, 171, { bias: true, r: 8 }),
  ];
  for (const c of loraCases) {
    it(`${c.name}, dropout 0.3: the node (mask recomputed in the backward) equals the reference with that dropout`, async () => {
      const got = await runCase(c, { impl: 'auto', dropout: 0.3, seed: 21 });
      const want = await runCase(c, { impl: 'reference', dropout: 0.3, seed: 21 });
      expectClose(got.output, want.output, 1e-5, 'output');
      for (const n of differentiable(c)) expectClose(got.grads[n], want.grads[n], 1e-5, `grad ${n}`);
      // the dropout is real: without it the output and A's gradient differ
      const plain = await runCase(c, { impl: 'reference' });
      expect(Array.from(plain.output)).to.not.deep.equal(Array.from(got.output));
      expect(Array.from(plain.grads.a)).to.not.deep.equal(Array.from(got.grads.a));
    });
  }

  describe('the CUDA kernels against the reference [gpu]', function () {
    before(function () {
      if (!(info().torch.cudaAvailable && kernels.cudaBuilt)) this.skip();
    });
    for (const dtype of ['float32', 'bfloat16', 'float16'] as DType[]) {
      // 128-bit path, the scalar path (numel not a multiple of 8) and many blocks
      for (const shape of [[64, 256], [7, 333], [1024, 1031]]) {
        it(`hashDropout ${JSON.stringify(shape)} ${dtype}: the kernel draws the reference's mask`, async () => {
          const cu = await drop(shape, 31, 0.25, { impl: 'cuda', device: 'cuda', dtype });
          const ref = await drop(shape, 31, 0.25, { impl: 'reference', device: 'cuda', dtype });
          expect(Array.from(cu.y)).to.deep.equal(Array.from(ref.y));
          expect(Array.from(cu.dx)).to.deep.equal(Array.from(ref.dx));
        });
      }
      for (const c of loraCases) {
        it(`${c.name}, dropout 0.3, ${dtype}: the CUDA node equals the reference`, async () => {
          const tol = dtype === 'float32' ? { out: 1e-5, grad: 1e-4 } : dtype === 'bfloat16' ? { out: 1 / 64, grad: 1 / 32 } : { out: 1 / 512, grad: 1 / 256 };
          const got = await runCase(c, { impl: 'cuda', device: 'cuda', dtype, dropout: 0.3, seed: 21 });
          const want = await runCase(c, { impl: 'reference', device: 'cuda', dtype, dropout: 0.3, seed: 21 });
          expectClose(got.output, want.output, tol.out, 'output');
          for (const n of differentiable(c)) expectClose(got.grads[n], want.grads[n], tol.grad, `grad ${n}`);
        });
      }
    }
  });
});

describe('LM head + loss by chunks of rows (kernels/linear_cross_entropy.h)', () => {
  async function run(N: number, K: number, V: number, targets: number[], seed: number, impl: 'auto' | 'reference' | 'cuda' | 'cpu', chunkRows?: number, on: { device?: string; dtype?: DType } = {}) {
    const h = native.Tensor.fromArray(randn(seed, N * K), [N, K], 'float32');
    const w = native.Tensor.fromArray(randn(seed + 1, V * K, 0.5), [V, K], 'float32');
    const t = native.Tensor.fromArray(BigInt64Array.from(targets.map(BigInt)), [N], 'int64');
    const g = native.Tensor.fromArray(Float32Array.from([0.7]), [], 'float32');
    try {
      const r = await kernels.linearCrossEntropy(h, w, t, { impl, gradOutput: g, chunkRows, ...on });
      const out = { loss: (r.output.toArray() as Float32Array)[0], h: r.grads.h.toArray() as Float32Array, weight: r.grads.weight.toArray() as Float32Array };
      for (const x of [r.output, r.grads.h, r.grads.weight]) x.dispose();
      return out;
    } finally {
      for (const x of [h, w, t, g]) x.dispose();
    }
  }
  const N = 23, K = 16, V = 300;
  const targets = Array.from({ length: N }, (_, i) => (i % 5 === 3 ? -100 : (i * 37) % V));
  for (const chunkRows of [1, 4, 7, 23, 64, undefined]) {
    it(`chunks of ${chunkRows ?? 'the default'} rows: loss and gradients of h and the head equal the whole logits`, async () => {
      const got = await run(N, K, V, targets, 500, 'auto', chunkRows);
      const want = await run(N, K, V, targets, 500, 'reference');
      expect(got.loss).to.be.closeTo(want.loss, 1e-4 * Math.abs(want.loss));
      expectClose(got.h, want.h, 1e-5, 'grad h');
      expectClose(got.weight, want.weight, 1e-5, 'grad weight');
    });
  }

  it('a target outside the vocabulary is an InvalidArgumentError naming its row', async () => {
    const bad = targets.slice();
    bad[9] = V;
    const err = await run(N, K, V, bad, 510, 'auto', 4).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(InvalidArgumentError);
    expect((err as Error).message).to.match(/target 300 at row 9 is outside the vocabulary \[0, 300\)/);
  });

  it("'cuda' without CUDA tensors is a DeviceError; 'cpu' (no CPU kernel) an InvalidArgumentError", async () => {
    const cuda = await run(N, K, V, targets, 520, 'cuda').then(() => undefined, (e: unknown) => e);
    expect(cuda).to.be.instanceOf(DeviceError);
    const cpu = await run(N, K, V, targets, 520, 'cpu').then(() => undefined, (e: unknown) => e);
    expect(cpu).to.be.instanceOf(InvalidArgumentError);
    expect((cpu as Error).message).to.match(/no CPU kernel/);
  });

  describe('the CUDA row kernels against the whole logits [gpu]', function () {
    before(function () {
      if (!(info().torch.cudaAvailable && kernels.cudaBuilt)) this.skip();
    });
    // V 304: 128-bit rows for every dtype; V 301: the scalar kernel; many rows: grid-stride blocks
    const shapes = [
      { N: 23, K: 16, V: 304, chunks: [1, 7, undefined] },
      { N: 19, K: 24, V: 301, chunks: [5, undefined] },
      { N: 2100, K: 32, V: 520, chunks: [1000, undefined] },
    ];
    const tolerances: Record<string, { loss: number; grad: number }> = {
      float32: { loss: 1e-5, grad: 1e-5 },
      bfloat16: { loss: 5e-3, grad: 1 / 32 },
      float16: { loss: 1e-3, grad: 1 / 256 },
    };
    for (const dtype of ['float32', 'bfloat16', 'float16'] as DType[]) {
      for (const { N: n, K: k, V: v, chunks } of shapes) {
        const tg = Array.from({ length: n }, (_, i) => (i % 5 === 3 ? -100 : (i * 37) % v));
        for (const chunkRows of chunks) {
          it(`[${n}, ${k}] → ${v}, chunks of ${chunkRows ?? 'the default'}, ${dtype}: loss and both gradients`, async () => {
            const got = await run(n, k, v, tg, 530, 'cuda', chunkRows, { device: 'cuda', dtype });
            const want = await run(n, k, v, tg, 530, 'reference', undefined, { device: 'cuda', dtype });
            const tol = tolerances[dtype];
            expect(got.loss).to.be.closeTo(want.loss, tol.loss * Math.abs(want.loss));
            expectClose(got.h, want.h, tol.grad, 'grad h');
            expectClose(got.weight, want.weight, tol.grad, 'grad weight');
            // auto on CUDA tensors takes the same kernels
            const auto = await run(n, k, v, tg, 530, 'auto', chunkRows, { device: 'cuda', dtype });
            expect(auto.loss).to.equal(got.loss);
          });
        }
      }
    }
  });
});
