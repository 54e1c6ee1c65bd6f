/** continual-next: the public API. See docs/api.md for the contract. */
export * from './errors';
export { Tensor } from './tensor';
export { info, selfCheck, packageVersion } from './info';
export type { Info, SelfCheckResult } from './info';
export type { DType } from './native/bindings';
export { loadNative } from './native/load';
export * from './data';
export * from './metrics';
export * from './scorers';
export { Random } from './util/random';
