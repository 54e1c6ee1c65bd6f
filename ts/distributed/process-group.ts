/**
 * ProcessGroup: the ranks of a distributed job, joined through libtorch's c10d (a TCPStore served
 * by rank 0, Gloo for CPU tensors). Collectives return Promises (they wait on a worker thread);
 * calls go on the wire in the order they are made, which must be the same on every rank. A dead
 * or missing peer, or one that does not take part within `timeoutMs`, rejects with
 * DistributedError on every survivor, and the group stays unusable afterwards.
 *
 *   await using pg = await ProcessGroup.fromEnv({ timeoutMs: 30_000 });  // under `continual-next launch`
 *   const sum = await pg.allReduce(Tensor.fromArray(new Float32Array([pg.rank]), [1]));
 */
import { ConfigError, DistributedError } from '../errors';
import { readRankEnv, type RankEnv } from '../launch/env';
import type { NativeProcessGroup } from '../native/bindings';
import { loadNative } from '../native/load';
import { NativeResource } from '../native/resource';
import { Tensor } from '../tensor';

export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** Rank 0's host (default 127.0.0.1). */
  masterAddr?: string;
  /** Rank 0's store port (default 29500). */
  masterPort?: number;
  /** Forming the group and every collective must finish within this (default 60 000 ms). */
  timeoutMs?: number;
  /** 'gloo' (CPU tensors). NCCL is not built yet. */
  backend?: 'gloo';
}

export class ProcessGroup extends NativeResource {
  /** @internal */
  readonly native: NativeProcessGroup;
  readonly rank: number;
  readonly worldSize: number;

  private constructor(native: NativeProcessGroup) {
    super();
    this.native = native;
    this.rank = native.rank;
    this.worldSize = native.worldSize;
    this.track(() => native.dispose());
  }

  /** Whether this build of the addon has distributed support (gloo's headers at build time). */
  static get available(): boolean {
    return loadNative().ProcessGroup.built;
  }

  /** Joins the group; resolves once every rank has joined (or rejects with DistributedError). */
  static async create(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const { rank, worldSize } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigError(`worldSize must be an integer ≥ 1 (got ${worldSize})`, { field: 'worldSize' });
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigError(`rank must be an integer in [0, ${worldSize}) (got ${rank})`, { field: 'rank' });
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!(timeoutMs >= 1)) throw new ConfigError(`timeoutMs must be ≥ 1 (got ${timeoutMs})`, { field: 'timeoutMs' });
    const native = await loadNative().ProcessGroup.create({
      rank,
      worldSize,
      masterAddr: options.masterAddr ?? '127.0.0.1',
      masterPort: options.masterPort ?? 29500,
      timeoutMs,
      backend: options.backend ?? 'gloo',
    });
    return new ProcessGroup(native);
  }

  /** Joins the group described by the launcher's environment (readRankEnv: torchrun or Slurm variables). */
  static async fromEnv(options: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}): Promise<ProcessGroup> {
    const r: RankEnv = readRankEnv(options.env ?? process.env);
    return ProcessGroup.create({ rank: r.rank, worldSize: r.worldSize, masterAddr: r.masterAddr, masterPort: r.masterPort, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
  }

  /** Element-wise sum (or mean) over the ranks; a new tensor, the input is left as it is. */
  async allReduce(tensor: Tensor, op: 'sum' | 'avg' = 'sum'): Promise<Tensor> {
    this.assertAlive();
    return new Tensor(await this.native.allReduce(tensor.native, op));
  }

  /** `root`'s tensor on every rank (same shape and dtype everywhere). */
  async broadcast(tensor: Tensor, root = 0): Promise<Tensor> {
    this.assertAlive();
    return new Tensor(await this.native.broadcast(tensor.native, root));
  }

  /** Every rank's tensor, in rank order (same shape and dtype everywhere). */
  async allGather(tensor: Tensor): Promise<Tensor[]> {
    this.assertAlive();
    return (await this.native.allGather(tensor.native)).map((t) => new Tensor(t));
  }

  /** Resolves when every rank has reached it. */
  async barrier(): Promise<void> {
    this.assertAlive();
    await this.native.barrier();
  }

  /** Seconds this rank has spent waiting for collectives (training's gradient sync included). */
  waitSeconds(): number {
    this.assertAlive();
    return this.native.waitSeconds();
  }

  protected release(): void {
    this.native.dispose();
  }
}

export { DistributedError };
