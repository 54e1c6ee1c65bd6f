/**
 * Tokenizer: a HF tokenizer directory (tokenizer.json + tokenizer_config.json, optionally
 * chat_template.jinja / chat_template.json / generation_config.json) loaded in pure TypeScript
 * through @lenml/tokenizers, with fixes that make its ids match Python's `tokenizers` (compat.ts).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Conversation, Message } from '../data/conversation';
import { ConfigError, InvalidArgumentError, ModelLoadError } from '../errors';
import { ChatTemplate, type ChatTemplateVariables, type RenderOptions } from './chat-template';
import { buildLibTokenizer, type LibTokenizer } from './compat';
import { encodeConversation, type TrainingEncoding, type TrainingEncodeOptions } from './encode';

export interface TokenizerLoadOptions {
  /**
   * Chat template to use: a built-in name ('chatml', 'llama2', 'llama3', 'internlm2', 'baichuan2',
   * 'default') or Jinja source. Default: the model's own template, else the built-in 'default'.
   */
  chatTemplate?: string;
  /** System prompt the built-in templates insert when a conversation has none. */
  defaultSystem?: string;
}

export interface EncodeOptions {
  /** Add the tokens the post-processor adds (e.g. BOS). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked special. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Remove spaces before punctuation ("a ." → "a."). Default: tokenizer_config's
   * clean_up_tokenization_spaces, else false. Ignored for BPE models, as transformers 5 does.
   */
  cleanUpTokenizationSpaces?: boolean;
}

type Json = Record<string, unknown>;

async function readText(file: string, required: boolean): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new ModelLoadError(
      code === 'ENOENT' ? `missing ${path.basename(file)} in ${path.dirname(file)}` : `cannot read ${file}: ${(err as Error).message}`,
      { file, cause: err },
    );
  }
}

function parseJsonObject(text: string, file: string, ErrorClass: typeof ConfigError | typeof ModelLoadError): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ErrorClass(`${file} is not valid JSON: ${(err as Error).message}`, { file, cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ErrorClass(`${file} must hold a JSON object`, { file });
  }
  return value as Json;
}

/** A special token entry in tokenizer_config.json: a string, null, or an AddedToken object. */
function tokenString(value: unknown, file: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as Json)['content'] === 'string') return (value as Json)['content'] as string;
  throw new ConfigError(`${field} in ${file} must be a string or an AddedToken object`, { file, field });
}

/** Picks the template named 'default' when chat_template is a list of named templates. */
function templateSource(value: unknown, file: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value as { name?: unknown; template?: unknown }[];
    const pick = named.find((t) => t.name === 'default') ?? named[0];
    if (pick && typeof pick.template === 'string') return pick.template;
  }
  throw new ConfigError(`${field} in ${file} must be a string or a list of {name, template}`, { file, field });
}

export class Tokenizer {
  /** Number of ids the tokenizer can produce (largest id + 1, added tokens included; Python's len(tokenizer)). */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosToken: string | undefined;
  /** End-of-sequence ids: tokenizer_config's eos_token first, then generation_config.json's eos_token_id(s). */
  readonly eosTokenIds: number[];
  /** pad_token's id; when there is none, the first EOS id; when there is no EOS either, 0. */
  readonly padTokenId: number;
  readonly padToken: string | undefined;
  /** Strings of the tokens marked special (added tokens with special=true and additional_special_tokens). */
  readonly specialTokens: string[];
  /** The chat template in use. */
  readonly chatTemplate: ChatTemplate;
  /** True when chatTemplate is the model's own (not a built-in chosen because the model has none). */
  readonly hasModelChatTemplate: boolean;

  private readonly lib: LibTokenizer;
  private readonly cleanUpSpaces: boolean;
  private readonly cleanUpAllowed: boolean;

