/**
 * Progress display for long CLI jobs: a cli-progress bar with ETA, loss and tokens/s on a TTY,
 * one plain line per stage/row otherwise, and JSON lines with --json (for machines).
 */
import cliProgress from 'cli-progress';

import type { StreamEvent } from '../stream/runner';

export type ProgressMode = 'tty' | 'plain' | 'json';

export function progressMode(json: boolean | undefined): ProgressMode {
  if (json) return 'json';
  return process.stderr.isTTY ? 'tty' : 'plain';
}

export class StreamProgress {
  #bar: cliProgress.SingleBar | undefined;
  #lastPlain = 0;

  constructor(readonly mode: ProgressMode) {}

  handle(e: StreamEvent): void {
    if (this.mode === 'json') {
      process.stdout.write(JSON.stringify({ event: e.type, ...e }) + '\n');
      return;
    }
    if (e.type === 'train') {
      const p = e.progress;
      if (this.mode === 'tty') {
        if (!this.#bar) {
          this.#bar = new cliProgress.SingleBar(
            { format: `  train ${e.task} [{bar}] {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta_formatted}`, hideCursor: true, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          );
          this.#bar.start(p.totalSteps, 0, { loss: '-', tps: '-' });
        }
        this.#bar.update(p.step, { loss: p.loss.toFixed(3), tps: p.tokensPerSecond.toFixed(0) });
        if (p.step >= p.totalSteps) this.stopBar();
      } else if (p.step === p.totalSteps || Date.now() - this.#lastPlain > 10_000) {
        this.#lastPlain = Date.now();
        process.stderr.write(`  train ${e.task}: step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} ${p.tokensPerSecond.toFixed(0)} tok/s ETA ${p.etaSeconds.toFixed(0)} s\n`);
      }
      return;
    }
    this.stopBar();
    switch (e.type) {
      case 'stage':
        if (e.stage !== 'train') process.stderr.write(`[${e.method}${e.method === 'base' ? '' : ` seed ${e.seed}`}] ${e.stage}${e.task ? ` (${e.task})` : ''}\n`);
        else process.stderr.write(`[${e.method} seed ${e.seed}] task ${e.row}: ${e.task}\n`);
        break;
      case 'row':
        process.stderr.write(`  row ${e.row}: ${e.scores.map((s) => (s * 100).toFixed(1)).join('  ')}\n`);
        break;
      case 'resume':
        process.stderr.write(`[${e.method} seed ${e.seed}] resuming after task ${e.fromRow}\n`);
        break;
      default:
        break;
    }
  }

  stopBar(): void {
    if (this.#bar) {
      this.#bar.stop();
      this.#bar = undefined;
    }
  }
}
