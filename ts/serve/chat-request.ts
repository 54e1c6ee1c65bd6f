/**
 * The body of `POST /v1/chat/completions`, checked field by field into what generation needs.
 * Unknown fields are ignored (as OpenAI does); known fields of the wrong type or out of range are
 * a 400 naming the field in `param`.
 */
import type { Message, Role } from '../data/conversation';
import { HttpError } from './http-error';

export interface ChatRequest {
  /** The `model` field, when sent. */
  model?: string;
  messages: Message[];
  /** max_completion_tokens, else max_tokens; undefined = the server's default. */
  maxTokens?: number;
  /** 0 = greedy decoding. */
  temperature: number;
  topP: number;
  stop: string[];
  seed?: number;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the token counts. */
  includeUsage: boolean;
}

const bad = (param: string, message: string) => new HttpError(400, message, 'invalid_request_error', param);

type Json = Record<string, unknown>;

function optionalNumber(body: Json, key: string, min: number, max: number, integer: boolean): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw bad(key, `'${key}' must be ${integer ? 'an integer' : 'a number'}; got ${JSON.stringify(v)}`);
  }
  if (v < min || v > max) throw bad(key, `'${key}' must be between ${min} and ${max}; got ${v}`);
  return v;
}

/** OpenAI's message roles mapped onto the three the chat templates know ("developer" is the new name of "system"). */
const ROLE_MAP: Record<string, Role> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

/** A message's content: a string, or a list of text parts (other part types are refused). */
function contentText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        const p = part as Json;
        if (p === null || typeof p !== 'object' || p.type !== 'text' || typeof p.text !== 'string') {
          throw bad(`${param}[${j}]`, `${param}[${j}] must be a text part {"type": "text", "text": "..."}; only text is supported`);
        }
        return p.text;
      })
      .join('');
  }
  throw bad(param, `${param} must be a string or a list of text parts`);
}

function parseMessages(value: unknown): Message[] {
  if (value === undefined) throw bad('messages', "'messages' is a required property");
  if (!Array.isArray(value) || value.length === 0) throw bad('messages', "'messages' must be a non-empty array");
  const messages = value.map((m, i): Message => {
    const param = `messages[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw bad(param, `${param} must be an object with role and content`);
    const role = ROLE_MAP[(m as Json).role as string];
    if (typeof (m as Json).role !== 'string' || !role) {
      throw bad(`${param}.role`, `${param}.role must be one of system, developer, user, assistant; got ${JSON.stringify((m as Json).role)}`);
    }
    return { role, content: contentText((m as Json).content, `${param}.content`) };
  });
  if (!messages.some((m) => m.role === 'user')) throw bad('messages', "'messages' must contain a user message");
  if (messages[messages.length - 1].role === 'assistant') {
    throw bad('messages', "the last message must not be an assistant message (continuing an assistant turn is not supported)");
  }
  return messages;
}

function parseStop(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw bad('stop', "'stop' must be a string or an array of strings");
  if (list.length > 4) throw bad('stop', "'stop' may hold at most 4 strings");
  return list.filter((s) => s.length > 0);
}

/** Validates a parsed JSON body. Throws HttpError(400) naming the offending field. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('body', 'the request body must be a JSON object');
  const b = body as Json;
  if (b.model !== undefined && typeof b.model !== 'string') throw bad('model', "'model' must be a string");
  const messages = parseMessages(b.messages);
  const n = optionalNumber(b, 'n', 1, 128, true);
  if (n !== undefined && n !== 1) throw bad('n', "only 'n': 1 is supported");
  const maxTokens = optionalNumber(b, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER, true) ?? optionalNumber(b, 'max_tokens', 1, Number.MAX_SAFE_INTEGER, true);
  const temperature = optionalNumber(b, 'temperature', 0, 2, false) ?? 1;
  const topP = optionalNumber(b, 'top_p', 0, 1, false) ?? 1;
  if (topP === 0) throw bad('top_p', "'top_p' must be greater than 0");
  const seed = optionalNumber(b, 'seed', 0, 2 ** 31 - 1, true);
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw bad('stream', "'stream' must be a boolean");
  const options = b.stream_options;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) throw bad('stream_options', "'stream_options' must be an object");
  const includeUsage = (options as Json | null | undefined)?.include_usage;
  if (includeUsage !== undefined && includeUsage !== null && typeof includeUsage !== 'boolean') {
    throw bad('stream_options.include_usage', "'stream_options.include_usage' must be a boolean");
  }
  return {
    ...(typeof b.model === 'string' ? { model: b.model } : {}),
    messages,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    temperature,
    topP,
    stop: parseStop(b.stop),
    ...(seed !== undefined ? { seed } : {}),
    stream: b.stream === true,
    includeUsage: includeUsage === true,
  };
}
