/**
 * `continual-next demo`: the embedded default. A small pretrained Qwen2-architecture model and a
 * four-year knowledge stream ship in assets/demo; the demo trains plain LoRA and every CL method
 * available over it and prints the seed-style table.
 */
import path from 'node:path';

import type { Command } from 'commander';

import { PACKAGE_ROOT } from '../../native/load';
import type { StreamConfigInput } from '../../stream/config';
import { runWithProgress, type RunFlags } from './run';

export const DEMO_DIR = path.join(PACKAGE_ROOT, 'assets', 'demo');

export function demoConfig(output: string): StreamConfigInput {
  const years = ['2022', '2023', '2024', '2025'];
  return {
    name: 'continual-next demo: fictional news knowledge 2022 → 2025',
    model: path.join(DEMO_DIR, 'model'),
    tuner: { type: 'lora', r: 8, alpha: 32, dropout: 0.0, targetModules: 'all-linear' },
    methods: [{ name: 'seqft' }, { name: 'replay', perTask: 20 }],
    tasks: years.map((y) => ({ name: y, train: path.join(DEMO_DIR, 'stream', y, 'train.jsonl'), test: path.join(DEMO_DIR, 'stream', y, 'test.jsonl') })),
    training: { epochs: 4, batchSize: 8, learningRate: 3e-3, lrScheduler: 'linear', warmupRatio: 0.05, maxLength: 256, seed: 42 },
    generation: { maxNewTokens: 16, batchSize: 64, stop: [] },
    seeds: [42],
    scorers: ['contains', 'exact-match', 'token-f1'],
    output,
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the embedded demo stream (small model, 4 yearly tasks) with plain LoRA and every CL method')
    .option('-o, --output <dir>', 'output directory', 'runs/demo')
    .option('--seeds <list>', 'comma-separated seeds (default 42)')
    .option('--json', 'JSON lines on stdout instead of progress bars')
    .action(async (flags: RunFlags & { output: string }) => {
      const { parseStreamConfig } = await import('../../stream/config.js');
      const config = parseStreamConfig(demoConfig(path.resolve(flags.output)));
      await runWithProgress(config, { ...flags, output: undefined });
    });
}
