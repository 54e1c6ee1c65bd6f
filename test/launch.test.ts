/**
 * `continual-next launch` with real processes: the torchrun environment contract as workers see
 * it, `[rank N]` prefixes, fail-fast (SIGTERM, then SIGKILL after the grace period) with no
 * orphan left, the failing rank's exit status, restarts, the launcher's own SIGTERM, two launchers
 * forming one job; and the worker-side reader of torchrun/Slurm variables.
 */
import { expect } from 'chai';
import os from 'node:os';

import { ConfigError, readRankEnv } from '../ts/index';
import { alive, byRank, freePort, killPids, killStarted, startLaunch, waitFor } from './helpers/launch';
import { tmpDir } from './helpers/run';

const NODE = process.execPath;
const learntPids: number[] = [];

/** A worker program for `node -e`. */
const ENV_WORKER = `
const e = process.env;
const keys = ['RANK','LOCAL_RANK','WORLD_SIZE','LOCAL_WORLD_SIZE','GROUP_RANK','MASTER_ADDR','MASTER_PORT','TORCHELASTIC_RESTART_COUNT','OMP_NUM_THREADS'];
console.log(JSON.stringify(Object.fromEntries(keys.map((k) => [k, e[k]]))));
console.error('to stderr ' + e.RANK);
process.stdout.write('no newline at the end');
`;

/** Rank 1 fails (exit 3 or SIGKILL) after a moment; rank 0 ignores SIGTERM and has a grandchild. */
const FAIL_WORKER = `
const { spawn } = require('node:child_process');
const rank = process.env.RANK;
if (rank === '0') {
  process.on('SIGTERM', () => console.log('got SIGTERM, ignoring it'));
  const g = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  console.log(JSON.stringify({ pid: process.pid, grandchild: g.pid }));
  setTimeout(() => {}, 60000);
} else {
  console.log(JSON.stringify({ pid: process.pid }));
  setTimeout(() => (process.env.HOW === 'signal' ? process.kill(process.pid, 'SIGKILL') : process.exit(3)), 400);
}
`;

function pidsOf(stdout: string): number[] {
  const pids: number[] = [];
  for (const lines of byRank(stdout).values()) {
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const o = JSON.parse(l) as { pid?: number; grandchild?: number };
      if (o.pid) pids.push(o.pid);
      if (o.grandchild) pids.push(o.grandchild);
    }
  }
  learntPids.push(...pids);
  return pids;
}

