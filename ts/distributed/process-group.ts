/**
 * ProcessGroup: the ranks of a distributed job, joined through libtorch's c10d (a TCPStore served
 * by rank 0; Gloo for CPU tensors, NCCL for CUDA tensors in a CUDA build). Collectives return
 * Promises (they wait on a worker thread); calls go on the wire in the order they are made, which
 * must be the same on every rank. A dead or missing peer, or one that does not take part within
 * `timeoutMs`, rejects with DistributedError on every survivor, and the group stays unusable
 * afterwards.
 *
 *   await using pg = await ProcessGroup.fromEnv({ timeoutMs: 30_000 });  // under `continual-next launch`
 *   await using gpu = await ProcessGroup.fromEnv({ device: 'cuda' });    // 'auto': NCCL on cuda:LOCAL_RANK
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
  /**
   * 'auto' (default): 'nccl' when `device` is a CUDA device and this build has NCCL, else 'gloo'.
   * 'gloo': CPU tensors. 'nccl': CUDA tensors on this rank's device (a CUDA build only; elsewhere
   * DistributedError, field `backend`).
   */
  backend?: ProcessGroupBackend;
  /**
   * The device this rank's model (and so the group's tensors) lives on: 'cpu' (default), 'cuda'
   * (this rank's `cuda:<localRank>`) or 'cuda:N'. Chooses the 'auto' backend; NCCL runs on it.
   */
  device?: string;
  /** This rank's index on its node (LOCAL_RANK; default 0): 'cuda' means cuda:<localRank>. */
  localRank?: number;
}

export type ProcessGroupBackend = 'auto' | 'gloo' | 'nccl';
const BACKENDS: readonly string[] = ['auto', 'gloo', 'nccl'];

/** Throws ConfigError (field `field`) unless `backend` is 'auto', 'gloo' or 'nccl'. */
export function checkBackend(backend: unknown, field = 'backend'): ProcessGroupBackend {
  if (typeof backend !== 'string' || !BACKENDS.includes(backend)) {
    throw new ConfigError(`${field} must be 'auto', 'gloo' or 'nccl' (got ${JSON.stringify(backend)})`, { field });
  }
  return backend as ProcessGroupBackend;
}

export class ProcessGroup extends NativeResource {
  /** @internal */
  readonly native: NativeProcessGroup;
  readonly rank: number;
  readonly worldSize: number;
  /** The backend in use ('auto' resolved). */
  readonly backend: 'gloo' | 'nccl';
  /** Where the group's tensors live, and collectives' results: 'cpu' (gloo) or 'cuda:N' (nccl). */
  readonly device: string;

  private constructor(native: NativeProcessGroup) {
    super();
    this.native = native;
    this.rank = native.rank;
    this.worldSize = native.worldSize;
    this.backend = native.backend;
    this.device = native.device;
    this.track(() => native.dispose());
  }

  /** Whether this build of the addon has distributed support (a backend compiled in). */
  static get available(): boolean {
    return loadNative().ProcessGroup.built;
  }

  /** The backends compiled into this build: 'gloo' (gloo's headers at build time), 'nccl' (a CUDA libtorch and nccl.h). */
  static get backends(): ('gloo' | 'nccl')[] {
    return [...loadNative().ProcessGroup.backends];
  }

  /** Joins the group; resolves once every rank has joined (or rejects with DistributedError). */
  static async create(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const { rank, worldSize } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigError(`worldSize must be an integer ≥ 1 (got ${worldSize})`, { field: 'worldSize' });
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigError(`rank must be an integer in [0, ${worldSize}) (got ${rank})`, { field: 'rank' });
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!(timeoutMs >= 1)) throw new ConfigError(`timeoutMs must be ≥ 1 (got ${timeoutMs})`, { field: 'timeoutMs' });
    const backend = checkBackend(options.backend ?? 'auto');
    const localRank = options.localRank ?? 0;
    if (!Number.isInteger(localRank) || localRank < 0) throw new ConfigError(`localRank must be an integer ≥ 0 (got ${localRank})`, { field: 'localRank' });
    if (options.device !== undefined && (typeof options.device !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(options.device))) {
      throw new ConfigError(`device must be 'cpu', 'cuda' or 'cuda:N' (got ${JSON.stringify(options.device)})`, { field: 'device' });
    }
    const native = await loadNative().ProcessGroup.create({
      rank,
      worldSize,
      masterAddr: options.masterAddr ?? '127.0.0.1',
      masterPort: options.masterPort ?? 29500,
      timeoutMs,
      backend,
      ...(options.device !== undefined ? { device: options.device } : {}),
      localRank,
    });
    return new ProcessGroup(native);
  }

  /**
   * Joins the group described by the launcher's environment (readRankEnv: torchrun or Slurm
   * variables); LOCAL_RANK picks this rank's CUDA device for `device: 'cuda'`.
   */
  static async fromEnv(
    options: { timeoutMs?: number; backend?: ProcessGroupBackend; device?: string; env?: Record<string, string | undefined> } = {},
  ): Promise<ProcessGroup> {
    const r: RankEnv = readRankEnv(options.env ?? process.env);
    return ProcessGroup.create({
      rank: r.rank,
      worldSize: r.worldSize,
      masterAddr: r.masterAddr,
      masterPort: r.masterPort,
      localRank: r.localRank,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.backend !== undefined ? { backend: options.backend } : {}),
      ...(options.device !== undefined ? { device: options.device } : {}),
    });
  }

  /**
   * Element-wise sum (or mean) over the ranks; a new tensor on the group's `device` (the input,
   * on any device, is copied there and left as it is). The same for every collective below.
   */
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
