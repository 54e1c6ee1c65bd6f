/**
 * results.md in the seed's table layout: one row per method, a column per task holding the
 * final-row accuracy (after the last task), then Avg.ACC, Forgetting and New.ACC (×100, mean ± std
 * over seeds when there are several), followed by each method's full accuracy matrix.
 */
import { formatMeanStd } from '../metrics';
import type { StreamResults } from '../stream/runner';

const pct = (v: number) => (v * 100).toFixed(2);

/**
 * When test samples carry tags (a dataset's extra fields, e.g. `kind`: new / updated / unchanged),
 * the final row's score per tag value: mean over every task's samples with that value, and over
 * the method's runs.
 */
function tagTables(r: StreamResults): string[] {
  const T = r.tasks.length;
  const values = new Map<string, Set<string>>();
  for (const m of r.methods)
    for (const s of m.seeds)
      for (const ev of s.rows[T]?.evaluations ?? [])
        for (const x of ev.samples) for (const [k, v] of Object.entries(x.tags ?? {})) (values.get(k) ?? values.set(k, new Set()).get(k)!).add(String(v));
  const lines: string[] = [];
  for (const [key, set] of values) {
    const vals = [...set].sort();
    lines.push(`## After the last task, by \`${key}\``, '', `| Method | ${vals.join(' | ')} |`, `|---|${vals.map(() => '---:').join('|')}|`);
    for (const m of r.methods) {
      const cells = vals.map((v) => {
        const scores = m.seeds.flatMap((s) => (s.rows[T]?.evaluations ?? []).flatMap((ev) => ev.samples.filter((x) => String(x.tags?.[key]) === v).map((x) => x.scores[r.primaryScorer])));
        return scores.length ? `${pct(scores.reduce((a, b) => a + b, 0) / scores.length)} (n ${scores.length})` : '–';
      });
      lines.push(`| ${m.method} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines;
}

export function resultsMarkdown(r: StreamResults): string {
  const lines: string[] = [];
  const seeds = r.config.seeds.length;
  lines.push(`# ${r.name}`, '');
  lines.push(
    `Scorer: \`${r.primaryScorer}\` (×100). ${r.tasks.length} tasks, ${seeds} seed${seeds > 1 ? 's' : ''}` +
      `${seeds > 1 ? ' (mean ± std)' : ''}; model \`${r.config.model}\`, tuner ${r.config.tuner.type}.`,
    '',
  );
  lines.push(`| Method | ${r.tasks.join(' | ')} | Avg.ACC | Forgetting | New.ACC | BWT | FWT |`);
  lines.push(`|---|${r.tasks.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|`);
  for (const m of r.methods) {
    const s = m.summary;
    lines.push(
      `| ${m.method} | ${m.finalRow.map(pct).join(' | ')} | ${formatMeanStd(s.avgAcc)} | ${formatMeanStd(s.forgetting)} | ${formatMeanStd(s.newAcc)} | ${formatMeanStd(s.bwt)} | ${formatMeanStd(s.fwt)} |`,
    );
  }
  lines.push('', 'Forgetting is positive when earlier tasks were forgotten; BWT is negative then. See docs/metrics.md.', '');
  lines.push(...tagTables(r));
  for (const m of r.methods) {
    for (const s of m.seeds) {
      const order = s.order ?? r.tasks;
      const ordered = order.join() !== r.tasks.join() ? ` (order ${order.join(' → ')})` : '';
      lines.push(`## ${m.method}, seed ${s.seed}${ordered}: accuracy matrix`, '');
      lines.push(`| after \\ on | ${r.tasks.join(' | ')} |`);
      lines.push(`|---|${r.tasks.map(() => '---:').join('|')}|`);
      s.matrix.forEach((row, j) => lines.push(`| ${j === 0 ? 'base' : order[j - 1]} | ${row.map(pct).join(' | ')} |`));
      lines.push('');
    }
  }
  return lines.join('\n');
}
