/**
 * The process group (c10d TCPStore + Gloo, or NCCL in a CUDA build) and data-parallel training,
 * with real worker processes over 127.0.0.1 started by `continual-next launch`: collective values,
 * a dead or missing peer as DistributedError (never a hang), and 2 ranks × batch B training to the
 * same parameters as 1 process × batch 2B. The backend option's validation runs everywhere; the
 * NCCL cases ([gpu]: a world-size-1 group on one GPU) skip without a CUDA device and NCCL.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { spawn } from 'node:child_process';

import { ConfigError, DeviceError, DistributedError, Model, ProcessGroup, Tensor, Trainer, info, loadNative, loadSafetensors, parseStreamConfig, runStream, type MethodConfigInput, type TunerOptions } from '../ts/index';
import { DDP_EXAMPLES, DDP_SPEC, trainTasks } from './helpers/ddp-data';
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

  it('resumes a stream after a worker is killed mid-task (launch --max-restarts 1): the same matrix, answers and adapters as the uninterrupted run', async function () {
    this.timeout(120_000);
    const root = tmpDir('ddp-restart');
    const base = makeTinyStream(root);
    // Three tasks, a native CL method, ZeRO-2 and dropout (each rank's own stream, restored on resume);
    // a trainer checkpoint after every step.
    const cfg = (output: string) => ({
      ...base,
      tuner: { type: 'lora' as const, r: 4, alpha: 8, dropout: 0.1 },
      methods: [{ name: 'agem' as const, memoryPerTask: 3, referenceBatch: 2 }],
      training: { ...base.training, batchSize: 2, checkpointEvery: 1, zeroStage: 2 as const },
      generation: { ...base.generation, batchSize: 2 },
      output,
    });
    const runUnder = (output: string, launchArgs: string[], env: NodeJS.ProcessEnv = {}) => {
      fs.writeFileSync(path.join(root, `${output}.json`), JSON.stringify(cfg(output)));
      return startLaunch(['--nproc-per-node', '2', ...launchArgs, '--', process.execPath, '--import', 'tsx', '--import', path.join(ROOT, 'test', 'helpers', 'kill-once.ts'), MAIN_TS, 'run', path.join(root, `${output}.json`), '--json'], { OMP_NUM_THREADS: '1', ...env }).done;
    };
    const plain = await runUnder('plain', []);
    expect(plain.code, plain.stderr).to.equal(0);
    // Rank 1 dies once rank 0 has written task two's first trainer checkpoint.
    const seedDir = (output: string) => path.join(root, output, fs.readdirSync(path.join(root, output)).find((d) => fs.existsSync(path.join(root, output, d, 'seed-1')))!, 'seed-1');
    const trainerState = (output: string) => path.join(seedDir(output), 'task-2-two', 'trainer', 'trainer-state.safetensors');
    const killWhen = trainerState('plain').replace(`${path.sep}plain${path.sep}`, `${path.sep}restarted${path.sep}`);
    const restarted = await runUnder('restarted', ['--max-restarts', '1'], { KILL_WHEN_EXISTS: killWhen });
    expect(restarted.code, restarted.stderr).to.equal(0);
    expect(restarted.stderr).to.match(/rank 1 .* failed: killed by SIGKILL/);
    // The second attempt resumed after task one, and inside task two's training (not from its step 0).
    const events = (byRank(restarted.stdout).get(0) ?? []).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const resumeAt = events.findIndex((e) => e.event === 'resume');
    expect(resumeAt, restarted.stdout).to.be.above(-1);
    expect(events[resumeAt].fromRow).to.equal(1);
    const firstStep = events.slice(resumeAt).find((e) => e.event === 'train' && e.task === 'two');
    expect(firstStep, restarted.stdout).to.not.equal(undefined);
    expect(firstStep.progress.step).to.be.above(1);
    const results = (output: string) => JSON.parse(fs.readFileSync(path.join(root, output, 'results.json'), 'utf8')).methods[0].seeds[0];
    const [a, b] = [results('plain'), results('restarted')];
    expect(b.matrix).to.deep.equal(a.matrix);
    expect(b.matrices).to.deep.equal(a.matrices);
    const answers = (seed: { rows: { evaluations: { samples: { answer: string }[] }[] }[] }) => seed.rows.map((r) => r.evaluations.map((e) => e.samples.map((x) => x.answer)));
    expect(answers(b)).to.deep.equal(answers(a));
    for (const task of ['task-1-one', 'task-2-two', 'task-3-three']) {
      const file = (output: string) => path.join(seedDir(output), task, 'adapter', 'adapter_model.safetensors');
      expect(fs.readFileSync(file('restarted')).equals(fs.readFileSync(file('plain'))), task).to.equal(true);
    }
  });

  it('resumes a 2-rank dropout run after a kill (launch --max-restarts 1) bit-identically: each rank restores its own dropout stream', async () => {
    const dir = tmpDir('ddp-dropout-resume');
    const run = (who: string, launchArgs: string[], env: NodeJS.ProcessEnv = {}) =>
      startLaunch(['--nproc-per-node', '2', ...launchArgs, '--', ...worker('train')], {
        OMP_NUM_THREADS: '1',
        DDP_OPTIONS: JSON.stringify({ epochs: 4, batchSize: 2, learningRate: 1e-2, seed: 3, checkpointDir: path.join(dir, `${who}-ckpt`), checkpointEvery: 1, resume: true }),
        DDP_OUT: path.join(dir, who),
        DDP_DROPOUT: '0.3',
        ...env,
      }).done;
    const plain = await run('plain', []);
    expect(plain.code, plain.stderr).to.equal(0);
    // rank 1 kills itself at its 3rd step (of 12); the group restarts and resumes
    const resumed = await run('resumed', ['--max-restarts', '1'], { DDP_KILL_AT: '3' });
    expect(resumed.code, resumed.stderr).to.equal(0);
    const read = (who: string, k: number) => JSON.parse(fs.readFileSync(path.join(dir, `${who}.rank${k}.json`), 'utf8'));
    for (const k of [0, 1]) {
      const [a, b] = [read('plain', k), read('resumed', k)];
      if (process.env.DDP_PRINT) console.log(`dropout run resumed at step ${b.summary.resumedFromStep} of 12 (rank ${k})`);
      expect(b.summary.resumedFromStep, `rank ${k}`).to.be.within(1, 11);
      expect(b.summary.steps).to.equal(a.summary.steps);
      expect(b.state, `rank ${k}`).to.deep.equal(a.state);
      // the steps after the resume drew the same dropout masks: the same losses, bit for bit
      expect(b.losses).to.deep.equal(a.losses.slice(a.losses.length - b.losses.length));
    }
  });

  it('resumes ZeRO checkpoints across world sizes: 2 ranks (ZeRO-2) → 1 process, and 1 process → 2 ranks (ZeRO-1), mid-task with CIA, as the uninterrupted run', async () => {
    const dir = tmpDir('ddp-world');
    // 12 steps on task 0, 8 on task 1; the kill comes at task 1's 2nd step (after its 1st checkpoint)
    const options = { epochs: 4, learningRate: 1e-2, lrScheduler: 'linear' as const, warmupSteps: 1, maxGradNorm: 0.5, seed: 7, checkpointEvery: 1, resume: true };
    const method: MethodConfigInput = { name: 'cia', c: 0.01 };
    const single = async (extra: object) => {
      const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
      try {
        model.addAdapter(LORA);
        const { summary } = await trainTasks(model, { ...options, batchSize: 4, ...extra }, method);
        return { summary, state: Object.fromEntries(Object.entries(model.native.tunerState()).map(([k, t]) => [k, Array.from(t.toArray() as Float32Array)])) };
      } finally {
        await model.dispose();
      }
    };
    const launched = (nproc: number, extra: object, env: NodeJS.ProcessEnv) =>
      startLaunch(['--nproc-per-node', String(nproc), '--', ...worker('train')], {
        OMP_NUM_THREADS: '1',
        DDP_OPTIONS: JSON.stringify({ ...options, batchSize: 4 / nproc, ...extra }),
        DDP_METHOD: JSON.stringify(method),
        DDP_TUNER: JSON.stringify(LORA),
        DDP_OUT: path.join(dir, `n${nproc}`),
        ...env,
      }).done;
    const want = (await single({})).state;
    const maxDiff = (got: Record<string, number[]>) => {
      let d = 0;
      for (const [k, w] of Object.entries(want)) got[k].forEach((x, i) => (d = Math.max(d, Math.abs(x - w[i]))));
      return d;
    };
    // 1 process and 2 ranks sum a step's gradients in different orders, and their products run at
    // different row counts (oneDNN rounds those differently); CIA's adaptive EMA and Adam's
    // normalisation carry that to ~1e-5 after a dozen steps (measured 1.1e-5). A wrong resume
    // (lost optimizer shard, RNG or position) is off by orders of magnitude more.
    const TOL = 5e-5;
    // 2 ranks with ZeRO-2 write the checkpoints and die; one process finishes from them.
    const twoToOne = path.join(dir, 'two-to-one');
    const killed = await launched(2, { zeroStage: 2, checkpointDir: twoToOne }, { DDP_KILL_AT: '14' });
    expect(killed.code, killed.stderr).to.equal(137);
    const finished = await single({ checkpointDir: twoToOne });
    if (process.env.DDP_PRINT) console.log(`2 → 1 resumed task 1 at step ${finished.summary.resumedFromStep} of 8`);
    expect(finished.summary.resumedFromStep).to.be.within(1, 7);
    expect(maxDiff(finished.state)).to.be.at.most(TOL);
    // One process writes them and dies; 2 ranks with ZeRO-1 finish.
    const oneToTwo = path.join(dir, 'one-to-two');
    const killed1 = await launched(1, { checkpointDir: oneToTwo }, { DDP_KILL_AT: '14', DDP_KILL_RANK: '0' });
    expect(killed1.code, killed1.stderr).to.equal(137);
    const two = await launched(2, { zeroStage: 1, checkpointDir: oneToTwo }, {});
    expect(two.code, two.stderr).to.equal(0);
    for (const k of [0, 1]) {
      const r = JSON.parse(fs.readFileSync(path.join(dir, `n2.rank${k}.json`), 'utf8'));
      if (process.env.DDP_PRINT) console.log(`1 → 2 resumed task 1 at step ${r.summary.resumedFromStep} of 8 (rank ${k})`);
      expect(r.summary.resumedFromStep, `rank ${k}`).to.be.within(1, 7);
      expect(maxDiff(r.state), `rank ${k}`).to.be.at.most(TOL);
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
        // ... plus rank 1's own dropout generator state (rng.<i>.rank1)
        const perRank = (k: string) => /^rng\.\d+\.rank\d+$/.test(k);
        expect(Object.keys(a).filter((k) => !perRank(k)).sort()).to.deep.equal(Object.keys(b).sort());
        expect(Object.keys(a).filter(perRank)).to.deep.equal(Object.keys(b).filter((k) => k.startsWith('rng.')).map((k) => `${k}.rank1`));
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

  it('trains every CL method at every ZeRO stage (0, 1, 2) across a task boundary to the parameters of 1 process (max abs diff ≤ 1e-5)', async function () {
    this.timeout(120_000);
    const dir = tmpDir('ddp-zero');
    // Accumulation, clipping (the global norm: under ZeRO-2 from the owned shards), a schedule
    // and an uneven last micro-batch, as above; two tasks, the method's end of each task included.
    const options = { epochs: 3, gradientAccumulation: 2, learningRate: 1e-2, lrScheduler: 'linear' as const, warmupSteps: 1, maxGradNorm: 0.5, seed: 7 };
    const methods: MethodConfigInput[] = [
      { name: 'replay', perTask: 3 },
      { name: 'lwf', alpha: 1, temperature: 2 },
      { name: 'ewc', lambda: 50, samples: 4 },
      { name: 'gem', memoryPerTask: 5, margin: 0 },
      { name: 'agem', memoryPerTask: 4, referenceBatch: 3 },
      { name: 'cia', c: 0.01 },
    ];
    const ADALORA: TunerOptions = { type: 'adalora', initR: 4, targetR: 2, alpha: 8, tinit: 1, tfinal: 1, deltaT: 1, totalStep: 6 };
    type Config = { id: string; ref: string; options: Record<string, unknown>; method?: MethodConfigInput; tuner?: TunerOptions };
    const configs: Config[] = methods.flatMap((method) => [0, 1, 2].map((zeroStage) => ({ id: `${method.name}/zero${zeroStage}`, ref: method.name, options: { ...options, batchSize: 2, zeroStage }, method })));
    // ZeRO-2 with tiny buckets (several reduce-scatters per step, parts of every size, some empty),
    // and with AdaLoRA, whose rank allocator reads every gradient after the step.
    configs.push({ id: 'plain/zero2/buckets', ref: 'plain', options: { ...options, batchSize: 2, zeroStage: 2, ddpBucketMb: 0.002 } });
    configs.push({ id: 'adalora/zero2', ref: 'adalora', options: { ...options, batchSize: 2, zeroStage: 2 }, tuner: ADALORA });
    const t0 = Date.now();
    const r = await startLaunch(['--nproc-per-node', '2', '--', ...worker('train-matrix')], {
      OMP_NUM_THREADS: '1',
      DDP_CONFIGS: JSON.stringify(configs),
      DDP_OUT: path.join(dir, 'ddp'),
    }).done;
    expect(r.code, r.stderr).to.equal(0);
    const launched = Date.now() - t0;
    const ranks = [0, 1].map((k) => JSON.parse(fs.readFileSync(path.join(dir, `ddp.rank${k}.json`), 'utf8')) as Record<string, { summary: { steps: number; tokens: number }; losses: number[]; state: Record<string, number[]> }>);
    // One process × batch 4 (the ZeRO stage means nothing there), once per method.
    const refs = new Map<string, { state: Record<string, Float32Array>; losses: number[]; steps: number }>();
    const refOf = async (c: Config) => {
      if (refs.has(c.ref)) return refs.get(c.ref)!;
      const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
      try {
        model.addAdapter(c.tuner ?? LORA);
        const { losses, summary } = await trainTasks(model, { ...options, batchSize: 4 }, c.method);
        const state = Object.fromEntries(Object.entries(model.native.tunerState()).map(([k, t]) => [k, t.toArray() as Float32Array]));
        refs.set(c.ref, { state, losses, steps: summary.steps });
        return refs.get(c.ref)!;
      } finally {
        await model.dispose();
      }
    };
    const report: string[] = [];
    for (const c of configs) {
      const want = await refOf(c);
      let maxDiff = 0;
      let maxValue = 0;
      for (const rank of ranks) {
        const got = rank[c.id];
        expect(got.summary.steps, c.id).to.equal(want.steps);
        expect(got.losses, c.id).to.have.length(want.losses.length);
        got.losses.forEach((l, i) => expect(l, `${c.id} loss ${i}`).to.be.closeTo(want.losses[i], 1e-5));
        for (const [name, w] of Object.entries(want.state)) {
          const g = got.state[name];
          expect(g, `${c.id} ${name}`).to.have.length(w.length);
          for (let i = 0; i < w.length; ++i) {
            maxDiff = Math.max(maxDiff, Math.abs(g[i] - w[i]));
            maxValue = Math.max(maxValue, Math.abs(w[i]));
          }
        }
      }
      report.push(`${c.id}: ${maxDiff.toExponential(1)}`);
      // What each rank held: ZeRO-1 and 2 shard the AdamW moments, ZeRO-2 the gradients too (the
      // shards add up to the whole; every rank owns some).
      const stage = c.options.zeroStage as number;
      const held = ranks.map((rank) => rank[c.id].summary as unknown as { gradientElements: number; optimizerElements: number });
      // LoRA's state is its parameters; AdaLoRA's has buffers too (then: what the shards add up to)
      const trainable = c.tuner ? (held[0].optimizerElements + held[1].optimizerElements) / 2 : Object.values(want.state).reduce((n, t) => n + t.length, 0);
      for (const h of held) {
        if (stage === 2) expect(h.gradientElements, c.id).to.equal(h.optimizerElements / 2).and.be.above(0).and.below(trainable);
        else expect(h.gradientElements, c.id).to.equal(trainable);
        if (stage >= 1) expect(h.optimizerElements, c.id).to.be.above(0).and.below(2 * trainable);
        else expect(h.optimizerElements, c.id).to.equal(2 * trainable);
      }
      if (stage === 2) expect(held[0].gradientElements + held[1].gradientElements, c.id).to.equal(trainable);
      if (stage >= 1) expect(held[0].optimizerElements + held[1].optimizerElements, c.id).to.equal(2 * trainable);
      expect(maxValue, c.id).to.be.above(1e-3);
      expect(maxDiff, c.id).to.be.at.most(1e-5);
      // the ranks agree bit for bit (every rank ends with the owners' parameters)
      expect(ranks[0][c.id].state, c.id).to.deep.equal(ranks[1][c.id].state);
    }
    // Not vacuous: every method's parameters differ from plain sequential fine-tuning's.
    const seqft = await refOf({ id: 'seqft', ref: 'seqft', options: {}, method: { name: 'seqft' } });
    for (const m of methods) {
      let d = 0;
      for (const [name, w] of Object.entries(seqft.state)) refs.get(m.name)!.state[name].forEach((x, i) => (d = Math.max(d, Math.abs(x - w[i]))));
      report.push(`${m.name} vs seqft: ${d.toExponential(1)}`);
      expect(d, m.name).to.be.above(1e-4);
    }
    if (process.env.DDP_PRINT) console.log(`launched ${launched} ms; max abs diff per config: ${report.join(', ')}`);
  });

  it('refuses a zeroStage other than 0, 1 or 2 with ConfigError naming the field (Trainer options, stream config, native options)', async () => {
    for (const zeroStage of [3, -1, 1.5, '2']) {
      expect(() => new Trainer({} as Model, { zeroStage } as never), String(zeroStage)).to.throw(ConfigError).with.property('field', 'zeroStage');
    }
    expect(() => parseStreamConfig({ name: 'x', model: 'm', tasks: [{ name: 't', train: 'a.jsonl', test: 'b.jsonl' }], training: { zeroStage: 3 } } as never, 'cfg.json'))
      .to.throw(ConfigError)
      .that.satisfies((e: ConfigError) => e.field === 'training.zeroStage' && /must be 0, 1 or 2/.test(e.message));
    const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1 });
    try {
      model.addAdapter(LORA);
      let caught: unknown;
      try {
        await model.native.train(DDP_EXAMPLES, { zeroStage: 3 as never });
      } catch (e) {
        caught = e;
      }
      expect(caught).to.be.instanceOf(ConfigError);
      expect(caught).to.have.property('field', 'zeroStage');
      expect((caught as Error).message).to.match(/zeroStage must be 0, 1 or 2/);
    } finally {
      await model.dispose();
    }
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

  it('validates the backend option: an unknown one is a ConfigError naming the field; nccl in a build without it the typed "not available" DistributedError', async () => {
    const rejection = (f: () => Promise<unknown>) => Promise.resolve().then(f).then(() => undefined, (e: unknown) => e);
    for (const backend of ['mpi', 'NCCL', '', 3]) {
      const e = await rejection(async () => ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: backend as never }));
      expect(e, String(backend)).to.be.instanceOf(ConfigError).with.property('field', 'backend');
      expect((e as Error).message).to.match(/backend must be 'auto', 'gloo' or 'nccl'/);
    }
    // the addon checks it too (a caller that skips the TS layer)
    const native = loadNative().ProcessGroup;
    const raw = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', timeoutMs: 2000 };
    const e1 = await rejection(async () => native.create({ ...raw, masterPort: await freePort(), backend: 'mpi' }));
    expect(e1).to.be.instanceOf(ConfigError).with.property('field', 'backend');
    expect((e1 as Error).message).to.match(/backend must be 'auto', 'gloo' or 'nccl' \(got 'mpi'\)/);
    // nccl: refused before any connection when the build has none (this CPU build)
    const t0 = Date.now();
    const e2 = await rejection(async () => ProcessGroup.create({ rank: 0, worldSize: 2, masterPort: await freePort(), backend: 'nccl', timeoutMs: 20_000 }));
    if (!ProcessGroup.backends.includes('nccl')) {
      expect(e2).to.be.instanceOf(DistributedError).with.property('field', 'backend');
      expect((e2 as Error).message).to.match(/backend 'nccl' is not available in this build/);
      expect(Date.now() - t0).to.be.below(2000); // no store was waited for
      expect(info().build.nccl).to.equal(false);
    } else if (!info().torch.cudaAvailable) {
      // a CUDA build on a machine without a GPU: no device for the rank
      expect(e2).to.be.instanceOf(DeviceError).with.property('field', 'device');
    }
    // gloo asked for CUDA tensors, or a device that is no device
    const e3 = await rejection(async () => ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: 'gloo', device: 'cuda' }));
    expect(e3).to.be.instanceOf(ConfigError).with.property('field', 'device');
    const e4 = await rejection(async () => ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), device: 'tpu:0' }));
    expect(e4).to.be.instanceOf(ConfigError).with.property('field', 'device');
    const e5 = await rejection(async () => native.create({ ...raw, masterPort: await freePort(), backend: 'auto', device: 'tpu' }));
    expect(e5).to.be.instanceOf(ConfigError).with.property('field', 'device');
    // 'auto' (the default) for a CPU model is gloo; results are on the group's device
    await using pg = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), device: 'cpu' });
    expect(pg.backend).to.equal('gloo');
    expect(pg.device).to.equal('cpu');
    const sum = await pg.allReduce(Tensor.fromArray(new Float32Array([1, 2]), [2]));
    expect(sum.device).to.equal('cpu');
    expect(Array.from(sum.toArray() as Float32Array)).to.deep.equal([1, 2]);
    expect(ProcessGroup.backends).to.include('gloo');
  });

  /** Trains LoRA on DDP_EXAMPLES (tiny buckets: several collectives per step) alone or over `pg`; the parameters and per-step losses. */
  async function trainOnce(device: string, pg?: ProcessGroup) {
    const options = { epochs: 2, batchSize: 4, gradientAccumulation: 2, learningRate: 1e-2, lrScheduler: 'linear' as const, warmupSteps: 1, maxGradNorm: 0.5, seed: 7, ddpBucketMb: 0.002 };
    const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1, device });
    try {
      model.addAdapter(LORA);
      const { losses, summary } = await trainTasks(model, options, undefined, pg ? { processGroup: pg } : {});
      const state = Object.fromEntries(Object.entries(model.native.tunerState()).map(([k, t]) => [k, Array.from(t.toArray() as Float32Array)]));
      return { losses, summary, state };
    } finally {
      await model.dispose();
    }
  }
  const maxAbsDiff = (a: Record<string, number[]>, b: Record<string, number[]>) => {
    let d = 0;
    expect(Object.keys(a).sort()).to.deep.equal(Object.keys(b).sort());
    for (const [k, w] of Object.entries(b)) a[k].forEach((x, i) => (d = Math.max(d, Math.abs(x - w[i]))));
    return d;
  };
  /** The largest |LoRA B| (0 at the start): the comparison is not vacuous when it moved. */
  const maxB = (state: Record<string, number[]>) => Math.max(...Object.entries(state).filter(([k]) => k.includes('lora_B')).flatMap(([, v]) => v.map(Math.abs)));

  it('trains over a world-size-1 gloo group (through the gradient sync) to exactly the parameters of no group', async () => {
    const alone = await trainOnce('cpu');
    await using pg = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort() });
    const grouped = await trainOnce('cpu', pg);
    expect(pg.waitSeconds()).to.be.above(0); // the buckets did go through the group
    expect(grouped.summary.steps).to.equal(alone.summary.steps);
    expect(grouped.losses).to.deep.equal(alone.losses);
    expect(maxB(alone.state)).to.be.above(1e-3);
    expect(maxAbsDiff(grouped.state, alone.state)).to.equal(0);
  });

  describe('NCCL on one GPU (world size 1) [gpu]', function () {
    this.timeout(120_000);
    const gpu = info().torch.cudaAvailable && ProcessGroup.backends.includes('nccl');
    before(function () {
      if (!gpu) this.skip();
    });

    it('all-reduces, broadcasts and all-gathers CUDA tensors on cuda:0 (backend nccl, and auto for device cuda)', async () => {
      await using pg = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: 'nccl', timeoutMs: 60_000 });
      expect(pg.backend).to.equal('nccl');
      expect(pg.device).to.equal('cuda:0');
      const x = Tensor.fromArray(new Float32Array([1.5, -2, 3]), [3]);
      const sum = await pg.allReduce(x);
      const avg = await pg.allReduce(x, 'avg');
      const ints = await pg.allReduce(Tensor.fromArray(new BigInt64Array([5n, -7n]), [2], 'int64'));
      const bcast = await pg.broadcast(Tensor.fromArray(new Float32Array([100, 200]), [2]), 0);
      const gathered = await pg.allGather(Tensor.fromArray(new Float32Array([4, 5]), [2]));
      const bytes = await pg.allGather(Tensor.fromArray(new Uint8Array([7, 8, 9]), [3], 'uint8')); // the stream runner's answer gathering
      await pg.barrier();
      for (const t of [sum, avg, ints, bcast, ...gathered, ...bytes]) expect(t.device).to.equal('cuda:0');
      expect(Array.from(sum.toArray() as Float32Array)).to.deep.equal([1.5, -2, 3]);
      expect(Array.from(avg.toArray() as Float32Array)).to.deep.equal([1.5, -2, 3]);
      expect(Array.from(ints.toArray() as BigInt64Array, Number)).to.deep.equal([5, -7]);
      expect(Array.from(bcast.toArray() as Float32Array)).to.deep.equal([100, 200]);
      expect(gathered.map((t) => Array.from(t.toArray() as Float32Array))).to.deep.equal([[4, 5]]);
      expect(Array.from(bytes[0].toArray() as Uint8Array)).to.deep.equal([7, 8, 9]);
      expect(Array.from(x.toArray() as Float32Array)).to.deep.equal([1.5, -2, 3]); // the input is left as it is
      await using auto = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), device: 'cuda' });
      expect(auto.backend).to.equal('nccl');
      expect(auto.device).to.equal('cuda:0');
    });

    it('trains a CUDA model over a world-size-1 NCCL group to the parameters of no group (max abs diff ≤ 1e-5)', async () => {
      const alone = await trainOnce('cuda:0');
      await using pg = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: 'nccl', timeoutMs: 60_000 });
      const grouped = await trainOnce('cuda:0', pg);
      expect(pg.waitSeconds()).to.be.above(0);
      expect(grouped.summary.steps).to.equal(alone.summary.steps);
      grouped.losses.forEach((l, i) => expect(l, `loss ${i}`).to.be.closeTo(alone.losses[i], 1e-5));
      const d = maxAbsDiff(grouped.state, alone.state);
      if (process.env.DDP_PRINT) console.log(`NCCL world 1 vs no group: max abs diff ${d}`);
      expect(maxB(alone.state)).to.be.above(1e-3);
      expect(d).to.be.at.most(1e-5);
    });

    it('refuses a CPU model over an NCCL group and a CUDA model over a gloo group (ConfigError, field backend)', async () => {
      const fitOn = async (device: string, pg: ProcessGroup) => {
        const model = await Model.random(DDP_SPEC, { seed: 3, std: 0.1, device });
        try {
          model.addAdapter(LORA);
          return await new Trainer(model, { epochs: 1, batchSize: 4 }).fit(DDP_EXAMPLES, { processGroup: pg }).then(() => undefined, (e: unknown) => e);
        } finally {
          await model.dispose();
        }
      };
      await using nccl = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: 'nccl' });
      const e1 = await fitOn('cpu', nccl);
      expect(e1).to.be.instanceOf(ConfigError).with.property('field', 'backend');
      expect((e1 as Error).message).to.match(/backend is nccl.*model is on cpu/);
      await using gloo = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: 'gloo' });
      const e2 = await fitOn('cuda:0', gloo);
      expect(e2).to.be.instanceOf(ConfigError).with.property('field', 'backend');
      expect((e2 as Error).message).to.match(/backend is gloo.*model is on cuda:0/);
    });
  });
});
