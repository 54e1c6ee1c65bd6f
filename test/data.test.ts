/** Dataset readers: formats, CSV, errors that name file/line/field, #N sampling, eval split, PRNG. */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  type Conversation,
  ContinualNextError,
  DatasetError,
  InvalidArgumentError,
  IoError,
  loadDataset,
  parseCsv,
  parseDatasetRef,
  Random,
  recordToConversation,
  sampleItems,
  splitForEval,
} from '../ts/index';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-data-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `name` under the temp dir (creating folders) and returns its relative name. */
function put(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return name;
}
const jsonl = (...records: unknown[]) => records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
const load = (ref: string, seed?: number) => loadDataset(ref, { baseDir: dir, seed });

/** Awaits a promise that must reject; returns the error. */
async function rejection(p: Promise<unknown>): Promise<ContinualNextError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(ContinualNextError);
    return e as ContinualNextError;
  }
  throw new Error('expected a rejection');
}

async function datasetError(name: string, content: string | Buffer, message: string | RegExp, where: { line?: number; field?: string } = {}) {
  put(name, content);
  const e = await rejection(load(name));
  expect(e).to.be.instanceOf(DatasetError);
  if (typeof message === 'string') expect(e.message).to.equal(message);
  else expect(e.message).to.match(message);
  expect(e.file).to.equal(name);
  expect(e.code).to.equal('ERR_DATASET');
  if ('line' in where) expect(e.line).to.equal(where.line);
  if ('field' in where) expect(e.field).to.equal(where.field);
  return e;
}

const u = (content: string) => ({ role: 'user' as const, content });
const a = (content: string) => ({ role: 'assistant' as const, content });
const s = (content: string) => ({ role: 'system' as const, content });

