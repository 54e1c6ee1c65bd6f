/**
 * Run reports from hand-made accuracy matrices (no model): the SVG figures parse as XML and hold
 * the cell values, the PNGs decode (signature, IHDR, CRCs, inflate, filters) to the right size
 * with the heatmap's colours where its cells are, report.html renders in headless Chromium, user
 * text is escaped, and `continual-next report <dir>` regenerates everything or fails with a
 * typed error naming the file.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { IoError } from '../ts/errors';
import { scaleRgb } from '../ts/report/colours';
import { escapeMarkup, fitText } from '../ts/report/escape';
import { meanMatrix } from '../ts/report/mean-matrix';
import { readResults } from '../ts/report/read';
import { writeResults, PNG_SCALE, type ResultFiles } from '../ts/report/write';
import { cli, python, run, tmpDir } from './helpers/run';
import { FIXTURE_MATRICES, FIXTURE_TASKS, fixtureResults } from './helpers/results-fixture';

const CHROMIUM = '/usr/bin/chromium';

interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  pixels: Buffer;
}

/** Decodes an 8-bit RGB or RGBA PNG, checking the signature and every chunk's CRC. */
function decodePng(buf: Buffer): DecodedPng {
  expect([...buf.subarray(0, 8)]).to.deep.equal([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    const crc = buf.readUInt32BE(off + 8 + len);
    expect(zlib.crc32(buf.subarray(off + 4, off + 8 + len)) >>> 0, `CRC of ${type}`).to.equal(crc);
    if (type === 'IHDR') ihdr = data;
    if (type === 'IDAT') idat.push(data);
    if (type === 'IEND') sawEnd = true;
    off += 12 + len;
  }
  expect(ihdr, 'IHDR').to.not.equal(undefined);
  expect(sawEnd, 'IEND').to.equal(true);
  const width = ihdr!.readUInt32BE(0);
  const height = ihdr!.readUInt32BE(4);
  expect(ihdr![8], 'bit depth').to.equal(8);
  expect([2, 6]).to.include(ihdr![9]);
  expect(ihdr![12], 'interlace').to.equal(0);
  const channels = ihdr![9] === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  expect(raw.length).to.equal((stride + 1) * height);
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    expect(filter, `row ${y} filter type`).to.be.within(0, 4);
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, channels, pixels: px };
}

const pixelAt = (img: DecodedPng, x: number, y: number) => [...img.pixels.subarray((y * img.width + x) * img.channels, (y * img.width + x) * img.channels + 3)];

function distinctColours(img: DecodedPng): number {
  const seen = new Set<number>();
  for (let p = 0; p < img.width * img.height; p++) {
    const o = p * img.channels;
    seen.add((img.pixels[o] << 16) | (img.pixels[o + 1] << 8) | img.pixels[o + 2]);
  }
  return seen.size;
}

/** Parses each file with Python's XML parser; returns per file its rects' data attributes and all text. */
function parseSvgs(files: string[]): { cells: { row: string; col: string; value: string }[]; texts: string[]; polylines: number; width: number; height: number }[] {
  const out = python(
    `import json, sys, xml.etree.ElementTree as ET
NS = '{http://www.w3.org/2000/svg}'
res = []
for f in sys.argv[1:]:
    root = ET.parse(f).getroot()
    assert root.tag == NS + 'svg', root.tag
    cells = [{'row': r.get('data-row'), 'col': r.get('data-col'), 'value': r.get('data-value')} for r in root.iter(NS + 'rect') if r.get('data-row') is not None]
    texts = [''.join(t.itertext()) for t in root.iter(NS + 'text')] + [t.text or '' for t in root.iter(NS + 'title')]
    res.append({'cells': cells, 'texts': texts, 'polylines': len(list(root.iter(NS + 'polyline'))), 'width': float(root.get('width')), 'height': float(root.get('height'))})
print(json.dumps(res, ensure_ascii=False))`,
    files,
  );
  return JSON.parse(out);
}

