/** Scorers by name. Built-in text scorers are registered here; others (embeddings) register themselves. */
import { ConfigError, InvalidArgumentError } from '../errors';
import { containsScorer } from './contains';
import { exactMatchScorer } from './exact-match';
import { rougeLScorer } from './rouge-l';
import type { Scorer } from './scorer';
import { tokenF1Scorer } from './token-f1';

/** Makes a scorer; `options` are scorer-specific (e.g. a model directory) and ignored by text scorers. */
export type ScorerFactory = (options?: Record<string, unknown>) => Scorer;

const factories = new Map<string, ScorerFactory>();

export function registerScorer(name: string, factory: ScorerFactory): void {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new InvalidArgumentError(`scorer names are lower-case words joined by "-"; got ${JSON.stringify(name)}`);
  }
  if (factories.has(name)) throw new InvalidArgumentError(`a scorer named "${name}" is already registered`);
  factories.set(name, factory);
}

/** Names of the registered scorers, sorted. */
export function scorerNames(): string[] {
  return [...factories.keys()].sort();
}

/** The scorer called `name`; an unknown name is a ConfigError listing the known ones. */
export function getScorer(name: string, options?: Record<string, unknown>): Scorer {
  const factory = factories.get(name);
  if (!factory) throw new ConfigError(`unknown scorer ${JSON.stringify(name)}; known scorers: ${scorerNames().join(', ')}`, { field: 'scorers' });
  return factory(options);
}

for (const s of [exactMatchScorer, containsScorer, tokenF1Scorer, rougeLScorer]) registerScorer(s.name, () => s);

/** A scorer as configs name it: its name, or `{ name, ...options }` (embedding-cosine's `model`). */
export type ScorerSpec = string | ({ name: string } & Record<string, unknown>);

/** The scorer a config entry names. */
export function scorerFromSpec(spec: ScorerSpec): Scorer {
  return typeof spec === 'string' ? getScorer(spec) : getScorer(spec.name, spec);
}
