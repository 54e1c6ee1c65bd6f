/** Picks a record's format from its fields (per record, so one file may mix formats). */
import { alpacaFormat } from './alpaca';
import type { RecordFormat } from './format';
import { messagesFormat } from './messages';
import { kindOf, RecordProblem } from './problem';
import { queryResponseFormat } from './query-response';
import { sharegptFormat } from './sharegpt';

export const RECORD_FORMATS: readonly RecordFormat[] = [messagesFormat, sharegptFormat, queryResponseFormat, alpacaFormat];

/** The format a record is written in; throws RecordProblem when none or several fit. */
export function detectFormat(record: unknown): RecordFormat {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new RecordProblem(undefined, `must be a JSON object (got ${kindOf(record)})`);
  }
  const keys = Object.keys(record);
  const fits = RECORD_FORMATS.filter((f) => f.markers.some((m) => Object.hasOwn(record, m)));
  if (fits.length === 0) {
    throw new RecordProblem(
      undefined,
      `is in no known format: it needs "messages", "conversations", "query"/"response" or "instruction"/"output" (it has ${
        keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'no fields'
      })`,
    );
  }
  if (fits.length > 1) {
    const which = fits.map((f) => `${f.name} (${f.markers.filter((m) => Object.hasOwn(record, m)).map((m) => JSON.stringify(m)).join(', ')})`);
    throw new RecordProblem(undefined, `mixes the fields of several formats: ${which.join(' and ')}`);
  }
  return fits[0];
}