const chromiumFlags = (profile: string) => ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`];

describe('run reports', function () {
  this.timeout(60_000);
  let dir: string;
  let files: ResultFiles;
  const results = () => fixtureResults(dir);
  const T = FIXTURE_TASKS.length;

  before(() => {
    dir = tmpDir('report');
    files = writeResults(fixtureResults(dir));
  });

  it('writes every file into the run directory and returns the paths', () => {
    expect(files.json).to.equal(path.join(dir, 'results.json'));
    expect(files.markdown).to.equal(path.join(dir, 'results.md'));
    expect(files.html).to.equal(path.join(dir, 'report.html'));
    expect(files.figures.map((f) => f.method)).to.deep.equal(Object.keys(FIXTURE_MATRICES));
    const all = [files.json, files.markdown, files.html, ...files.figures.flatMap((f) => [f.heatmapSvg, f.heatmapPng, f.curvesSvg, f.curvesPng])];
    expect(new Set(all).size).to.equal(all.length);
    for (const f of all) expect(path.dirname(f)).to.equal(dir), expect(fs.statSync(f).size, f).to.be.greaterThan(100);
    // atomic writes leave no temp files behind
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
    expect(JSON.parse(fs.readFileSync(files.json, 'utf8')).tasks).to.deep.equal(FIXTURE_TASKS);
  });

  it('heatmap SVGs parse as XML and hold the mean-over-seeds cell values ×100', () => {
    const parsed = parseSvgs(files.figures.map((f) => f.heatmapSvg));
    files.figures.forEach((f, k) => {
      const mean = meanMatrix({ seeds: FIXTURE_MATRICES[f.method].map((matrix) => ({ matrix })) } as never, FIXTURE_TASKS).matrix;
      const { cells, texts } = parsed[k];
      expect(cells).to.have.length((T + 1) * T);
      for (const c of cells) expect(c.value, `cell ${c.row},${c.col}`).to.equal((mean[Number(c.row)][Number(c.col)] * 100).toFixed(1));
      // the written values, e.g. seqft after the last task on task 3: (0.9 + 0.94) / 2 → 92.0
      for (const row of mean) for (const v of row) expect(texts).to.include((v * 100).toFixed(1));
      expect(texts.join('\n')).to.include(f.method).and.include('base').and.include('100');
      // the user's task name comes back intact through escaping (full name in a tooltip or label)
      expect(texts.some((t) => t.includes('资讯 <&> "2023"'))).to.equal(true);
    });
    expect(parsed[0].cells.find((c) => c.row === '3' && c.col === '2')?.value).to.equal('92.0');
    const text = fs.readFileSync(files.figures[1].heatmapSvg, 'utf8');
    expect(text).to.include('replay &lt;10%&gt;').and.not.include('replay <10%>');
  });

  it('curve SVGs parse and have a line per task, axes ticks and a legend naming every task', () => {
    const parsed = parseSvgs(files.figures.map((f) => f.curvesSvg));
    for (const p of parsed) {
      // task lines + legend swatches + grid lines and ticks
      expect(p.polylines).to.be.at.least(2 * T + 6);
      for (const tick of ['0', '20', '40', '60', '80', '100', 'base']) expect(p.texts).to.include(tick);
      for (const t of FIXTURE_TASKS) expect(p.texts.some((x) => x.includes(t)), t).to.equal(true);
    }
  });

  it('PNGs are valid, twice the SVG size, not uniform, and the heatmap cells carry the scale colours', () => {
    const svgSizes = parseSvgs(files.figures.flatMap((f) => [f.heatmapSvg, f.curvesSvg]));
    files.figures.forEach((f, k) => {
      const heat = decodePng(fs.readFileSync(f.heatmapPng));
      const curves = decodePng(fs.readFileSync(f.curvesPng));
      expect([heat.width, heat.height]).to.deep.equal([Math.ceil(svgSizes[2 * k].width * PNG_SCALE), Math.ceil(svgSizes[2 * k].height * PNG_SCALE)]);
      expect([curves.width, curves.height]).to.deep.equal([Math.ceil(svgSizes[2 * k + 1].width * PNG_SCALE), Math.ceil(svgSizes[2 * k + 1].height * PNG_SCALE)]);
      expect(distinctColours(heat)).to.be.greaterThan(20);
      expect(distinctColours(curves)).to.be.greaterThan(20);
      // a point inside each cell, clear of its text and borders, has that cell's scale colour
      const rects = fs.readFileSync(f.heatmapSvg, 'utf8').matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="[\d.]+" fill="(#[0-9a-f]{6})"[^>]*data-row="(\d+)" data-col="(\d+)"/g);
      const mean = meanMatrix({ seeds: FIXTURE_MATRICES[f.method].map((matrix) => ({ matrix })) } as never, FIXTURE_TASKS).matrix;
      let checked = 0;
      for (const m of rects) {
        const [x, y] = [Math.round((Number(m[1]) + 6) * PNG_SCALE), Math.round((Number(m[2]) + 6) * PNG_SCALE)];
        expect(pixelAt(heat, x, y), `cell ${m[4]},${m[5]}`).to.deep.equal(scaleRgb(mean[Number(m[4])][Number(m[5])]));
        checked++;
      }
      expect(checked).to.equal((T + 1) * T);
    });
  });

  it('escapeMarkup replaces markup and XML-forbidden characters; fitText keeps emoji whole', () => {
    expect(escapeMarkup(`a<b>&"c"'d'`)).to.equal('a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;');
    expect(escapeMarkup('x\u0000y\u001bz\tw\n')).to.equal('x\uFFFDy\uFFFDz\tw\n');
    expect(escapeMarkup('lone \uD800 and \uDC00, pair 📰 中文')).to.equal('lone \uFFFD and \uFFFD, pair 📰 中文');
    expect(fitText('📰📰📰📰📰📰', 40, 12)).to.equal('📰📰…');
    expect(fitText('short', 100, 12)).to.equal('short');
  });

  it('escapes user text in the HTML: markup in names and answers stays text', () => {
    const html = fs.readFileSync(files.html, 'utf8');
    expect(html).to.include('资讯 &lt;&amp;&gt; &quot;2023&quot;');
    expect(html).to.include('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).to.include('答案：二〇二三年 🎉');
    expect(html).to.not.match(/<script/i);
    expect(html).to.not.match(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // no network references
    expect(html).to.not.include('\u0001');
  });

  it('report.html renders in headless Chromium: table rows, inline SVGs, answers, a non-blank screenshot', function () {
    if (!fs.existsSync(CHROMIUM)) this.skip();
    const dom = run(CHROMIUM, [...chromiumFlags(tmpDir('chromium')), '--dump-dom', `file://${files.html}`], { timeout: 60_000 });
    expect(dom.status, dom.stderr.slice(-2000)).to.equal(0);
    const rows = [...dom.stdout.matchAll(/<tr class="method-row"><th>([^<]*)<\/th>((?:<td class="num">[^<]*<\/td>)+)<\/tr>/g)];
    expect(rows.map((r) => r[1])).to.deep.equal(['seqft', 'replay &lt;10%&gt;']);
    for (const r of rows) expect([...r[2].matchAll(/<td/g)]).to.have.length(T + 5);
    // seqft Avg.ACC over its two seeds: (0.40+0.60+0.90)/3 and (0.42+0.58+0.94)/3 → 63.33 and 64.67
    expect(rows[0][2]).to.include('64.00 ± 0.94');
    expect([...dom.stdout.matchAll(/<svg /g)]).to.have.length(2 * files.figures.length);
    expect(dom.stdout).to.include('<h1 id="run-name">report fixture &lt;run&gt; &amp; 测试</h1>');
    expect([...dom.stdout.matchAll(/<tr class="sample">/g)].length).to.equal(2 * 2 * (T + 1) * T * 2);
    expect(dom.stdout).to.not.match(/<script/i);

    const shot = path.join(tmpDir('shot'), 'report.png');
    const r = run(CHROMIUM, [...chromiumFlags(tmpDir('chromium')), `--screenshot=${shot}`, '--window-size=1200,900', `file://${files.html}`], { timeout: 60_000 });
    expect(r.status, r.stderr.slice(-2000)).to.equal(0);
    const img = decodePng(fs.readFileSync(shot));
    expect([img.width, img.height]).to.deep.equal([1200, 900]);
    expect(distinctColours(img)).to.be.greaterThan(50);
  });

  it('readResults refuses a missing, non-JSON or mis-shaped results.json with an IoError naming the file', () => {
    const bad = tmpDir('report-bad');
    const file = path.join(bad, 'results.json');
    const refuse = (re: RegExp, field?: string) => {
      try {
        readResults(bad);
      } catch (e) {
        expect(e).to.be.instanceOf(IoError);
        expect((e as IoError).file).to.equal(file);
        expect((e as Error).message).to.include(file).and.match(re);
        if (field) expect((e as IoError).field).to.equal(field);
        return;
      }
      expect.fail('readResults accepted a bad results file');
    };
    refuse(/no such file/);
    fs.writeFileSync(file, '{"name": ');
    refuse(/not valid JSON/);
    const r = JSON.parse(JSON.stringify(results()));
    delete r.methods[1].seeds[0].rows;
    fs.writeFileSync(file, JSON.stringify(r));
    refuse(/methods\.1\.seeds\.0\.rows/, 'methods.1.seeds.0.rows');
    const short = JSON.parse(JSON.stringify(results()));
    short.methods[0].seeds[1].matrix[2].pop();
    fs.writeFileSync(file, JSON.stringify(short));
    refuse(/row 2 must have 3 entries/, 'methods.0.seeds.1.matrix');
    expect(readResults(dir).methods).to.have.length(2);
  });

  describe('continual-next report <dir>', () => {
    it('regenerates every report file from results.json and prints their paths', () => {
      const before = fs.readFileSync(files.json);
      const generated = [files.markdown, files.html, ...files.figures.flatMap((f) => [f.heatmapSvg, f.heatmapPng, f.curvesSvg, f.curvesPng])];
      const expected = new Map(generated.map((f) => [f, fs.readFileSync(f)]));
      for (const f of generated) fs.rmSync(f);
      const r = cli(['report', dir]);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.trim().split('\n')).to.deep.equal([files.json, ...generated]);
      for (const f of generated) expect(fs.readFileSync(f).equals(expected.get(f)!), f).to.equal(true);
      expect(fs.readFileSync(files.json).equals(before), 'results.json untouched').to.equal(true);

      const j = cli(['report', dir, '--json']);
      expect(j.status, j.stderr).to.equal(0);
      const line = JSON.parse(j.stdout) as ResultFiles & { event: string };
      expect(line.event).to.equal('report');
      expect(line.html).to.equal(files.html);
      expect(line.figures).to.deep.equal(files.figures);
    });

    it('-o writes the reports (and a copy of results.json) elsewhere', () => {
      const out = path.join(tmpDir('report-out'), 'copy');
      const r = cli(['report', path.join(dir, 'results.json'), '-o', out, '--json']);
      expect(r.status, r.stderr).to.equal(0);
      const line = JSON.parse(r.stdout) as ResultFiles;
      expect(path.dirname(line.html)).to.equal(out);
      expect(fs.readFileSync(path.join(out, 'heatmap-seqft.svg'), 'utf8')).to.equal(fs.readFileSync(files.figures[0].heatmapSvg, 'utf8'));
      expect(JSON.parse(fs.readFileSync(line.json, 'utf8')).name).to.equal(results().name);
    });

    it('a directory without results.json is a one-line IoError naming the file, exit 1', () => {
      const empty = tmpDir('report-empty');
      const r = cli(['report', empty]);
      expect(r.status).to.equal(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^continual-next: IoError: /).and.include(path.join(empty, 'results.json'));
      fs.writeFileSync(path.join(empty, 'results.json'), '[1, 2]');
      const m = cli(['report', empty]);
      expect(m.status).to.equal(1);
      expect(m.stderr).to.match(/IoError: .*results\.json: field "\(top level\)"/);
    });
  });
});
