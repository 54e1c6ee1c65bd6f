/**
 * `continual-next demo`: the embedded default. A small pretrained Qwen2-architecture model and a
 * four-year knowledge stream ship in assets/demo (made by scripts/demo/make_model.py and
 * make_stream.py); the demo trains plain LoRA and every CL method available over it and prints
 * the seed-style table. Nothing is downloaded.
 *
 * `--quick` runs the same code on a slice of it (the first two years, a few samples each, one
 * epoch): a smoke test that finishes in seconds.
 */
import path from 'node:path';

import type { Command } from 'commander';

import { PACKAGE_ROOT } from '../../native/load';
import type { StreamConfigInput } from '../../stream/config';
import { runWithProgress, type RunFlags } from './run';

export const DEMO_DIR = path.join(PACKAGE_ROOT, 'assets', 'demo');
export const DEMO_YEARS = ['2022', '2023', '2024', '2025'];

export interface DemoOptions {
  /** Two tasks, 16 training and 8 test samples each, one epoch. */
  quick?: boolean;
  /** Compare every tuner instead of every method: each tuner with plain sequential training and with Replay. */
  tuners?: boolean;
}

/** The tuners `demo --tuners` compares (AdaLoRA's budget schedule spans one task's steps). */
export function demoTuners(stepsPerTask: number): NonNullable<StreamConfigInput['tuners']> {
  return [
    { type: 'lora', r: 8, alpha: 32, dropout: 0.0, targetModules: 'all-linear' },
    { type: 'moelora', r: 8, experts: 4, alpha: 32, dropout: 0.0 },
    { type: 'adalora', initR: 12, targetR: 8, alpha: 32, tinit: Math.floor(stepsPerTask / 10), tfinal: Math.floor(stepsPerTask / 5), deltaT: 10, totalStep: stepsPerTask },
    { type: 'adapter', bottleneckDim: 64 },
    { type: 'prompt', numVirtualTokens: 16 },
    { type: 'prefix', numVirtualTokens: 16 },
    { type: 'ptuning', numVirtualTokens: 16 },
  ];
}

export function demoConfig(output: string, options: DemoOptions = {}): StreamConfigInput {
  const quick = options.quick === true;
  const epochs = quick ? 1 : 20;
  const years = quick ? DEMO_YEARS.slice(0, 2) : DEMO_YEARS;
  // `#N` takes N seeded samples of a dataset
  const file = (y: string, split: 'train' | 'test') => path.join(DEMO_DIR, 'stream', y, `${split}.jsonl`) + (quick ? (split === 'train' ? '#16' : '#8') : '');
  return {
    name: `continual-next demo: fictional news knowledge ${years[0]} → ${years[years.length - 1]}${quick ? ' (quick)' : ''}`,
    model: path.join(DEMO_DIR, 'model'),
    tuner: { type: 'lora', r: 8, alpha: 32, dropout: 0.0, targetModules: 'all-linear' },
    // ~96 training pairs a year in batches of 8 (#16 in --quick): 12 (2) steps an epoch
    ...(options.tuners ? { tuners: demoTuners(epochs * (quick ? 2 : 12)) } : {}),
    methods: options.tuners ? [{ name: 'seqft' }, { name: 'replay', perTask: quick ? 4 : 20 }] : [
      { name: 'seqft' },
      { name: 'replay', perTask: quick ? 4 : 20 },
      { name: 'lwf' },
      { name: 'ewc', samples: quick ? 8 : 64 },
      { name: 'gem', memoryPerTask: quick ? 4 : 8 },
      { name: 'agem', memoryPerTask: quick ? 4 : 20 },
      { name: 'cia' },
    ],
    tasks: years.map((y) => ({ name: y, train: file(y, 'train'), test: file(y, 'test') })),
    training: { epochs, batchSize: 8, learningRate: 5e-3, lrScheduler: 'linear', warmupRatio: 0.05, maxLength: 128, seed: 42 },
    generation: { maxNewTokens: 12, batchSize: 64, stop: [] },
    seeds: [42],
    // the answers are short names, numbers or words: exact match after normalization is the headline
    scorers: ['exact-match', 'contains', 'token-f1'],
    output,
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the embedded demo stream (small model, 4 yearly tasks) with plain LoRA and every CL method')
    .option('-o, --output <dir>', 'output directory', 'runs/demo')
    .option('--seeds <list>', 'comma-separated seeds (default 42)')
    .option('--quick', 'a quick smoke run: 2 tasks, a few samples, 1 epoch')
    .option('--tuners', 'compare every tuner (LoRA, MoELoRA, AdaLoRA, Adapter, Prompt-, Prefix-, P-Tuning), each plain and with Replay')
    .option('--json', 'JSON lines on stdout instead of progress bars')
    .action(async (flags: RunFlags & { output: string; quick?: boolean; tuners?: boolean }) => {
      const { parseStreamConfig } = await import('../../stream/config.js');
      const config = parseStreamConfig(demoConfig(path.resolve(flags.output), { quick: flags.quick, tuners: flags.tuners }));
      await runWithProgress(config, { ...flags, output: undefined });
    });
}
