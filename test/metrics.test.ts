/** Continual-learning metrics on hand-worked accuracy matrices, and mean ± std over runs. */
import { expect } from 'chai';

import {
  aggregateMetrics,
  averageIncrementalAccuracy,
  avgAcc,
  backwardTransfer,
  continualMetrics,
  formatMeanStd,
  forgetting,
  forwardTransfer,
  InvalidArgumentError,
  meanStd,
  newAcc,
  summarizeRuns,
  validateAccuracyMatrix,
} from '../ts/index';

const close = (x: number | null, y: number) => {
  expect(x).to.be.a('number');
  expect(x as number).to.be.closeTo(y, 1e-12);
};

// Rows: 0 = base model, j = after task j. Columns: tasks 1..3.
const M = [
  [0.2, 0.1, 0.3],
  [0.8, 0.3, 0.4],
  [0.6, 0.9, 0.5],
  [0.5, 0.7, 0.9],
];

// Task 1 improves after task 2 (0.5 → 0.7), so Forgetting uses the max over earlier rows, not A[i][i].
const N = [
  [0.0, 0.0, 0.0],
  [0.5, 0.0, 0.0],
  [0.7, 0.6, 0.0],
  [0.4, 0.8, 0.9],
];

describe('metrics: hand-worked matrices', () => {
  it('matrix M', () => {
    // Avg.ACC = (0.5 + 0.7 + 0.9) / 3 = 2.1 / 3 = 0.7
    close(avgAcc(M), 0.7);
    // Forgetting: task 1: max(A1=0.8, A2=0.6) − 0.5 = 0.3; task 2: max(A2=0.9) − 0.7 = 0.2; mean = 0.25
    close(forgetting(M), 0.25);
    // New.ACC = (A[1][1] + A[2][2] + A[3][3]) / 3 = (0.8 + 0.9 + 0.9) / 3 = 2.6 / 3
    close(newAcc(M), 2.6 / 3);
    // BWT: task 1: 0.5 − 0.8 = −0.3; task 2: 0.7 − 0.9 = −0.2; mean = −0.25 (negative = forgot)
    close(backwardTransfer(M), -0.25);
    // FWT: task 2: A[1][2] − A[0][2] = 0.3 − 0.1 = 0.2; task 3: A[2][3] − A[0][3] = 0.5 − 0.3 = 0.2; mean = 0.2
    close(forwardTransfer(M), 0.2);
    // Avg.Inc: t=1: 0.8; t=2: (0.6 + 0.9) / 2 = 0.75; t=3: 0.7; mean = 2.25 / 3 = 0.75
    close(averageIncrementalAccuracy(M), 0.75);
  });

  it('matrix N (a task that improves later: Forgetting ≠ −BWT)', () => {
    const m = continualMetrics(N);
    close(m.avgAcc, 0.7); // (0.4 + 0.8 + 0.9) / 3
    // Forgetting: task 1: max(0.5, 0.7) − 0.4 = 0.3; task 2: max(0.6) − 0.8 = −0.2; mean = 0.05
    close(m.forgetting, 0.05);
    // BWT: task 1: 0.4 − 0.5 = −0.1; task 2: 0.8 − 0.6 = 0.2; mean = 0.05
    close(m.bwt, 0.05);
    close(m.newAcc, 2.0 / 3); // (0.5 + 0.6 + 0.9) / 3
    close(m.fwt, 0); // (0 − 0 + 0 − 0) / 2
    close(m.avgInc, 1.85 / 3); // (0.5 + (0.7 + 0.6) / 2 + 0.7) / 3 = (0.5 + 0.65 + 0.7) / 3
  });

  it("the seed's published final row: 64.25, 58.94, 71.53, 100 → Avg.ACC 73.68", () => {
    // (64.25 + 58.94 + 71.53 + 100) / 4 = 294.72 / 4 = 73.68. Only the last row matters for Avg.ACC.
    const lastRow = [0.6425, 0.5894, 0.7153, 1.0];
    const a = [[0, 0, 0, 0], [0.7, 0, 0, 0], [0.7, 0.7, 0, 0], [0.7, 0.7, 0.7, 0], lastRow];
    close(avgAcc(a), 0.7368);
    expect(formatMeanStd(avgAcc(a))).to.equal('73.68'); // shown ×100, as in the tables
    // The metrics are linear, so a matrix already ×100 gives ×100 metrics.
    close(avgAcc(a.map((r) => r.map((v) => v * 100))), 73.68);
  });

  it('T = 1: Forgetting, BWT and FWT are null, not NaN', () => {
    const m = continualMetrics([[0.1], [0.6]]);
    expect(m).to.deep.equal({ avgAcc: 0.6, forgetting: null, newAcc: 0.6, bwt: null, fwt: null, avgInc: 0.6 });
  });

  it('T = 2 by hand', () => {
    // A = base [0.1, 0.2]; after 1: [0.9, 0.4]; after 2: [0.6, 0.8]
    const m = continualMetrics([
      [0.1, 0.2],
      [0.9, 0.4],
      [0.6, 0.8],
    ]);
    close(m.avgAcc, 0.7); // (0.6 + 0.8) / 2
    close(m.forgetting, 0.3); // max(0.9) − 0.6
    close(m.bwt, -0.3); // 0.6 − 0.9
    close(m.newAcc, 0.85); // (0.9 + 0.8) / 2
    close(m.fwt, 0.2); // A[1][2] − A[0][2] = 0.4 − 0.2
    close(m.avgInc, 0.8); // (0.9 + 0.7) / 2
  });

  it('shapes and values are checked', () => {
    const bad: unknown[] = [[], [[0.5]], [[0.1, 0.2], [0.3]], [[0.1], [NaN]], [[0.1], ['0.5']], 'matrix', [[0.1, 0.2], [0.3, 0.4]]];
    for (const a of bad) expect(() => continualMetrics(a as number[][]), JSON.stringify(a)).to.throw(InvalidArgumentError);
    expect(() => validateAccuracyMatrix([[0.1, 0.2], [0.3, 0.4], [0.5]])).to.throw(/row 2 must have 2 entries/);
    expect(validateAccuracyMatrix(M)).to.equal(3);
  });
});