describe('datasets: record formats', () => {
  it('messages: system + several turns; Chinese and emoji kept exactly', async () => {
    const msgs = [s('你是一个乐于助人的助手。'), u('你好 👋'), a('你好！有什么可以帮你？😀'), u('1+1=?'), a('2')];
    const got = await load(put('m.jsonl', jsonl({ messages: msgs, id: 7 })));
    expect(got).to.deep.equal([{ messages: msgs, tags: { id: 7 } }]); // other fields are kept as tags
  });

  it('query/response/history/system', async () => {
    const got = await load(
      put('qr.jsonl', jsonl({ system: 'Be brief.', history: [['q1', 'a1'], ['q2', 'a2']], query: 'q3', response: 'a3' }, { query: 'x', response: 'y', system: '', history: null })),
    );
    expect(got).to.deep.equal([
      { messages: [s('Be brief.'), u('q1'), a('a1'), u('q2'), a('a2'), u('q3'), a('a3')] },
      { messages: [u('x'), a('y')] }, // blank system and null history mean "none"
    ]);
  });

  it('alpaca: instruction and input joined by a newline; no input → instruction alone', async () => {
    const got = await load(
      put(
        'alp.json',
        JSON.stringify([
          { instruction: '翻译成英文', input: '猫', output: 'cat' },
          { instruction: 'Say hi', output: 'hi' },
          { instruction: 'Say hi', input: '  ', output: 'hi', system: 'S' },
        ]),
      ),
    );
    expect(got).to.deep.equal([{ messages: [u('翻译成英文\n猫'), a('cat')] }, { messages: [u('Say hi'), a('hi')] }, { messages: [s('S'), u('Say hi'), a('hi')] }]);
  });

  it('sharegpt: system|human|gpt, and a top-level system field', async () => {
    const got = await load(
      put(
        'sg.jsonl',
        jsonl(
          { conversations: [{ from: 'system', value: 'sys' }, { from: 'human', value: 'h1' }, { from: 'gpt', value: 'g1' }, { from: 'human', value: 'h2' }, { from: 'gpt', value: 'g2' }] },
          { system: 'top', conversations: [{ from: 'human', value: 'h' }, { from: 'gpt', value: 'g' }] },
        ),
      ),
    );
    expect(got).to.deep.equal([{ messages: [s('sys'), u('h1'), a('g1'), u('h2'), a('g2')] }, { messages: [s('top'), u('h'), a('g')] }]);
  });

  it('formats may be mixed within a file; blank lines and CRLF are fine', async () => {
    const text = [
      JSON.stringify({ messages: [u('m'), a('M')] }),
      '',
      '   ',
      JSON.stringify({ query: 'q', response: 'r' }),
      JSON.stringify({ instruction: 'i', output: 'o' }),
      JSON.stringify({ conversations: [{ from: 'human', value: 'h' }, { from: 'gpt', value: 'g' }] }),
    ].join('\r\n');
    const got = await load(put('mixed.jsonl', '\ufeff' + text));
    expect(got.map((c) => c.messages.map((m) => m.content).join('|'))).to.deep.equal(['m|M', 'q|r', 'i|o', 'h|g']);
  });

  it('.json holding JSON Lines is read as JSON Lines', async () => {
    const got = await load(put('lines.json', jsonl({ query: 'a', response: 'b' }, { query: 'c', response: 'd' })));
    expect(got).to.have.length(2);
  });

  it('.csv: header, quotes, embedded newlines and commas, BOM, CRLF, empty cells, JSON cells', async () => {
    const csv =
      '\ufeffsystem,query,response,history\r\n' +
      ',"Hello, world","line one\nline ""two""",\r\n' +
      'Be kind,你好,"你好！😀","[[""h"",""i""]]"\r\n';
    const got = await load(put('d.csv', csv));
    expect(got).to.deep.equal([
      { messages: [u('Hello, world'), a('line one\nline "two"')] },
      { messages: [s('Be kind'), u('h'), a('i'), u('你好'), a('你好！😀')] },
    ]);
    const m = await load(put('m.csv', `messages\n"${JSON.stringify([u('q'), a('r')]).replace(/"/g, '""')}"\n`));
    expect(m).to.deep.equal([{ messages: [u('q'), a('r')] }]);
  });

  it('recordToConversation converts an in-memory record', () => {
    expect(recordToConversation({ query: 'q', response: 'r' })).to.deep.equal({ messages: [u('q'), a('r')] });
    expect(() => recordToConversation({ query: 'q' })).to.throw(DatasetError, 'field "response" is missing (it must be a string)');
  });

  it('keeps other top-level scalar fields as tags (e.g. a question\'s kind), never the format\'s own fields', async () => {
    expect(recordToConversation({ query: 'q', response: 'r', system: 'sys', kind: 'updated', year: 2023, hard: true, extra: { x: 1 } })).to.deep.equal({
      messages: [s('sys'), u('q'), a('r')],
      tags: { kind: 'updated', year: 2023, hard: true },
    });
    const rows = await load(put('tags.jsonl', JSON.stringify({ messages: [u('q'), a('r')], kind: 'new' }) + '\n'));
    expect(rows[0].tags).to.deep.equal({ kind: 'new' });
  });
});

