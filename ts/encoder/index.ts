/** Sentence encoders: sentence-transformers directories run natively. */
export { SentenceEncoder } from './sentence-encoder';
export type { SentenceEncodeOptions } from './sentence-encoder';