describe('metrics: mean ± std over runs', () => {
  it('sample std (n − 1); one run has std 0', () => {
    // mean = 0.74; deviations −0.04, 0, 0.04; Σ² = 0.0032; / (3 − 1) = 0.0016; √ = 0.04
    const ms = meanStd([0.7, 0.74, 0.78]);
    close(ms.mean, 0.74);
    close(ms.std, 0.04);
    expect(ms.n).to.equal(3);
    expect(formatMeanStd(ms)).to.equal('74.00 ± 4.00');
    expect(meanStd([0.7])).to.deep.equal({ mean: 0.7, std: 0, n: 1 });
    expect(formatMeanStd(meanStd([0.7]))).to.equal('70.00');
    expect(formatMeanStd(null)).to.equal('–');
    expect(formatMeanStd(-0.00001)).to.equal('0.00');
    expect(() => meanStd([])).to.throw(InvalidArgumentError);
  });

  it('summarizeRuns over M and N', () => {
    const { runs, summary } = summarizeRuns([M, N]);
    expect(runs).to.have.length(2);
    close(summary.avgAcc.mean, 0.7);
    close(summary.avgAcc.std, 0); // both 0.7
    // Forgetting 0.25 and 0.05: mean 0.15; deviations ±0.1; Σ² = 0.02; / 1; √0.02
    close(summary.forgetting!.mean, 0.15);
    close(summary.forgetting!.std, Math.sqrt(0.02));
    // BWT −0.25 and 0.05: mean −0.1; deviations ∓0.15; Σ² = 0.045; √0.045
    close(summary.bwt!.mean, -0.1);
    close(summary.bwt!.std, Math.sqrt(0.045));
    expect(summary.fwt!.n).to.equal(2);
  });

  it('T = 1 runs keep null metrics; runs of different T are refused', () => {
    const { summary } = summarizeRuns([
      [[0.1], [0.6]],
      [[0.2], [0.8]],
    ]);
    expect(summary.forgetting).to.equal(null);
    expect(summary.bwt).to.equal(null);
    expect(summary.fwt).to.equal(null);
    close(summary.avgAcc.mean, 0.7);
    close(summary.avgAcc.std, Math.sqrt(0.02)); // 0.6, 0.8: deviations ±0.1
    expect(() => summarizeRuns([M, [[0.1], [0.6]]])).to.throw(InvalidArgumentError, /different numbers of tasks/);
    expect(() => summarizeRuns([])).to.throw(InvalidArgumentError);
    expect(() => aggregateMetrics([continualMetrics(M), continualMetrics([[0.1], [0.6]])])).to.throw(InvalidArgumentError);
  });
});
