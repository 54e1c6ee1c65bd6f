/**
 * Continual-learning methods, proven by their math: each formula of native/methods/ checked
 * against an independent computation here (brute force, closed form, finite differences), then
 * the methods' hooks checked on a tiny model (EWC's Fisher and penalty gradient, LwF's term, CIA's
 * replacement, state round trips), then every method run through a small stream with resume.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { AbortError, ConfigError, Model, Random, Tensor, Trainer, loadNative, parseStreamConfig, runStream } from '../ts/index';
import type { DecoderSpec, StreamConfigInput } from '../ts/index';
import type { NativeTensor } from '../ts/native/bindings';
import { replayBuffer } from '../ts/stream/replay';
import { tmpDir } from './helpers/run';
import { makeTinyStream } from './helpers/tiny-stream';
import { TINY_SPEC } from './helpers/tiny-model';

const native = () => loadNative();
const t64 = (values: number[], shape = [values.length]) => loadNative().Tensor.fromArray(Float64Array.from(values), shape);
const t32 = (values: number[], shape = [values.length]) => loadNative().Tensor.fromArray(Float32Array.from(values), shape);
const arr = (t: NativeTensor) => Array.from(t.toArray() as ArrayLike<number>);
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

/** Solves A x = b (small, dense) by Gaussian elimination with partial pivoting; null if singular. */
function solve(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    if (Math.abs(M[p][c]) < 1e-12) return null;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  return M.map((row, i) => row[n] / row[i]);
}

/**
 * GEM's primal by brute force: min ½‖z − g‖² s.t. ⟨z, G_k⟩ ≥ 0. For every set S of constraints
 * taken as equalities, z is g projected onto {⟨z, G_k⟩ = 0, k ∈ S}; the optimum is the feasible
 * candidate nearest to g (the true active set is among them).
 */
function bruteForceProjection(g: number[], G: number[][]): number[] {
  let best: number[] | null = null;
  let bestDist = Infinity;
  for (let mask = 0; mask < 1 << G.length; mask++) {
    const S = G.filter((_, k) => (mask >> k) & 1);
    let z = g;
    if (S.length) {
      const lambda = solve(S.map((a) => S.map((b) => dot(a, b))), S.map((a) => dot(a, g)));
      if (!lambda) continue;
      z = g.map((x, j) => x - S.reduce((s, row, i) => s + lambda[i] * row[j], 0));
    }
    if (G.some((row) => dot(row, z) < -1e-9)) continue;
    const d = z.reduce((s, x, j) => s + (x - g[j]) ** 2, 0);
    if (d < bestDist) [best, bestDist] = [z, d];
  }
  return best!;
}

