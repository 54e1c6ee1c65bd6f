#!/usr/bin/env node
/**
 * The `continual-next` command. Each subcommand lives in its own file under ts/cli/commands and
 * registers itself here. Errors print one line (`continual-next: <message>`) and exit non-zero:
 * 2 for usage errors, 1 for everything else.
 */
import { Command, CommanderError } from 'commander';

import { ContinualNextError } from '../errors';
import { packageVersion } from '../info';
import { registerDemoCommand } from './commands/demo';
import { registerEvalCommand } from './commands/eval';
import { registerInfoCommand } from './commands/info';
import { registerLaunchCommand } from './commands/launch';
import { registerReportCommand } from './commands/report';
import { registerRunCommand } from './commands/run';
import { registerServeCommand } from './commands/serve';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('continual-next')
    .description('Continual fine-tuning of LLMs and catastrophic-forgetting benchmarks')
    .version(packageVersion(), '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerInfoCommand(program);
  registerRunCommand(program);
  registerDemoCommand(program);
  registerReportCommand(program);
  registerServeCommand(program);
  registerEvalCommand(program);
  registerLaunchCommand(program);
  return program;
}

/** Formats any error as the single line the CLI prints. */
export function errorLine(e: unknown): string {
  if (e instanceof ContinualNextError) {
    const where = [e.file, e.line !== undefined ? `line ${e.line}` : undefined, e.field && `field ${e.field}`, e.tensor && `tensor ${e.tensor}`]
      .filter(Boolean)
      .join(', ');
    const first = e.message.split('\n')[0];
    return `${e.name}: ${first}${where && !first.includes(String(e.file ?? '\u0000')) ? ` (${where})` : ''}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed the message (and help for usage errors)
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    process.stderr.write(`continual-next: ${errorLine(e)}\n`);
    if (process.env.CONTINUAL_NEXT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`continual-next: ${errorLine(e)}\n`);
      process.exitCode = 1;
    },
  );
}
