/**
 * A StreamResults document built from hand-made accuracy matrices (no model, no training): two
 * methods, two seeds, three tasks, one task name with markup characters and Chinese, answers with
 * markup, emoji and a control character. Used by test/report.test.ts.
 */
import { summarizeRuns } from '../../ts/metrics';
import type { StreamConfig } from '../../ts/stream/config';
import type { MethodResult, StreamResults } from '../../ts/stream/runner';

export const FIXTURE_TASKS = ['news 2022', '资讯 <&> "2023"', 'news 2024 📰'];

// [method][seed] → (T+1) × T
export const FIXTURE_MATRICES: Record<string, number[][][]> = {
  seqft: [
    [[0.3, 0.25, 0.2], [0.8, 0.3, 0.22], [0.55, 0.85, 0.3], [0.4, 0.6, 0.9]],
    [[0.3, 0.25, 0.2], [0.78, 0.28, 0.25], [0.5, 0.83, 0.33], [0.42, 0.58, 0.94]],
  ],
  'replay <10%>': [
    [[0.3, 0.25, 0.2], [0.79, 0.31, 0.21], [0.7, 0.82, 0.32], [0.66, 0.77, 0.88]],
    [[0.3, 0.25, 0.2], [0.81, 0.27, 0.24], [0.72, 0.8, 0.3], [0.64, 0.75, 1]],
  ],
};

const ANSWERS = ['<script>alert("x")</script> & done', '答案：二〇二三年 🎉', 'tab\there, ctrl\u0001 byte, \'quotes\''];

export function fixtureResults(output: string): StreamResults {
  const tasks = FIXTURE_TASKS;
  const seedsList = [1, 2];
  const methods: MethodResult[] = Object.entries(FIXTURE_MATRICES).map(([method, perSeed]) => {
    const { runs, summary } = summarizeRuns(perSeed);
    const seeds = perSeed.map((matrix, k) => ({
      seed: seedsList[k],
      matrix,
      matrices: { 'token-f1': matrix },
      metrics: runs[k],
      rows: matrix.map((row, j) => ({
        row: j,
        evalSeconds: 0.5,
        ...(j > 0 ? { trainSeconds: 2, trainTokensPerSecond: 100 } : {}),
        evaluations: row.map((v, i) => ({
          task: tasks[i],
          scores: { 'token-f1': v },
          samples: [0, 1].map((n) => ({ answer: ANSWERS[(i + n) % ANSWERS.length], reference: `ref ${n} of ${tasks[i]}`, scores: { 'token-f1': v }, tags: { kind: n ? 'new' : 'unchanged' } })),
        })),
      })),
    }));
    const T = tasks.length;
    const finalRow = tasks.map((_, i) => perSeed.reduce((a, m) => a + m[T][i], 0) / perSeed.length);
    return { method, config: { name: 'seqft' } as MethodResult['config'], seeds, summary, finalRow };
  });
  const config = {
    name: 'report fixture <run> & 测试',
    model: '/models/tiny',
    tuner: { type: 'lora' },
    seeds: seedsList,
    output,
  } as unknown as StreamConfig;
  return {
    name: config.name,
    tasks,
    primaryScorer: 'token-f1',
    scorers: ['token-f1'],
    methods,
    config,
    environment: { package: '0.1.0', node: process.version, torch: '2.13.0+cpu', device: 'cpu', threads: 2, platform: 'linux-x64', date: '2025-01-01T00:00:00.000Z' },
    wallSeconds: 12.5,
  };
}
