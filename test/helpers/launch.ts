/** Helpers for tests that run `continual-next launch` (from ts/ through tsx) as a real process. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { ROOT } from './run';

export const MAIN_TS = path.join(ROOT, 'ts', 'cli', 'main.ts');

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<Finished>;
}

const started = new Set<ChildProcess>();

/** Starts `continual-next launch <args>` and collects its output. */
export function startLaunch(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN_TS, 'launch', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => {
      started.delete(child);
      resolve({ code, signal, stdout: out, stderr: err, seconds: (Date.now() - t0) / 1000 });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** Kills every launcher a test started and is still running (for after() hooks). */
export function killStarted(): void {
  for (const c of started) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  started.clear();
}

/** True while `pid` is a live process (zombies count as gone: they hold no resources but the pid). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Kills leftover pids a test learnt of (backstop in after() hooks). */
export function killPids(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Lines `[rank N] text` of an output, grouped by rank. */
export function byRank(output: string): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const line of output.split('\n')) {
    const r = /^\[rank (\d+)\] (.*)$/.exec(line);
    if (!r) continue;
    const rank = Number(r[1]);
    if (!m.has(rank)) m.set(rank, []);
    m.get(rank)!.push(r[2]);
  }
  return m;
}

export async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
