/**
 * Replay's data selection (experience replay): which past-task samples are mixed into the
 * current task's training data. Seeded and independent of rank, so every process of a
 * distributed run picks the same buffer, and a resumed run rebuilds the same one.
 */
import type { Conversation } from '../data/conversation';
import { Random } from '../util/random';
import type { MethodConfig } from './config';

/** The reference keeps 20 samples per past task. */
export const REPLAY_DEFAULT_PER_TASK = 20;

export function replayBuffer(pastTasks: Conversation[][], method: Extract<MethodConfig, { name: 'replay' }>, seed: number): Conversation[] {
  return replayIndices(pastTasks.map((t) => t.length), method, seed).flatMap((picked, t) => picked.map((i) => pastTasks[t][i]));
}

/** The buffer as indices into each past task's samples (what the stream runner saves with the task). */
export function replayIndices(pastTaskSizes: number[], method: Extract<MethodConfig, { name: 'replay' }>, seed: number): number[][] {
  return pastTaskSizes.map((size, t) => {
    const count = Math.min(size, method.ratio !== undefined ? Math.max(1, Math.round(method.ratio * size)) : method.perTask ?? REPLAY_DEFAULT_PER_TASK);
    const rng = new Random(seed * 7919 + t * 104729 + 1);
    let picked: number[];
    if (method.selection === 'reservoir') {
      // reservoir sampling over the task's stream of samples (Vitter's algorithm R)
      picked = [];
      for (let i = 0; i < size; i++) {
        if (i < count) picked.push(i);
        else {
          const j = Math.floor(rng.next() * (i + 1));
          if (j < count) picked[j] = i;
        }
      }
    } else {
      const idx = Array.from({ length: size }, (_, i) => i);
      for (let i = idx.length - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      picked = idx.slice(0, count);
    }
    return picked;
  });
}
