/**
 * Runs our implementation and the HF transformers + PEFT peer as child processes (one at a
 * time, same threads, same shapes) and prints both figures and their ratio.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export interface Side {
  name: string;
  cmd: string;
  args: string[];
}

export function runJson(side: Side): Record<string, number | string> {
  const r = spawnSync(side.cmd, side.args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${side.name} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, number | string>;
}

export const ROOT = path.resolve(__dirname, '..');
export const TSX = [process.execPath, '--import', 'tsx'];

export function fmt(n: unknown, digits = 1): string {
  return typeof n === 'number' ? n.toFixed(digits) : String(n);
}

/** A side's peak memory as the bench scripts print it: the CUDA allocator's on a GPU, else RSS. */
export function memoryFigure(side: Record<string, number | string>, cuda: boolean): string {
  return cuda ? `peak CUDA ${fmt(side.peak_cuda_mb, 0)} MB` : `peak RSS ${fmt(side.peak_rss_mb, 0)} MB`;
}
