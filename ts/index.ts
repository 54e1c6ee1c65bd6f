/** continual-next: the public API. See docs/api.md for the contract. */
export * from './errors';
export { Tensor } from './tensor';
export { info, selfCheck, packageVersion } from './info';
export type { Info, SelfCheckResult } from './info';
export type { DType } from './native/bindings';
export { loadNative } from './native/load';
export { loadSafetensors, loadCheckpoint, saveSafetensors, readSafetensorsHeader } from './io/safetensors';
export type { SafetensorsHeader, SafetensorsEntry } from './io/safetensors';
