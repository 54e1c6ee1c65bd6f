/**
 * An RFC 4180 CSV reader: comma-separated fields, optional double quotes around a field, `""` for
 * a quote inside a quoted field, commas and line breaks (LF, CRLF or CR) allowed inside quotes, a
 * leading byte-order mark ignored. A quote inside an unquoted field is kept as a literal
 * character (as Python's csv module does); text after a closing quote, or a quote that never
 * closes, is an error naming the line.
 */
import { DatasetError } from '../errors';

export interface CsvRow {
  /** The row's fields, in order. */
  fields: string[];
  /** 1-based physical line where the row starts. */
  line: number;
}

/** Splits CSV text into rows. Empty lines are skipped; a line with only commas is a row. */
export function parseCsv(text: string, file = '<csv>'): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: CsvRow[] = [];
  const n = text.length;
  let fields: string[] = [];
  let field = '';
  let atFieldStart = true; // nothing read yet for the current field
  let rowEmpty = true; // nothing read yet for the current row
  let line = 1;
  let rowLine = 1;
  let i = 0;

  const lineBreakLength = (at: number) => (text[at] === '\r' && text[at + 1] === '\n' ? 2 : 1);

  while (i < n) {
    const c = text[i];
    if (c === '"' && atFieldStart) {
      const openLine = line;
      rowEmpty = false;
      atFieldStart = false;
      i++;
      for (;;) {
        if (i >= n) throw new DatasetError(`${file} line ${openLine}: a quoted field is never closed`, { file, line: openLine });
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n' || q === '\r') {
          const len = lineBreakLength(i);
          field += text.slice(i, i + len);
          i += len;
          line++;
          continue;
        }
        field += q;
        i++;
      }
      if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        throw new DatasetError(`${file} line ${line}: unexpected text after the closing quote of a field`, { file, line });
      }
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
      rowEmpty = false;
      i++;
      continue;
    }
    if (c === '\n' || c === '\r') {
      if (!rowEmpty) {
        fields.push(field);
        rows.push({ fields, line: rowLine });
      }
      fields = [];
      field = '';
      atFieldStart = true;
      rowEmpty = true;
      i += lineBreakLength(i);
      line++;
      rowLine = line;
      continue;
    }
    field += c;
    atFieldStart = false;
    rowEmpty = false;
    i++;
  }
  if (!rowEmpty) {
    fields.push(field);
    rows.push({ fields, line: rowLine });
  }
  return rows;
}
