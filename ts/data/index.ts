/** Datasets: reading files into conversations. */
export type { Conversation, Message, Role } from './conversation';
export { loadDataset, DEFAULT_DATA_SEED } from './load';
export type { LoadDatasetOptions } from './load';
export { parseDatasetRef } from './reference';
export type { DatasetRef } from './reference';
export { recordToConversation } from './convert';
export { splitForEval } from './split';
export type { EvalExample } from './split';
export { sampleItems } from './sample';
export { parseCsv } from './csv';
export type { CsvRow } from './csv';
export { readRecords, DATASET_EXTENSIONS } from './read';
export type { RawRecord, RecordLocation } from './read';
