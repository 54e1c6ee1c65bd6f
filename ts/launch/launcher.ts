/**
 * The launcher behind `continual-next launch`: starts `nprocPerNode` workers on this node with
 * torchrun's environment contract, prefixes their output lines with `[rank N]`, and supervises
 * them as one group. When a worker fails (non-zero exit or a signal) the others get SIGTERM and,
 * after the grace period, SIGKILL; the group is then restarted up to `maxRestarts` times, else the
 * launcher reports the failing rank. Each worker runs in its own process group (spawned detached)
 * and is killed through it, so grandchildren go too and nothing is left orphaned; the launcher
 * does the same when it receives SIGINT/SIGTERM itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import readline from 'node:readline';
import type { Writable } from 'node:stream';

import { ConfigError } from '../errors';

export interface LaunchOptions {
  /** The worker command and its arguments (the same on every rank). */
  command: string[];
  nprocPerNode: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  /** Rank 0's store port. Default: a free port when nnodes is 1, else 29500 (as torchrun). */
  masterPort?: number;
  /** Times the whole group is restarted after a failure (0: none). */
  maxRestarts?: number;
  /** Seconds between SIGTERM and SIGKILL when stopping workers. */
  gracePeriodSeconds?: number;
  /** Prefix each worker line with `[rank N] ` (default true). */
  prefixOutput?: boolean;
  /** Base environment of the workers (default: this process's). */
  env?: NodeJS.ProcessEnv;
  stdout?: Writable;
  stderr?: Writable;
  /** Stops the group (as on SIGTERM) when aborted. */
  signal?: AbortSignal;
  onEvent?: (e: LaunchEvent) => void;
}

export type LaunchEvent =
  | { type: 'start'; restart: number; pids: number[]; masterPort: number }
  | { type: 'failure'; restart: number; failure: WorkerFailure }
  | { type: 'restart'; restart: number };

export interface WorkerFailure {
  rank: number;
  localRank: number;
  pid: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  /** 0 when every worker succeeded; else the failing rank's code (128 + signal number when signalled). */
  exitCode: number;
  restarts: number;
  failure?: WorkerFailure;
  /** Set when the launcher itself was stopped (by a signal or `signal`). */
  stoppedBy?: string;
  /** Pids of the last group's workers (all gone when launch() resolves). */
  pids: number[];
}

/** The exit status a shell would show for a worker's end. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (os.constants.signals[signal] ?? 0);
  return code ?? 1;
}

export function describeFailure(f: WorkerFailure): string {
  const how = f.signal ? `killed by ${f.signal}` : `exit code ${f.exitCode}`;
  return `rank ${f.rank} (local rank ${f.localRank}, pid ${f.pid}) failed: ${how}`;
}

/** A TCP port that was free a moment ago on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function validate(o: LaunchOptions): Required<Pick<LaunchOptions, 'nprocPerNode' | 'nnodes' | 'nodeRank' | 'masterAddr' | 'maxRestarts' | 'gracePeriodSeconds'>> {
  const int = (v: number, name: string, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new ConfigError(`${name} must be an integer ≥ ${min} (got ${v})`, { field: name });
    return v;
  };
  if (o.command.length === 0) throw new ConfigError('launch needs a worker command (after --)', { field: 'command' });
  const nnodes = int(o.nnodes ?? 1, 'nnodes', 1);
  const nodeRank = int(o.nodeRank ?? 0, 'nodeRank', 0);
  if (nodeRank >= nnodes) throw new ConfigError(`nodeRank ${nodeRank} must be < nnodes (${nnodes})`, { field: 'nodeRank' });
  if (o.masterPort !== undefined && (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535)) {
    throw new ConfigError(`masterPort must be a TCP port 1..65535 (got ${o.masterPort})`, { field: 'masterPort' });
  }
  const grace = o.gracePeriodSeconds ?? 5;
  if (!(grace >= 0)) throw new ConfigError(`gracePeriodSeconds must be ≥ 0 (got ${grace})`, { field: 'gracePeriodSeconds' });
  return {
    nprocPerNode: int(o.nprocPerNode, 'nprocPerNode', 1),
    nnodes,
    nodeRank,
    masterAddr: o.masterAddr ?? '127.0.0.1',
    maxRestarts: int(o.maxRestarts ?? 0, 'maxRestarts', 0),
    gracePeriodSeconds: grace,
  };
}

/** Sends `signal` to a worker's whole process group; false when it is already gone. */
function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

interface Worker {
  rank: number;
  localRank: number;
  child: ChildProcess;
  closed: Promise<void>;
  exited: boolean;
}