describe('datasets: errors name the file, line (or record) and field', () => {
  it('a wrong type, on the right line of a .jsonl', async () => {
    const good = JSON.stringify({ query: 'q', response: 'r' });
    const text = [good, '', good, '', '', good, good, good, good, good, good, good, good, good, good, good, '{"query":"q","response":42}'].join('\n');
    await datasetError('data/2023/train.jsonl', text, 'data/2023/train.jsonl line 17: field "response" must be a string (got number)', { line: 17, field: 'response' });
  });

  it('a missing field', async () => {
    await datasetError('miss.jsonl', jsonl({ instruction: 'i', input: 'x', output: 'o' }, { input: 'y', output: 'o' }), 'miss.jsonl line 2: field "instruction" is missing (it must be a string)', {
      line: 2,
      field: 'instruction',
    });
  });

  it('a bad role, with the path into the array', async () => {
    await datasetError('role.jsonl', jsonl({ messages: [u('q'), a('r'), { role: 'bot', content: 'x' }] }), /^role\.jsonl line 1: field "messages\[2\]\.role" must be one of "system", "user", "assistant" \(got "bot"\)$/, {
      field: 'messages[2].role',
    });
  });

  it('empty content', async () => {
    await datasetError('empty.jsonl', jsonl({ messages: [u('q'), a('')] }), 'empty.jsonl line 1: field "messages[1].content" must not be empty', { field: 'messages[1].content' });
    await datasetError('blank.jsonl', jsonl({ query: 'q', response: ' \n ' }), 'blank.jsonl line 1: field "response" must not be empty', { field: 'response' });
  });

  it('turn order: alternation, system only first, must end with the assistant', async () => {
    await datasetError('order1.jsonl', jsonl({ messages: [u('q'), u('q2'), a('r')] }), /line 1: field "messages\[1\]\.role" must be "assistant" \(got "user"\)/, { field: 'messages[1].role' });
    await datasetError('order2.jsonl', jsonl({ messages: [u('q'), a('r'), s('s')] }), /field "messages\[2\]\.role" is "system", but a system message may only come first/);
    await datasetError('order3.jsonl', jsonl({ messages: [s('s'), u('q')] }), /field "messages\[1\]\.role" must be "assistant": a conversation must end with the assistant's answer/);
    await datasetError('order4.jsonl', jsonl({ messages: [a('r')] }), /field "messages\[0\]\.role" must be "user"/);
    await datasetError('order5.jsonl', jsonl({ conversations: [{ from: 'human', value: 'h' }] }), /field "conversations\[0\]\.from" must be "gpt": a conversation must end with the gpt's answer/);
    await datasetError('order6.jsonl', jsonl({ messages: [] }), /field "messages" must have at least 1 item\(s\) \(has 0\)/);
  });

  it('sharegpt and history shapes', async () => {
    await datasetError('sg.jsonl', jsonl({ conversations: [{ from: 'user', value: 'h' }] }), /field "conversations\[0\]\.from" must be one of "system", "human", "gpt" \(got "user"\)/);
    await datasetError('hist.jsonl', jsonl({ query: 'q', response: 'r', history: [['a', 'b'], ['c']] }), /field "history\[1\]" must have at least 2 item\(s\) \(has 1\)/, { field: 'history[1]' });
    await datasetError('hist2.jsonl', jsonl({ query: 'q', response: 'r', history: [['a', 5]] }), /field "history\[0\]\[1\]" must be a string \(got number\)/);
    await datasetError('sys2.jsonl', jsonl({ system: 's', conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'h' }, { from: 'gpt', value: 'g' }] }), /field "system" is given twice/);
  });

  it('records in no format, in two formats, or not objects', async () => {
    await datasetError('none.jsonl', jsonl({ question: 'q', answer: 'a' }), /^none\.jsonl line 1: record is in no known format: .*\(it has "question", "answer"\)$/);
    await datasetError('two.jsonl', jsonl({ query: 'q', response: 'r', output: 'o' }), /record mixes the fields of several formats: query-response \("query", "response"\) and alpaca \("output"\)/);
    await datasetError('arr.jsonl', jsonl([1, 2]), 'arr.jsonl line 1: record must be a JSON object (got array)');
  });

  it('malformed JSON names its line (.jsonl) or the line of the fault (.json)', async () => {
    await datasetError('bad.jsonl', `${JSON.stringify({ query: 'q', response: 'r' })}\n{"query": "q", "response": }\n`, /^bad\.jsonl line 2: invalid JSON: /, { line: 2 });
    await datasetError('bad.json', '[\n  {"query": "q", "response": "r"},\n  {"query" "q"}\n]', /^bad\.json line 3: invalid JSON: /, { line: 3 });
    await datasetError('obj.json', '"just a string"', 'obj.json: a .json dataset must be an array of records (got string)');
  });

  it('.json records are counted from 1', async () => {
    await datasetError('rec.json', JSON.stringify([{ query: 'q', response: 'r' }, { query: 'q', response: null }]), 'rec.json record 2: field "response" must be a string (got null)', {
      line: 2,
      field: 'response',
    });
  });

  it('.csv: record index and line, field count, unclosed quotes, bad JSON cells', async () => {
    await datasetError('a.csv', 'query,response\n"multi\nline",r\nq,\n', 'a.csv record 2 (line 4): field "response" is missing (it must be a string)', { line: 2, field: 'response' });
    await datasetError('b.csv', 'query,response\nq,r,extra\n', 'b.csv record 1 (line 2): has 3 field(s), the header has 2', { line: 1 });
    await datasetError('c.csv', 'query,response\nq,"never closed\n', 'c.csv line 2: a quoted field is never closed', { line: 2 });
    await datasetError('d.csv', 'query,response,history\nq,r,[[oops]]\n', /^d\.csv record 1 \(line 2\): field "history" must be JSON text in a CSV cell/, { field: 'history' });
    await datasetError('e.csv', 'query,query\n', /header names column "query" twice/);
  });

  it('files: missing, unsupported, empty, not UTF-8', async () => {
    const missing = await rejection(load('nope.jsonl'));
    expect(missing).to.be.instanceOf(IoError);
    expect(missing.message).to.equal('cannot read dataset nope.jsonl: no such file');
    await datasetError('x.parquet', 'PAR1', /unsupported dataset file type "\.parquet"; use \.jsonl, \.json, \.csv/);
    await datasetError('empty.csv', '', 'empty.csv: the dataset has no records');
    await datasetError('blank.jsonl', '\n\n', 'blank.jsonl: the dataset has no records');
    await datasetError('latin1.jsonl', Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d, 0x0a]), 'latin1.jsonl: not valid UTF-8 text');
  });

  it('a bad record after good ones rejects the whole load', async () => {
    const records = Array.from({ length: 50 }, (_, i) => ({ query: `q${i}`, response: `r${i}` }));
    await datasetError('late.jsonl', jsonl(...records, { query: 'q' }), /^late\.jsonl line 51: /);
  });
});