describe('launch', function () {
  this.timeout(30_000);
  after(() => {
    killStarted();
    killPids(learntPids);
  });

  it('gives each worker the torchrun environment and prefixes its lines with [rank N]', async () => {
    const r = await startLaunch(['--nproc-per-node', '2', '--', NODE, '-e', ENV_WORKER], { OMP_NUM_THREADS: '' }).done;
    expect(r.code, r.stderr).to.equal(0);
    const out = byRank(r.stdout);
    expect([...out.keys()].sort()).to.deep.equal([0, 1]);
    const envs = [0, 1].map((rank) => JSON.parse(out.get(rank)![0]) as Record<string, string>);
    const threads = String(Math.max(1, Math.floor(os.availableParallelism() / 2)));
    envs.forEach((e, rank) => {
      expect(e).to.include({ RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '0', MASTER_ADDR: '127.0.0.1', TORCHELASTIC_RESTART_COUNT: '0' });
      expect(e.OMP_NUM_THREADS).to.equal(threads);
      expect(out.get(rank)).to.include('no newline at the end');
    });
    expect(envs[0].MASTER_PORT).to.equal(envs[1].MASTER_PORT);
    expect(Number(envs[0].MASTER_PORT)).to.be.within(1, 65535);
    expect(byRank(r.stderr).get(1)).to.deep.equal(['to stderr 1']);
  });

  it('keeps an OMP_NUM_THREADS that is already set', async () => {
    const r = await startLaunch(['--nproc-per-node', '1', '--', NODE, '-e', ENV_WORKER], { OMP_NUM_THREADS: '3' }).done;
    expect(r.code).to.equal(0);
    expect(JSON.parse(byRank(r.stdout).get(0)![0]).OMP_NUM_THREADS).to.equal('3');
  });

  it('stops the other workers when one fails (SIGTERM, SIGKILL after the grace period), leaves no orphan, exits with its code', async () => {
    const r = await startLaunch(['--nproc-per-node', '2', '--grace-period', '1', '--', NODE, '-e', FAIL_WORKER]).done;
    expect(r.code).to.equal(3);
    expect(r.stderr).to.match(/rank 1 \(local rank 1, pid \d+\) failed: exit code 3/);
    expect(byRank(r.stdout).get(0)).to.include('got SIGTERM, ignoring it');
    // Rank 0 ignored SIGTERM: it went down by SIGKILL after the 1 s grace, not after its 60 s.
    expect(r.seconds).to.be.below(10);
    const pids = pidsOf(r.stdout);
    expect(pids).to.have.length(3);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).to.equal(false);
  });

  it('reports a worker killed by a signal with 128 + the signal number', async () => {
    const r = await startLaunch(['--nproc-per-node', '2', '--grace-period', '0.5', '--', NODE, '-e', FAIL_WORKER], { HOW: 'signal' }).done;
    expect(r.code).to.equal(128 + os.constants.signals.SIGKILL);
    expect(r.stderr).to.match(/rank 1 .* failed: killed by SIGKILL/);
    for (const pid of pidsOf(r.stdout)) expect(alive(pid)).to.equal(false);
  });

  it('restarts the whole group with --max-restarts, incrementing TORCHELASTIC_RESTART_COUNT', async () => {
    // Each worker marks a file once its line is written; rank 1 fails in the first round only after
    // both marks exist, so a slow-starting rank 0 is not stopped before it has spoken.
    const marks = tmpDir('launch-restart');
    const worker = `
      const fs = require('node:fs'), path = require('node:path');
      const n = process.env.TORCHELASTIC_RESTART_COUNT, rank = process.env.RANK;
      const mark = (r) => path.join(${JSON.stringify(marks)}, r + '-' + n);
      process.stdout.write('restart ' + n + '\\n', () => {
        fs.writeFileSync(mark(rank), '');
        if (rank === '1' && n === '0') {
          const poll = setInterval(() => { if (fs.existsSync(mark('0'))) { clearInterval(poll); process.exit(5); } }, 10);
        } else setTimeout(() => {}, n === '0' ? 30000 : 100);
      });`;
    const r = await startLaunch(['--nproc-per-node', '2', '--max-restarts', '1', '--grace-period', '1', '--', NODE, '-e', worker]).done;
    expect(r.code, r.stderr).to.equal(0);
    const out = byRank(r.stdout);
    expect(out.get(1), r.stdout + r.stderr).to.deep.equal(['restart 0', 'restart 1']);
    expect(out.get(0), r.stdout + r.stderr).to.deep.equal(['restart 0', 'restart 1']);
    expect(r.stderr).to.include('restarting the group (restart 1 of 1)');
    // Out of restarts: the failure is final.
    const always = `console.log('x'); process.exit(process.env.RANK === '0' ? 0 : 4);`;
    const r2 = await startLaunch(['--nproc-per-node', '2', '--max-restarts', '1', '--', NODE, '-e', always]).done;
    expect(r2.code).to.equal(4);
    expect(byRank(r2.stdout).get(1)).to.have.length(2);
  });

  it('takes its workers down when it is sent SIGTERM itself', async () => {
    const worker = `console.log(JSON.stringify({ pid: process.pid })); setTimeout(() => {}, 60000);`;
    const run = startLaunch(['--nproc-per-node', '2', '--grace-period', '1', '--', NODE, '-e', worker]);
    await waitFor(() => byRank(run.stdout()).size === 2, 15_000);
    const pids = pidsOf(run.stdout());
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).to.equal(128 + os.constants.signals.SIGTERM);
    expect(r.stderr).to.include('stopped by SIGTERM');
    for (const pid of pids) expect(alive(pid)).to.equal(false);
  });

  it('forms one job from two launchers (--nnodes 2) on 127.0.0.1', async () => {
    const port = String(await freePort());
    const worker = `console.log(JSON.stringify({ rank: process.env.RANK, local: process.env.LOCAL_RANK, world: process.env.WORLD_SIZE, node: process.env.GROUP_RANK, port: process.env.MASTER_PORT }));`;
    const common = ['--nproc-per-node', '2', '--nnodes', '2', '--master-addr', '127.0.0.1', '--master-port', port];
    const [a, b] = await Promise.all([0, 1].map((n) => startLaunch([...common, '--node-rank', String(n), '--', NODE, '-e', worker]).done));
    expect(a.code).to.equal(0);
    expect(b.code).to.equal(0);
    const seen = [...byRank(a.stdout).values(), ...byRank(b.stdout).values()].map((l) => JSON.parse(l[0]));
    expect(seen.map((s) => s.rank).sort()).to.deep.equal(['0', '1', '2', '3']);
    expect(new Set(seen.map((s) => s.world))).to.deep.equal(new Set(['4']));
    expect(new Set(seen.map((s) => s.port))).to.deep.equal(new Set([port]));
    expect(seen.find((s) => s.rank === '3')).to.include({ local: '1', node: '1' });
  });

  it('refuses bad usage (exit 2, ConfigError) and a command that cannot start (exit 127)', async () => {
    const r = await startLaunch(['--nproc-per-node', 'x', '--', NODE, '-e', '']).done;
    expect(r.code).to.equal(2);
    const r2 = await startLaunch(['--nproc-per-node', '1', '--nnodes', '2', '--node-rank', '2', '--', NODE, '-e', '']).done;
    expect(r2.code).to.equal(1);
    expect(r2.stderr).to.match(/ConfigError: nodeRank 2 must be < nnodes/);
    const r3 = await startLaunch(['--nproc-per-node', '1', '--', '/nonexistent/worker']).done;
    expect(r3.code).to.equal(127);
    expect(r3.stderr).to.include("could not start '/nonexistent/worker'");
  });
});

