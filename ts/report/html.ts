/**
 * report.html: one self-contained page (inline CSS and SVG, no scripts, no network) with the
 * run's name, the seed-style table, each method's heatmap and curves, the environment, and every
 * per-sample answer behind each cell in collapsible sections.
 */
import { formatMeanStd, meanStd } from '../metrics';
import type { MethodResult, StreamResults } from '../stream/runner';
import { escapeMarkup as esc } from './escape';
import { rowLabel } from './mean-matrix';

export interface MethodFigures {
  method: string;
  heatmapSvg: string;
  curvesSvg: string;
}

const CSS = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1200px; padding: 0 16px; color: #222; line-height: 1.4; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 16px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #d0d0d0; padding: 4px 8px; vertical-align: top; }
th { background: #f3f4f6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.meta { color: #555; font-size: 14px; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.figures svg { max-width: 100%; height: auto; border: 1px solid #eee; }
details { margin: 4px 0 4px 12px; } summary { cursor: pointer; }
td.text { white-space: pre-wrap; word-break: break-word; max-width: 460px; }
.note { color: #555; font-size: 13px; }
`;

const pct = (v: number) => (v * 100).toFixed(2);

function envTable(r: StreamResults): string {
  const rows: [string, unknown][] = [
    ['model', r.config.model],
    ['tuner', r.config.tuner?.type],
    ['scorers', r.scorers.join(', ')],
    ['seeds', r.config.seeds.join(', ')],
    ...Object.entries(r.environment ?? {}),
    ['wall time', `${r.wallSeconds.toFixed(1)} s`],
  ];
  const cell = (v: unknown) => esc(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));
  return `<table id="environment"><tbody>\n${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${cell(v)}</td></tr>`).join('\n')}\n</tbody></table>`;
}

function resultsTable(r: StreamResults): string {
  const T = r.tasks.length;
  const head = `<tr><th>Method</th>${r.tasks.map((t) => `<th>${esc(t)}</th>`).join('')}<th>Avg.ACC</th><th>Forgetting</th><th>New.ACC</th><th>BWT</th><th>FWT</th></tr>`;
  const body = r.methods.map((m) => {
    const finals = r.tasks.map((_, i) => formatMeanStd(meanStd(m.seeds.map((s) => s.matrix[T][i]))));
    const s = m.summary;
    const metrics = [s.avgAcc, s.forgetting, s.newAcc, s.bwt, s.fwt].map((v) => formatMeanStd(v));
    return `<tr class="method-row"><th>${esc(m.method)}</th>${[...finals, ...metrics].map((v) => `<td class="num">${esc(v)}</td>`).join('')}</tr>`;
  });
  return `<table id="results-table"><thead>${head}</thead><tbody>\n${body.join('\n')}\n</tbody></table>`;
}

function matrixTable(r: StreamResults, matrix: number[][], order: readonly string[]): string {
  const head = `<tr><th>after \\ on</th>${r.tasks.map((t) => `<th>${esc(t)}</th>`).join('')}</tr>`;
  const rows = matrix.map((row, j) => `<tr><th>${esc(rowLabel(order, j))}</th>${row.map((v) => `<td class="num">${pct(v)}</td>`).join('')}</tr>`);
  return `<table class="matrix"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function answers(r: StreamResults, m: MethodResult): string {
  const out: string[] = [`<details class="method-answers"><summary>${esc(m.method)}</summary>`];
  for (const s of m.seeds) {
    const order = s.order ?? r.tasks;
    const ordered = order.join() !== r.tasks.join() ? `, order ${order.join(' → ')}` : '';
    out.push(`<details><summary>seed ${esc(String(s.seed))}${esc(ordered)}</summary>`, matrixTable(r, s.matrix, order));
    for (const row of s.rows) {
      out.push(`<details><summary>${esc(rowLabel(order, row.row))}</summary>`);
      for (const ev of row.evaluations) {
        const score = ev.scores[r.primaryScorer];
        out.push(`<details><summary>${esc(ev.task)}: ${typeof score === 'number' ? pct(score) : '–'} (${ev.samples.length} samples)</summary>`);
        out.push(`<table class="samples"><thead><tr><th>#</th><th>answer</th><th>reference</th>${r.scorers.map((n) => `<th>${esc(n)}</th>`).join('')}<th>tags</th></tr></thead><tbody>`);
        ev.samples.forEach((x, k) => {
          const scores = r.scorers.map((n) => `<td class="num">${typeof x.scores[n] === 'number' ? pct(x.scores[n]) : '–'}</td>`).join('');
          const tags = x.tags && Object.keys(x.tags).length ? esc(JSON.stringify(x.tags)) : '';
          out.push(`<tr class="sample"><td class="num">${k + 1}</td><td class="text">${esc(x.answer)}</td><td class="text">${esc(x.reference)}</td>${scores}<td class="text">${tags}</td></tr>`);
        });
        out.push('</tbody></table></details>');
      }
      out.push('</details>');
    }
    out.push('</details>');
  }
  out.push('</details>');
  return out.join('\n');
}

export function resultsHtml(r: StreamResults, figures: readonly MethodFigures[]): string {
  const seeds = r.config.seeds.length;
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(r.name)} — continual-next report</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1 id="run-name">${esc(r.name)}</h1>`,
    `<p class="meta">Scorer <code>${esc(r.primaryScorer)}</code> (×100), ${r.tasks.length} tasks, ${seeds} seed${seeds === 1 ? '' : 's'}${seeds > 1 ? ' (mean ± std)' : ''}, ${r.methods.length} method${r.methods.length === 1 ? '' : 's'}.</p>`,
    '<h2>Results</h2>',
    resultsTable(r),
    '<p class="note">Task columns: the score on each task after the last task. Forgetting is positive when earlier tasks were forgotten; BWT is negative then.</p>',
    '<h2>Figures</h2>',
    ...figures.map(
      (f) => `<section class="method-figures"><h3>${esc(f.method)}</h3><div class="figures">\n${f.heatmapSvg}${f.curvesSvg}</div></section>`,
    ),
    '<h2>Environment</h2>',
    envTable(r),
    '<h2>Per-sample answers</h2>',
    '<p class="note">Each method, seed and stage; open a task to see every answer, its reference and its scores.</p>',
    ...r.methods.map((m) => answers(r, m)),
    '</body>',
    '</html>',
  ];
  return parts.join('\n') + '\n';
}