describe('datasets: parseCsv (RFC 4180)', () => {
  it('splits fields and rows with quotes, escaped quotes, CRLF and embedded line breaks', () => {
    const rows = parseCsv('\ufeffa,b,c\r\n1,"x, ""y""",\r\n"two\r\nlines",,"z"\n\n last , 😀 ,中文');
    expect(rows).to.deep.equal([
      { fields: ['a', 'b', 'c'], line: 1 },
      { fields: ['1', 'x, "y"', ''], line: 2 },
      { fields: ['two\r\nlines', '', 'z'], line: 3 },
      { fields: [' last ', ' 😀 ', '中文'], line: 6 },
    ]);
  });

  it('keeps a quote inside an unquoted field; refuses text after a closing quote', () => {
    expect(parseCsv('5" screen,x')).to.deep.equal([{ fields: ['5" screen', 'x'], line: 1 }]);
    expect(() => parseCsv('"a"b,c', 'f.csv')).to.throw(DatasetError, 'f.csv line 1: unexpected text after the closing quote of a field');
  });

  it('a row of only commas is a row of empty fields; a final row without newline counts', () => {
    expect(parseCsv(',,\nx')).to.deep.equal([
      { fields: ['', '', ''], line: 1 },
      { fields: ['x'], line: 2 },
    ]);
    expect(parseCsv('""')).to.deep.equal([{ fields: [''], line: 1 }]);
  });
});

