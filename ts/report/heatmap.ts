/**
 * The heatmap of one method's accuracy matrix: rows 0..T (the base model, then the model after
 * each task), a column per task, every cell coloured on a fixed 0–100 scale (so methods compare)
 * with its value ×100 written in it, the diagonal (the task just trained) outlined, and a colour
 * legend.
 */
import { hex, scaleRgb, textOn } from './colours';
import { fitText, textWidthEm } from './escape';
import { rowLabel } from './mean-matrix';
import type { Scene, Shape } from './scene';

export interface HeatmapInput {
  method: string;
  tasks: readonly string[];
  /** (T+1) × T, values in [0, 1]. */
  matrix: readonly (readonly number[])[];
  scorer: string;
  seeds: number;
}

const CELL_W = 76;
const CELL_H = 34;
const INK = '#222222';

/** A cell's text: the value ×100 with one decimal. */
export const cellText = (v: number) => (v * 100).toFixed(1);

export function heatmapScene(input: HeatmapInput): Scene {
  const { tasks, matrix } = input;
  const T = tasks.length;
  const shapes: Shape[] = [];
  const labels = matrix.map((_, j) => rowLabel(tasks, j));
  const labelW = Math.min(170, Math.max(40, ...labels.map((l) => textWidthEm(l) * 12 + 4)));
  const left = 30 + labelW + 8;
  const top = 62;
  const gridW = T * CELL_W;
  const gridH = (T + 1) * CELL_H;
  const legendX = left + gridW + 26;
  const legendH = Math.max(gridH, 120);
  const width = Math.max(legendX + 16 + 44, left + 260);
  const height = top + Math.max(gridH, legendH) + 40;

  const seedsNote = input.seeds > 1 ? `, mean of ${input.seeds} seeds` : '';
  shapes.push({ kind: 'text', x: 12, y: 16, text: fitText(`${input.method}: accuracy matrix`, width - 24, 14), title: input.method, size: 14, bold: true, fill: INK, anchor: 'start', className: 'figure-title' });
  shapes.push({ kind: 'text', x: 12, y: 34, text: fitText(`${input.scorer} ×100${seedsNote}`, width - 24, 11), size: 11, fill: '#555555', anchor: 'start' });

  // column labels (tasks) above the grid, the x-axis title below
  tasks.forEach((t, i) => {
    const text = fitText(t, CELL_W - 6, 12);
    shapes.push({ kind: 'text', x: left + i * CELL_W + CELL_W / 2, y: top - 11, text, title: text === t ? undefined : t, size: 12, fill: INK, anchor: 'middle', className: 'col-label' });
  });
  shapes.push({ kind: 'text', x: left + gridW / 2, y: top + gridH + 18, text: 'evaluated on task', size: 11, fill: '#555555', anchor: 'middle' });
  shapes.push({ kind: 'text', x: 12, y: top + gridH / 2, text: 'model', size: 11, fill: '#555555', anchor: 'middle', rotate: -90 });

  matrix.forEach((row, j) => {
    const label = labels[j];
    const text = fitText(label, labelW, 12);
    shapes.push({ kind: 'text', x: left - 8, y: top + j * CELL_H + CELL_H / 2, text, title: text === label ? undefined : label, size: 12, fill: INK, anchor: 'end', className: 'row-label' });
    row.forEach((v, i) => {
      const rgb = scaleRgb(v);
      const x = left + i * CELL_W;
      const y = top + j * CELL_H;
      shapes.push({
        kind: 'rect', x, y, w: CELL_W, h: CELL_H, fill: hex(rgb), stroke: '#ffffff', strokeWidth: 1,
        title: `${label} · ${tasks[i]}: ${cellText(v)}`,
        data: { row: String(j), col: String(i), value: cellText(v) },
      });
      shapes.push({ kind: 'text', x: x + CELL_W / 2, y: y + CELL_H / 2, text: cellText(v), size: 12, fill: textOn(rgb), anchor: 'middle', className: 'cell-value' });
    });
  });
  // the diagonal: each task right after training on it
  for (let i = 0; i < T; i++) shapes.push({ kind: 'rect', x: left + i * CELL_W + 1.5, y: top + (i + 1) * CELL_H + 1.5, w: CELL_W - 3, h: CELL_H - 3, stroke: INK, strokeWidth: 2 });
  shapes.push({ kind: 'rect', x: left, y: top, w: gridW, h: gridH, stroke: '#888888', strokeWidth: 1 });

  // legend: the scale from 0 (bottom) to 100 (top) with ticks
  const steps = 50;
  for (let k = 0; k < steps; k++) {
    const v0 = k / steps;
    shapes.push({ kind: 'rect', x: legendX, y: top + legendH * (1 - (k + 1) / steps), w: 16, h: legendH / steps + 0.6, fill: hex(scaleRgb(v0 + 0.5 / steps)) });
  }
  shapes.push({ kind: 'rect', x: legendX, y: top, w: 16, h: legendH, stroke: '#888888', strokeWidth: 1 });
  for (const tick of [0, 25, 50, 75, 100]) {
    const y = top + legendH * (1 - tick / 100);
    shapes.push({ kind: 'line', points: [[legendX + 16, y], [legendX + 20, y]], stroke: INK, width: 1 });
    shapes.push({ kind: 'text', x: legendX + 23, y, text: String(tick), size: 10, fill: INK, anchor: 'start', className: 'legend-tick' });
  }
  return { width, height, background: '#ffffff', title: `${input.method}: accuracy matrix (${input.scorer} ×100${seedsNote})`, shapes };
}