describe('readRankEnv', () => {
  it('reads torchrun variables', () => {
    const r = readRankEnv({ RANK: '3', LOCAL_RANK: '1', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '1', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234', TORCHELASTIC_RESTART_COUNT: '2' });
    expect(r).to.deep.equal({ rank: 3, localRank: 1, worldSize: 4, localWorldSize: 2, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 1234, restartCount: 2, source: 'torchrun' });
  });

  it("reads Slurm's variables (tasks per node as Slurm writes them)", () => {
    const r = readRankEnv({ SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_NTASKS_PER_NODE: '4', SLURM_NODEID: '1', SLURM_JOB_NUM_NODES: '2', SLURM_LAUNCH_NODE_IPADDR: '10.1.2.3' });
    expect(r).to.include({ rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, nodeRank: 1, masterAddr: '10.1.2.3', masterPort: 29500, source: 'slurm' });
    expect(readRankEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '8', SLURM_TASKS_PER_NODE: '4(x2)', SLURM_JOB_NUM_NODES: '2' }).localWorldSize).to.equal(4);
  });

  it('is a single process without launcher variables', () => {
    expect(readRankEnv({})).to.include({ rank: 0, worldSize: 1, source: 'single' });
  });

  it('names the variable at fault', () => {
    const bad: [Record<string, string>, string][] = [
      [{ RANK: '2', WORLD_SIZE: '2' }, 'RANK'],
      [{ RANK: 'one', WORLD_SIZE: '2' }, 'RANK'],
      [{ RANK: '0', WORLD_SIZE: '0' }, 'WORLD_SIZE'],
      [{ RANK: '0' }, 'WORLD_SIZE'],
      [{ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' }, 'MASTER_PORT'],
      [{ RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '3', LOCAL_WORLD_SIZE: '2' }, 'LOCAL_RANK'],
      [{ SLURM_PROCID: '4', SLURM_NTASKS: '4' }, 'SLURM_PROCID'],
      [{ SLURM_PROCID: '0', SLURM_NTASKS: 'x' }, 'SLURM_NTASKS'],
    ];
    for (const [env, field] of bad) {
      let caught: unknown;
      try {
        readRankEnv(env);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(env)).to.be.instanceOf(ConfigError);
      expect((caught as ConfigError).field).to.equal(field);
      expect((caught as ConfigError).message).to.include(field);
    }
  });
});
