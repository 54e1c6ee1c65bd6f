/**
 * Safetensors I/O (native/io/safetensors.cc) against the reference Python package: files written
 * by safetensors.torch load bit-exactly here, files written here load bit-exactly there; sharded
 * checkpoints, pickle refusal, atomic writes, every malformed-header case, and a fuzz run in a
 * child process.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  DisposedError,
  InvalidArgumentError,
  IoError,
  SafetensorsError,
  Tensor,
  loadCheckpoint,
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
} from '../ts/index';

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'python', 'safetensors_fixtures.py');

interface Described {
  dtype: string;
  shape: number[];
  hex: string;
}
interface Expected {
  metadata: Record<string, string>;
  tensors: Record<string, Described>;
}

function python(...args: string[]): string {
  const r = spawnSync('python3', [FIXTURES, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`python3 ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

function hexOf(t: Tensor): string {
  const a = t.toArray();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

function describe_(t: Tensor): Described {
  return { dtype: t.dtype, shape: t.shape, hex: hexOf(t) };
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Builds a safetensors file from a header (object or raw text) and data bytes. */
function stBytes(header: object | string | Buffer, data: Buffer = Buffer.alloc(0), length?: bigint): Buffer {
  const text = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(text.length));
  return Buffer.concat([len, text, data]);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject');
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));
}

