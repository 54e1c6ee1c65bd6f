/**
 * Preloaded (`node --import`) into the workers of a restart test: on the launcher's first attempt
 * (TORCHELASTIC_RESTART_COUNT 0), rank KILL_RANK (default 1) SIGKILLs itself as soon as the file
 * KILL_WHEN_EXISTS exists (e.g. a trainer checkpoint that rank 0 writes mid-task). The program
 * itself runs unchanged.
 */
import fs from 'node:fs';

const file = process.env.KILL_WHEN_EXISTS;
if (file && process.env.RANK === (process.env.KILL_RANK ?? '1') && (process.env.TORCHELASTIC_RESTART_COUNT ?? '0') === '0') {
  // Training runs on a native thread, so this thread is free to poll.
  setInterval(() => {
    if (fs.existsSync(file)) process.kill(process.pid, 'SIGKILL');
  }, 5).unref();
}
