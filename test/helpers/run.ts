/** Helpers for tests that run real processes (CLI, child Node, Python). */
import { spawnSync, SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...options });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs the compiled CLI (dist/, built by `npm test`'s pretest step). */
export function cli(args: string[], options: SpawnSyncOptions = {}): RunResult {
  return run(process.execPath, [CLI, ...args], options);
}

/** Runs an inline Python program; throws with its stderr when it fails. */
export function python(code: string, args: string[] = []): string {
  const r = run('python3', ['-c', code, ...args]);
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cn-${prefix}-`));
}
