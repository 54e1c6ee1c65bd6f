/**
 * An OpenAI-compatible chat server over a loaded Model, on node:http:
 *
 *   POST /v1/chat/completions   chat.completion, or chat.completion.chunk Server-Sent Events
 *   GET  /v1/models             the served model (GET /v1/models/<id> for one)
 *   GET  /health                {"status": "ok"}
 *
 * Generations run one at a time (the model is locked per call); waiting requests queue in arrival
 * order. A client that disconnects cancels its generation, queued or running. Bad requests get
 * OpenAI's error body with 400/404/405/413; nothing a client sends can stop the server.
 */
import { randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { AbortError, ContinualNextError, InvalidArgumentError, IoError } from '../errors';
import { generate, streamGenerate, type GenerateOptions, type Generation, type GenerationCodec } from '../model/generate';
import type { Model } from '../model/model';
import { parseChatRequest, type ChatRequest } from './chat-request';
import { HttpError } from './http-error';
import { SerialQueue } from './serial-queue';

export interface ChatServerOptions {
  /** Interface to listen on (default 127.0.0.1: loopback only). */
  host?: string;
  /** Port (default 8000; 0 picks a free one, see `ChatServer.port`). */
  port?: number;
  /** The id clients see in /v1/models and send as `model` (default: the model folder's name). */
  modelName?: string;
  /** New tokens for a request that sends no max_tokens (default 512, less when the context is shorter). */
  maxNewTokens?: number;
  /** Largest request body accepted (default 4 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** One line per request (default: none). */
  log?: (line: string) => void;
}

export interface ChatServer extends AsyncDisposable {
  /** Base URL, e.g. http://127.0.0.1:8000 (clients append /v1/...). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly modelName: string;
  /** Stops listening, cancels running and queued generations, waits for them. Does not dispose the model. */
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const finishReason = (g: Generation): 'stop' | 'length' => (g.finishReason === 'length' ? 'length' : 'stop');

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, `the request body is larger than ${limit} bytes`, 'invalid_request_error', null, 'request_too_large'));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts listening; resolves once the port is bound. */
export async function startChatServer(model: Model, tokenizer: GenerationCodec, options: ChatServerOptions = {}): Promise<ChatServer> {
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 8000;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new InvalidArgumentError(`port must be an integer in [0, 65535]; got ${String(requestedPort)}`, { field: 'port' });
  }
  const defaultMaxTokens = options.maxNewTokens ?? 512;
  if (!Number.isInteger(defaultMaxTokens) || defaultMaxTokens < 1) {
    throw new InvalidArgumentError(`maxNewTokens must be a positive integer; got ${String(defaultMaxTokens)}`, { field: 'maxNewTokens' });
  }
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const modelName = options.modelName ?? (model.dir.startsWith('(') ? 'model' : path.basename(model.dir));
  const contextLength = model.spec.maxPositionEmbeddings;
  const created = Math.floor(Date.now() / 1000);
  const log = options.log ?? (() => undefined);
  const queue = new SerialQueue();
  const active = new Set<AbortController>();
  let closing = false;

  const modelCard = () => ({ id: modelName, object: 'model', created, owned_by: 'continual-next' });

  /** Checks a request and turns it into prompt ids and generation options. */
  function prepare(r: ChatRequest, signal: AbortSignal): { ids: number[]; gen: GenerateOptions } {
    if (r.model !== undefined && r.model !== modelName) {
      throw new HttpError(404, `the model '${r.model}' does not exist; this server serves '${modelName}'`, 'invalid_request_error', 'model', 'model_not_found');
    }
    let ids: number[];
    try {
      ids = tokenizer.encodeForGeneration(r.messages);
    } catch (e) {
      throw new HttpError(400, `cannot render the messages with the chat template: ${(e as Error).message}`, 'invalid_request_error', 'messages');
    }
    const room = contextLength - ids.length;
    if (room < 1 || (r.maxTokens !== undefined && r.maxTokens > room)) {
      throw new HttpError(
        400,
        `this model's context is ${contextLength} tokens; the messages take ${ids.length} and ${r.maxTokens ?? 1} more were asked for`,
        'invalid_request_error',
        r.maxTokens !== undefined ? 'max_tokens' : 'messages',
        'context_length_exceeded',
      );
    }
    const doSample = r.temperature > 0;
    return {
      ids,
      gen: {
        maxNewTokens: r.maxTokens ?? Math.min(defaultMaxTokens, room),
        doSample,
        temperature: doSample ? r.temperature : 1,
        topP: r.topP,
        seed: r.seed ?? (doSample ? randomInt(2 ** 31) : 0),
        stop: r.stop,
        signal,
      },
    };
  }

  async function completions(req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
    let body: unknown;
    const text = await readBody(req, maxBody);
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`, 'invalid_request_error', 'body');
    }
    const request = parseChatRequest(body);
    const controller = new AbortController();
    // 'close' before the response ended = the client went away: cancel its generation
    res.on('close', () => {
      if (!res.writableEnded) controller.abort();
    });
    const { ids, gen } = prepare(request, controller.signal);
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const stamp = Math.floor(Date.now() / 1000);
    const usage = (g: Generation) => ({ prompt_tokens: ids.length, completion_tokens: g.tokenIds.length, total_tokens: ids.length + g.tokenIds.length });

    return queue.run(async () => {
      if (controller.signal.aborted || closing) return 'cancelled before it started';
      active.add(controller);
      try {
        if (!request.stream) {
          const [g] = await generate(model, tokenizer, [ids], gen);
          sendJson(res, 200, {
            id,
            object: 'chat.completion',
            created: stamp,
            model: modelName,
            choices: [{ index: 0, message: { role: 'assistant', content: g.text }, logprobs: null, finish_reason: finishReason(g) }],
            usage: usage(g),
          });
          return `${g.tokenIds.length} tokens`;
        }
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
        const chunk = (choices: Json[], extra: Json = {}) =>
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: stamp, model: modelName, choices, ...extra })}\n\n`);
        chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
        const collect: Generation[] = [];
        for await (const piece of streamGenerate(model, tokenizer, [ids], gen, collect)) {
          chunk([{ index: 0, delta: { content: piece.text }, logprobs: null, finish_reason: null }]);
        }
        const g = collect[0];
        chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason(g) }]);
        if (request.includeUsage) chunk([], { usage: usage(g) });
        res.end('data: [DONE]\n\n');
        return `${g.tokenIds.length} tokens, streamed`;
      } catch (e) {
        if (controller.signal.aborted && e instanceof AbortError) return closing ? 'cancelled: the server is shutting down' : 'cancelled: the client disconnected';
        throw e;
      } finally {
        active.delete(controller);
      }
    });
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
    const only = (method: string) => {
      if (req.method !== method) {
        res.setHeader('Allow', method);
        throw new HttpError(405, `${req.method} is not allowed on ${pathname}; use ${method}`, 'invalid_request_error', null, 'method_not_allowed');
      }
    };
    if (pathname === '/v1/chat/completions') {
      only('POST');
      return completions(req, res);
    }
    if (pathname === '/v1/models') {
      only('GET');
      sendJson(res, 200, { object: 'list', data: [modelCard()] });
      return 'ok';
    }
    if (pathname.startsWith('/v1/models/')) {
      only('GET');
      const wanted = decodeURIComponent(pathname.slice('/v1/models/'.length));
      if (wanted !== modelName) throw new HttpError(404, `the model '${wanted}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
      sendJson(res, 200, modelCard());
      return 'ok';
    }
    if (pathname === '/health') {
      only('GET');
      sendJson(res, 200, { status: 'ok', model: modelName, queued: queue.size });
      return 'ok';
    }
    throw new HttpError(404, `unknown path ${pathname}`, 'invalid_request_error', null, 'not_found');
  }

  const server = http.createServer((req, res) => {
    const started = Date.now();
    res.on('error', () => undefined); // a client gone mid-write is not our failure
    route(req, res)
      .then((note) => log(`${req.method} ${req.url} ${res.statusCode} ${note} ${((Date.now() - started) / 1000).toFixed(2)}s`))
      .catch((e: unknown) => {
        const err =
          e instanceof HttpError
            ? e
            : e instanceof InvalidArgumentError
              ? new HttpError(400, e.message, 'invalid_request_error', e.field ?? null)
              : new HttpError(500, e instanceof ContinualNextError ? `${e.name}: ${e.message}` : String((e as Error)?.message ?? e), 'server_error');
        if (res.headersSent) {
          // mid-stream: tell the client in the stream, then end it
          if (!res.writableEnded) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
        } else {
          sendJson(res, err.status, err.body());
        }
        log(`${req.method} ${req.url} ${err.status} ${err.message}`);
      });
  });
  // malformed HTTP (not even a request line) gets a plain 400 and the socket closed
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(new IoError(`cannot listen on ${host}:${requestedPort}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`, { field: 'port', cause: e }));
    server.once('error', onError);
    server.listen(requestedPort, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      for (const c of active) c.abort();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
      await queue.drain().catch(() => undefined);
    })());
  return { url, host, port, modelName, close, [Symbol.asyncDispose]: close };
}
