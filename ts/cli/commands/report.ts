/** `continual-next report <dir>`: regenerates a run's report files from its results.json. */
import type { Command } from 'commander';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('regenerate results.md, report.html and the SVG/PNG figures of a run from its results.json')
    .argument('<dir>', 'run directory holding results.json (or the path of a results file)')
    .option('-o, --output <dir>', 'write the reports here instead of next to results.json')
    .option('--json', 'print one JSON line with the paths instead of text')
    .action(async (target: string, flags: { json?: boolean; output?: string }) => {
      const path = await import('node:path');
      const fs = await import('node:fs');
      const { readResults } = await import('../../report/read.js');
      const { writeResults } = await import('../../report/write.js');
      const source = fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, 'results.json') : target;
      const results = readResults(source);
      const outDir = flags.output ?? path.dirname(source);
      // results.json is the source: left as it is, or copied when the reports go elsewhere
      const copyJson = path.resolve(outDir, 'results.json') !== path.resolve(source);
      const files = writeResults(results, outDir, { json: copyJson });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ event: 'report', ...files }) + '\n');
        return;
      }
      const lines = [files.json, files.markdown, files.html, ...files.figures.flatMap((f) => [f.heatmapSvg, f.heatmapPng, f.curvesSvg, f.curvesPng])];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