/** Runs the group (with restarts) until it succeeds, fails for good, or the launcher is stopped. */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  const o = validate(options);
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const baseEnv = options.env ?? process.env;
  const worldSize = o.nprocPerNode * o.nnodes;
  const threads = Math.max(1, Math.floor(os.availableParallelism() / o.nprocPerNode));

  let live: Worker[] = [];
  let stoppedBy: string | undefined;
  let stopGroup: ((reason: string) => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stoppedBy ??= sig;
    stopGroup?.(sig);
  };
  const onAbort = () => onSignal('SIGTERM');
  // Backstop: whatever happens to the launcher's event loop, its workers do not outlive it.
  const onExit = () => {
    for (const w of live) if (!w.exited) killGroup(w.child.pid!, 'SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stoppedBy = 'abort';

  try {
    for (let restart = 0; ; ++restart) {
      if (stoppedBy) return { exitCode: 128 + (os.constants.signals[stoppedBy as NodeJS.Signals] ?? 15), restarts: restart, stoppedBy, pids: [] };
      const masterPort = options.masterPort ?? (o.nnodes === 1 ? await freePort(o.masterAddr) : 29500);
      const env = (localRank: number): NodeJS.ProcessEnv => ({
        ...baseEnv,
        RANK: String(o.nodeRank * o.nprocPerNode + localRank),
        LOCAL_RANK: String(localRank),
        WORLD_SIZE: String(worldSize),
        LOCAL_WORLD_SIZE: String(o.nprocPerNode),
        GROUP_RANK: String(o.nodeRank),
        ROLE_RANK: String(o.nodeRank * o.nprocPerNode + localRank),
        ROLE_WORLD_SIZE: String(worldSize),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(masterPort),
        TORCHELASTIC_RESTART_COUNT: String(restart),
        TORCHELASTIC_MAX_RESTARTS: String(o.maxRestarts),
        OMP_NUM_THREADS: baseEnv.OMP_NUM_THREADS || String(threads),
      });

      let failure: WorkerFailure | undefined;
      let stopping = false;
      let killTimer: NodeJS.Timeout | undefined;
      const stopAll = () => {
        if (stopping) return;
        stopping = true;
        for (const w of live) if (!w.exited) killGroup(w.child.pid!, 'SIGTERM');
        killTimer = setTimeout(() => {
          for (const w of live) if (!w.exited) killGroup(w.child.pid!, 'SIGKILL');
        }, o.gracePeriodSeconds * 1000);
      };
      stopGroup = stopAll;

      live = [];
      for (let localRank = 0; localRank < o.nprocPerNode; ++localRank) {
        const rank = o.nodeRank * o.nprocPerNode + localRank;
        const child = spawn(options.command[0], options.command.slice(1), { env: env(localRank), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        const prefix = options.prefixOutput === false ? '' : `[rank ${rank}] `;
        const pipe = (from: NodeJS.ReadableStream, to: Writable) =>
          new Promise<void>((resolve) => {
            const lines = readline.createInterface({ input: from, crlfDelay: Infinity });
            lines.on('line', (line) => to.write(prefix + line + '\n'));
            lines.on('close', resolve);
          });
        const outputs = Promise.all([pipe(child.stdout!, stdout), pipe(child.stderr!, stderr)]);
        const worker: Worker = { rank, localRank, child, exited: false, closed: Promise.resolve() };
        const ended = new Promise<void>((resolve) => {
          child.on('error', (e) => {
            stderr.write(`continual-next launch: rank ${rank}: could not start '${options.command[0]}': ${e.message}\n`);
            worker.exited = true;
            failure ??= { rank, localRank, pid: child.pid ?? -1, exitCode: 127, signal: null };
            stopAll();
            resolve();
          });
          child.on('exit', (code, signal) => {
            worker.exited = true;
            // A worker we stopped is not a failure; the first one that failed on its own is.
            if (!stopping && (code !== 0 || signal)) {
              failure = { rank, localRank, pid: child.pid!, exitCode: code, signal };
              stopAll();
            }
            resolve();
          });
        });
        worker.closed = Promise.all([ended, outputs]).then(() => undefined);
        live.push(worker);
      }
      const pids = live.map((w) => w.child.pid ?? -1);
      options.onEvent?.({ type: 'start', restart, pids, masterPort });
      if (stoppedBy) stopAll();
      await Promise.all(live.map((w) => w.closed));
      if (killTimer) clearTimeout(killTimer);
      // Leftover grandchildren of workers (even successful ones) go with their group.
      for (const w of live) killGroup(w.child.pid!, 'SIGKILL');
      stopGroup = undefined;

      if (stoppedBy) {
        return { exitCode: 128 + (os.constants.signals[stoppedBy as NodeJS.Signals] ?? 15), restarts: restart, stoppedBy, failure, pids };
      }
      if (!failure) return { exitCode: 0, restarts: restart, pids };
      stderr.write(`continual-next launch: ${describeFailure(failure)}\n`);
      options.onEvent?.({ type: 'failure', restart, failure });
      if (restart >= o.maxRestarts) return { exitCode: exitStatus(failure.exitCode, failure.signal), restarts: restart, failure, pids };
      stderr.write(`continual-next launch: restarting the group (restart ${restart + 1} of ${o.maxRestarts})\n`);
      options.onEvent?.({ type: 'restart', restart: restart + 1 });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