describe('CL method math', () => {
  it('registers every native method', () => {
    expect(native().methods.names()).to.include.members(['ewc', 'lwf', 'gem', 'agem', 'cia']);
  });

  it('GEM: the projection satisfies every constraint and equals the brute-force QP solution', () => {
    const rng = new Random(7);
    const r = () => rng.next() * 2 - 1;
    let violatedCases = 0;
    for (let trial = 0; trial < 40; trial++) {
      const k = 1 + (trial % 4);
      const p = 6;
      const G = Array.from({ length: k }, () => Array.from({ length: p }, r));
      const g = Array.from({ length: p }, r);
      if (G.every((row) => dot(row, g) >= 0)) continue;
      violatedCases++;
      const z = arr(native().methods.gemProject(t64(g), t64(G.flat(), [k, p]), 0));
      for (const row of G) expect(dot(row, z)).to.be.at.least(-1e-9);
      const expected = bruteForceProjection(g, G);
      z.forEach((v, j) => expect(v).to.be.closeTo(expected[j], 1e-7));
      // with the paper's margin the constraints hold too (more strictly)
      const zm = arr(native().methods.gemProject(t64(g), t64(G.flat(), [k, p]), 0.5));
      for (const row of G) expect(dot(row, zm)).to.be.at.least(-1e-9);
    }
    expect(violatedCases).to.be.greaterThan(20);
  });

  it('GEM: the gradient is unchanged when no constraint is violated; the large-k solver keeps the constraints', () => {
    const g = [1, 2, 0.5];
    const G = [
      [1, 0, 0],
      [0, 1, 1],
    ];
    expect(arr(native().methods.gemProject(t64(g), t64(G.flat(), [2, 3]), 0.5))).to.deep.equal(g);
    // 14 past tasks takes the coordinate-descent path of the dual QP
    const rng = new Random(3);
    const k = 14;
    const p = 20;
    const big = Array.from({ length: k }, () => Array.from({ length: p }, () => rng.next() * 2 - 1));
    const gb = Array.from({ length: p }, () => rng.next() * 2 - 1);
    const z = arr(native().methods.gemProject(t64(gb), t64(big.flat(), [k, p]), 0));
    for (const row of big) expect(dot(row, z)).to.be.at.least(-1e-6);
  });

  it('GEM dual QP: KKT conditions hold at the solution', () => {
    const P = [
      [2, 0.5],
      [0.5, 1],
    ];
    const q = [-1, 0.3];
    const v = arr(native().methods.solveBoundedQp(t64(P.flat(), [2, 2]), t64(q), 0));
    const grad = P.map((row, i) => dot(row, v) + q[i]);
    v.forEach((vi, i) => {
      expect(vi).to.be.at.least(-1e-12);
      if (vi > 1e-9) expect(grad[i]).to.be.closeTo(0, 1e-9);
      else expect(grad[i]).to.be.at.least(-1e-9);
    });
  });

  it("A-GEM: g − (⟨g, ref⟩ / ⟨ref, ref⟩) ref when the dot product is negative, else g", () => {
    const g = [1, -2, 3];
    const ref = [0.5, 1, -1];
    const d = dot(g, ref);
    expect(d).to.be.below(0);
    const z = arr(native().methods.agemProject(t64(g), t64(ref)));
    z.forEach((v, i) => expect(v).to.be.closeTo(g[i] - (d / dot(ref, ref)) * ref[i], 1e-12));
    expect(dot(z, ref)).to.be.closeTo(0, 1e-12);
    expect(arr(native().methods.agemProject(t64([1, 1, 1]), t64([1, 0, 0])))).to.deep.equal([1, 1, 1]);
  });

  const softmax = (row: number[], T: number) => {
    const m = Math.max(...row.map((x) => x / T));
    const e = row.map((x) => Math.exp(x / T - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const kl = (student: number[][], teacher: number[][], T: number) =>
    student.reduce((sum, s, i) => {
      const ps = softmax(s, T);
      const pt = softmax(teacher[i], T);
      return sum + pt.reduce((a, p, j) => a + p * Math.log(p / ps[j]), 0);
    }, 0);

  it('LwF: KL(teacher^T ‖ student^T) with the closed-form gradient (p_s − p_t)/T, zero when they agree', () => {
    const rng = new Random(11);
    const N = 3;
    const V = 5;
    const T = 2;
    const student = Array.from({ length: N }, () => Array.from({ length: V }, () => rng.next() * 4 - 2));
    const teacher = Array.from({ length: N }, () => Array.from({ length: V }, () => rng.next() * 4 - 2));
    const r = native().methods.lwfDistillation(t32(student.flat(), [N, V]), t32(teacher.flat(), [N, V]), T);
    expect(r.loss).to.be.closeTo(kl(student, teacher, T), 1e-5);
    const grad = arr(r.grad);
    student.forEach((s, i) => {
      const ps = softmax(s, T);
      const pt = softmax(teacher[i], T);
      ps.forEach((p, j) => expect(grad[i * V + j]).to.be.closeTo((p - pt[j]) / T, 1e-6));
    });
    // finite differences on the same function
    const h = 1e-3;
    for (const [i, j] of [
      [0, 0],
      [1, 3],
      [2, 4],
    ]) {
      const plus = student.map((row) => [...row]);
      const minus = student.map((row) => [...row]);
      plus[i][j] += h;
      minus[i][j] -= h;
      expect(grad[i * V + j]).to.be.closeTo((kl(plus, teacher, T) - kl(minus, teacher, T)) / (2 * h), 1e-5);
    }
    const same = native().methods.lwfDistillation(t32(student.flat(), [N, V]), t32(student.flat(), [N, V]), T);
    expect(same.loss).to.be.closeTo(0, 1e-6);
    for (const v of arr(same.grad)) expect(v).to.be.closeTo(0, 1e-7);
  });

  it('CIA: β = c(1 + ‖g‖₁)/(‖θ − θ̄‖₁ ‖g − g_prev‖₁) inside (0, 1), else β₀', () => {
    const theta = [1, 2, -1];
    const ema = [0.5, 2.5, -1];
    const g = [0.1, -0.2, 0.3];
    const gPrev = [0.4, -0.1, 0.1];
    const l1 = (a: number[]) => a.reduce((s, x) => s + Math.abs(x), 0);
    const expected = (0.01 * (1 + l1(g))) / (l1(theta.map((x, i) => x - ema[i])) * l1(g.map((x, i) => x - gPrev[i])));
    expect(expected).to.be.within(0, 1);
    expect(native().methods.ciaBeta(t64(theta), t64(ema), t64(g), t64(gPrev), 0.01, 0.001)).to.be.closeTo(expected, 1e-12);
    // fallbacks: the first step (no g_prev), β ≥ 1, θ = θ̄ (zero denominator), g = g_prev
    expect(native().methods.ciaBeta(t64(theta), t64(ema), t64(g), null, 0.01, 0.001)).to.equal(0.001);
    expect(native().methods.ciaBeta(t64(theta), t64(ema), t64(g), t64(gPrev), 10, 0.001)).to.equal(0.001);
    expect(native().methods.ciaBeta(t64(theta), t64(theta), t64(g), t64(gPrev), 0.01, 0.002)).to.equal(0.002);
    expect(native().methods.ciaBeta(t64(theta), t64(ema), t64(g), t64(g), 0.01, 0.003)).to.equal(0.003);
  });

  it('Replay: buffer sizes per task or ratio, seeded, random and reservoir', () => {
    const tasks = [0, 1, 2].map((t) => Array.from({ length: 10 + t * 5 }, (_, i) => ({ messages: [{ role: 'user' as const, content: `${t}-${i}` }] })));
    const ids = (b: { messages: { content: string }[] }[]) => b.map((c) => c.messages[0].content);
    const perTask = replayBuffer(tasks, { name: 'replay', perTask: 4, selection: 'random' }, 1);
    expect(perTask).to.have.length(12);
    for (const t of [0, 1, 2]) expect(ids(perTask).filter((s) => s.startsWith(`${t}-`))).to.have.length(4);
    expect(ids(replayBuffer(tasks, { name: 'replay', perTask: 4, selection: 'random' }, 1))).to.deep.equal(ids(perTask));
    expect(ids(replayBuffer(tasks, { name: 'replay', perTask: 4, selection: 'random' }, 2))).to.not.deep.equal(ids(perTask));
    const ratio = replayBuffer(tasks, { name: 'replay', ratio: 0.2, selection: 'reservoir' }, 1);
    expect(ratio).to.have.length(2 + 3 + 4);
    expect(new Set(ids(ratio)).size).to.equal(9);
    expect(replayBuffer(tasks, { name: 'replay', perTask: 100, selection: 'random' }, 1)).to.have.length(10 + 15 + 20);
  });
});

// the tiny shape, narrower: these tests compare gradients element by element
const SPEC: DecoderSpec = { ...TINY_SPEC, vocabSize: 48, hiddenSize: 32, headDim: 8, intermediateSize: 64, maxPositionEmbeddings: 64 };

const EXAMPLES = [
  [2, 10, 11, 3, 20, 21, 1],
  [2, 12, 13, 3, 22, 1],
  [2, 14, 15, 3, 23, 24, 25, 1],
  [2, 16, 17, 3, 26, 1],
].map((ids) => ({ inputIds: ids, labels: ids.map((x, i) => (i < 4 ? -100 : x)) }));

async function tinyModel(): Promise<Model> {
  const model = await Model.random(SPEC, { seed: 5, std: 0.2 });
  model.addAdapter({ type: 'lora', r: 4, alpha: 8, dropout: 0, seed: 1 });
  return model;
}

function toNumbers(state: Record<string, NativeTensor>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(state)) {
    out[k] = arr(v);
    v.dispose();
  }
  return out;
}

/** The gradient of each trainable tensor for one example (mean loss over its labelled tokens). */
async function gradients(model: Model, e: { inputIds: number[]; labels: number[] }, includeMethod = false) {
  const ids = loadNative().Tensor.fromArray(BigInt64Array.from(e.inputIds.map(BigInt)), [1, e.inputIds.length]);
  const labels = loadNative().Tensor.fromArray(BigInt64Array.from(e.labels.map(BigInt)), [1, e.labels.length]);
  const r = await model.native.lossAndGradients(ids, labels, undefined, includeMethod);
  ids.dispose();
  labels.dispose();
  return { loss: r.loss, grads: toNumbers(r.gradients) };
}

/** Moves every trainable tensor by a seeded random amount (so θ ≠ θ* and B ≠ 0). */
function perturb(model: Model, seed: number, scale = 0.05): void {
  const rng = new Random(seed);
  const state = model.native.tunerState();
  const moved: Record<string, NativeTensor> = {};
  for (const [k, v] of Object.entries(state)) {
    moved[k] = loadNative().Tensor.fromArray(Float32Array.from(arr(v), (x) => x + (rng.next() * 2 - 1) * scale), v.shape);
    v.dispose();
  }
  model.native.loadTunerState(moved);
  for (const v of Object.values(moved)) v.dispose();
}

describe('CL methods on a model', function () {
  this.timeout(120_000);

  it('EWC: the Fisher is the mean squared per-sample gradient, accumulated online as γF̃ + F_t', async () => {
    await using model = await tinyModel();
    perturb(model, 1);
    model.setMethod({ name: 'ewc', lambda: 10, gamma: 0.5, samples: EXAMPLES.length });
    const perSample = async () => {
      const gs = await Promise.all(EXAMPLES.map((e) => gradients(model, e)));
      const names = Object.keys(gs[0].grads);
      return names.map((n) => gs[0].grads[n].map((_, j) => gs.reduce((s, g) => s + g.grads[n][j] ** 2, 0) / gs.length));
    };
    const F1 = await perSample();
    const theta1 = toNumbers(model.native.tunerState());
    await model.afterTask(0, EXAMPLES);
    let state = toNumbers(model.native.methodState());
    F1.forEach((f, i) => f.forEach((v, j) => expect(state[`fisher.${i}`][j]).to.be.closeTo(v, 1e-6 + 1e-4 * Math.abs(v))));
    Object.values(theta1).forEach((t, i) => expect(state[`anchor.${i}`]).to.deep.equal(t));

    perturb(model, 2);
    const F2 = await perSample();
    await model.afterTask(1, EXAMPLES);
    state = toNumbers(model.native.methodState());
    F1.forEach((f, i) => f.forEach((v, j) => expect(state[`fisher.${i}`][j]).to.be.closeTo(0.5 * v + F2[i][j], 1e-6 + 1e-4 * Math.abs(v))));
    expect(F1.flat().some((v) => v > 1e-8)).to.equal(true);
  });

  it('EWC: the penalty (λ/2)ΣF̃(θ−θ*)² reaches the gradient as λF̃(θ−θ*)', async () => {
    await using model = await tinyModel();
    perturb(model, 3);
    const lambda = 50;
    model.setMethod({ name: 'ewc', lambda, samples: 4 });
    await model.afterTask(0, EXAMPLES);
    const state = toNumbers(model.native.methodState());
    perturb(model, 4, 0.2);
    const theta = Object.values(toNumbers(model.native.tunerState()));
    const plain = await gradients(model, EXAMPLES[0]);
    const withPenalty = await gradients(model, EXAMPLES[0], true);
    let penalty = 0;
    Object.keys(plain.grads).forEach((name, i) => {
      const F = state[`fisher.${i}`];
      const anchor = state[`anchor.${i}`];
      plain.grads[name].forEach((g, j) => {
        const d = theta[i][j] - anchor[j];
        penalty += (lambda / 2) * F[j] * d * d;
        expect(withPenalty.grads[name][j] - g).to.be.closeTo(lambda * F[j] * d, 1e-5 + 1e-4 * Math.abs(lambda * F[j] * d));
      });
    });
    expect(penalty).to.be.greaterThan(0);
    expect(withPenalty.loss - plain.loss).to.be.closeTo(penalty, 1e-5 + 1e-4 * penalty);
  });

  it('LwF: no term and no gradient change while the student equals the teacher; α·T²·KL/tokens once it moved', async () => {
    await using model = await tinyModel();
    perturb(model, 5);
    model.setMethod({ name: 'lwf', alpha: 0.7, temperature: 2 });
    await model.beforeTask(0); // task 0: no teacher
    const e = EXAMPLES[2];
    const noTeacher = await gradients(model, e, true);
    const plain0 = await gradients(model, e);
    expect(noTeacher.loss).to.equal(plain0.loss);
    await model.beforeTask(1); // teacher = the current adapter
    const same = await gradients(model, e, true);
    expect(same.loss).to.be.closeTo(plain0.loss, 1e-6);
    for (const [n, g] of Object.entries(plain0.grads)) g.forEach((v, j) => expect(same.grads[n][j]).to.be.closeTo(v, 1e-6));

    const ids = Tensor.fromArray(BigInt64Array.from(e.inputIds.map(BigInt)), [1, e.inputIds.length]);
    const teacherLogits = await model.forward(ids);
    perturb(model, 6, 0.3);
    const studentLogits = await model.forward(ids);
    const V = SPEC.vocabSize;
    const rows = (t: Tensor) => {
      const flat = Array.from(t.toArray() as Float32Array);
      // position p predicts label p+1: only positions whose next label is not -100
      return e.labels.slice(1).flatMap((l, p) => (l === -100 ? [] : [flat.slice(p * V, (p + 1) * V)]));
    };
    const T = 2;
    const softmax = (row: number[]) => {
      const m = Math.max(...row);
      const ex = row.map((x) => Math.exp((x - m) / T));
      const s = ex.reduce((a, b) => a + b, 0);
      return ex.map((x) => x / s);
    };
    const s = rows(studentLogits);
    const t = rows(teacherLogits);
    const klSum = s.reduce((acc, row, i) => {
      const ps = softmax(row);
      const pt = softmax(t[i]);
      return acc + pt.reduce((a, p, j) => a + p * Math.log(p / ps[j]), 0);
    }, 0);
    const moved = await gradients(model, e, true);
    const plain = await gradients(model, e);
    const term = (0.7 * T * T * klSum) / s.length;
    expect(term).to.be.greaterThan(1e-4);
    expect(moved.loss - plain.loss).to.be.closeTo(term, 1e-4 * term + 1e-6);
    for (const x of [ids, teacherLogits, studentLogits]) x.dispose();
  });

  it('CIA: from the second task, the adapter is replaced by its EMA at the end of the task', async () => {
    await using model = await tinyModel();
    model.setMethod({ name: 'cia', c: 0.01, beta0: 0.1 });
    const fit = () => new Trainer(model, { epochs: 2, batchSize: 2, learningRate: 1e-2 }).fit(EXAMPLES);
    await model.beforeTask(0);
    await fit();
    // no EMA during the first task, and no update counted
    expect(toNumbers(model.native.methodState()).updates.map(Number)).to.deep.equal([0, 0]);
    expect(Object.keys(toNumbers(model.native.methodState()))).to.deep.equal(["updates"]);
    const afterTask0 = toNumbers(model.native.tunerState());
    await model.afterTask(0, EXAMPLES);
    expect(toNumbers(model.native.tunerState())).to.deep.equal(afterTask0);

    await model.beforeTask(1);
    const start = toNumbers(model.native.tunerState());
    await fit();
    const trained = toNumbers(model.native.tunerState());
    const state = toNumbers(model.native.methodState());
    const names = Object.keys(trained);
    expect(Object.keys(state).filter((k) => k.startsWith('ema.'))).to.have.length(names.length);
    // every tensor was updated once per optimizer step (4 steps), adaptively or with β₀
    expect(Number(state.updates[0]) + Number(state.updates[1])).to.equal(4 * names.length);
    await model.afterTask(1, EXAMPLES);
    const replaced = toNumbers(model.native.tunerState());
    names.forEach((n, i) => {
      expect(replaced[n]).to.deep.equal(Array.from(Float32Array.from(state[`ema.${i}`])));
    });
    // the EMA is neither where the task started nor where training ended
    expect(names.some((n) => replaced[n].some((v, j) => v !== trained[n][j]))).to.equal(true);
    expect(names.some((n) => replaced[n].some((v, j) => v !== start[n][j]))).to.equal(true);
  });

  it('GEM and A-GEM keep memoryPerTask seeded samples per finished task; method state round-trips through a file', async () => {
    const dir = tmpDir('methods');
    for (const name of ['gem', 'agem', 'ewc', 'lwf'] as const) {
      await using model = await tinyModel();
      model.setMethod(name === 'gem' || name === 'agem' ? { name, memoryPerTask: 2, seed: 3 } : { name });
      await model.beforeTask(0);
      await model.afterTask(0, EXAMPLES);
      await model.beforeTask(1);
      await model.afterTask(1, EXAMPLES.slice(0, 3));
      const state = toNumbers(model.native.methodState());
      if (name === 'gem' || name === 'agem') {
        expect(state['memory.0.lengths']).to.have.length(2);
        expect(state['memory.1.lengths']).to.have.length(2);
      }
      const file = path.join(dir, `${name}.safetensors`);
      await model.saveMethodState(file);
      await using other = await tinyModel();
      other.setMethod({ name });
      await other.loadMethodState(file);
      expect(toNumbers(other.native.methodState())).to.deep.equal(state);
    }
  });

  it('training with GEM and A-GEM runs and lowers the loss; memory gradients leave the optimizer a projected step', async () => {
    for (const name of ['gem', 'agem'] as const) {
      await using model = await tinyModel();
      model.setMethod({ name, memoryPerTask: 2 });
      await model.beforeTask(0);
      await new Trainer(model, { epochs: 20, batchSize: 2, learningRate: 1e-2 }).fit(EXAMPLES.slice(0, 2));
      await model.afterTask(0, EXAMPLES.slice(0, 2));
      await model.beforeTask(1);
      const before = await gradients(model, EXAMPLES[3]);
      const s = await new Trainer(model, { epochs: 20, batchSize: 2, learningRate: 1e-2 }).fit(EXAMPLES.slice(2));
      const after = await gradients(model, EXAMPLES[3]);
      expect(s.steps).to.equal(20);
      expect(after.loss).to.be.below(before.loss);
    }
  });

  it('every native method runs on every tuner across a task boundary', async function () {
    this.timeout(240_000);
    const tuners = [
      { type: 'lora' as const, r: 4, alpha: 8, dropout: 0 },
      { type: 'moelora' as const, r: 4, experts: 2, alpha: 8, dropout: 0 },
      { type: 'adalora' as const, initR: 4, targetR: 2, alpha: 8, totalStep: 4 },
      { type: 'adapter' as const, bottleneckDim: 8 },
      { type: 'prompt' as const, numVirtualTokens: 3 },
      { type: 'prefix' as const, numVirtualTokens: 3 },
      { type: 'ptuning' as const, numVirtualTokens: 3, encoderHiddenSize: 16 },
    ];
    for (const tuner of tuners) {
      for (const name of ['ewc', 'lwf', 'gem', 'agem', 'cia'] as const) {
        await using model = await Model.random(SPEC, { seed: 5, std: 0.2 });
        model.addAdapter(tuner);
        model.setMethod(name === 'gem' || name === 'agem' ? { name, memoryPerTask: 2 } : name === 'ewc' ? { name, samples: 2 } : { name });
        const losses: number[] = [];
        for (const task of [0, 1]) {
          await model.beforeTask(task);
          const s = await new Trainer(model, { epochs: 1, batchSize: 2, learningRate: 1e-2 }).fit(EXAMPLES);
          losses.push(s.finalLoss);
          await model.afterTask(task, EXAMPLES);
        }
        for (const l of losses) expect(Number.isFinite(l), `${tuner.type} + ${name}`).to.equal(true);
      }
    }
  });

  it('bad method options are ConfigErrors naming the field; hooks need a tuner', async () => {
    await using model = await tinyModel();
    expect(() => model.setMethod({ name: 'ewc', lambda: -1 })).to.throw(ConfigError, /method\.lambda/);
    expect(() => model.setMethod({ name: 'lwf', temperature: 0 })).to.throw(ConfigError, /method\.temperature/);
    expect(() => model.setMethod({ name: 'gem', bogus: 1 } as never)).to.throw(ConfigError, /bogus/);
    expect(() => model.setMethod({ name: 'nope' } as never)).to.throw(ConfigError, /method/);
    expect(() => model.setMethod({ name: 'replay' })).to.throw(ConfigError, /training data/);
    model.setMethod({ name: 'ewc' });
    model.removeAdapter();
    const err = await model.beforeTask(0).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect(String((err as Error).message)).to.match(/tuner/);
  });
});

describe('CL methods in a stream', function () {
  this.timeout(300_000);
  let root: string;
  let stream: StreamConfigInput;

  before(() => {
    root = tmpDir('methods-stream');
    stream = makeTinyStream(root);
  });

  it('every native method fills the matrix; a killed run resumes to the same adapters and method state', async () => {
    const methods: StreamConfigInput['methods'] = [{ name: 'ewc', samples: 4 }, { name: 'lwf' }, { name: 'gem', memoryPerTask: 2 }, { name: 'agem', memoryPerTask: 2 }, { name: 'cia' }];
    const results = await runStream(parseStreamConfig({ ...stream, methods, output: path.join(root, 'all') }, path.join(root, 'x.json')));
    expect(results.methods.map((m) => m.method)).to.deep.equal(['EWC', 'LwF', 'GEM', 'A-GEM', 'CIA']);
    for (const m of results.methods) {
      expect(m.seeds[0].matrix).to.have.length(4);
      for (const row of m.seeds[0].matrix) for (const v of row) expect(v).to.be.within(0, 1);
    }
    for (const name of ['ewc', 'cia'] as const) {
      // checkpointEvery 1: the killed run resumes inside task two from its trainer state (tuner,
      // optimizer and the method's per-step state, e.g. CIA's EMA), not from the task's start
      const cfg = (out: string) =>
        parseStreamConfig({ ...stream, training: { ...stream.training, checkpointEvery: 1 }, methods: [{ name }], output: path.join(root, out) }, path.join(root, 'x.json'));
      await runStream(cfg(`${name}-full`));
      const controller = new AbortController();
      const err = await runStream(cfg(`${name}-killed`), {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'train' && e.task === 'two' && e.progress.step === 2) controller.abort();
        },
      }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(AbortError);
      const resumedSteps: number[] = [];
      await runStream(cfg(`${name}-killed`), { onEvent: (e) => e.type === 'train' && e.task === 'two' && resumedSteps.push(e.progress.step) });
      expect(resumedSteps[0]).to.be.greaterThan(2); // the abort lands a step or two after step 2
      for (const k of ['task-2-two', 'task-3-three']) {
        for (const f of ['adapter/adapter_model.safetensors', 'method-state.safetensors']) {
          const a = fs.readFileSync(path.join(root, `${name}-full`, name, 'seed-1', k, f));
          const b = fs.readFileSync(path.join(root, `${name}-killed`, name, 'seed-1', k, f));
          expect(b.equals(a), `${name} ${k}/${f}`).to.equal(true);
        }
      }
    }
  });
});
