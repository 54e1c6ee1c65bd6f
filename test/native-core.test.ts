/** The native conventions every later part relies on: typed errors, worker threads, progress, dispose. */
import { expect } from 'chai';

import {
  ContinualNextError,
  DisposedError,
  InvalidArgumentError,
  NativeError,
  OutOfMemoryError,
  SafetensorsError,
  Tensor,
  TorchError,
  info,
  loadNative,
} from '../ts/index';

describe('native core', () => {
  const native = loadNative();

  describe('info()', () => {
    it('reports package, torch, devices, threads and build flags', () => {
      const i = info();
      expect(i.packageVersion).to.match(/^\d+\.\d+\.\d+/);
      expect(i.torch.version).to.match(/^2\.\d+\.\d+/);
      expect(Number(i.torch.version.split('.')[1])).to.be.at.least(4);
      expect(i.devices[0]).to.deep.equal({ type: 'cpu', name: 'cpu' });
      expect(i.threads.intraOp).to.be.at.least(1);
      expect(i.threads.physicalCores).to.be.at.least(1);
      expect(i.build.napiVersion).to.equal(8);
      expect(i.torch.config).to.be.a('string').and.not.empty;
    });
  });

  describe('C++ exceptions become typed JS errors', () => {
    const cases: [string, new (...a: never[]) => Error, string, RegExp][] = [
      ['typed', SafetensorsError, 'ERR_SAFETENSORS', /diagnostic typed error/],
      ['torch', TorchError, 'ERR_TORCH', /diagnostic torch check failure/],
      ['torch-shape', TorchError, 'ERR_TORCH', /cannot be multiplied|size mismatch|mat1 and mat2/],
      ['alloc', OutOfMemoryError, 'ERR_OUT_OF_MEMORY', /out of memory/],
      ['std', NativeError, 'ERR_NATIVE', /diagnostic std::runtime_error/],
      ['int', NativeError, 'ERR_NATIVE', /unknown native exception/],
    ];
    for (const [kind, cls, code, message] of cases) {
      it(`sync: ${kind} → ${cls.name}`, () => {
        let caught: unknown;
        try {
          native.diagnostics.throwError(kind);
        } catch (e) {
          caught = e;
        }
        expect(caught).to.be.instanceOf(cls).and.instanceOf(ContinualNextError);
        expect((caught as ContinualNextError).code).to.equal(code);
        expect((caught as Error).message).to.match(message);
      });
      it(`async: ${kind} → rejected ${cls.name}`, async () => {
        const caught = await native.diagnostics.throwErrorAsync(kind).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(caught).to.be.instanceOf(cls);
        expect((caught as ContinualNextError).code).to.equal(code);
      });
    }
    it('carries the fields that locate the fault', () => {
      try {
        native.diagnostics.throwError('typed');
        expect.fail('should throw');
      } catch (e) {
        expect((e as SafetensorsError).file).to.equal('x.safetensors');
        expect((e as SafetensorsError).tensor).to.equal('w');
      }
    });
  });

  describe('heavy work runs on a worker thread', () => {
    it('keeps timers firing during a long native call and streams progress', async () => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const progress: number[] = [];
      const started = Date.now();
      const result = await native.diagnostics.spin(600, (p) => progress.push(p.elapsedMs), 256);
      clearInterval(timer);
      const elapsed = Date.now() - started;
      expect(elapsed).to.be.at.least(550);
      expect(result.iterations).to.be.greaterThan(0);
      // A blocked event loop would deliver at most one tick once the call returns.
      expect(ticks).to.be.at.least(20);
      expect(progress.length).to.be.at.least(3);
      expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
    });
    it('runs two calls concurrently without interference', async () => {
      const [a, b] = await Promise.all([native.diagnostics.spin(200), native.diagnostics.spin(200)]);
      expect(a.iterations).to.be.greaterThan(0);
      expect(b.iterations).to.be.greaterThan(0);
    });
  });

  describe('Tensor bridge', () => {
    it('round-trips every TypedArray kind', () => {
      const cases: [ArrayLike<number | bigint> & { constructor: { name: string } }, string][] = [
        [new Float32Array([1.5, -2, 3, 4, 5, 6]), 'float32'],
        [new Float64Array([1e-300, 2, 3, 4, 5, 6]), 'float64'],
        [new Int32Array([1, -2, 3, 2 ** 31 - 1, 5, 6]), 'int32'],
        [new BigInt64Array([1n, -2n, 3n, 2n ** 62n, 5n, 6n]), 'int64'],
        [new Int16Array([1, -2, 3, 4, 5, 6]), 'int16'],
        [new Int8Array([1, -2, 3, 4, 5, 127]), 'int8'],
        [new Uint8Array([1, 2, 3, 4, 5, 255]), 'uint8'],
      ];
      for (const [data, dtype] of cases) {
        const t = Tensor.fromArray(data as never, [2, 3]);
        expect(t.dtype).to.equal(dtype);
        expect(t.shape).to.deep.equal([2, 3]);
        expect(t.device).to.equal('cpu');
        expect(Array.from(t.toArray() as ArrayLike<number>)).to.deep.equal(Array.from(data as ArrayLike<number>));
        t.native.dispose();
      }
    });
    it('keeps float16/bfloat16 raw bits and bool', () => {
      const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]); // 1, -2, 65504, tiny subnormal
      for (const dtype of ['float16', 'bfloat16'] as const) {
        const t = Tensor.fromArray(bits, [4], dtype);
        expect(t.dtype).to.equal(dtype);
        expect(Array.from(t.toArray() as Uint16Array)).to.deep.equal(Array.from(bits));
      }
      const b = Tensor.fromArray(new Uint8Array([1, 0, 1]), [3], 'bool');
      expect(b.dtype).to.equal('bool');
      expect(Array.from(b.toArray() as Uint8Array)).to.deep.equal([1, 0, 1]);
    });
    it('copies: later writes to the source array do not change the tensor', () => {
      const src = new Float32Array([1, 2]);
      const t = Tensor.fromArray(src, [2]);
      src[0] = 99;
      expect(Array.from(t.toArray() as Float32Array)).to.deep.equal([1, 2]);
    });
    it('rejects bad input with InvalidArgumentError naming the field', () => {
      expect(() => Tensor.fromArray(new Float32Array(5), [2, 3])).to.throw(InvalidArgumentError, /bytes/);
      expect(() => Tensor.fromArray(new Float32Array(6), [2, -3])).to.throw(InvalidArgumentError, /shape/);
      expect(() => Tensor.fromArray(new Float32Array(6), [6], 'complex' as never)).to.throw(InvalidArgumentError, /unknown dtype 'complex'/);
      expect(() => Tensor.fromArray(new Uint16Array(2), [2])).to.throw(InvalidArgumentError, /float16/);
      expect(() => Tensor.fromArray([1, 2] as never, [2])).to.throw(InvalidArgumentError, /TypedArray/);
      try {
        Tensor.fromArray(new Float32Array(5), [2, 3]);
      } catch (e) {
        expect((e as InvalidArgumentError).field).to.equal('shape');
      }
    });
    it('dispose() is idempotent and use after dispose throws DisposedError', async () => {
      const t = Tensor.fromArray(new Float32Array([1]), [1]);
      await t.dispose();
      await t.dispose();
      expect(t.disposed).to.equal(true);
      expect(t.native.disposed).to.equal(true);
      expect(() => t.toArray()).to.throw(DisposedError, /after dispose/);
      expect(() => t.shape).to.throw(DisposedError);
    });
    it('supports await using (Symbol.asyncDispose)', async () => {
      let escaped: Tensor | undefined;
      {
        await using t = Tensor.fromArray(new Float32Array([1, 2]), [2]);
        escaped = t;
        expect(t.disposed).to.equal(false);
      }
      expect(escaped.disposed).to.equal(true);
      expect(() => escaped!.toArray()).to.throw(DisposedError);
    });
  });
});
