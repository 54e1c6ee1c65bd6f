/** `continual-next run <config>`: runs a stream config and writes its report. */
import type { Command } from 'commander';

import type { StreamConfig } from '../../stream/config';

export interface RunFlags {
  json?: boolean;
  output?: string;
  seeds?: string;
}

/** Runs a config with progress on stderr and the seed-style table on stdout. */
export async function runWithProgress(config: StreamConfig, flags: RunFlags): Promise<void> {
  // loaded on use, so `continual-next --version` stays instant
  const { runStream } = await import('../../stream/runner.js');
  const { writeResults } = await import('../../report/write.js');
  const { resultsMarkdown } = await import('../../report/markdown.js');
  const { progressMode, StreamProgress } = await import('../progress.js');
  if (flags.output) config = { ...config, output: flags.output };
  if (flags.seeds) config = { ...config, seeds: flags.seeds.split(',').map((s) => Number(s.trim())) };
  const progress = new StreamProgress(progressMode(flags.json));
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const results = await runStream(config, { onEvent: (e) => progress.handle(e), signal: controller.signal });
    progress.stopBar();
    const files = writeResults(results);
    if (flags.json) {
      process.stdout.write(JSON.stringify({ event: 'done', results: files.json, markdown: files.markdown, html: files.html, figures: files.figures }) + '\n');
    } else {
      process.stdout.write(resultsMarkdown(results).split('\n## ')[0] + '\n');
      process.stdout.write(`results: ${files.json}\n         ${files.markdown}\n         ${files.html}\n`);
    }
  } finally {
    process.off('SIGINT', onSignal);
  }
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a continual-learning stream (JSON or YAML config) and write results.json, results.md, report.html and figures')
    .argument('<config>', 'stream config file (.json, .yaml, .yml)')
    .option('-o, --output <dir>', 'output directory (overrides the config)')
    .option('--seeds <list>', 'comma-separated seeds (overrides the config)')
    .option('--json', 'JSON lines on stdout instead of progress bars')
    .action(async (file: string, flags: RunFlags) => {
      const { readStreamConfig } = await import('../../stream/config.js');
      await runWithProgress(readStreamConfig(file), flags);
    });
}