describe('datasets: path#N sampling', () => {
  const many = Array.from({ length: 10 }, (_, i) => ({ query: `q${i}`, response: `r${i}` }));
  const ids = (cs: Conversation[]) => cs.map((c) => Number(c.messages[0].content.slice(1)));

  it('parses references; a # not followed by digits is part of the path', () => {
    expect(parseDatasetRef('data/train.jsonl#500')).to.deep.equal({ path: 'data/train.jsonl', sample: 500 });
    expect(parseDatasetRef('data/a#b.jsonl')).to.deep.equal({ path: 'data/a#b.jsonl' });
    expect(() => parseDatasetRef('x.jsonl#0')).to.throw(InvalidArgumentError);
    expect(() => parseDatasetRef('#3')).to.throw(InvalidArgumentError);
  });

  it('N ≤ size: N distinct records, the same for the same seed, different for another seed', async () => {
    put('ten.jsonl', jsonl(...many));
    const first = ids(await load('ten.jsonl#4', 1));
    expect(first).to.have.length(4);
    expect(new Set(first).size).to.equal(4);
    expect(ids(await load('ten.jsonl#4', 1))).to.deep.equal(first);
    const others = await Promise.all([2, 3, 4, 5].map(async (seed) => ids(await load('ten.jsonl#4', seed)).join()));
    expect(others.some((o) => o !== first.join())).to.equal(true);
    const all = ids(await load('ten.jsonl#10', 7));
    expect([...all].sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('N > size: every record floor(N/size) times, the rest distinct (repeats only beyond the size)', async () => {
    put('three.jsonl', jsonl(...many.slice(0, 3)));
    const got = ids(await load('three.jsonl#8', 5)); // 8 = 2·3 + 2
    expect(got).to.have.length(8);
    expect(got.slice(0, 6)).to.deep.equal([0, 1, 2, 0, 1, 2]);
    const counts = [0, 1, 2].map((k) => got.filter((x) => x === k).length);
    expect(counts.filter((c) => c === 3)).to.have.length(2);
    expect(counts.filter((c) => c === 2)).to.have.length(1);
  });

  it('sampleItems over a permutation drawn from the seeded PRNG', () => {
    const order = new Random(9).permutation(5);
    expect(sampleItems(['a', 'b', 'c', 'd', 'e'], 3, 9)).to.deep.equal(order.slice(0, 3).map((i) => 'abcde'[i]));
    expect(sampleItems([1, 2], 0, 9)).to.deep.equal([]);
    expect(() => sampleItems([], 2, 9)).to.throw(InvalidArgumentError);
  });
});

describe('datasets: splitForEval', () => {
  it('reference = last assistant message, prompt = everything before it', () => {
    const conv = { messages: [s('sys'), u('q1'), a('a1'), u('q2'), a('答案')] };
    const { prompt, reference } = splitForEval(conv);
    expect(reference).to.equal('答案');
    expect(prompt).to.deep.equal([s('sys'), u('q1'), a('a1'), u('q2')]);
    prompt[0].content = 'changed';
    expect(conv.messages[0].content).to.equal('sys'); // a copy
  });

  it('refuses conversations that do not end with an answer', () => {
    expect(() => splitForEval({ messages: [u('q')] })).to.throw(DatasetError, /must end with an assistant message/);
    expect(() => splitForEval({ messages: [] })).to.throw(DatasetError, /ends with nothing/);
    expect(() => splitForEval({ messages: [s('s'), a('r')] })).to.throw(DatasetError, /user message before the answer/);
  });
});

describe('util: Random (mulberry32)', () => {
  it('matches reference outputs (computed independently in Python)', () => {
    const take = (seed: number) => {
      const r = new Random(seed);
      return [r.nextUint32(), r.nextUint32(), r.nextUint32(), r.nextUint32()];
    };
    expect(take(0)).to.deep.equal([1144304738, 1416247, 958946056, 627933444]);
    expect(take(42)).to.deep.equal([2581720956, 1925393290, 3661312704, 2876485805]);
    expect(take(-1)).to.deep.equal([3850105811, 813802916, 3073704848, 4054706436]); // −1 ≡ 2^32 − 1
  });

  it('int(n) stays in range and covers it; permutations are permutations', () => {
    const r = new Random(3);
    const seen = new Array(7).fill(0);
    for (let k = 0; k < 7000; k++) seen[r.int(7)]++;
    for (const c of seen) expect(c).to.be.within(850, 1150); // expected 1000 each
    const p = r.permutation(100);
    expect([...p].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    expect(() => new Random(1.5)).to.throw(InvalidArgumentError);
    expect(() => r.int(0)).to.throw(InvalidArgumentError);
  });
});
