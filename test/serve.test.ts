/**
 * `continual-next serve` as a real child process on 127.0.0.1 (a tiny random Qwen2 saved by
 * transformers, the tiny BPE tokenizer, a LoRA adapter trained here), spoken to over HTTP with
 * fetch; then `eval --endpoint` against it and `eval --model` locally on the same test file.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { ChatEndpoint, EndpointError, Model, Tokenizer, Trainer, generate, loadDataset, startChatServer } from '../ts/index';
import { CLI, cli, python, ROOT, tmpDir } from './helpers/run';

const TOKENIZER = path.join(ROOT, 'test', 'fixtures', 'tokenizer', 'tiny-bpe');
const WORDS = ['red', 'blue', 'green', 'gold', 'grey', 'pink'];

function makeModel(dir: string): void {
  // initializer_range 0.3: a random model whose greedy answers vary with the prompt
  python(
    `
import sys, torch
from transformers import Qwen2Config, Qwen2ForCausalLM
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=400, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=64, tie_word_embeddings=True, eos_token_id=2, pad_token_id=3, initializer_range=0.3)
Qwen2ForCausalLM(cfg).save_pretrained(sys.argv[1], safe_serialization=True)
`,
    [dir],
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOKENIZER, f), path.join(dir, f));
}

function writeTestSet(file: string): void {
  const lines = WORDS.map((w, i) =>
    JSON.stringify({
      messages: [
        ...(i % 2 ? [{ role: 'system', content: 'answer with one word' }] : []),
        { role: 'user', content: `tell me item ${i} of the list` },
        { role: 'assistant', content: w },
      ],
    }),
  );
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Server {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `serve --port 0` and resolves with the URL it prints. */
function startServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL within 30 s; stderr:\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], stderr: () => err, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr:\n${err}`));
    });
  });
}

async function post(url: string, body: unknown, raw?: string): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: raw ?? JSON.stringify(body) });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

/** The `data:` payloads of a Server-Sent Events body. */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      expect(e.startsWith('data: '), e).to.equal(true);
      return e.slice('data: '.length);
    });
}

describe('serve and eval', function () {
  this.timeout(120_000);
  let root: string;
  let modelDir: string;
  let adapterDir: string;
  let testFile: string;
  let server: Server | undefined;
  const messages = [{ role: 'user', content: 'tell me item 2 of the list' }];

  before(async () => {
    root = tmpDir('serve');
    modelDir = path.join(root, 'model');
    adapterDir = path.join(root, 'adapter');
    testFile = path.join(root, 'test.jsonl');
    makeModel(modelDir);
    writeTestSet(testFile);
    // a LoRA adapter that learned part of the test set, so scores are not all zero
    const tokenizer = await Tokenizer.fromDir(modelDir, { chatTemplate: 'chatml' });
    await using model = await Model.load(modelDir);
    model.addAdapter({ type: 'lora', r: 4, alpha: 8, dropout: 0 });
    await new Trainer(model, { epochs: 12, batchSize: 6, learningRate: 5e-2, seed: 1 }).fit(await loadDataset(testFile), { tokenizer });
    await model.saveAdapter(adapterDir);
    server = await startServer(['--model', modelDir, '--adapter', adapterDir, '--chat-template', 'chatml', '--max-new-tokens', '8', '--model-name', 'tiny']);
  });

  after(async () => {
    // never leave the server running, whatever failed
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      const killer = setTimeout(() => server?.child.kill('SIGKILL'), 5_000);
      await server.exited;
      clearTimeout(killer);
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('GET /health and /v1/models describe the served model', async () => {
    const health = await (await fetch(`${server!.url}/health`)).json();
    expect(health.status).to.equal('ok');
    const models = await (await fetch(`${server!.url}/v1/models`)).json();
    expect(models.object).to.equal('list');
    expect(models.data.map((m: { id: string }) => m.id)).to.deep.equal(['tiny']);
    expect((await fetch(`${server!.url}/v1/models/tiny`)).status).to.equal(200);
    expect((await fetch(`${server!.url}/v1/models/other`)).status).to.equal(404);
  });

  it('a chat completion, and the same one streamed: the deltas concatenate to the content', async () => {
    const body = { model: 'tiny', messages, max_tokens: 12, temperature: 0, some_unknown_field: true };
    const r = await post(`${server!.url}/v1/chat/completions`, body);
    expect(r.status).to.equal(200);
    expect(r.json.object).to.equal('chat.completion');
    expect(r.json.model).to.equal('tiny');
    const choice = r.json.choices[0];
    expect(choice.message.role).to.equal('assistant');
    expect(choice.message.content).to.be.a('string').and.not.equal('');
    expect(['stop', 'length']).to.include(choice.finish_reason);
    expect(r.json.usage.prompt_tokens).to.be.greaterThan(5);
    expect(r.json.usage.completion_tokens).to.be.within(1, 12);
    expect(r.json.usage.total_tokens).to.equal(r.json.usage.prompt_tokens + r.json.usage.completion_tokens);

    const res = await fetch(`${server!.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const data = sseData(await res.text());
    expect(data.at(-1)).to.equal('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    for (const c of chunks) expect(c.object).to.equal('chat.completion.chunk');
    const withChoice = chunks.filter((c) => c.choices.length);
    expect(withChoice[0].choices[0].delta.role).to.equal('assistant');
    const text = withChoice.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(text).to.equal(choice.message.content);
    expect(withChoice.at(-1).choices[0].finish_reason).to.equal(choice.finish_reason);
    expect(chunks.at(-1).usage).to.deep.equal(r.json.usage);
  });

  it('max_tokens bounds the answer (finish_reason length) and a stop string cuts it', async () => {
    const r = await post(`${server!.url}/v1/chat/completions`, { messages, max_completion_tokens: 2, temperature: 0 });
    expect(r.json.usage.completion_tokens).to.be.at.most(2);
    const full = await post(`${server!.url}/v1/chat/completions`, { messages, max_tokens: 12, temperature: 0 });
    const content: string = full.json.choices[0].message.content;
    if (full.json.choices[0].finish_reason === 'length' && r.json.usage.completion_tokens === 2) expect(r.json.choices[0].finish_reason).to.equal('length');
    const cut = content.slice(1, 3);
    const stopped = await post(`${server!.url}/v1/chat/completions`, { messages, max_tokens: 12, temperature: 0, stop: cut });
    expect(stopped.json.choices[0].message.content).to.equal(content.slice(0, content.indexOf(cut)));
    expect(stopped.json.choices[0].finish_reason).to.equal('stop');
  });

  it('bad requests get OpenAI-style errors, and the server keeps serving', async () => {
    const chat = `${server!.url}/v1/chat/completions`;
    const cases: [unknown, string | null, string | undefined][] = [
      [undefined, 'body', '{"messages": ['],
      [[1, 2], 'body', undefined],
      [{}, 'messages', undefined],
      [{ messages: [] }, 'messages', undefined],
      [{ messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role', undefined],
      [{ messages: [{ role: 'user', content: 42 }] }, 'messages[0].content', undefined],
      [{ messages, temperature: 'hot' }, 'temperature', undefined],
      [{ messages, max_tokens: 0 }, 'max_tokens', undefined],
      [{ messages, n: 2 }, 'n', undefined],
      [{ messages, stream: 'yes' }, 'stream', undefined],
      [{ messages, stop: [1] }, 'stop', undefined],
      [{ messages, max_tokens: 10_000_000 }, 'max_tokens', undefined],
    ];
    for (const [body, param, raw] of cases) {
      const r = await post(chat, body, raw);
      expect(r.status, JSON.stringify(body ?? raw)).to.equal(400);
      expect(r.json.error).to.have.keys(['message', 'type', 'param', 'code']);
      expect(r.json.error.type).to.equal('invalid_request_error');
      expect(r.json.error.param, JSON.stringify(body ?? raw)).to.equal(param);
    }
    const wrongModel = await post(chat, { model: 'gpt-4', messages });
    expect(wrongModel.status).to.equal(404);
    expect(wrongModel.json.error.code).to.equal('model_not_found');
    const notFound = await fetch(`${server!.url}/v2/else`);
    expect(notFound.status).to.equal(404);
    expect((await notFound.json()).error.code).to.equal('not_found');
    const wrongMethod = await fetch(chat);
    expect(wrongMethod.status).to.equal(405);
    expect(wrongMethod.headers.get('allow')).to.equal('POST');
    const tooBig = await post(chat, undefined, JSON.stringify({ messages, pad: 'x'.repeat(5 * 1024 * 1024) }));
    expect(tooBig.status).to.equal(413);
    const ok = await post(chat, { messages, max_tokens: 3, temperature: 0 });
    expect(ok.status).to.equal(200);
  });

  it('concurrent requests are queued and all answered; a disconnected client cancels its generation', async () => {
    const chat = `${server!.url}/v1/chat/completions`;
    const answers = await Promise.all([1, 2, 3].map(() => post(chat, { messages, max_tokens: 12, temperature: 0 })));
    for (const a of answers) expect(a.json.choices[0].message.content).to.equal(answers[0].json.choices[0].message.content);
    // a long streaming generation, dropped after its first chunk
    const controller = new AbortController();
    const res = await fetch(chat, { method: 'POST', body: JSON.stringify({ messages, max_tokens: 20_000, temperature: 0.8, seed: 3, stream: true }), signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    const started = Date.now();
    const after = await post(chat, { messages, max_tokens: 3, temperature: 0 });
    expect(after.status).to.equal(200);
    expect(Date.now() - started).to.be.below(10_000);
    expect(server!.stderr()).to.match(/cancelled: the client disconnected/);
  });

  it('eval --endpoint and eval --model --adapter give the same answers and scores', () => {
    // the tiny tokenizer has no <|im_end|> token: the adapter learned to spell it, so it is a stop string
    const common = ['--test', testFile, '--scorer', 'contains', '--scorer', 'token-f1', '--max-new-tokens', '8', '--stop', '<|im', '--json'];
    const remote = cli(['eval', '--endpoint', server!.url, '--concurrency', '3', ...common]);
    expect(remote.status, remote.stderr).to.equal(0);
    const local = cli(['eval', '--model', modelDir, '--adapter', adapterDir, '--chat-template', 'chatml', '--batch-size', '4', ...common]);
    expect(local.status, local.stderr).to.equal(0);
    const r = JSON.parse(remote.stdout);
    const l = JSON.parse(local.stdout);
    expect(r.source.endpointModel).to.equal('tiny');
    expect(r.tasks).to.have.length(1);
    expect(r.tasks[0].samples).to.have.length(WORDS.length);
    expect(r.tasks[0].samples.map((s: { answer: string }) => s.answer)).to.deep.equal(l.tasks[0].samples.map((s: { answer: string }) => s.answer));
    expect(r.tasks[0].scores).to.deep.equal(l.tasks[0].scores);
    expect(l.tasks[0].scores.contains + l.tasks[0].scores['token-f1'], `the adapter learned something: ${local.stdout}`).to.be.greaterThan(0);
    // the table form and the report file
    const out = path.join(root, 'report', 'eval.json');
    const table = cli(['eval', '--endpoint', `${server!.url}/v1/`, '--test', testFile, '--max-new-tokens', '8', '--stop', '<|im', '--output', out]);
    expect(table.status, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/^task\s+items\s+contains\n/);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).tasks[0].scores.contains).to.equal(l.tasks[0].scores.contains);
  });

  it('eval <stream config> evaluates every task of the config', () => {
    const config = path.join(root, 'stream.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        model: 'model',
        chatTemplate: 'chatml',
        tasks: [
          { name: 'first', train: 'test.jsonl', test: 'test.jsonl' },
          { name: 'sampled', train: 'test.jsonl', test: 'test.jsonl#3' },
        ],
        generation: { maxNewTokens: 8 },
        scorers: ['contains'],
      }),
    );
    const r = cli(['eval', config, '--adapter', adapterDir, '--json']);
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout);
    expect(report.tasks.map((t: { task: string }) => t.task)).to.deep.equal(['first', 'sampled']);
    expect(report.tasks[1].samples).to.have.length(3);
  });

  it('eval errors name the endpoint (and the item), or the missing input', async () => {
    const port = await closedPort();
    const dead = cli(['eval', '--endpoint', `http://127.0.0.1:${port}`, '--endpoint-model', 'tiny', '--test', testFile]);
    expect(dead.status).to.equal(1);
    expect(dead.stderr.trim().split('\n')).to.have.length(1);
    expect(dead.stderr).to.include(`EndpointError: POST http://127.0.0.1:${port}/v1/chat/completions failed: ECONNREFUSED (${testFile}, item `);
    const wrong = cli(['eval', '--endpoint', server!.url, '--endpoint-model', 'other', '--test', testFile]);
    expect(wrong.status).to.equal(1);
    expect(wrong.stderr).to.match(/EndpointError: .*HTTP 404: the model 'other' does not exist/);
    const none = cli(['eval', '--test', testFile]);
    expect(none.status).to.equal(1);
    expect(none.stderr).to.match(/ConfigError: give --model <dir> or --endpoint <url>/);
  });

  it('startChatServer (the API) serves in-process; ChatEndpoint talks to it', async () => {
    const tokenizer = await Tokenizer.fromDir(modelDir, { chatTemplate: 'chatml' });
    await using model = await Model.load(modelDir);
    await using api = await startChatServer(model, tokenizer, { port: 0, maxNewTokens: 4 });
    expect(api.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(api.modelName).to.equal('model');
    const endpoint = new ChatEndpoint(api.url);
    expect(await endpoint.model()).to.equal('model');
    const answer = await endpoint.chat(messages, { maxTokens: 4 });
    const [direct] = await generate(model, tokenizer, [messages as never], { maxNewTokens: 4 });
    expect(answer).to.equal(direct.text);
    const err = await endpoint.chat([{ role: 'assistant', content: 'x' }], { maxTokens: 2, where: { file: 'f.jsonl', line: 7 } }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(EndpointError);
    expect((err as EndpointError).status).to.equal(400);
    expect((err as EndpointError).line).to.equal(7);
    expect((err as Error).message).to.include('(f.jsonl, item 7)');
  });

  it('SIGTERM shuts the server down cleanly (exit 0)', async () => {
    server!.child.kill('SIGTERM');
    expect(await server!.exited).to.equal(0);
    expect(server!.stderr()).to.match(/SIGTERM, shutting down/);
  });
});
