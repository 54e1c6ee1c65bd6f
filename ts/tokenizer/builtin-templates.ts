/**
 * Built-in chat templates for models whose tokenizer has no `chat_template`, selectable by name.
 * They are Jinja sources rendered exactly like a model's own template, with these variables:
 * `messages`, `add_generation_prompt`, `bos_token`, `eos_token` (empty strings when the tokenizer
 * has none) and `default_system` (the `defaultSystem` option, or undefined).
 *
 * Every template ends each assistant turn with an end-of-turn marker so that a model trained on it
 * learns to stop; encodeForTraining labels that marker together with the answer.
 */

/** ChatML (Qwen, Yi, ...): `<|im_start|>role\n...<|im_end|>\n`. A default system prompt is used when set. */
const chatml = `{%- if messages[0].role == 'system' -%}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' -}}
{%- set rest = messages[1:] -%}
{%- else -%}
{%- if default_system -%}{{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' -}}{%- endif -%}
{%- set rest = messages -%}
{%- endif -%}
{%- for message in rest -%}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}`;

/** InternLM2: ChatML preceded by the BOS token. */
const internlm2 = `{{- bos_token -}}
{%- if messages[0].role == 'system' -%}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' -}}
{%- set rest = messages[1:] -%}
{%- else -%}
{%- if default_system -%}{{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' -}}{%- endif -%}
{%- set rest = messages -%}
{%- endif -%}
{%- for message in rest -%}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}`;

/**
 * Llama 2 chat: `<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nquestion [/INST] answer </s>`; the system
 * prompt is folded into the first user turn, and each user turn starts with BOS.
 */
const llama2 = `{%- if messages[0].role == 'system' -%}
{%- set system = messages[0].content -%}{%- set rest = messages[1:] -%}
{%- else -%}
{%- set system = default_system -%}{%- set rest = messages -%}
{%- endif -%}
{%- for message in rest -%}
{%- if message.role == 'user' -%}
{%- if loop.first and system -%}
{{- bos_token + '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + message.content.strip() + ' [/INST]' -}}
{%- else -%}
{{- bos_token + '[INST] ' + message.content.strip() + ' [/INST]' -}}
{%- endif -%}
{%- elif message.role == 'assistant' -%}
{{- ' ' + message.content.strip() + ' ' + eos_token -}}
{%- else -%}
{{- raise_exception('llama2 template: unexpected role ' + message.role) -}}
{%- endif -%}
{%- endfor -%}`;

/** Llama 3 / 3.1 instruct headers, contents trimmed as Meta's template does. */
const llama3 = `{{- bos_token -}}
{%- if messages[0].role != 'system' and default_system -%}
{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + default_system + '<|eot_id|>' -}}
{%- endif -%}
{%- for message in messages -%}
{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + (message.content | trim) + '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}`;

/**
 * Baichuan 2 chat: user turns follow `<reserved_106>`, assistant turns follow `<reserved_107>`
 * (ids 195 and 196 in its vocabulary); the system prompt is plain text at the start. Each answer
 * ends with EOS (ms-swift's baichuan template ends only the last one with EOS).
 */
const baichuan2 = `{%- if messages[0].role == 'system' -%}
{{- messages[0].content -}}{%- set rest = messages[1:] -%}
{%- else -%}
{%- if default_system -%}{{- default_system -}}{%- endif -%}{%- set rest = messages -%}
{%- endif -%}
{%- for message in rest -%}
{%- if message.role == 'user' -%}{{- '<reserved_106>' + message.content -}}
{%- else -%}{{- '<reserved_107>' + message.content + eos_token -}}{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<reserved_107>' -}}{%- endif -%}`;

/** A plain template for base models: `### Human:` / `### Assistant:` blocks. */
const plain = `{%- if messages[0].role == 'system' -%}
{{- messages[0].content + '\\n\\n' -}}{%- set rest = messages[1:] -%}
{%- else -%}
{%- if default_system -%}{{- default_system + '\\n\\n' -}}{%- endif -%}{%- set rest = messages -%}
{%- endif -%}
{%- for message in rest -%}
{%- if message.role == 'user' -%}{{- '### Human:\\n' + message.content + '\\n\\n' -}}
{%- else -%}{{- '### Assistant:\\n' + message.content + eos_token + '\\n\\n' -}}{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '### Assistant:\\n' -}}{%- endif -%}`;

export const BUILTIN_TEMPLATES = {
  chatml,
  internlm2,
  llama2,
  llama3,
  baichuan2,
  default: plain,
} as const;

export type BuiltinTemplateName = keyof typeof BUILTIN_TEMPLATES;

export function isBuiltinTemplateName(name: string): name is BuiltinTemplateName {
  return Object.prototype.hasOwnProperty.call(BUILTIN_TEMPLATES, name);
}

export function builtinTemplateNames(): BuiltinTemplateName[] {
  return Object.keys(BUILTIN_TEMPLATES) as BuiltinTemplateName[];
}
