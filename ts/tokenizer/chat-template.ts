/**
 * Chat templates: a model's Jinja `chat_template` (or a built-in one) rendered with
 * @huggingface/jinja the way transformers' apply_chat_template renders it (trim_blocks and
 * lstrip_blocks on, `{% generation %}` tags ignored, `tools` undefined).
 */
import type { Message } from '../data/conversation';
import { ConfigError, InvalidArgumentError } from '../errors';
import { BUILTIN_TEMPLATES, builtinTemplateNames, isBuiltinTemplateName } from './builtin-templates';

// @huggingface/jinja is an ES module with a CommonJS build; load the CommonJS build, typed from the ESM one.
type JinjaModule = typeof import('@huggingface/jinja', { with: { 'resolution-mode': 'import' } });
type Template = InstanceType<JinjaModule['Template']>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jinja = require('@huggingface/jinja') as JinjaModule;
const { Template } = jinja;

/** Characters Python's str.strip() removes by default (str.isspace()). */
const PY_WHITESPACE = new Set([...'\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000']);

/** Python's str.strip / lstrip / rstrip with an optional set of characters. */
export function pyStrip(s: string, chars: string | null | undefined, side: 'both' | 'left' | 'right'): string {
  const set = chars === null || chars === undefined ? PY_WHITESPACE : new Set([...chars]);
  const cps = [...s];
  let a = 0;
  let b = cps.length;
  if (side !== 'right') while (a < b && set.has(cps[a]!)) a++;
  if (side !== 'left') while (b > a && set.has(cps[b - 1]!)) b--;
  return cps.slice(a, b).join('');
}

/**
 * @huggingface/jinja 0.5 implements str.strip/lstrip/rstrip as JavaScript trim(), ignoring the
 * `chars` argument, so Qwen3's `content.lstrip('\n')` also removed spaces. The runtime classes are
 * not exported; we reach them through a value and replace these three methods with Python's.
 */
function patchStringMethods(): void {
  const env = new jinja.Environment();
  const sample = env.set('s', 'x') as { constructor: { prototype: object }; builtins: Map<string, unknown> };
  const StringValue = sample.constructor as unknown as new (v: string) => unknown;
  const FunctionValue = (sample.builtins.get('strip') as { constructor: unknown }).constructor as new (
    fn: (args: { value: unknown; type: string }[]) => unknown,
  ) => unknown;
  const proto = StringValue.prototype as object;
  const desc = Object.getOwnPropertyDescriptor(proto, 'builtins');
  if (!desc?.get) return;
  const original = desc.get;
  const patched = new WeakSet<Map<string, unknown>>();
  Object.defineProperty(proto, 'builtins', {
    configurable: true,
    get(this: { value: string }) {
      const map = original.call(this) as Map<string, unknown>;
      if (!patched.has(map)) {
        patched.add(map);
        for (const [name, side] of [['strip', 'both'], ['lstrip', 'left'], ['rstrip', 'right']] as const) {
          map.set(
            name,
            new FunctionValue((args) => {
              const arg = args[0];
              const chars = arg === undefined || arg.type === 'NullValue' || arg.type === 'UndefinedValue' ? null : arg;
              if (chars !== null && typeof chars.value !== 'string') throw new Error(`${name}() argument must be a string or none`);
              return new StringValue(pyStrip(this.value, chars === null ? null : (chars.value as string), side));
            }),
          );
        }
      }
      return map;
    },
  });
}
patchStringMethods();

export interface ChatTemplateVariables {
  bos_token?: string;
  eos_token?: string;
  pad_token?: string;
  unk_token?: string;
  /** Used by the built-in templates when the conversation has no system message. */
  default_system?: string;
  [name: string]: unknown;
}

export interface RenderOptions {
  /** Append the header that opens an assistant turn (for generation). Default false. */
  addGenerationPrompt?: boolean;
}

export class ChatTemplate {
  /** 'model' for the tokenizer's own template, else the built-in name, or 'custom'. */
  readonly name: string;
  readonly source: string;
  private readonly template: Template;
  private readonly variables: ChatTemplateVariables;

  constructor(source: string, options: { name?: string; variables?: ChatTemplateVariables; file?: string } = {}) {
    this.name = options.name ?? 'custom';
    this.source = source;
    this.variables = { ...(options.variables ?? {}) };
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new ConfigError(`chat template '${this.name}' does not parse: ${(err as Error).message}`, {
        field: 'chat_template',
        ...(options.file !== undefined ? { file: options.file } : {}),
        cause: err,
      });
    }
  }

  /** Whether `name` is a built-in template name. */
  static isBuiltin(name: string): boolean {
    return isBuiltinTemplateName(name);
  }

  /** A built-in template by name (see builtinTemplateNames()). */
  static builtin(name: string, variables: ChatTemplateVariables = {}): ChatTemplate {
    if (!isBuiltinTemplateName(name)) {
      throw new InvalidArgumentError(`unknown chat template '${name}'; built-in templates: ${builtinTemplateNames().join(', ')}`, {
        field: 'chatTemplate',
      });
    }
    // Built-ins concatenate these, so give them string values.
    const vars = { bos_token: '', eos_token: '', ...variables };
    return new ChatTemplate(BUILTIN_TEMPLATES[name], { name, variables: vars });
  }

  /** Renders the messages to the text the model sees. */
  render(messages: readonly Message[], options: RenderOptions = {}): string {
    const items: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.variables)) if (v !== undefined && v !== null) items[k] = v;
    items['messages'] = messages.map((m) => ({ role: m.role, content: m.content }));
    items['add_generation_prompt'] = options.addGenerationPrompt ?? false;
    try {
      return this.template.render(items);
    } catch (err) {
      throw new InvalidArgumentError(`chat template '${this.name}' failed to render: ${(err as Error).message}`, {
        field: 'messages',
        cause: err,
      });
    }
  }
}
