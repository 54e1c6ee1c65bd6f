/**
 * The process group (c10d TCPStore + Gloo) and data-parallel training, with real worker
 * processes over 127.0.0.1 started by `continual-next launch`: collective values, a dead or
 * missing peer as DistributedError (never a hang), and 2 ranks × batch B training to the same
 * parameters as 1 process × batch 2B.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { spawn } from 'node:child_process';

import { DistributedError, Model, ProcessGroup, loadSafetensors, parseStreamConfig, runStream, type MethodConfigInput, type TunerOptions } from '../ts/index';
import { DDP_SPEC, trainTasks } from './helpers/ddp-data';
import { byRank, freePort, killStarted, MAIN_TS, startLaunch } from './helpers/launch';
import { makeTinyStream } from './helpers/tiny-stream';
import { ROOT, tmpDir } from './helpers/run';

const WORKER = path.join(ROOT, 'test', 'helpers', 'dist-worker.ts');
const worker = (scenario: string) => [process.execPath, '--import', 'tsx', WORKER, scenario];

function jsonLines(stdout: string): Map<number, Record<string, unknown>[]> {
  const m = new Map<number, Record<string, unknown>[]>();
  for (const [rank, lines] of byRank(stdout)) m.set(rank, lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)));
  return m;
}

describe('distributed', function () {
  this.timeout(60_000);
  before(function () {
    if (!ProcessGroup.available) this.skip();
  });
  after(() => killStarted());

  it('all-reduces (sum, avg), broadcasts and all-gathers across 2 processes', async () => {
    const r = await startLaunch(['--nproc-per-node', '2', '--', ...worker('collectives')], { OMP_NUM_THREADS: '1' }).done;
    expect(r.code, r.stderr).to.equal(0);
    const out = jsonLines(r.stdout);
    for (const rank of [0, 1]) {
      const o = out.get(rank)![0];
      expect(o.world).to.equal(2);
      expect(o.sum).to.deep.equal([3, 30, -1]);
      expect(o.avg).to.deep.equal([1.5, 15, -0.5]);
      expect(o.ints).to.deep.equal([1, 14]);
      expect(o.input).to.deep.equal([rank + 1, 10 * (rank + 1), -rank || 0]);
      expect(o.bcast).to.deep.equal([101, 201]);
      expect(o.gathered).to.deep.equal([[0, 0], [1, 1]]);
    }
  });

  it('joins ranks of two launchers (--nnodes 2) into one group', async () => {
    const port = String(await freePort());
    const args = (n: number) => ['--nproc-per-node', '1', '--nnodes', '2', '--node-rank', String(n), '--master-port', port, '--', ...worker('collectives')];
    const [a, b] = await Promise.all([startLaunch(args(0), { OMP_NUM_THREADS: '1' }).done, startLaunch(args(1), { OMP_NUM_THREADS: '1' }).done]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    expect(jsonLines(a.stdout).get(0)![0].sum).to.deep.equal([3, 30, -1]);
    expect(jsonLines(b.stdout).get(1)![0].gathered).to.deep.equal([[0, 0], [1, 1]]);
  });

  it("rejects the survivor's next collective with DistributedError when a peer dies", async () => {
    const r = await startLaunch(['--nproc-per-node', '2', '--grace-period', '20', '--', ...worker('peer-dies')], { OMP_NUM_THREADS: '1', PG_TIMEOUT_MS: '8000' }).done;
    // The launcher reports rank 1's SIGKILL; rank 0 stayed (it ignores SIGTERM) to report.
    expect(r.code).to.equal(137);
    const o = jsonLines(r.stdout).get(0)!.find((x) => x.second)!;
    expect(o, r.stdout + r.stderr).to.not.equal(undefined);
    expect(o.second).to.include({ ok: false, name: 'DistributedError', code: 'ERR_DISTRIBUTED', distributed: true });
    expect(o.ms).to.be.below(8000);
    expect(o.third).to.include({ ok: false, name: 'DistributedError' });
    expect((o.third as { message: string }).message).to.include('unusable after an earlier failure');
  });

  it('rejects with DistributedError within the timeout when a peer never comes', async () => {
    const t0 = Date.now();
    let caught: unknown;
    try {
      await ProcessGroup.create({ rank: 0, worldSize: 2, masterPort: await freePort(), timeoutMs: 1500 });
    } catch (e) {
      caught = e;
    }
    expect(caught).to.be.instanceOf(DistributedError);
    expect((caught as Error).message).to.match(/rank 0 of 2/);
    expect(Date.now() - t0).to.be.below(6000);
  });

  it('fails training with DistributedError on the survivor when a peer dies mid-fit; refuses JS collectives during fit', async () => {
    const r = await startLaunch(['--nproc-per-node', '2', '--grace-period', '20', '--', ...worker('train-peer-dies')], { OMP_NUM_THREADS: '1', PG_TIMEOUT_MS: '8000' }).done;
    expect(r.code).to.equal(137);
    const o = jsonLines(r.stdout).get(0)?.find((x) => x.outcome);
    expect(o, r.stdout + r.stderr).to.not.equal(undefined);
    expect(o!.outcome).to.include({ ok: false, name: 'DistributedError' });
    expect(o!.duringFit).to.match(/in use by a training run/);
  });

  it('runs a stream with `run --nproc-per-node 2`: adapters and answers as one process with the doubled batch (training and evaluation sharded), one report', async () => {
    const root = tmpDir('ddp-run');
    const base = makeTinyStream(root);
    // Generation batches of 2: three per evaluation, spread over the two ranks.
    const cfg = (batchSize: number, output: string) => ({ ...base, tasks: base.tasks.slice(0, 2), training: { ...base.training, batchSize }, generation: { ...base.generation, batchSize: 2 }, output });
    fs.writeFileSync(path.join(root, 'ddp.json'), JSON.stringify(cfg(2, 'ddp')));
    const run = spawn(process.execPath, ['--import', 'tsx', MAIN_TS, 'run', path.join(root, 'ddp.json'), '--nproc-per-node', '2', '--json'], {
      cwd: ROOT,
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    let out = '';
    let err = '';
    run.stdout.on('data', (d) => (out += d));
    run.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => run.on('close', resolve));
    expect(code, err).to.equal(0);
    expect(out.split('\n').filter((l) => l.includes('"event":"done"')), out).to.have.length(1); // rank 0 alone reports
    expect(fs.existsSync(path.join(root, 'ddp', 'results.json'))).to.equal(true);
    const single = await runStream(parseStreamConfig(cfg(4, 'single'), path.join(root, 'single.json')));
    // Evaluation was sharded over the ranks (generation batch b on rank b mod 2) and gathered:
    // every answer is there, and the same as one process's.
    const answers = (rows: { evaluations: { samples: { answer: string }[] }[] }[]) => rows.map((r) => r.evaluations.map((e) => e.samples.map((x) => x.answer)));
    const ddp = JSON.parse(fs.readFileSync(path.join(root, 'ddp', 'results.json'), 'utf8'));
    const got = answers(ddp.methods[0].seeds[0].rows);
    expect(got.flat(2).length).to.equal(3 * 2 * 3);
    expect(got.flat(2).every((a: unknown) => typeof a === 'string')).to.equal(true);
    expect(got).to.deep.equal(answers(single.methods[0].seeds[0].rows));
    for (const task of ['task-1-one', 'task-2-two']) {
      const file = (o: string) => path.join(root, o, 'lora', 'seed-1', task, 'adapter', 'adapter_model.safetensors');
      const [a, b] = [await loadSafetensors(file('ddp')), await loadSafetensors(file('single'))];
      expect(Object.keys(a).sort()).to.deep.equal(Object.keys(b).sort());
      let maxDiff = 0;
      let maxB = 0;
      for (const k of Object.keys(b)) {
        const x = a[k].toArray() as Float32Array;
        const y = b[k].toArray() as Float32Array;
        for (let i = 0; i < y.length; ++i) {
          maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
          if (k.includes('lora_B')) maxB = Math.max(maxB, Math.abs(y[i]));
        }
      }
      expect(maxB, task).to.be.above(1e-3);
      expect(maxDiff, task).to.be.at.most(1e-5);
    }
  });

  /** 2 ranks × batch 2 (launched) against 1 process × batch 4 (here): the trainable parameters after training. */
  const LORA: TunerOptions = { type: 'lora', r: 4, alpha: 8, dropout: 0, seed: 1 };
  async function compareWithOneProcess(method?: MethodConfigInput, extra: Record<string, number | boolean> = {}, checkpoints = false, tuner: TunerOptions = LORA) {
    const dir = tmpDir('ddp');
    const ckpt = (who: string) => (checkpoints ? { checkpointDir: path.join(dir, `${who}-ckpt`), checkpointEvery: 2 } : {});
    // Accumulation over 2 micro-batches, clipping and a schedule are all in play; the last
    // micro-batch of each epoch leaves rank 1 without data.
    const options = { epochs: 3, gradientAccumulation: 2, learningRate: 1e-2, lrScheduler: 'linear' as const, warmupSteps: 1, maxGradNorm: 0.5, seed: 7, ...extra };
    const r = await startLaunch(['--nproc-per-node', '2', '--', ...worker('train')], {
      OMP_NUM_THREADS: '1',
      DDP_OPTIONS: JSON.stringify({ ...options, batchSize: 2, ...ckpt('ddp') }),
      DDP_OUT: path.join(dir, 'ddp'),
      DDP_METHOD: method ? JSON.stringify(method) : '',
      DDP_TUNER: JSON.stringify(tuner),
    }).done;
    expect(r.code, r.stderr).to.equal(0);
    const ranks = [0, 1].map((k) => JSON.parse(fs.readFileSync(path.join(dir, `ddp.rank${k}.json`), 'utf8')));

    const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
    try {
      model.addAdapter(tuner);
      const { losses, summary } = await trainTasks(model, { ...options, batchSize: 4, ...ckpt('single') }, method);
      expect(ranks[0].summary.steps).to.equal(summary.steps);
      expect(ranks[0].summary.tokens).to.equal(summary.tokens);
      const single = model.native.tunerState();
      let maxDiff = 0;
      let maxValue = 0;
      for (const [name, t] of Object.entries(single)) {
        const want = t.toArray() as Float32Array;
        for (const rank of ranks) {
          const got = rank.state[name] as number[];
          expect(got, name).to.have.length(want.length);
          for (let i = 0; i < want.length; ++i) {
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
            maxValue = Math.max(maxValue, Math.abs(want[i]));
          }
        }
      }
      if (process.env.DDP_PRINT) console.log(`${method?.name ?? 'plain'}: max abs diff ${maxDiff}, max abs value ${maxValue}`);
      expect(maxValue).to.be.above(1e-3); // LoRA B moved away from 0: the comparison is not vacuous
      expect(maxDiff).to.be.at.most(1e-5);
      expect(ranks[0].losses).to.have.length(losses.length);
      if (checkpoints) {
        // Rank 0's checkpoint (optimizer shards gathered under ZeRO) holds what one process's holds.
        const file = (who: string) => path.join(dir, `${who}-ckpt`, 'trainer-state.safetensors');
        const [a, b] = [await loadSafetensors(file('ddp')), await loadSafetensors(file('single'))];
        expect(Object.keys(a).sort()).to.deep.equal(Object.keys(b).sort());
        let ckptDiff = 0;
        for (const k of Object.keys(b).filter((k) => k.startsWith('optimizer.') || k.startsWith('tuner.'))) {
          const x = a[k].toArray() as Float32Array;
          const y = b[k].toArray() as Float32Array;
          for (let i = 0; i < y.length; ++i) ckptDiff = Math.max(ckptDiff, Math.abs(x[i] - y[i]));
        }
        expect(ckptDiff).to.be.at.most(1e-5);
      }
      ranks.forEach((rank) => rank.losses.forEach((l: number, i: number) => expect(l).to.be.closeTo(losses[i], 1e-5)));
      return summary;
    } finally {
      await model.dispose();
    }
  }

  it('trains 2 ranks × batch 2 to the parameters of 1 process × batch 4 (max abs diff ≤ 1e-5)', async () => {
    const summary = await compareWithOneProcess();
    expect(summary.steps).to.equal(3 * 2);
    // Tiny buckets: ~8 all-reduces per step launched from the backward hooks, in order; with
    // gradient checkpointing the hooks fire inside the recomputed layers' backward.
    await compareWithOneProcess(undefined, { ddpBucketMb: 0.002 });
    await compareWithOneProcess(undefined, { ddpBucketMb: 0.002, gradientCheckpointing: true });
  });

  it('trains every other tuner data parallel to the parameters of 1 process, with a CL method', async () => {
    const tuners: TunerOptions[] = [
      { type: 'moelora', r: 4, experts: 2, alpha: 8, dropout: 0 },
      { type: 'adalora', initR: 4, targetR: 2, alpha: 8, tinit: 1, tfinal: 1, deltaT: 1, totalStep: 6 },
      { type: 'adapter', bottleneckDim: 8 },
      { type: 'prompt', numVirtualTokens: 3 },
      { type: 'prefix', numVirtualTokens: 3 },
      { type: 'ptuning', numVirtualTokens: 3, encoderHiddenSize: 16 },
    ];
    for (const tuner of tuners) await compareWithOneProcess(tuner.type === 'adapter' ? { name: 'ewc', samples: 4 } : undefined, {}, false, tuner);
  });

  it('shards the optimizer state (zeroStage 1) and still matches 1 process, checkpoint included', async () => {
    await compareWithOneProcess(undefined, { zeroStage: 1 }, true);
  });

  it('refuses, on every rank, a fit whose ranks were given different options or tuners (never a gloo size mismatch)', async () => {
    const cases = [
      [{ DDP_RANK1_OPTIONS: JSON.stringify({ learningRate: 5e-3 }) }, 'options', /rank 1's training options .* differ from rank 0's/],
      [{ DDP_RANK1_OPTIONS: JSON.stringify({ ddpBucketMb: 0.001 }) }, 'options', /rank 1's training options .* differ from rank 0's/],
      [{ DDP_RANK1_R: '8' }, 'tuner', /rank 1's trainable tensors .* differ from rank 0's/],
    ] as const;
    for (const [env, field, message] of cases) {
      const dir = tmpDir('ddp-mismatch');
      const r = await startLaunch(['--nproc-per-node', '2', '--', ...worker('train')], {
        OMP_NUM_THREADS: '1',
        DDP_OPTIONS: JSON.stringify({ epochs: 1, batchSize: 2, learningRate: 1e-2 }),
        DDP_OUT: path.join(dir, 'ddp'),
        ...env,
      }).done;
      expect(r.code, r.stderr).to.equal(0);
      for (const rank of [0, 1]) {
        const o = jsonLines(r.stdout).get(rank)![0];
        expect(o, JSON.stringify(env)).to.include({ error: 'DistributedError', field });
        expect(o.message).to.match(message);
      }
    }
  });

  it("keeps the ranks' parameters bit-identical with dropout on (each rank has its own dropout stream)", async () => {
    const dir = tmpDir('ddp-dropout');
    const r = await startLaunch(['--nproc-per-node', '2', '--', ...worker('train')], {
      OMP_NUM_THREADS: '1',
      DDP_OPTIONS: JSON.stringify({ epochs: 2, batchSize: 2, learningRate: 1e-2, seed: 3 }),
      DDP_OUT: path.join(dir, 'ddp'),
      DDP_DROPOUT: '0.3',
    }).done;
    expect(r.code, r.stderr).to.equal(0);
    const [a, b] = [0, 1].map((k) => JSON.parse(fs.readFileSync(path.join(dir, `ddp.rank${k}.json`), 'utf8')));
    expect(a.state).to.deep.equal(b.state);
    expect(a.losses).to.deep.equal(b.losses);
  });

  it('matches 1 process with EWC (Fisher sharded over the ranks, penalty counted once) A-GEM and GEM (memory gradients sharded, projection of the summed gradient) across a task boundary', async () => {
    await compareWithOneProcess({ name: 'ewc', lambda: 50, samples: 4 });
    await compareWithOneProcess({ name: 'agem', memoryPerTask: 4, referenceBatch: 3 });
    await compareWithOneProcess({ name: 'gem', memoryPerTask: 5, margin: 0 });
  });
});
