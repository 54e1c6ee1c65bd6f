/** Continual-learning metrics over accuracy matrices. */
export { validateAccuracyMatrix } from './matrix';
export type { AccuracyMatrix } from './matrix';
export {
  avgAcc,
  forgetting,
  newAcc,
  backwardTransfer,
  forwardTransfer,
  averageIncrementalAccuracy,
  continualMetrics,
  METRIC_NAMES,
  METRIC_LABELS,
} from './continual';
export type { ContinualMetrics } from './continual';
export { meanStd, aggregateMetrics, summarizeRuns, formatMeanStd } from './aggregate';
export type { MeanStd, AggregatedMetrics } from './aggregate';
