/** `continual-next info [--json] [--self-check]`: versions, devices, threads, build flags. */
import type { Command } from 'commander';

import { info, selfCheck } from '../../info';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('print versions (package, torch, CUDA), devices, threads, BLAS and build flags')
    .option('--json', 'print machine-readable JSON')
    .option('--self-check', 'also run a quick check of the native engine (worker threads, errors, tensors)')
    .action(async (opts: { json?: boolean; selfCheck?: boolean }) => {
      const i = info();
      const checks = opts.selfCheck ? await selfCheck() : undefined;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ...i, selfCheck: checks }, null, 2) + '\n');
      } else {
        const lines = [
          `continual-next ${i.packageVersion} (node ${i.node})`,
          `torch        ${i.torch.version}${i.build.cuda ? ' (CUDA build)' : ' (CPU build)'}, C++11 ABI ${i.torch.cxx11Abi ? 'yes' : 'no'}`,
          `devices      ${i.devices.map((d) => d.name).join(', ')}`,
          `threads      ${i.threads.intraOp} intra-op (physical cores ${i.threads.physicalCores}), ${i.threads.interOp} inter-op`,
          `blas         MKL ${i.torch.mkl ? 'yes' : 'no'}, oneDNN ${i.torch.mkldnn ? 'yes' : 'no'}, OpenMP ${i.torch.openmp ? 'yes' : 'no'}`,
          `build        N-API ${i.build.napiVersion}, gloo ${i.build.gloo ? 'yes' : 'no'}, nccl ${i.build.nccl ? 'yes' : 'no'}, ${i.build.compiler}`,
          `native dir   ${i.nativeDir}`,
        ];
        for (const c of checks ?? []) lines.push(`self-check   ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (checks?.some((c) => !c.ok)) process.exitCode = 1;
    });
}
