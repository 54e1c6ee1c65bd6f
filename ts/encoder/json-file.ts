/** Reads the small JSON files of a model directory with typed errors that name the file. */
import fs from 'node:fs';

import { ConfigError, ModelLoadError } from '../errors';

export type JsonObject = Record<string, unknown>;

/** The JSON object in `file`; undefined when it is absent and not `required`. */
export function readJsonObject(file: string, required: true): JsonObject;
export function readJsonObject(file: string, required: false): JsonObject | undefined;
export function readJsonObject(file: string, required: boolean): JsonObject | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!required) return undefined;
      throw new ModelLoadError(`missing ${file}`, { file, cause: e });
    }
    throw new ModelLoadError(`cannot read ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`, { file, cause: e });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${file} must hold a JSON object`, { file });
  return value as JsonObject;
}
