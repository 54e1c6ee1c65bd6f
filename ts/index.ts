/** continual-next: the public API. See docs/api.md for the contract. */
export * from './errors';
export { Tensor } from './tensor';
export { info, selfCheck, packageVersion } from './info';
export type { Info, SelfCheckResult } from './info';
export type { DType } from './native/bindings';
export { loadNative } from './native/load';
export type { Role, Message, Conversation } from './data/conversation';
export { Tokenizer } from './tokenizer/tokenizer';
export type { TokenizerLoadOptions, EncodeOptions, DecodeOptions } from './tokenizer/tokenizer';
export { ChatTemplate } from './tokenizer/chat-template';
export type { ChatTemplateVariables, RenderOptions } from './tokenizer/chat-template';
export { BUILTIN_TEMPLATES, builtinTemplateNames } from './tokenizer/builtin-templates';
export type { BuiltinTemplateName } from './tokenizer/builtin-templates';
export { IGNORE_INDEX, assistantSpans } from './tokenizer/encode';
export type { TrainingEncoding, TrainingEncodeOptions, CharSpan } from './tokenizer/encode';
