/**
 * A client of an OpenAI-compatible chat server (ours, ms-swift's deploy, vLLM, ...), on the
 * global fetch. Every failure is an EndpointError naming the URL and, when given, the test item.
 */
import type { Message } from '../data/conversation';
import { EndpointError } from '../errors';

export interface ChatEndpointOptions {
  /** Model id to send; default: the first model the server lists at /v1/models. */
  model?: string;
  /** Per-request timeout in milliseconds (default 120 000). */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey?: string;
}

export interface ChatCallOptions {
  maxTokens: number;
  /** Default 0: greedy decoding. */
  temperature?: number;
  stop?: string[];
  signal?: AbortSignal;
  /** The test item this call answers, named in errors. */
  where?: { file?: string; line?: number; label?: string };
}

type Json = Record<string, unknown>;

export class ChatEndpoint {
  /** Base URL without a trailing slash or /v1. */
  readonly baseUrl: string;
  readonly #options: ChatEndpointOptions;
  #model: Promise<string> | undefined;

  constructor(url: string, options: ChatEndpointOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EndpointError(`not a valid URL: ${JSON.stringify(url)}`, { field: 'endpoint' });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new EndpointError(`the endpoint must be http(s); got ${url}`, { field: 'endpoint' });
    this.baseUrl = parsed.href.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.#options = options;
    if (options.model) this.#model = Promise.resolve(options.model);
  }

  /** The model id requests carry (asked of /v1/models once when not given). */
  model(): Promise<string> {
    this.#model ??= this.#request('GET', '/v1/models').then((body) => {
      const first = Array.isArray((body as Json).data) ? ((body as Json).data as Json[])[0] : undefined;
      if (!first || typeof first.id !== 'string') {
        throw new EndpointError(`${this.baseUrl}/v1/models lists no model; pass the model id explicitly`, { field: 'endpoint' });
      }
      return first.id;
    });
    return this.#model;
  }

  /** The assistant's answer to `messages`. */
  async chat(messages: Message[], options: ChatCallOptions): Promise<string> {
    const body = {
      model: await this.model(),
      messages,
      max_tokens: options.maxTokens,
      temperature: options.temperature ?? 0,
      ...(options.stop && options.stop.length ? { stop: options.stop } : {}),
      stream: false,
    };
    const answer = (await this.#request('POST', '/v1/chat/completions', body, options)) as Json;
    const content = ((answer.choices as Json[] | undefined)?.[0]?.message as Json | undefined)?.content;
    if (typeof content !== 'string' && content !== null) {
      throw this.#error(`POST ${this.baseUrl}/v1/chat/completions answered without choices[0].message.content`, options.where);
    }
    return content ?? '';
  }

  #error(message: string, where?: ChatCallOptions['where'], extra: { status?: number; cause?: unknown } = {}): EndpointError {
    const item = where ? ` (${[where.file, where.line !== undefined ? `item ${where.line}` : undefined, where.label].filter(Boolean).join(', ')})` : '';
    const e = new EndpointError(`${message}${item}`, {
      ...(where?.file !== undefined ? { file: where.file } : {}),
      ...(where?.line !== undefined ? { line: where.line } : {}),
      ...(extra.cause !== undefined ? { cause: extra.cause } : {}),
    });
    e.url = this.baseUrl;
    if (extra.status !== undefined) e.status = extra.status;
    return e;
  }

  async #request(method: 'GET' | 'POST', route: string, body?: unknown, options: Pick<ChatCallOptions, 'signal' | 'where'> = {}): Promise<unknown> {
    const url = `${this.baseUrl}${route}`;
    const timeoutMs = this.#options.timeoutMs ?? 120_000;
    const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: { 'Content-Type': 'application/json', ...(this.#options.apiKey ? { Authorization: `Bearer ${this.#options.apiKey}` } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.any(signals),
      });
      text = await res.text();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : err.name === 'AbortError' ? 'aborted' : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw this.#error(`${method} ${url} failed: ${why}`, options.where, { cause: e });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const detail = ((json as Json | undefined)?.error as Json | undefined)?.message ?? text.slice(0, 200);
      throw this.#error(`${method} ${url} answered HTTP ${res.status}: ${String(detail)}`, options.where, { status: res.status });
    }
    if (json === undefined || json === null || typeof json !== 'object') throw this.#error(`${method} ${url} answered with a body that is not a JSON object`, options.where, { status: res.status });
    return json;
  }
}