describe('safetensors', function () {
  let dir: string;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-safetensors-'));
    expect(python('make', dir)).to.equal('ok');
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('Python → continual-next', function () {
    it('loads every dtype bit-exactly, including 0-d and empty tensors and NaN payloads', async function () {
      const expected = readJson<Expected>(path.join(dir, 'dtypes.json'));
      const tensors = await loadSafetensors(path.join(dir, 'dtypes.safetensors'));
      expect(Object.keys(tensors).sort()).to.deep.equal(Object.keys(expected.tensors).sort());
      for (const [name, want] of Object.entries(expected.tensors)) {
        expect(describe_(tensors[name]), name).to.deep.equal(want);
        expect(tensors[name].device).to.equal('cpu');
      }
      // Spot checks that the comparison is about real values.
      expect(tensors['float32.scalar'].shape).to.deep.equal([]);
      expect(tensors['bfloat16.empty2d'].shape).to.deep.equal([2, 0, 3]);
      expect(Array.from(tensors['int64.matrix'].toArray() as BigInt64Array).slice(0, 2)).to.deep.equal([-(2n ** 63n), 2n ** 63n - 1n]);
      const f32 = tensors['float32.matrix'].toArray() as Float32Array;
      expect(f32[0]).to.equal(Infinity);
      expect(Object.is(f32[2], -0)).to.equal(true);
      for (const t of Object.values(tensors)) t.dispose();
    });

    it('reads the header: dtypes, shapes, offsets in file order, metadata', function () {
      const expected = readJson<Expected>(path.join(dir, 'dtypes.json'));
      const header = readSafetensorsHeader(path.join(dir, 'dtypes.safetensors'));
      expect(header.metadata).to.deep.equal(expected.metadata);
      const names = Object.keys(header.tensors);
      expect(names.length).to.equal(Object.keys(expected.tensors).length);
      let last = 0;
      for (const name of names) {
        const entry = header.tensors[name];
        expect(entry.dtype).to.equal(expected.tensors[name].dtype);
        expect(entry.shape).to.deep.equal(expected.tensors[name].shape);
        expect(entry.dataOffsets[1] - entry.dataOffsets[0]).to.equal(expected.tensors[name].hex.length / 2);
        expect(entry.dataOffsets[0]).to.be.at.least(last);
        last = entry.dataOffsets[0];
      }
      const size = fs.statSync(path.join(dir, 'dtypes.safetensors')).size;
      expect(8 + header.headerSize + header.dataSize).to.equal(size);
    });

    it('loads a chosen subset, and names a tensor that is not there', async function () {
      const file = path.join(dir, 'dtypes.safetensors');
      const some = await loadSafetensors(file, ['int8.matrix', 'bool.scalar']);
      expect(Object.keys(some)).to.deep.equal(['int8.matrix', 'bool.scalar']);
      expect(some['bool.scalar'].dtype).to.equal('bool');
      const e = await rejection(loadSafetensors(file, ['int8.matrix', 'no.such.weight']));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e).to.include({ code: 'ERR_SAFETENSORS', file, tensor: 'no.such.weight' });
    });
  });

  describe('continual-next → Python', function () {
    it('writes files that safetensors.torch.load_file reads with the same dtypes, shapes, bytes and metadata', async function () {
      // Everything Python wrote, round-tripped through us, plus tensors made here from raw bits.
      const fromPython = await loadSafetensors(path.join(dir, 'dtypes.safetensors'));
      const nanBits = new Uint32Array([0x7fc00001, 0xffbfffff, 0x00000001, 0x80000000]);
      const ours: Record<string, Tensor> = {
        'js.f32': Tensor.fromArray(new Float32Array(nanBits.buffer), [2, 2]),
        'js.f16': Tensor.fromArray(new Uint16Array([0x7c01, 0x8000, 0x0001, 0x3c00, 0xfbff, 0x7e00]), [3, 2], 'float16'),
        'js.bf16': Tensor.fromArray(new Uint16Array([0x7f81, 0x3f80, 0x0001]), [3], 'bfloat16'),
        'js.f64.scalar': Tensor.fromArray(new Float64Array([-1.5e-300]), []),
        'js.i64': Tensor.fromArray(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n]), [3, 1]),
        'js.i32': Tensor.fromArray(new Int32Array([-(2 ** 31), 2 ** 31 - 1]), [1, 2]),
        'js.i16': Tensor.fromArray(new Int16Array([-32768, 32767, 5]), [3]),
        'js.i8': Tensor.fromArray(new Int8Array([-128, 127]), [2]),
        'js.u8': Tensor.fromArray(new Uint8Array([0, 255, 7]), [3]),
        'js.bool': Tensor.fromArray(new Uint8Array([1, 0, 1, 1]), [2, 2], 'bool'),
        'js.empty': Tensor.fromArray(new Int32Array(0), [0, 4]),
        'js.ünïcödé "name"\n': Tensor.fromArray(new Float32Array([1]), [1]),
      };
      const all = { ...fromPython, ...ours };
      const metadata = { format: 'pt', quote: 'a "b" \\ c\nd', unicode: 'ελληνικά ☃' };
      const file = path.join(dir, 'ours.safetensors');
      await saveSafetensors(file, all, metadata);

      const expected: Expected = { metadata, tensors: {} };
      for (const [name, t] of Object.entries(all)) expected.tensors[name] = describe_(t);
      // The Python-made tensors must be described exactly as Python described them.
      const pythonView = readJson<Expected>(path.join(dir, 'dtypes.json'));
      for (const name of Object.keys(pythonView.tensors)) expect(expected.tensors[name]).to.deep.equal(pythonView.tensors[name]);
      const expectedFile = path.join(dir, 'ours.json');
      fs.writeFileSync(expectedFile, JSON.stringify(expected));
      expect(python('check', file, expectedFile)).to.equal('ok');

      // The header is padded to 8 bytes and the data section follows with no gap.
      const raw = fs.readFileSync(file);
      const n = Number(raw.readBigUInt64LE(0));
      expect(n % 8).to.equal(0);
      expect(raw.subarray(8, 8 + n).toString('utf8')).to.match(/^\{.*\} *$/s);
      // And it reads back here the same.
      const back = await loadSafetensors(file);
      for (const [name, want] of Object.entries(expected.tensors)) expect(describe_(back[name]), name).to.deep.equal(want);
      expect(readSafetensorsHeader(file).metadata).to.deep.equal(metadata);
    });

    it('the check really compares: a changed value fails it', async function () {
      const file = path.join(dir, 'changed.safetensors');
      await saveSafetensors(file, { w: Tensor.fromArray(new Float32Array([1, 2]), [2]) });
      const expectedFile = path.join(dir, 'changed.json');
      fs.writeFileSync(expectedFile, JSON.stringify({ metadata: {}, tensors: { w: { dtype: 'float32', shape: [2], hex: '0000803f00000041' } } }));
      expect(() => python('check', file, expectedFile)).to.throw(/w: bytes differ/);
    });

    it('refuses bad arguments before writing anything', async function () {
      const file = path.join(dir, 'bad-args.safetensors');
      const t = Tensor.fromArray(new Float32Array([1]), [1]);
      let e = await rejection(saveSafetensors(file, { __metadata__: t }));
      expect(e).to.be.instanceOf(InvalidArgumentError);
      expect(e).to.include({ tensor: '__metadata__' });
      e = await rejection(saveSafetensors(file, { w: 42 as unknown as Tensor }));
      expect(e).to.be.instanceOf(InvalidArgumentError);
      e = await rejection(saveSafetensors(file, { w: t }, { n: 5 as unknown as string }));
      expect(e).to.be.instanceOf(InvalidArgumentError);
      const gone = Tensor.fromArray(new Float32Array([1]), [1]);
      gone.dispose();
      e = await rejection(saveSafetensors(file, { w: gone }));
      expect(e).to.be.instanceOf(DisposedError);
      expect(fs.existsSync(file)).to.equal(false);
      expect(leftovers(dir)).to.deep.equal([]);
    });

    it('keeps the order given (Map or object) and accepts an empty set', async function () {
      const file = path.join(dir, 'order.safetensors');
      const m = new Map<string, Tensor>();
      for (const name of ['zeta', 'alpha', 'mid']) m.set(name, Tensor.fromArray(new Float32Array([1, 2]), [2]));
      await saveSafetensors(file, m);
      expect(Object.keys(readSafetensorsHeader(file).tensors)).to.deep.equal(['zeta', 'alpha', 'mid']);
      await saveSafetensors(file, {});
      expect(readSafetensorsHeader(file).tensors).to.deep.equal({});
      expect(await loadSafetensors(file)).to.deep.equal({});
    });
  });

  describe('checkpoints', function () {
    it('loads a sharded checkpoint (directory or index file) completely', async function () {
      const expected = readJson<{ shards: string[]; tensors: Record<string, Described> }>(path.join(dir, 'sharded.json'));
      expect(expected.shards.length).to.be.greaterThan(2);
      for (const where of [path.join(dir, 'sharded'), path.join(dir, 'sharded', 'model.safetensors.index.json')]) {
        const tensors = await loadCheckpoint(where);
        expect(Object.keys(tensors).sort()).to.deep.equal(Object.keys(expected.tensors).sort());
        for (const [name, want] of Object.entries(expected.tensors)) expect(describe_(tensors[name]), name).to.deep.equal(want);
      }
    });

    it('names a missing shard', async function () {
      const copy = path.join(dir, 'sharded-missing');
      fs.cpSync(path.join(dir, 'sharded'), copy, { recursive: true });
      const index = readJson<{ weight_map: Record<string, string> }>(path.join(copy, 'model.safetensors.index.json'));
      const shard = index.weight_map['model.layers.2.weight'];
      fs.rmSync(path.join(copy, shard));
      const e = await rejection(loadCheckpoint(copy));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e).to.include({ file: path.join(copy, shard), tensor: 'model.layers.2.weight' });
      expect(e.message).to.contain(shard).and.contain('missing');
    });

    it('names a tensor the index lists but its shard lacks, and one a shard holds but the index omits', async function () {
      const copy = path.join(dir, 'sharded-ghost');
      fs.cpSync(path.join(dir, 'sharded'), copy, { recursive: true });
      const indexFile = path.join(copy, 'model.safetensors.index.json');
      const index = readJson<{ weight_map: Record<string, string> }>(indexFile);
      const shard = index.weight_map['model.layers.0.weight'];
      index.weight_map['model.layers.99.weight'] = shard;
      fs.writeFileSync(indexFile, JSON.stringify(index));
      let e = await rejection(loadCheckpoint(copy));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e).to.include({ file: path.join(copy, shard), tensor: 'model.layers.99.weight' });

      // The last shard holds several tensors; drop one of them from the index.
      delete index.weight_map['model.layers.99.weight'];
      const lastShard = index.weight_map['lm_head.bias'];
      expect(Object.values(index.weight_map).filter((s) => s === lastShard).length).to.be.greaterThan(1);
      delete index.weight_map['lm_head.bias'];
      fs.writeFileSync(indexFile, JSON.stringify(index));
      e = await rejection(loadCheckpoint(copy));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e).to.include({ file: path.join(copy, lastShard), tensor: 'lm_head.bias' });
      expect(e.message).to.contain('does not list');

      fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { w: '../dtypes.safetensors' } }));
      e = await rejection(loadCheckpoint(copy));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e.message).to.contain('not a file inside the checkpoint directory');
    });

    it('loads model.safetensors from a directory, and any .safetensors file by name', async function () {
      const modelDir = path.join(dir, 'single');
      fs.mkdirSync(modelDir);
      const w = Tensor.fromArray(new Float32Array([1, 2, 3]), [3]);
      await saveSafetensors(path.join(modelDir, 'model.safetensors'), { w });
      await saveSafetensors(path.join(modelDir, 'adapter_model.safetensors'), { a: w });
      expect(Object.keys(await loadCheckpoint(modelDir))).to.deep.equal(['w']);
      const adapter = await loadCheckpoint(path.join(modelDir, 'adapter_model.safetensors'));
      expect(Array.from(adapter.a.toArray() as Float32Array)).to.deep.equal([1, 2, 3]);

      const other = path.join(dir, 'no-model');
      fs.mkdirSync(other);
      await saveSafetensors(path.join(other, 'adapter_model.safetensors'), { a: w });
      const e = await rejection(loadCheckpoint(other));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e).to.include({ file: other });
      expect(e.message).to.contain('model.safetensors').and.contain('adapter_model.safetensors');

      const missing = await rejection(loadCheckpoint(path.join(dir, 'nowhere')));
      expect(missing).to.be.instanceOf(IoError);
      expect(missing).to.include({ file: path.join(dir, 'nowhere') });
    });

    it('refuses pickle-only checkpoints without unpickling them', async function () {
      const marker = path.join(dir, 'pickle-marker');
      expect(fs.existsSync(path.join(dir, 'pickle-proof')), 'the payload works when unpickled').to.equal(true);
      const pickleDir = path.join(dir, 'pickle-only');
      const bin = path.join(pickleDir, 'pytorch_model.bin');
      for (const target of [pickleDir, bin]) {
        const e = await rejection(loadCheckpoint(target));
        expect(e).to.be.instanceOf(SafetensorsError);
        expect(e).to.include({ code: 'ERR_SAFETENSORS', file: bin });
        expect(e.message).to.match(/pickle/).and.match(/safetensors/);
      }
      // A pickle renamed .safetensors is not parsed as one either, and gets a hint.
      const disguised = path.join(dir, 'disguised.safetensors');
      fs.copyFileSync(bin, disguised);
      const e = await rejection(loadSafetensors(disguised));
      expect(e).to.be.instanceOf(SafetensorsError);
      expect(e.message).to.contain('pickle');
      // An index pointing at a pickle shard is refused too.
      const idxDir = path.join(dir, 'pickle-index');
      fs.mkdirSync(idxDir);
      fs.copyFileSync(bin, path.join(idxDir, 'pytorch_model-00001-of-00001.bin'));
      fs.writeFileSync(path.join(idxDir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { w: 'pytorch_model-00001-of-00001.bin' } }));
      expect(await rejection(loadCheckpoint(idxDir))).to.be.instanceOf(SafetensorsError);
      expect(fs.existsSync(marker), 'the pickle was executed').to.equal(false);
    });
  });

  describe('atomic writes', function () {
    const w = () => Tensor.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2]);

    it('replaces an existing file and leaves no temp files', async function () {
      const d = fs.mkdtempSync(path.join(dir, 'atomic-'));
      const file = path.join(d, 'x.safetensors');
      await saveSafetensors(file, { a: w() });
      fs.chmodSync(file, 0o640);
      await saveSafetensors(file, { b: w() });
      expect(Object.keys(readSafetensorsHeader(file).tensors)).to.deep.equal(['b']);
      expect(fs.statSync(file).mode & 0o777).to.equal(0o640);
      expect(leftovers(d)).to.deep.equal([]);
    });

    it('a failed rename leaves the target as it was, removes the temp file, and throws IoError', async function () {
      const d = fs.mkdtempSync(path.join(dir, 'atomic-'));
      const target = path.join(d, 'x.safetensors');
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, 'keep'), 'old');
      const e = await rejection(saveSafetensors(target, { a: w() }));
      expect(e).to.be.instanceOf(IoError);
      expect(e).to.include({ code: 'ERR_IO', file: target });
      expect(fs.readFileSync(path.join(target, 'keep'), 'utf8')).to.equal('old');
      expect(leftovers(d)).to.deep.equal([]);
    });

    it('a write that fails midway (file size limit) keeps the old file intact', function () {
      const d = fs.mkdtempSync(path.join(dir, 'atomic-'));
      const file = path.join(d, 'x.safetensors');
      const script = path.join(d, 'write.ts');
      // The child writes a small file, then tries to overwrite it with a 4 MB one under a 256 KB
      // file-size limit (Node ignores SIGXFSZ, so write() fails with EFBIG).
      fs.writeFileSync(
        script,
        `import { Tensor, saveSafetensors, loadSafetensors } from ${JSON.stringify(path.join(ROOT, 'ts', 'index'))};
(async () => {
  const file = process.argv[2];
  await saveSafetensors(file, { small: Tensor.fromArray(new Float32Array([7, 8]), [2]) });
  try {
    await saveSafetensors(file, { big: Tensor.fromArray(new Float32Array(1 << 20).fill(1), [1 << 20]) });
    console.log(JSON.stringify({ threw: false }));
  } catch (e) {
    const t = await loadSafetensors(file);
    console.log(JSON.stringify({ threw: true, name: e.constructor.name, code: e.code, file: e.file, message: e.message, after: Object.keys(t), small: Array.from(t.small.toArray()) }));
  }
})();`,
      );
      const r = spawnSync('bash', ['-c', `ulimit -f 256 && exec "${process.execPath}" --require tsx/cjs "${script}" "${file}"`], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(r.status, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      expect(out).to.deep.include({ threw: true, name: 'IoError', code: 'ERR_IO', file, after: ['small'], small: [7, 8] });
      expect(out.message).to.match(/File too large/);
      expect(leftovers(d)).to.deep.equal([]);
    });

    it('a read-only directory fails with IoError and the old file is intact', async function () {
      if (process.getuid?.() === 0) this.skip(); // root ignores directory permissions
      const d = fs.mkdtempSync(path.join(dir, 'atomic-'));
      const file = path.join(d, 'x.safetensors');
      await saveSafetensors(file, { a: w() });
      const before = fs.readFileSync(file);
      fs.chmodSync(d, 0o555);
      try {
        const e = await rejection(saveSafetensors(file, { b: w() }));
        expect(e).to.be.instanceOf(IoError);
        expect(e).to.include({ file });
      } finally {
        fs.chmodSync(d, 0o755);
      }
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
      expect(leftovers(d)).to.deep.equal([]);
    });

    it('a missing directory fails with IoError naming the file', async function () {
      const file = path.join(dir, 'no-such-dir', 'x.safetensors');
      const e = await rejection(saveSafetensors(file, { a: w() }));
      expect(e).to.be.instanceOf(IoError);
      expect(e).to.include({ file });
    });
  });

  describe('malformed files', function () {
    const f32 = (shape: number[], offsets: number[]) => ({ dtype: 'F32', shape, data_offsets: offsets });
    const data24 = Buffer.alloc(24, 1);
    // [case, file bytes, tensor at fault (undefined: the file as a whole), message pattern]
    const cases: [string, () => Buffer, string | undefined, RegExp][] = [
      ['empty file', () => Buffer.alloc(0), undefined, /0 bytes long/],
      ['truncated length prefix', () => Buffer.from([8, 0, 0]), undefined, /too short/],
      ['header length past the end', () => stBytes({ w: f32([6], [0, 24]) }, data24, 1000n), undefined, /header length .* is 1000, past the end/],
      ['header length 2^64-1', () => stBytes({}, data24, 2n ** 64n - 1n), undefined, /past the end/],
      ['truncated data section', () => stBytes({ w: f32([6], [0, 24]) }, data24.subarray(0, 20)), 'w', /\[0, 24\] past the end of the data section \(20 bytes\)/],
      ['header not JSON', () => stBytes('{not json}'), undefined, /not valid JSON/],
      ['header truncated inside the JSON', () => stBytes('{"w": {"dtype": "F3'), undefined, /not valid JSON: unterminated string/],
      ['header is an array', () => stBytes('[1, 2]'), undefined, /does not start with '\{'/],
      ['trailing garbage after the JSON', () => stBytes('{} x'), undefined, /after the JSON value/],
      ['trailing comma', () => stBytes('{"__metadata__": {},}'), undefined, /not valid JSON/],
      ['duplicate tensor name', () => stBytes(`{"w": ${JSON.stringify(f32([1], [0, 4]))}, "w": ${JSON.stringify(f32([1], [4, 8]))}}`, data24), undefined, /duplicate key "w"/],
      ['invalid UTF-8 in a name', () => stBytes(Buffer.concat([Buffer.from('{"w'), Buffer.from([0xff]), Buffer.from('": {}}')])), undefined, /invalid UTF-8/],
      ['offsets out of range', () => stBytes({ 'model.layers.0.mlp.up_proj.weight': f32([6], [16, 40]) }, data24), 'model.layers.0.mlp.up_proj.weight', /data_offsets \[16, 40\] past the end of the data section \(24 bytes\)/],
      ['offsets reversed', () => stBytes({ w: f32([0], [8, 4]) }, data24), 'w', /end before they begin/],
      ['overlapping offsets', () => stBytes({ a: f32([4], [0, 16]), b: f32([4], [8, 24]) }, data24), 'b', /overlap tensor 'a'/],
      ['same offsets twice', () => stBytes({ a: f32([2], [0, 8]), b: f32([2], [0, 8]) }, data24), 'b', /overlap/],
      ['unknown dtype', () => stBytes({ w: { dtype: 'F99', shape: [6], data_offsets: [0, 24] } }, data24), 'w', /dtype "F99"/],
      ['unsupported dtype', () => stBytes({ w: { dtype: 'F8_E4M3', shape: [24], data_offsets: [0, 24] } }, data24), 'w', /F8_E4M3/],
      ['dtype not a string', () => stBytes({ w: { dtype: 4, shape: [6], data_offsets: [0, 24] } }, data24), 'w', /dtype that is a number/],
      ['shape/byte size mismatch', () => stBytes({ w: f32([2, 3], [0, 20]) }, data24), 'w', /\(20 bytes\) but dtype F32 and shape \[2, 3\] need 24 bytes/],
      ['negative shape', () => stBytes({ w: f32([-1, 6], [0, 24]) }, data24), 'w', /shape\[0\] = -1/],
      ['non-integer shape', () => stBytes({ w: f32([1.5], [0, 24]) }, data24), 'w', /shape\[0\] = 1\.5/],
      ['integral float shape', () => stBytes('{"w": {"dtype": "F32", "shape": [6.0], "data_offsets": [0, 24]}}', data24), 'w', /shape\[0\] = 6\.0/],
      ['string shape', () => stBytes({ w: f32(['6'] as unknown as number[], [0, 24]) }, data24), 'w', /shape\[0\] = "6"/],
      ['shape not an array', () => stBytes({ w: { dtype: 'F32', shape: 6, data_offsets: [0, 24] } }, data24), 'w', /shape that is a number/],
      ['huge shape overflowing', () => stBytes('{"w": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 24]}}', data24), 'w', /overflow/],
      ['empty tensor whose strides overflow', () => stBytes('{"w": {"dtype": "F32", "shape": [0, 9223372036854775807, 9223372036854775807], "data_offsets": [0, 0]}}'), 'w', /overflow/],
      ['shape beyond int64', () => stBytes('{"w": {"dtype": "U8", "shape": [9223372036854775808], "data_offsets": [0, 24]}}', data24), 'w', /shape\[0\] = 9223372036854775808/],
      ['negative offset', () => stBytes({ w: f32([6], [-4, 20]) }, data24), 'w', /non-negative integers/],
      ['offsets with one entry', () => stBytes({ w: f32([6], [24]) }, data24), 'w', /with 1 entries/],
      ['missing dtype', () => stBytes({ w: { shape: [6], data_offsets: [0, 24] } }, data24), 'w', /has no 'dtype'/],
      ['missing shape', () => stBytes({ w: { dtype: 'F32', data_offsets: [0, 24] } }, data24), 'w', /has no 'shape'/],
      ['missing data_offsets', () => stBytes({ w: { dtype: 'F32', shape: [6] } }, data24), 'w', /has no 'data_offsets'/],
      ['unknown field', () => stBytes({ w: { ...f32([6], [0, 24]), offsets: 1 } }, data24), 'w', /unknown field 'offsets'/],
      ['entry not an object', () => stBytes({ w: [0, 24] }, data24), 'w', /is an array/],
      ['metadata not strings', () => stBytes({ __metadata__: { step: 5 } }), undefined, /__metadata__ entry 'step' is a number/],
      ['metadata not an object', () => stBytes({ __metadata__: 'x' }), undefined, /__metadata__ is a string/],
      ['nesting bomb', () => stBytes(`{"w": ${'['.repeat(100000)}${']'.repeat(100000)}}`), undefined, /nesting deeper than/],
      ['BOOL byte that is not 0 or 1', () => stBytes({ flags: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, Buffer.from([1, 0, 2])), 'flags', /byte 2 at element 2/],
      ['a torch.save zip named .safetensors', () => Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(60)]), undefined, /zip archive/],
    ];

    for (const [name, bytes, tensor, pattern] of cases) {
      it(name, async function () {
        const file = path.join(dir, `bad-${name.replace(/[^a-z0-9]+/gi, '-')}.safetensors`);
        fs.writeFileSync(file, bytes());
        const e = await rejection(loadSafetensors(file));
        expect(e, e.stack).to.be.instanceOf(SafetensorsError);
        expect(e).to.include({ code: 'ERR_SAFETENSORS', file });
        expect((e as SafetensorsError).tensor).to.equal(tensor);
        expect(e.message).to.match(pattern);
        expect(e.message).to.contain(file);
        if (tensor !== undefined) expect(e.message).to.contain(`'${tensor}'`);
        // The synchronous header read refuses the same files (all but bad data, which it does not read).
        if (name.startsWith('BOOL')) expect(readSafetensorsHeader(file).tensors.flags.dtype).to.equal('bool');
        else expect(() => readSafetensorsHeader(file)).to.throw(SafetensorsError);
      });
    }

    it('accepts what the format allows: gaps, trailing bytes, empty tensors anywhere, padding spaces', async function () {
      const file = path.join(dir, 'lenient.safetensors');
      const header = {
        __metadata__: { k: 'v' },
        b: { dtype: 'I16', shape: [2], data_offsets: [8, 12] },
        e: { dtype: 'F32', shape: [0, 5], data_offsets: [4, 4] },
        a: { dtype: 'U8', shape: [], data_offsets: [0, 1] },
      };
      const data = Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 255, 255, 0, 0]);
      fs.writeFileSync(file, stBytes(JSON.stringify(header) + '      ', data));
      const t = await loadSafetensors(file);
      expect(Object.keys(t)).to.deep.equal(['a', 'e', 'b']); // file order
      expect(Array.from(t.a.toArray() as Uint8Array)).to.deep.equal([9]);
      expect(t.e.shape).to.deep.equal([0, 5]);
      expect(Array.from(t.b.toArray() as Int16Array)).to.deep.equal([1, -1]);
    });
  });

  describe('fuzz', function () {
    it('6000 corrupted variants each load or throw SafetensorsError, in a child process that must not crash', async function () {
      const base = path.join(dir, 'fuzz-base.safetensors');
      await saveSafetensors(
        base,
        {
          'model.embed.weight': Tensor.fromArray(new Float32Array(24).map((_, i) => i), [4, 6]),
          mask: Tensor.fromArray(new Uint8Array([1, 0, 1]), [3], 'bool'),
          empty: Tensor.fromArray(new Int32Array(0), [0]),
          ids: Tensor.fromArray(new BigInt64Array([1n, 2n]), [2]),
        },
        { format: 'pt' },
      );
      const started = Date.now();
      const r = spawnSync(
        process.execPath,
        ['--require', 'tsx/cjs', path.join(__dirname, 'helpers', 'safetensors-fuzz.ts'), dir, '6000', '20240601', base, path.join(dir, 'dtypes.safetensors')],
        { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
      );
      expect(r.signal, `fuzz child died: ${r.stderr}`).to.equal(null);
      expect(r.status, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        total: number;
        loaded: number;
        rejected: number;
        stats: Record<string, { loaded: number; rejected: number }>;
        unexpected: string[];
      };
      expect(out.unexpected).to.deep.equal([]);
      expect(out.total).to.equal(6000);
      expect(out.loaded + out.rejected).to.equal(6000);
      // Every kind of damage to the header or its length is caught at least sometimes; flips in
      // data mostly load (only BOOL bytes are checked), garbage after the data always loads.
      for (const kind of ['header-flip', 'truncate', 'length', 'json', 'splice']) expect(out.stats[kind].rejected, kind).to.be.greaterThan(100);
      expect(out.stats['data-flip'].loaded).to.be.greaterThan(100);
      expect(out.stats['garbage-tail']).to.deep.equal({ loaded: out.stats['garbage-tail'].loaded, rejected: 0 });
      expect(Date.now() - started).to.be.lessThan(60_000);
    });
  });
});