  private constructor(init: {
    lib: LibTokenizer;
    config: Json;
    configFile: string;
    modelTemplate: { source: string; file: string } | undefined;
    generationEos: number[];
    modelType: unknown;
    options: TokenizerLoadOptions;
  }) {
    const { lib, config, configFile } = init;
    this.lib = lib;
    let maxId = -1;
    lib.model.vocab.forEach((tok, id) => {
      if (tok !== undefined && id > maxId) maxId = id;
    });
    for (const t of lib.added_tokens) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;

    const idOf = (field: string): [string | undefined, number | undefined] => {
      const tok = tokenString(config[field], configFile, field);
      if (tok === undefined) return [undefined, undefined];
      const id = lib.model.tokens_to_ids.get(tok);
      if (id === undefined) throw new ConfigError(`${field} '${tok}' in ${configFile} is not in the vocabulary`, { file: configFile, field });
      return [tok, id];
    };
    [this.bosToken, this.bosTokenId] = idOf('bos_token');
    const [eosToken, eosId] = idOf('eos_token');
    this.eosToken = eosToken;
    const [padToken, padId] = idOf('pad_token');
    this.padToken = padToken;
    const [unkToken] = idOf('unk_token');
    const eos: number[] = [];
    if (eosId !== undefined) eos.push(eosId);
    for (const id of init.generationEos) if (!eos.includes(id)) eos.push(id);
    this.eosTokenIds = eos;
    this.padTokenId = padId ?? eos[0] ?? 0;
    this.specialTokens = [...new Set(lib.special_tokens)];

    // transformers 5: off by default, and ignored for BPE models unless forced.
    this.cleanUpSpaces = config['clean_up_tokenization_spaces'] === true;
    this.cleanUpAllowed = init.modelType !== 'BPE' || config['clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output'] === true;

    const variables: ChatTemplateVariables = {};
    if (this.bosToken !== undefined) variables.bos_token = this.bosToken;
    if (eosToken !== undefined) variables.eos_token = eosToken;
    if (padToken !== undefined) variables.pad_token = padToken;
    if (unkToken !== undefined) variables.unk_token = unkToken;
    if (init.options.defaultSystem !== undefined) variables.default_system = init.options.defaultSystem;

    const choice = init.options.chatTemplate;
    if (choice !== undefined && ChatTemplate.isBuiltin(choice)) {
      this.chatTemplate = ChatTemplate.builtin(choice, variables);
      this.hasModelChatTemplate = false;
    } else if (choice !== undefined) {
      this.chatTemplate = new ChatTemplate(choice, { name: 'custom', variables });
      this.hasModelChatTemplate = false;
    } else if (init.modelTemplate !== undefined) {
      this.chatTemplate = new ChatTemplate(init.modelTemplate.source, { name: 'model', variables, file: init.modelTemplate.file });
      this.hasModelChatTemplate = true;
    } else {
      this.chatTemplate = ChatTemplate.builtin('default', variables);
      this.hasModelChatTemplate = false;
    }
  }

