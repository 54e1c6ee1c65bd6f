/** Turns raw records into validated conversations, with errors that name the file, line and field. */
import { DatasetError } from '../errors';
import type { Conversation } from './conversation';
import { detectFormat } from './formats/detect';
import { RecordProblem } from './formats/problem';
import { describeLocation, type RawRecord } from './read';

/** CSV cells are text; the fields that hold arrays (`messages`, `history`, ...) are parsed as JSON. */
function parseJsonCells(record: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out = { ...record };
  for (const f of fields) {
    if (typeof out[f] !== 'string') continue;
    try {
      out[f] = JSON.parse(out[f]);
    } catch (e) {
      throw new RecordProblem(f, `must be JSON text in a CSV cell (${(e as Error).message.replace(/ in JSON at position \d+.*$/s, '')})`);
    }
  }
  return out;
}

/** The fields the record formats read; any other top-level scalar is a tag. */
const FORMAT_FIELDS = new Set(['messages', 'system', 'query', 'response', 'history', 'instruction', 'input', 'output', 'conversations']);

function tagsOf(record: Record<string, unknown>): Conversation['tags'] {
  const tags: NonNullable<Conversation['tags']> = {};
  for (const [k, v] of Object.entries(record)) {
    if (!FORMAT_FIELDS.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) tags[k] = v;
  }
  return Object.keys(tags).length ? tags : undefined;
}

function convert(value: unknown, fromCsv: boolean): Conversation {
  const format = detectFormat(value);
  const record = value as Record<string, unknown>;
  const conversation = format.toConversation(fromCsv ? parseJsonCells(record, format.jsonFields) : record);
  const tags = typeof record === 'object' && record !== null ? tagsOf(record) : undefined;
  return tags ? { ...conversation, tags } : conversation;
}

/** Converts one raw record read from a file; throws DatasetError naming the file, line and field. */
export function rawToConversation(raw: RawRecord): Conversation {
  try {
    return convert(raw.value, raw.fromCsv);
  } catch (e) {
    if (!(e instanceof RecordProblem)) throw e;
    throw new DatasetError(`${describeLocation(raw.at)}: ${e.message}`, { file: raw.at.file, line: raw.at.index, field: e.field });
  }
}

/**
 * Converts one in-memory record in any supported format (messages, query/response, alpaca,
 * sharegpt) to a validated conversation; throws DatasetError naming the field.
 */
export function recordToConversation(record: unknown): Conversation {
  try {
    return convert(record, false);
  } catch (e) {
    if (!(e instanceof RecordProblem)) throw e;
    throw new DatasetError(e.message, { field: e.field });
  }
}
