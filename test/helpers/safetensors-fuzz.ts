/**
 * Fuzzes the safetensors reader; run in a child process by test/safetensors.test.ts so that a
 * crash (SIGSEGV, SIGBUS, abort) fails the test instead of killing mocha.
 *
 *   node --require tsx/cjs test/helpers/safetensors-fuzz.ts WORKDIR COUNT SEED BASE.safetensors...
 *
 * Makes COUNT corrupted variants of the base files (byte flips in header and data, truncations,
 * header-length tampering, structural JSON mutations, invalid UTF-8, deep nesting, garbage) and
 * reads each with readSafetensorsHeader and loadSafetensors. Every variant must either load or
 * throw a SafetensorsError naming the file. Prints one JSON line: counts per mutation and outcome,
 * and the first unexpected outcomes.
 */
import fs from 'node:fs';
import path from 'node:path';

import { SafetensorsError } from '../../ts/errors';
import { loadSafetensors, readSafetensorsHeader } from '../../ts/io/safetensors';

const [workDir, countArg, seedArg, ...bases] = process.argv.slice(2);
const count = Number(countArg);
let seed = Number(seedArg) >>> 0;

// mulberry32: small, seedable, good enough for picking mutations.
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

interface Parsed {
  header: Record<string, unknown>;
  data: Buffer;
  raw: Buffer;
  headerLen: number;
}

