/**
 * Writes a run's outputs into its directory, each file atomically: results.json, results.md,
 * report.html, and per method a heatmap of its accuracy matrix and its per-task curves as SVG and
 * PNG (mean over seeds).
 */
import fs from 'node:fs';
import path from 'node:path';

import { writeFileAtomic } from '../model/model';
import type { StreamResults } from '../stream/runner';
import { curvesScene } from './curves';
import { heatmapScene } from './heatmap';
import { resultsHtml } from './html';
import { resultsMarkdown } from './markdown';
import { meanMatrix } from './mean-matrix';
import { encodePng } from './png';
import { rasterize } from './raster';
import { sceneToSvg } from './svg';

export interface MethodFigureFiles {
  method: string;
  heatmapSvg: string;
  heatmapPng: string;
  curvesSvg: string;
  curvesPng: string;
}

export interface ResultFiles {
  json: string;
  markdown: string;
  html: string;
  figures: MethodFigureFiles[];
}

/** PNGs are drawn at twice the SVG's size. */
export const PNG_SCALE = 2;

/** File-name stems per method: ASCII slugs, made unique (labels are unique, slugs may not be). */
function figureStems(methods: readonly string[]): string[] {
  const used = new Set<string>();
  return methods.map((m) => {
    const base = m.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'method';
    let stem = base;
    for (let k = 2; used.has(stem); k++) stem = `${base}-${k}`;
    used.add(stem);
    return stem;
  });
}

export interface WriteResultsOptions {
  /** Write results.json too (default true); `continual-next report` regenerates only the reports from it. */
  json?: boolean;
}

export function writeResults(results: StreamResults, dir = results.config.output, options: WriteResultsOptions = {}): ResultFiles {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'results.json');
  const markdown = path.join(dir, 'results.md');
  const html = path.join(dir, 'report.html');
  if (options.json !== false) writeFileAtomic(json, JSON.stringify(results, null, 1) + '\n');
  writeFileAtomic(markdown, resultsMarkdown(results) + '\n');

  const stems = figureStems(results.methods.map((m) => m.method));
  const inline: { method: string; heatmapSvg: string; curvesSvg: string }[] = [];
  const figures = results.methods.map((m, k) => {
    const input = { method: m.method, ...meanMatrix(m, results.tasks), scorer: results.primaryScorer, seeds: m.seeds.length };
    const heat = heatmapScene(input);
    const curves = curvesScene(input);
    const files: MethodFigureFiles = {
      method: m.method,
      heatmapSvg: path.join(dir, `heatmap-${stems[k]}.svg`),
      heatmapPng: path.join(dir, `heatmap-${stems[k]}.png`),
      curvesSvg: path.join(dir, `curves-${stems[k]}.svg`),
      curvesPng: path.join(dir, `curves-${stems[k]}.png`),
    };
    const heatSvg = sceneToSvg(heat);
    const curvesSvg = sceneToSvg(curves);
    writeFileAtomic(files.heatmapSvg, heatSvg);
    writeFileAtomic(files.curvesSvg, curvesSvg);
    writeFileAtomic(files.heatmapPng, encodePng(rasterize(heat, PNG_SCALE)));
    writeFileAtomic(files.curvesPng, encodePng(rasterize(curves, PNG_SCALE)));
    inline.push({ method: m.method, heatmapSvg: heatSvg, curvesSvg });
    return files;
  });
  writeFileAtomic(html, resultsHtml(results, inline));
  return { json, markdown, html, figures };
}
