import { availableParallelism } from 'node:os';
import { openChunk, sealChunk, type OpenJob, type Sealed, type SealJob } from './chunk-work.js';
import type { Engines } from './engines.js';
import { WorkerPool } from './pool.js';

/**
 * Where per-chunk work runs. The writer and reader keep `width` jobs in flight through an ordered
 * window, so output order and backpressure do not depend on which runner is used.
 */
export interface ChunkRunner {
  /** Jobs in flight when writing; with `openWidth` when reading, it also bounds the buffers held. */
  readonly width: number;
  readonly openWidth: number;
  seal(job: SealJob): Promise<Sealed>;
  open(job: OpenJob): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
  /** Whether `open` jobs may name a file range instead of carrying the payload. */
  readonly readsFiles?: boolean;
  /** A hint that multi-chunk work is coming: start any threads now, while the caller does other things. */
  warm?(): void;
}

/** Whether any entry may need more than one chunk, which is when threads pay for their start-up. */
export function mayNeedThreads(entries: readonly { size?: number; chunk_size: number }[]): boolean {
  return entries.some((e) => e.size === undefined || e.size > e.chunk_size);
}

export interface RunOptions {
  engines?: Engines;
  /** Worker threads for chunk work; 1 runs everything on the calling thread. Default 1. */
  threads?: number;
  /** Overrides `threads`: a runner the caller owns (and closes). */
  runner?: ChunkRunner;
}

export function localRunner(engines: Engines): ChunkRunner {
  return {
    width: 1,
    openWidth: 1,
    seal: async (job) => sealChunk(engines, job),
    open: async (job) => openChunk(engines, job),
    close: async () => {},
  };
}

/** The threads to use when none are asked for: one per core, as pzstd does. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** The runner `opts` asks for, and whether the caller must close it. */
export function runnerFor(engines: Engines, opts: RunOptions): { runner: ChunkRunner; owned: boolean } {
  if (opts.runner) return { runner: opts.runner, owned: false };
  const threads = Math.floor(opts.threads ?? 1);
  if (threads <= 1) return { runner: localRunner(engines), owned: true };
  return { runner: new WorkerPool(engines, threads), owned: true };
}
