/** `continual-next run <config>`: runs a stream config and writes its report. */
import type { Command } from 'commander';

import type { StreamConfig } from '../../stream/config';

export interface RunFlags {
  json?: boolean;
  output?: string;
  seeds?: string;
  nprocPerNode?: string;
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
  // Under `launch` (or run --nproc-per-node), each rank trains its shard; rank 0 reports and writes.
  const { isDistributedEnv, readRankEnv } = await import('../../launch/env.js');
  const distributed = isDistributedEnv() && readRankEnv().worldSize > 1;
  const { ProcessGroup } = await import('../../distributed/process-group.js');
  // The backend follows the model's device ('auto'): NCCL on cuda:LOCAL_RANK for a CUDA model in a build with it, else gloo.
  await using pg = distributed ? await ProcessGroup.fromEnv({ timeoutMs: 30 * 60_000, device: config.device }) : undefined;
  const reporter = !pg || pg.rank === 0;
  const progress = new StreamProgress(progressMode(flags.json || !reporter));
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const results = await runStream(config, { onEvent: (e) => reporter && progress.handle(e), signal: controller.signal, ...(pg ? { processGroup: pg } : {}) });
    progress.stopBar();
    if (!reporter) return;
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
    .option('--nproc-per-node <n>', 'train data parallel with n worker processes (started as `continual-next launch` does)')
    .action(async (file: string, flags: RunFlags) => {
      const { readStreamConfig } = await import('../../stream/config.js');
      const config = readStreamConfig(file);
      if (flags.nprocPerNode !== undefined) {
        const n = Number(flags.nprocPerNode);
        const { ConfigError } = await import('../../errors.js');
        if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--nproc-per-node must be an integer ≥ 1 (got '${flags.nprocPerNode}')`, { field: 'nproc-per-node' });
        // Re-run this same command (without the flag) as n workers under the launcher.
        const { launch } = await import('../../launch/launcher.js');
        const args = process.argv.slice(2);
        const i = args.findIndex((a) => a === '--nproc-per-node' || a.startsWith('--nproc-per-node='));
        args.splice(i, args[i].includes('=') ? 1 : 2);
        const result = await launch({ command: [process.execPath, ...process.execArgv, process.argv[1], ...args], nprocPerNode: n, prefixOutput: false });
        if (result.exitCode !== 0) process.exit(result.exitCode);
        return;
      }
      await runWithProgress(config, flags);
    });
}
