/**
 * `continual-next serve --model <dir> [--adapter <dir>]`: the model as an OpenAI-compatible HTTP
 * API (ts/serve/server.ts) until SIGINT or SIGTERM, then a clean shutdown.
 */
import type { Command } from 'commander';

import { ConfigError } from '../../errors';
import type { DType } from '../../native/bindings';
import { positiveInt } from '../flags';

export interface ServeFlags {
  model: string;
  adapter?: string;
  host: string;
  port: string;
  chatTemplate?: string;
  maxNewTokens: string;
  modelName?: string;
  device: string;
  dtype: string;
  quiet?: boolean;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve a model (and adapter) as an OpenAI-compatible chat API: /v1/chat/completions, /v1/models, /health')
    .requiredOption('--model <dir>', 'Hugging Face model directory')
    .option('--adapter <dir>', 'LoRA adapter directory (PEFT format) to apply')
    .option('--host <host>', 'interface to listen on (loopback by default)', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', '8000')
    .option('--chat-template <name>', 'built-in chat template name or Jinja source, for models without one')
    .option('--max-new-tokens <n>', 'new tokens when a request sends no max_tokens', '512')
    .option('--model-name <name>', 'model id shown in /v1/models (default: the model folder name)')
    .option('--device <device>', 'cpu, cuda or cuda:N', 'cpu')
    .option('--dtype <dtype>', 'float32, bfloat16 or float16', 'float32')
    .option('--quiet', 'no per-request log lines on stderr')
    .action(async (flags: ServeFlags) => {
      const port = positiveInt(flags.port, '--port', 0);
      const maxNewTokens = positiveInt(flags.maxNewTokens, '--max-new-tokens');
      if (!['float32', 'bfloat16', 'float16'].includes(flags.dtype)) throw new ConfigError(`--dtype must be float32, bfloat16 or float16; got ${flags.dtype}`, { field: '--dtype' });
      const { Tokenizer } = await import('../../tokenizer/tokenizer.js');
      const { Model } = await import('../../model/model.js');
      const { startChatServer } = await import('../../serve/server.js');
      const tokenizer = await Tokenizer.fromDir(flags.model, flags.chatTemplate ? { chatTemplate: flags.chatTemplate } : {});
      await using model = await Model.load(flags.model, { device: flags.device, dtype: flags.dtype as DType });
      if (flags.adapter) await model.loadAdapter(flags.adapter);
      const server = await startChatServer(model, tokenizer, {
        host: flags.host,
        port,
        maxNewTokens,
        ...(flags.modelName ? { modelName: flags.modelName } : {}),
        ...(flags.quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
      });
      process.stdout.write(`continual-next serve: model ${server.modelName} listening on ${server.url}\n`);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stderr.write(`continual-next serve: ${signal}, shutting down\n`);
      await server.close();
    });
}
