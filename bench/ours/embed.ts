/**
 * Our side of bench/embed: SentenceEncoder.encode on the directory bench/peer/st_embed.py --make
 * wrote, the same sentences, batch size and threads. Prints one JSON line.
 */
import fs from 'node:fs';

import { loadNative, SentenceEncoder } from '../../ts/index';
import { ENGINE_DTYPE, arg, deviceArgs, median, peakRssMb } from './shapes';

async function main() {
  const threads = Number(arg('threads', '2'));
  const batchSize = Number(arg('batch', '32'));
  const repeats = Number(arg('repeats', '3'));
  const native = loadNative();
  if (threads > 0) native.setThreads(threads);
  const sentences = JSON.parse(fs.readFileSync(arg('sentences', ''), 'utf8')) as string[];
  let t0 = performance.now();
  const { device, cuda, dtype } = deviceArgs();
  const enc = await SentenceEncoder.load(arg('model', ''), { device, dtype: ENGINE_DTYPE[dtype] });
  const loadMs = performance.now() - t0;
  await enc.encode(sentences.slice(0, 16), { batchSize }); // warmup
  const times: number[] = [];
  let emb = new Float32Array(0);
  for (let r = 0; r < repeats; r++) {
    t0 = performance.now();
    emb = await enc.encode(sentences, { batchSize });
    times.push(performance.now() - t0);
  }
  const out = arg('out', '');
  if (out) fs.writeFileSync(out, Buffer.from(emb.buffer, emb.byteOffset, emb.byteLength));
  const ms = median(times);
  const tokens = sentences.reduce((n, s) => n + enc.tokenize(s).length, 0);
  process.stdout.write(
    JSON.stringify({
      impl: 'continual-next',
      sentences: sentences.length,
      tokens,
      ms_median: ms,
      sentences_per_s: sentences.length / (ms / 1000),
      load_ms: loadMs,
      peak_rss_mb: peakRssMb(),
      device,
      dtype,
      ...(cuda ? { peak_cuda_mb: native.cudaMemory(device).peakAllocatedBytes / 2 ** 20 } : {}),
      torch: native.info().torch.version,
      threads: native.info().threads.intraOp,
    }) + '\n',
  );
  await enc.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