function parse(file: string): Parsed {
  const raw = fs.readFileSync(file);
  const headerLen = Number(raw.readBigUInt64LE(0));
  return {
    raw,
    headerLen,
    header: JSON.parse(raw.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>,
    data: raw.subarray(8 + headerLen),
  };
}

function assemble(headerText: string | Buffer, data: Buffer, pad = true): Buffer {
  let h = typeof headerText === 'string' ? Buffer.from(headerText, 'utf8') : headerText;
  if (pad && h.length % 8 !== 0) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const WEIRD_VALUES: unknown[] = [
  -1, 1.5, '2', null, true, [], {}, [1, 2], 1e30, 0, 2 ** 53, -0, 'F32', [[0]], { dtype: 'F32' },
];
const BIG_LITERALS = ['9223372036854775807', '9223372036854775808', '18446744073709551616', '-9223372036854775809', '1e999', '0.0', '-0', '1E2', '00'];

function jsonMutation(p: Parsed): Buffer {
  const header = structuredClone(p.header);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = pick(names);
  const entry = header[name] as Record<string, unknown>;
  const other = header[pick(names)] as Record<string, unknown>;
  let text: string | undefined;
  switch (int(14)) {
    case 0:
      entry.dtype = pick(['F99', 'f32', '', 'U16', 'F8_E4M3', 'I128', 7, null, ['F32'], 'BOOL', 'F64', 'U8']);
      break;
    case 1: {
      const shape = [...(entry.shape as unknown[])];
      const op = int(4);
      if (op === 0) shape.push(int(4));
      else if (op === 1) shape.pop();
      else if (shape.length > 0) shape[int(shape.length)] = pick(WEIRD_VALUES);
      else shape.push(pick(WEIRD_VALUES));
      entry.shape = op === 3 ? pick(WEIRD_VALUES) : shape;
      break;
    }
    case 2: {
      const [b, e] = entry.data_offsets as number[];
      entry.data_offsets = pick([
        [e, b], [b + 1, e + 1], [b, e + 1], [b - 1, e], [b, 2 ** 40], [-1, e], [b], [b, e, e], ['0', e], [b, e + p.data.length],
        other.data_offsets, null, [b + 0.5, e], [2 ** 53, 2 ** 53 + 4],
      ]);
      break;
    }
    case 3:
      delete entry[pick(['dtype', 'shape', 'data_offsets'])];
      break;
    case 4:
      entry[pick(['extra', 'offsets', 'DTYPE'])] = pick(WEIRD_VALUES);
      break;
    case 5:
      header[name] = pick(WEIRD_VALUES);
      break;
    case 6:
      header.__metadata__ = pick([{ a: 1 }, { a: { b: 'c' } }, ['x'], 'meta', null, 5, { a: 'b' }, {}]);
      break;
    case 7: // a big integer literal where a number goes, beyond what JSON.stringify writes
      text = JSON.stringify(header).replace(/"data_offsets":\[(\d+)/, `"data_offsets":[${pick(BIG_LITERALS)}`);
      if (rand() < 0.5) text = text.replace(/"shape":\[(\d+)?/, `"shape":[${pick(BIG_LITERALS)}${rand() < 0.5 ? '' : ','}`);
      else if (rand() < 0.5) text = text.replace(/"shape":\[/, `"shape":[0,${pick(BIG_LITERALS)},${pick(BIG_LITERALS)}${rand() < 0.5 ? ',' : ''}`);
      break;
    case 8: // duplicate key
      text = JSON.stringify(header).replace('{', `{${JSON.stringify(name)}:${JSON.stringify(entry)},`);
      break;
    case 9: { // deep nesting
      const depth = pick([10, 63, 64, 65, 200, 5000, 100000]);
      text = JSON.stringify(header).replace(JSON.stringify(entry), '['.repeat(depth) + ']'.repeat(depth));
      break;
    }
    case 10: { // syntax damage: cut, insert or delete a character
      text = JSON.stringify(header);
      const at = int(text.length);
      const op = int(3);
      if (op === 0) text = text.slice(0, at);
      else if (op === 1) text = text.slice(0, at) + pick([',', '}', ']', '"', '\\', ':', '{', '[', ' ', 'x', '\u0001', '\\u', '\\ud800']) + text.slice(at);
      else text = text.slice(0, at) + text.slice(at + 1);
      break;
    }
    case 11: { // invalid UTF-8 inside the header
      const buf = Buffer.from(JSON.stringify(header), 'utf8');
      const at = buf.indexOf(Buffer.from(name)) + int(name.length);
      buf[Math.max(1, at)] = pick([0x80, 0xc0, 0xff, 0xed, 0xf5, 0xe0]);
      return assemble(buf, p.data);
    }
    case 12: // move everything off by a few bytes
      for (const n of names) {
        const e = header[n] as { data_offsets: number[] };
        e.data_offsets = e.data_offsets.map((x) => x + int(3));
      }
      break;
    default: // tensors shuffled to the same place
      for (const n of names) (header[n] as Record<string, unknown>).data_offsets = [0, (header[n] as { data_offsets: number[] }).data_offsets[1] - (header[n] as { data_offsets: number[] }).data_offsets[0]];
  }
  return assemble(text ?? JSON.stringify(header), p.data, rand() < 0.8);
}

function byteFlips(buf: Buffer, from: number, to: number): Buffer {
  const out = Buffer.from(buf);
  if (to <= from) return out;
  const n = 1 + int(8);
  for (let i = 0; i < n; ++i) out[from + int(to - from)] ^= 1 << int(8);
  return out;
}

function lengthTamper(p: Parsed): Buffer {
  const out = Buffer.from(p.raw);
  const size = BigInt(out.length);
  const n = BigInt(p.headerLen);
  const value = pick([0n, 1n, 2n, n - 1n, n + 1n, n + 8n, n - 8n, size - 8n, size - 7n, size, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, BigInt(int(2 ** 31)), 100_000_001n]);
  out.writeBigUInt64LE(((value % 2n ** 64n) + 2n ** 64n) % 2n ** 64n, 0);
  return out;
}

const MUTATIONS = ['header-flip', 'data-flip', 'truncate', 'length', 'json', 'garbage-tail', 'splice'] as const;
type Mutation = (typeof MUTATIONS)[number];

function mutate(p: Parsed, kind: Mutation): Buffer {
  switch (kind) {
    case 'header-flip':
      return byteFlips(p.raw, 8, 8 + p.headerLen);
    case 'data-flip':
      return byteFlips(p.raw, 8 + p.headerLen, p.raw.length);
    case 'truncate':
      return p.raw.subarray(0, int(p.raw.length));
    case 'length':
      return lengthTamper(p);
    case 'json':
      return jsonMutation(p);
    case 'garbage-tail':
      return Buffer.concat([p.raw, Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)))]);
    case 'splice': { // insert or remove header bytes without fixing the length
      const at = 8 + int(p.headerLen);
      return rand() < 0.5
        ? Buffer.concat([p.raw.subarray(0, at), Buffer.from([int(256)]), p.raw.subarray(at)])
        : Buffer.concat([p.raw.subarray(0, at), p.raw.subarray(at + 1 + int(16))]);
    }
  }
}

async function main(): Promise<void> {
  const parsed = bases.map(parse);
  const file = path.join(workDir, 'fuzz-variant.safetensors');
  const stats: Record<string, { loaded: number; rejected: number }> = {};
  const unexpected: string[] = [];
  let loaded = 0;
  let rejected = 0;
  for (let i = 0; i < count; ++i) {
    const kind = MUTATIONS[i % MUTATIONS.length];
    fs.writeFileSync(file, mutate(parsed[int(parsed.length)], kind));
    const s = (stats[kind] ??= { loaded: 0, rejected: 0 });
    const check = (e: unknown, where: string) => {
      if (e instanceof SafetensorsError && e.code === 'ERR_SAFETENSORS' && e.file === file && e.message.length > 0) return;
      if (unexpected.length < 10) unexpected.push(`#${i} ${kind} ${where}: ${(e as Error)?.constructor?.name} ${(e as Error)?.message ?? String(e)}`);
    };
    let headerOk = true;
    try {
      readSafetensorsHeader(file);
    } catch (e) {
      headerOk = false;
      check(e, 'readHeader');
    }
    try {
      const tensors = await loadSafetensors(file);
      for (const t of Object.values(tensors)) t.dispose();
      if (!headerOk) unexpected.push(`#${i} ${kind}: readHeader refused a file that load accepted`);
      ++loaded;
      ++s.loaded;
    } catch (e) {
      check(e, 'load');
      ++rejected;
      ++s.rejected;
    }
  }
  fs.rmSync(file, { force: true });
  console.log(JSON.stringify({ total: count, loaded, rejected, stats, unexpected }));
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
