/**
 * The worker side of the launch contract: a process's place in the distributed job, read from
 * torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR,
 * MASTER_PORT, TORCHELASTIC_RESTART_COUNT; what `continual-next launch` sets) or, when those are
 * absent, Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE,
 * SLURM_NODEID, SLURM_JOB_NUM_NODES, SLURM_LAUNCH_NODE_IPADDR). Bad values are ConfigErrors
 * naming the variable.
 */
import { ConfigError } from '../errors';

export interface RankEnv {
  /** Global rank, 0 ≤ rank < worldSize. */
  rank: number;
  /** Rank within this node. */
  localRank: number;
  worldSize: number;
  /** Workers on this node. */
  localWorldSize: number;
  /** This node's index (torchrun's GROUP_RANK). */
  nodeRank: number;
  /** Where rank 0's store listens. */
  masterAddr: string;
  masterPort: number;
  /** How many times the launcher restarted the group (0 on the first run). */
  restartCount: number;
  /** Which variables these came from. */
  source: 'torchrun' | 'slurm' | 'single';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, min: number, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`environment variable ${name} is not set`, { field: name });
  }
  // Slurm writes per-node counts like "4(x2)"; the first number is this node's.
  const text = name === 'SLURM_NTASKS_PER_NODE' || name === 'SLURM_TASKS_PER_NODE' ? raw.replace(/\(x\d+\).*$/, '').split(',')[0] : raw;
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`environment variable ${name}='${raw}' is not a non-negative integer`, { field: name });
  const v = Number(text.trim());
  if (v < min) throw new ConfigError(`environment variable ${name}=${v} must be ≥ ${min}`, { field: name });
  return v;
}

function port(env: Env, name: string, fallback: number): number {
  const p = integer(env, name, 1, fallback);
  if (p > 65535) throw new ConfigError(`environment variable ${name}=${p} is not a TCP port (1..65535)`, { field: name });
  return p;
}

function check(cond: boolean, name: string, message: string): void {
  if (!cond) throw new ConfigError(`environment variable ${name}: ${message}`, { field: name });
}

/** True when a launcher (ours, torchrun or Slurm) has described a distributed job. */
export function isDistributedEnv(env: Env = process.env): boolean {
  return env.RANK !== undefined || env.WORLD_SIZE !== undefined || env.SLURM_PROCID !== undefined;
}

/**
 * Reads this process's rank environment. Without any launcher variables it describes a single
 * process (rank 0 of 1) on 127.0.0.1.
 */
export function readRankEnv(env: Env = process.env): RankEnv {
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) {
    const worldSize = integer(env, 'WORLD_SIZE', 1);
    const rank = integer(env, 'RANK', 0);
    check(rank < worldSize, 'RANK', `${rank} must be < WORLD_SIZE (${worldSize})`);
    const localWorldSize = integer(env, 'LOCAL_WORLD_SIZE', 1, worldSize);
    check(localWorldSize <= worldSize, 'LOCAL_WORLD_SIZE', `${localWorldSize} must be ≤ WORLD_SIZE (${worldSize})`);
    const localRank = integer(env, 'LOCAL_RANK', 0, rank % localWorldSize);
    check(localRank < localWorldSize, 'LOCAL_RANK', `${localRank} must be < LOCAL_WORLD_SIZE (${localWorldSize})`);
    const nodeRank = integer(env, 'GROUP_RANK', 0, Math.floor(rank / localWorldSize));
    const masterAddr = env.MASTER_ADDR || '127.0.0.1';
    return {
      rank, localRank, worldSize, localWorldSize, nodeRank, masterAddr,
      masterPort: port(env, 'MASTER_PORT', 29500),
      restartCount: integer(env, 'TORCHELASTIC_RESTART_COUNT', 0, 0),
      source: 'torchrun',
    };
  }
  if (env.SLURM_PROCID !== undefined) {
    const worldSize = integer(env, 'SLURM_NTASKS', 1);
    const rank = integer(env, 'SLURM_PROCID', 0);
    check(rank < worldSize, 'SLURM_PROCID', `${rank} must be < SLURM_NTASKS (${worldSize})`);
    const nodes = integer(env, 'SLURM_JOB_NUM_NODES', 1, integer(env, 'SLURM_NNODES', 1, 1));
    const localWorldSize =
      env.SLURM_NTASKS_PER_NODE !== undefined ? integer(env, 'SLURM_NTASKS_PER_NODE', 1)
        : env.SLURM_TASKS_PER_NODE !== undefined ? integer(env, 'SLURM_TASKS_PER_NODE', 1)
          : Math.ceil(worldSize / nodes);
    const localRank = integer(env, 'SLURM_LOCALID', 0, rank % localWorldSize);
    check(localRank < localWorldSize, 'SLURM_LOCALID', `${localRank} must be < the tasks per node (${localWorldSize})`);
    const nodeRank = integer(env, 'SLURM_NODEID', 0, Math.floor(rank / localWorldSize));
    check(nodeRank < nodes, 'SLURM_NODEID', `${nodeRank} must be < SLURM_JOB_NUM_NODES (${nodes})`);
    // MASTER_ADDR/PORT may be exported by the batch script; else the node that ran srun.
    const masterAddr = env.MASTER_ADDR || env.SLURM_LAUNCH_NODE_IPADDR || '127.0.0.1';
    return {
      rank, localRank, worldSize, localWorldSize, nodeRank, masterAddr,
      masterPort: port(env, 'MASTER_PORT', 29500),
      restartCount: integer(env, 'SLURM_RESTART_COUNT', 0, 0),
      source: 'slurm',
    };
  }
  return { rank: 0, localRank: 0, worldSize: 1, localWorldSize: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500, restartCount: 0, source: 'single' };
}
