/** `continual-next launch`: runs a command as N distributed workers per node (torchrun's contract). */
import { InvalidArgumentError, type Command } from 'commander';

function int(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--${name} must be a non-negative integer (got '${v}')`);
    return Number(v);
  };
}

export function registerLaunchCommand(program: Command): void {
  program
    .command('launch')
    .description('start a command as N distributed workers per node (RANK, WORLD_SIZE, MASTER_ADDR, ... as torchrun sets them)')
    .argument('<command...>', 'the worker command, after --')
    .requiredOption('--nproc-per-node <n>', 'workers on this node', int('nproc-per-node'))
    .option('--nnodes <n>', 'nodes in the job', int('nnodes'), 1)
    .option('--node-rank <r>', "this node's index (0 runs rank 0's store)", int('node-rank'), 0)
    .option('--master-addr <addr>', "rank 0's host", '127.0.0.1')
    .option('--master-port <port>', "rank 0's store port (default: a free port on one node, 29500 on several)", int('master-port'))
    .option('--max-restarts <k>', 'restart the whole group up to k times after a failure', int('max-restarts'), 0)
    .option('--grace-period <s>', 'seconds between SIGTERM and SIGKILL when stopping workers', Number, 5)
    .action(async (command: string[], flags: { nprocPerNode: number; nnodes: number; nodeRank: number; masterAddr: string; masterPort?: number; maxRestarts: number; gracePeriod: number }) => {
      const { launch } = await import('../../launch/launcher.js');
      const result = await launch({
        command,
        nprocPerNode: flags.nprocPerNode,
        nnodes: flags.nnodes,
        nodeRank: flags.nodeRank,
        masterAddr: flags.masterAddr,
        ...(flags.masterPort !== undefined ? { masterPort: flags.masterPort } : {}),
        maxRestarts: flags.maxRestarts,
        gracePeriodSeconds: flags.gracePeriod,
      });
      if (result.stoppedBy) process.stderr.write(`continual-next launch: stopped by ${result.stoppedBy}; workers terminated\n`);
      // The failing rank's status is the launcher's (the workers are all gone by now).
      if (result.exitCode !== 0) process.exit(result.exitCode);
    });
}
