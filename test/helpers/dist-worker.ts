/**
 * A worker for test/distributed.test.ts, started by `continual-next launch`: joins the process
 * group from the launcher's environment and runs one scenario (argv[2]), printing JSON lines.
 */
import fs from 'node:fs';

import { DistributedError, Model, ProcessGroup, Tensor, type MethodConfigInput, type TunerOptions } from '../../ts/index';
import { DDP_SPEC, trainTasks } from './ddp-data';

const scenario = process.argv[2];
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const f32 = (t: Tensor) => Array.from(t.toArray() as Float32Array);

async function collectives(pg: ProcessGroup) {
  const r = pg.rank;
  const x = Tensor.fromArray(new Float32Array([r + 1, 10 * (r + 1), -r]), [3]);
  const sum = await pg.allReduce(x);
  const avg = await pg.allReduce(x, 'avg');
  const ints = await pg.allReduce(Tensor.fromArray(new BigInt64Array([BigInt(r), 7n]), [2], 'int64'));
  const bcast = await pg.broadcast(Tensor.fromArray(new Float32Array([100 + r, 200 + r]), [2]), pg.worldSize - 1);
  const gathered = await pg.allGather(Tensor.fromArray(new Float32Array([r, r * r]), [2]));
  await pg.barrier();
  say({ rank: r, world: pg.worldSize, sum: f32(sum), avg: f32(avg), ints: Array.from(ints.toArray() as BigInt64Array, Number), input: f32(x), bcast: f32(bcast), gathered: gathered.map(f32) });
}

async function peerDies(pg: ProcessGroup) {
  await pg.allReduce(Tensor.fromArray(new Float32Array([1]), [1]));
  say({ rank: pg.rank, first: 'ok' });
  if (pg.rank === 1) process.kill(process.pid, 'SIGKILL');
  // The launcher SIGTERMs the survivor once rank 1 is gone: stay to report what happened.
  process.on('SIGTERM', () => {});
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  const outcome = async () => {
    try {
      await pg.allReduce(Tensor.fromArray(new Float32Array([2]), [1]));
      return { ok: true };
    } catch (e) {
      return { ok: false, name: (e as Error).name, code: (e as DistributedError).code, distributed: e instanceof DistributedError, message: (e as Error).message };
    }
  };
  const second = await outcome();
  const ms = Date.now() - t0;
  const third = await outcome();
  say({ rank: pg.rank, second, ms, third });
}

async function train(pg: ProcessGroup) {
  const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
  const r = pg.rank === 1 && process.env.DDP_RANK1_R ? Number(process.env.DDP_RANK1_R) : 4;
  model.addAdapter(process.env.DDP_TUNER ? JSON.parse(process.env.DDP_TUNER) : { type: 'lora', r, alpha: 2 * r, dropout: Number(process.env.DDP_DROPOUT ?? 0), seed: 1 });
  const options = { ...JSON.parse(process.env.DDP_OPTIONS ?? '{}'), ...(pg.rank === 1 ? JSON.parse(process.env.DDP_RANK1_OPTIONS ?? '{}') : {}) };
  const method = process.env.DDP_METHOD ? JSON.parse(process.env.DDP_METHOD) : undefined;
  // DDP_KILL_AT=n: rank DDP_KILL_RANK (default 1) SIGKILLs itself at its n-th progress event, on
  // the launcher's first attempt only (a restart then resumes from the checkpoints).
  const killAt = Number(process.env.DDP_KILL_AT ?? 0);
  const killer = killAt > 0 && pg.rank === Number(process.env.DDP_KILL_RANK ?? 1) && (process.env.TORCHELASTIC_RESTART_COUNT ?? '0') === '0';
  let events = 0;
  const onProgress = () => {
    if (killer && ++events === killAt) process.kill(process.pid, 'SIGKILL');
  };
  let result: Awaited<ReturnType<typeof trainTasks>>;
  try {
    result = await trainTasks(model, options, method, { processGroup: pg, onProgress });
  } catch (e) {
    say({ rank: pg.rank, error: (e as Error).name, message: (e as Error).message, field: (e as { field?: string }).field });
    return;
  }
  const { losses, summary } = result;
  const state = model.native.tunerState();
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(state)) out[k] = Array.from(t.toArray() as Float32Array);
  fs.writeFileSync(`${process.env.DDP_OUT}.rank${pg.rank}.json`, JSON.stringify({ summary, losses, state: out, waitSeconds: pg.waitSeconds() }));
  say({ rank: pg.rank, steps: summary.steps });
  await model.dispose();
}

/**
 * Several trainings in one process (saves the start-up): DDP_CONFIGS is a list of
 * { id, options, method?, tuner? }; each trains a fresh model with trainTasks. Writes
 * DDP_OUT.rank<r>.json: id → { summary, losses, state }.
 */
async function trainMatrix(pg: ProcessGroup) {
  const configs = JSON.parse(process.env.DDP_CONFIGS ?? '[]') as { id: string; options: object; method?: MethodConfigInput; tuner?: TunerOptions }[];
  const out: Record<string, object> = {};
  for (const c of configs) {
    const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
    model.addAdapter(c.tuner ?? { type: 'lora', r: 4, alpha: 8, dropout: 0, seed: 1 });
    const { losses, summary } = await trainTasks(model, c.options, c.method, { processGroup: pg });
    const state: Record<string, number[]> = {};
    for (const [k, t] of Object.entries(model.native.tunerState())) state[k] = Array.from(t.toArray() as Float32Array);
    out[c.id] = { summary, losses, state };
    await model.dispose();
  }
  fs.writeFileSync(`${process.env.DDP_OUT}.rank${pg.rank}.json`, JSON.stringify(out));
  say({ rank: pg.rank, configs: configs.length });
}

/** Rank 1 dies during training; rank 0's fit must reject with DistributedError (and JS collectives are refused while fit runs). */
async function trainPeerDies(pg: ProcessGroup) {
  const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
  model.addAdapter({ type: 'lora', r: 4, alpha: 8, dropout: 0, seed: 1 });
  process.on('SIGTERM', () => {});
  let duringFit: unknown = null;
  const t0 = Date.now();
  let outcome: object;
  try {
    await trainTasks(model, { epochs: 50, batchSize: 1, learningRate: 1e-3 }, undefined, {
      processGroup: pg,
      onProgress: (p) => {
        if (p.step === 1) pg.allReduce(Tensor.fromArray(new Float32Array([1]), [1])).catch((e) => (duringFit = (e as Error).message));
        if (p.step === 3 && pg.rank === 1) process.kill(process.pid, 'SIGKILL');
      },
    });
    outcome = { ok: true };
  } catch (e) {
    outcome = { ok: false, name: (e as Error).name, message: (e as Error).message };
  }
  say({ rank: pg.rank, outcome, ms: Date.now() - t0, duringFit });
}

async function main() {
  const pg = await ProcessGroup.fromEnv({ timeoutMs: Number(process.env.PG_TIMEOUT_MS ?? 10_000) });
  if (scenario === 'collectives') await collectives(pg);
  else if (scenario === 'peer-dies') await peerDies(pg);
  else if (scenario === 'train') await train(pg);
  else if (scenario === 'train-matrix') await trainMatrix(pg);
  else if (scenario === 'train-peer-dies') await trainPeerDies(pg);
  else throw new Error(`unknown scenario ${scenario}`);
  await pg.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`worker failed: ${(e as Error).name}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
