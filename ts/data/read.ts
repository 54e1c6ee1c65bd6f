/**
 * Reads a dataset file into raw records, each with where it came from. `.jsonl` is one JSON value
 * per line (blank lines skipped); `.json` is an array of records (or, when its first character
 * is `{`, JSON Lines, as Hugging Face's json loader also accepts); `.csv` has a header row naming
 * the fields. The whole file is read and checked before anything is returned.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { DatasetError, IoError } from '../errors';
import { parseCsv } from './csv';

/** Where a record sits in its file, for error messages. */
export interface RecordLocation {
  /** The file as the user named it. */
  file: string;
  /** 1-based: the line for `.jsonl`, the record index for `.json` and `.csv`. */
  index: number;
  unit: 'line' | 'record';
  /** For CSV: the 1-based line where the record starts. */
  line?: number;
}

export interface RawRecord {
  value: unknown;
  at: RecordLocation;
  /** True when every field is text from a CSV cell (JSON-valued fields still to be parsed). */
  fromCsv: boolean;
}

export const DATASET_EXTENSIONS = ['.jsonl', '.json', '.csv'] as const;

/** `data/train.jsonl line 17`, `data/train.json record 3`, `data/train.csv record 3 (line 5)`. */
export function describeLocation(at: RecordLocation): string {
  return `${at.file} ${at.unit} ${at.index}${at.line !== undefined ? ` (line ${at.line})` : ''}`;
}

/** Reads and decodes `filePath` (strict UTF-8); `shownAs` is the name used in messages. */
async function readText(filePath: string, shownAs: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(filePath);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new IoError(`cannot read dataset ${shownAs}: ${why}`, { file: shownAs, cause: e });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw new DatasetError(`${shownAs}: not valid UTF-8 text`, { file: shownAs, cause: e });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** V8's JSON.parse message without its position suffix. */
function jsonReason(e: unknown): string {
  return (e as Error).message.replace(/ in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)$/, '');
}

/** The 1-based line of a JSON.parse failure in `text`, from the position V8 reports. */
function jsonErrorLine(text: string, e: unknown): number {
  const m = /at position (\d+)/.exec((e as Error).message);
  const pos = m ? Number(m[1]) : text.length;
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function readJsonLines(text: string, file: string): RawRecord[] {
  const records: RawRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new DatasetError(`${file} line ${i + 1}: invalid JSON: ${jsonReason(e)}`, { file, line: i + 1, cause: e });
    }
    records.push({ value, at: { file, index: i + 1, unit: 'line' }, fromCsv: false });
  }
  return records;
}

function readJsonArray(text: string, file: string): RawRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const line = jsonErrorLine(text, e);
    throw new DatasetError(`${file} line ${line}: invalid JSON: ${jsonReason(e)}`, { file, line, cause: e });
  }
  if (!Array.isArray(value)) {
    throw new DatasetError(`${file}: a .json dataset must be an array of records (got ${value === null ? 'null' : typeof value})`, { file });
  }
  return value.map((v, i) => ({ value: v, at: { file, index: i + 1, unit: 'record' as const }, fromCsv: false }));
}

function readCsv(text: string, file: string): RawRecord[] {
  const rows = parseCsv(text, file);
  if (rows.length === 0) return [];
  const header = rows[0].fields.map((h) => h.trim());
  header.forEach((h, i) => {
    if (h === '') throw new DatasetError(`${file} line ${rows[0].line}: header column ${i + 1} has no name`, { file, line: rows[0].line });
    if (header.indexOf(h) !== i) throw new DatasetError(`${file} line ${rows[0].line}: header names column "${h}" twice`, { file, line: rows[0].line, field: h });
  });
  return rows.slice(1).map((row, r) => {
    const at: RecordLocation = { file, index: r + 1, unit: 'record', line: row.line };
    if (row.fields.length !== header.length) {
      throw new DatasetError(`${describeLocation(at)}: has ${row.fields.length} field(s), the header has ${header.length}`, { file, line: r + 1 });
    }
    const value: Record<string, string> = {};
    // An empty cell means "no value", so optional fields can be left blank.
    header.forEach((h, i) => {
      if (row.fields[i] !== '') value[h] = row.fields[i];
    });
    return { value, at, fromCsv: true };
  });
}

/** Reads every record of a dataset file, or throws (IoError, DatasetError) without returning any. */
export async function readRecords(filePath: string, shownAs: string = filePath): Promise<RawRecord[]> {
  const ext = path.extname(filePath).toLowerCase();
  if (!(DATASET_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new DatasetError(`${shownAs}: unsupported dataset file type "${ext || '(none)'}"; use ${DATASET_EXTENSIONS.join(', ')}`, { file: shownAs });
  }
  const text = await readText(filePath, shownAs);
  if (ext === '.csv') return readCsv(text, shownAs);
  if (ext === '.json' && !text.trimStart().startsWith('{')) return readJsonArray(text, shownAs);
  return readJsonLines(text, shownAs);
}
