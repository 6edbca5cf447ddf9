import { availableParallelism } from 'node:os';
import { openWithPieces, sealChunk, type ChunkRunner } from './chunk-work.js';

export type { ChunkRunner };
import type { Engines } from '../engine/engines.js';
import { WorkerPool } from './pool.js';

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
  /**
   * Where how much there is to work on is known only once a bundle's manifest is read: the
   * threads for work of `bytes` (undefined when not known), in place of `threads`.
   */
  threadsFor?: (bytes: number | undefined) => number;
}

/** The sum of `sizes`, or undefined if any is not known. */
export function sumOf(sizes: readonly (number | undefined)[]): number | undefined {
  let sum = 0;
  for (const n of sizes) {
    if (n === undefined) return undefined;
    sum += n;
  }
  return sum;
}

export function localRunner(engines: Engines): ChunkRunner {
  return {
    sealWidth: 1,
    openWidth: 1,
    seal: async (job) => sealChunk(engines, job),
    open: async (job) => openWithPieces(engines, job),
    close: async () => {},
  };
}

/**
 * Inputs smaller than this are worked on the calling thread unless threads are asked for: a
 * worker takes longer to start than such an input takes to check or cut.
 */
export const THREADS_PAY_FROM = 16 << 20;

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
