/**
 * Per-task accuracy curves of one method: the x axis is the stage (the base model, then after each
 * task), the y axis the score ×100 on a fixed 0–100 range; one line per task, its point right
 * after training on that task drawn larger, and a legend naming the tasks.
 */
import { taskColour } from './colours';
import { fitText } from './escape';
import type { Scene, Shape } from './scene';

export interface CurvesInput {
  method: string;
  tasks: readonly string[];
  /** (T+1) × T, values in [0, 1]. */
  matrix: readonly (readonly number[])[];
  scorer: string;
  seeds: number;
}

const INK = '#222222';
const GRID = '#e2e2e2';

export function curvesScene(input: CurvesInput): Scene {
  const { tasks, matrix } = input;
  const T = tasks.length;
  const shapes: Shape[] = [];
  const plotW = Math.max(320, 96 * (T + 1));
  const plotH = 240;
  const left = 62;
  const top = 50;
  const legendX = left + plotW + 24;
  const legendW = 170;
  const width = legendX + legendW;
  const height = top + plotH + 56;
  const xAt = (j: number) => left + (T === 0 ? plotW / 2 : (j / T) * (plotW - 40) + 20);
  const yAt = (v: number) => top + plotH * (1 - Math.min(1, Math.max(0, v)));

  const seedsNote = input.seeds > 1 ? `, mean of ${input.seeds} seeds` : '';
  shapes.push({ kind: 'text', x: 12, y: 16, text: fitText(`${input.method}: accuracy per task`, width - 24, 14), title: input.method, size: 14, bold: true, fill: INK, anchor: 'start', className: 'figure-title' });
  shapes.push({ kind: 'text', x: 12, y: 34, text: fitText(`${input.scorer} ×100${seedsNote}`, width - 24, 11), size: 11, fill: '#555555', anchor: 'start' });

  // y axis: grid lines and ticks every 20
  for (let tick = 0; tick <= 100; tick += 20) {
    const y = yAt(tick / 100);
    shapes.push({ kind: 'line', points: [[left, y], [left + plotW, y]], stroke: GRID, width: 1 });
    shapes.push({ kind: 'line', points: [[left - 5, y], [left, y]], stroke: INK, width: 1 });
    shapes.push({ kind: 'text', x: left - 8, y, text: String(tick), size: 11, fill: INK, anchor: 'end', className: 'y-tick' });
  }
  // x axis: one tick per stage
  const spacing = T > 0 ? (plotW - 40) / T : plotW;
  for (let j = 0; j <= T; j++) {
    const x = xAt(j);
    const label = j === 0 ? 'base' : tasks[j - 1];
    const text = fitText(label, spacing - 4, 11);
    shapes.push({ kind: 'line', points: [[x, top + plotH], [x, top + plotH + 5]], stroke: INK, width: 1 });
    shapes.push({ kind: 'text', x, y: top + plotH + 15, text, title: text === label ? undefined : label, size: 11, fill: INK, anchor: 'middle', className: 'x-tick' });
  }
  shapes.push({ kind: 'line', points: [[left, top], [left, top + plotH], [left + plotW, top + plotH]], stroke: INK, width: 1 });
  shapes.push({ kind: 'text', x: left + plotW / 2, y: top + plotH + 38, text: 'model after training on', size: 11, fill: '#555555', anchor: 'middle' });
  shapes.push({ kind: 'text', x: 16, y: top + plotH / 2, text: 'score ×100', size: 11, fill: '#555555', anchor: 'middle', rotate: -90 });

  // one line per task over rows 0..T
  for (let i = 0; i < T; i++) {
    const colour = taskColour(i);
    const points = matrix.map((row, j) => [xAt(j), yAt(row[i])] as [number, number]);
    shapes.push({ kind: 'line', points, stroke: colour, width: 2 });
    matrix.forEach((row, j) => {
      const trained = j === i + 1;
      shapes.push({
        kind: 'circle', cx: points[j][0], cy: points[j][1], r: trained ? 5 : 3.2, fill: colour, stroke: trained ? '#ffffff' : undefined,
        title: `${tasks[i]}, ${j === 0 ? 'base' : `after ${tasks[j - 1]}`}: ${(row[i] * 100).toFixed(1)}`,
      });
    });
  }

  // legend
  shapes.push({ kind: 'text', x: legendX, y: top + 4, text: 'task', size: 11, bold: true, fill: INK, anchor: 'start' });
  tasks.forEach((t, i) => {
    const y = top + 24 + i * 20;
    shapes.push({ kind: 'line', points: [[legendX, y], [legendX + 22, y]], stroke: taskColour(i), width: 2 });
    shapes.push({ kind: 'circle', cx: legendX + 11, cy: y, r: 3.2, fill: taskColour(i) });
    const text = fitText(t, legendW - 34, 11);
    shapes.push({ kind: 'text', x: legendX + 30, y, text, title: text === t ? undefined : t, size: 11, fill: INK, anchor: 'start', className: 'legend-label' });
  });
  return { width, height: Math.max(height, top + 24 + T * 20 + 10), background: '#ffffff', title: `${input.method}: accuracy per task (${input.scorer} ×100${seedsNote})`, shapes };
}