  /**
   * Loads a tokenizer directory. tokenizer.json is required; tokenizer_config.json,
   * chat_template.jinja, chat_template.json and generation_config.json are read when present.
   * The chat template is taken from chat_template.jinja, else chat_template.json, else
   * tokenizer_config.json (the order transformers uses).
   */
  static async fromDir(dir: string, options: TokenizerLoadOptions = {}): Promise<Tokenizer> {
    const st = await fs.stat(dir).catch((err: unknown) => {
      throw new ModelLoadError(`tokenizer directory ${dir} does not exist`, { file: dir, cause: err });
    });
    if (!st.isDirectory()) throw new ModelLoadError(`${dir} is not a directory`, { file: dir });

    const tokFile = path.join(dir, 'tokenizer.json');
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const jinjaFile = path.join(dir, 'chat_template.jinja');
    const ctJsonFile = path.join(dir, 'chat_template.json');
    const genFile = path.join(dir, 'generation_config.json');
    const [tokText, cfgText, jinjaText, ctJsonText, genText] = await Promise.all([
      readText(tokFile, true),
      readText(cfgFile, false),
      readText(jinjaFile, false),
      readText(ctJsonFile, false),
      readText(genFile, false),
    ]);

    const tokJson = parseJsonObject(tokText!, tokFile, ModelLoadError);
    if (tokJson['model'] === null || typeof tokJson['model'] !== 'object') {
      throw new ModelLoadError(`${tokFile} has no "model" section`, { file: tokFile, field: 'model' });
    }
    const config = cfgText === undefined ? {} : parseJsonObject(cfgText, cfgFile, ConfigError);

    let modelTemplate: { source: string; file: string } | undefined;
    if (jinjaText !== undefined) {
      modelTemplate = { source: jinjaText, file: jinjaFile };
    } else if (ctJsonText !== undefined) {
      const ct = parseJsonObject(ctJsonText, ctJsonFile, ConfigError);
      const src = templateSource(ct['chat_template'], ctJsonFile, 'chat_template');
      if (src === undefined) throw new ConfigError(`${ctJsonFile} has no chat_template`, { file: ctJsonFile, field: 'chat_template' });
      modelTemplate = { source: src, file: ctJsonFile };
    } else {
      const src = templateSource(config['chat_template'], cfgFile, 'chat_template');
      if (src !== undefined) modelTemplate = { source: src, file: cfgFile };
    }

    const generationEos: number[] = [];
    if (genText !== undefined) {
      const gen = parseJsonObject(genText, genFile, ConfigError);
      const v = gen['eos_token_id'];
      const list = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
      for (const id of list) {
        if (!Number.isInteger(id) || (id as number) < 0) {
          throw new ConfigError(`eos_token_id in ${genFile} must be a non-negative integer or a list of them`, { file: genFile, field: 'eos_token_id' });
        }
        generationEos.push(id as number);
      }
    }

    let lib: LibTokenizer;
    try {
      lib = buildLibTokenizer(tokJson, config);
    } catch (err) {
      throw new ModelLoadError(`cannot build the tokenizer from ${tokFile}: ${(err as Error).message}`, { file: tokFile, cause: err });
    }
    const modelType = (tokJson['model'] as Json)['type'];
    return new Tokenizer({ lib, config, configFile: cfgFile, modelTemplate, generationEos, modelType, options });
  }

  /** Text → ids. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('encode() expects a string', { field: 'text' });
    return this.lib.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
  }

  /** Ids → text. Bytes that do not form valid UTF-8 become U+FFFD, as in Python. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.lib.model.vocab[id] === undefined) {
        throw new InvalidArgumentError(`token id ${id} is out of range for a vocabulary of ${this.vocabSize}`, { field: 'ids' });
      }
    }
    return this.lib.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: (options.cleanUpTokenizationSpaces ?? this.cleanUpSpaces) && this.cleanUpAllowed,
    });
  }

  /** The id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.lib.model.tokens_to_ids.get(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.lib.model.vocab[id];
  }

  /** Renders messages with the chat template. */
  applyChatTemplate(messages: readonly Message[], options: RenderOptions = {}): string {
    validateMessages(messages);
    return this.chatTemplate.render(messages, options);
  }

  /**
   * Token ids and labels for training: labels are -100 except on the tokens of assistant turns
   * (their content and end-of-turn token). See encode.ts for the algorithm and truncation policy.
   */
  encodeForTraining(conversation: Conversation, options: TrainingEncodeOptions = {}): TrainingEncoding {
    validateMessages(conversation.messages);
    return encodeConversation(this, conversation.messages, options);
  }

  /** Prompt ids for generation: the messages rendered with the generation prompt. */
  encodeForGeneration(messagesBeforeAnswer: readonly Message[]): number[] {
    validateMessages(messagesBeforeAnswer);
    const last = messagesBeforeAnswer[messagesBeforeAnswer.length - 1];
    if (last?.role === 'assistant') {
      throw new InvalidArgumentError('encodeForGeneration: the last message is an assistant message; pass the messages before the answer', { field: 'messages' });
    }
    return this.encode(this.chatTemplate.render(messagesBeforeAnswer, { addGenerationPrompt: true }), { addSpecialTokens: false });
  }
}

const ROLES = new Set(['system', 'user', 'assistant']);

function validateMessages(messages: readonly Message[]): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new InvalidArgumentError('messages must be a non-empty array', { field: 'messages' });
  }
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || !ROLES.has(m.role)) {
      throw new InvalidArgumentError(`messages[${i}].role must be system, user or assistant`, { field: `messages[${i}].role` });
    }
    if (typeof m.content !== 'string') {
      throw new InvalidArgumentError(`messages[${i}].content must be a string`, { field: `messages[${i}].content` });
    }
  });
}
