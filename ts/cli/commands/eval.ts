/**
 * `continual-next eval`: scores one model on test sets (ts/eval/run-eval.ts), a local model
 * (`--model`, `--adapter`) or an OpenAI-compatible server (`--endpoint`), or every test set of
 * a stream config. Prints a table (or JSON with --json); --output writes the report with samples.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { ConfigError } from '../../errors';
import type { EvalOptions, EvalReport } from '../../eval/run-eval';
import type { DType } from '../../native/bindings';
import { positiveInt } from '../flags';

interface EvalFlags {
  model?: string;
  adapter?: string;
  chatTemplate?: string;
  device?: string;
  dtype?: string;
  batchSize?: string;
  endpoint?: string;
  endpointModel?: string;
  apiKey?: string;
  concurrency?: string;
  timeout?: string;
  test?: string[];
  scorer?: string[];
  maxNewTokens?: string;
  stop?: string[];
  output?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The report as a plain table: one row per task, one column per scorer, then the mean. */
export function evalTable(report: EvalReport): string {
  const header = ['task', 'items', ...report.scorers];
  const rows = report.tasks.map((t) => [t.task, String(t.samples.length), ...report.scorers.map((s) => t.scores[s].toFixed(4))]);
  if (report.tasks.length > 1) {
    rows.push(['mean', '', ...report.scorers.map((s) => (report.tasks.reduce((a, t) => a + t.scores[s], 0) / report.tasks.length).toFixed(4))]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

async function optionsFrom(config: string | undefined, flags: EvalFlags): Promise<EvalOptions> {
  let options: EvalOptions = { tests: [] };
  if (config) {
    const { readStreamConfig } = await import('../../stream/config.js');
    const { evalOptionsFromConfig } = await import('../../eval/run-eval.js');
    options = evalOptionsFromConfig(readStreamConfig(config));
  }
  if (flags.test?.length) options.tests = flags.test;
  if (flags.scorer?.length) options.scorers = flags.scorer;
  if (flags.stop?.length) options.stop = flags.stop;
  if (flags.model) options.model = flags.model;
  if (flags.endpoint) {
    options.endpoint = flags.endpoint;
    delete options.model; // the config's model is replaced by the server's
  }
  if (flags.adapter) options.adapter = flags.adapter;
  if (flags.chatTemplate) options.chatTemplate = flags.chatTemplate;
  if (flags.device) options.device = flags.device;
  if (flags.dtype) {
    if (!['float32', 'bfloat16', 'float16'].includes(flags.dtype)) throw new ConfigError(`--dtype must be float32, bfloat16 or float16; got ${flags.dtype}`, { field: '--dtype' });
    options.dtype = flags.dtype as DType;
  }
  if (flags.batchSize) options.batchSize = positiveInt(flags.batchSize, '--batch-size');
  if (flags.maxNewTokens) options.maxNewTokens = positiveInt(flags.maxNewTokens, '--max-new-tokens');
  if (flags.endpointModel) options.endpointModel = flags.endpointModel;
  const apiKey = flags.apiKey ?? process.env.OPENAI_API_KEY;
  if (apiKey) options.apiKey = apiKey;
  if (flags.concurrency) options.concurrency = positiveInt(flags.concurrency, '--concurrency');
  if (flags.timeout) options.timeoutMs = positiveInt(flags.timeout, '--timeout') * 1000;
  if (!options.tests.length) throw new ConfigError('give test sets with --test <file> (or a stream config)', { field: '--test' });
  if (!options.model && !options.endpoint) throw new ConfigError('give --model <dir> or --endpoint <url> (or a stream config)', { field: '--model' });
  return options;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('score a model, or an OpenAI-compatible endpoint, on test sets (or on every test set of a stream config)')
    .argument('[config]', 'stream config: evaluate its model on all its tasks with its scorers and generation settings')
    .option('--model <dir>', 'local Hugging Face model directory')
    .option('--adapter <dir>', 'LoRA adapter (PEFT format) applied to --model')
    .option('--chat-template <name>', 'built-in chat template name or Jinja source, for models without one')
    .option('--device <device>', 'cpu, cuda or cuda:N (local model)')
    .option('--dtype <dtype>', 'float32, bfloat16 or float16 (local model)')
    .option('--batch-size <n>', 'prompts per generation batch (local model; default 32)')
    .option('--endpoint <url>', 'OpenAI-compatible server base URL, e.g. http://127.0.0.1:8000')
    .option('--endpoint-model <id>', 'model id to request (default: the first one the server lists)')
    .option('--api-key <key>', 'bearer token for the endpoint (default: $OPENAI_API_KEY)')
    .option('--concurrency <n>', 'requests in flight against the endpoint (default 4)')
    .option('--timeout <seconds>', 'per-request timeout against the endpoint (default 120)')
    .option('--test <file>', 'test set (.jsonl, .json, .csv; path#N samples N); repeatable', collect)
    .option('--scorer <name>', 'scorer (contains, exact-match, token-f1, rouge-l, ...); repeatable; default contains', collect)
    .option('--stop <string>', 'stop string; repeatable', collect)
    .option('--max-new-tokens <n>', 'new tokens per answer (default 32)')
    .option('-o, --output <file>', 'write the report (scores and every sample) as JSON')
    .option('--json', 'print the report as JSON instead of a table')
    .action(async (config: string | undefined, flags: EvalFlags) => {
      const options = await optionsFrom(config, flags);
      const { runEval } = await import('../../eval/run-eval.js');
      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      try {
        const report = await runEval({ ...options, signal: controller.signal });
        if (flags.output) {
          const { writeFileAtomic } = await import('../../model/model.js');
          fs.mkdirSync(path.dirname(path.resolve(flags.output)), { recursive: true });
          writeFileAtomic(flags.output, JSON.stringify(report, null, 2) + '\n');
        }
        if (flags.json) process.stdout.write(JSON.stringify(report) + '\n');
        else process.stdout.write(`${evalTable(report)}\n${flags.output ? `report: ${flags.output}\n` : ''}`);
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
}
