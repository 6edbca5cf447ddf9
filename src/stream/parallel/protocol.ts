/**
 * The messages between the main thread's pool and its workers, and how errors cross between
 * them: kept apart from the pool, so that a worker never loads the main-thread pool.
 */
import { BootportError, type ErrorLocation } from '../../format/errors.js';
import { isStreamLayerCode } from '../errors.js';
import type { OpenJob, Sealed, SealJob, WalkJob, Walked } from './chunk-work.js';
import type { FileDigest } from './file-hash.js';
import type { Candidates } from '../engine/pieces.js';
import type { HashedSpan } from '../delta/spans.js';

export type PoolRequest =
  | { id: number; kind: 'seal'; job: SealJob }
  | { id: number; kind: 'open'; job: OpenJob }
  | { id: number; kind: 'walk'; job: WalkJob }
  | { id: number; kind: 'hash'; path: string }
  | { id: number; kind: 'cut'; data: Uint8Array }
  | { id: number; kind: 'subtree'; data: Uint8Array; offset: number }
  | { id: number; kind: 'span'; fd: number; at: number; bytes: number; lengths: Uint32Array; what: string; into?: Uint8Array };
export type WireError = {
  code?: string;
  detail: string;
  location?: ErrorLocation;
  hint?: string;
  remedies?: readonly string[];
  errno?: string;
  stack?: string;
  cause?: WireError;
};
export type PoolReply =
  | {
      id: number;
      ok: true;
      sealed?: Sealed;
      data?: Uint8Array;
      pieces?: Candidates;
      pair?: Uint8Array;
      span?: HashedSpan;
      digest?: FileDigest;
      walked?: Walked;
    }
  | { id: number; ok: false; error: WireError }
  /** Bytes of a file hashed since the last progress message; the job goes on. */
  | { id: number; progress: number };
export interface PoolWorkerData {
  hash: string;
  codec: string;
  pieces: string;
}
export function toWireError(e: unknown, depth = 0): WireError {
  const cause = (e as { cause?: unknown } | undefined)?.cause;
  const deeper = cause !== undefined && depth < 4 ? { cause: toWireError(cause, depth + 1) } : {};
  const stack = e instanceof Error && e.stack ? { stack: e.stack } : {};
  if (e instanceof BootportError) {
    return { code: e.code, detail: e.detail, location: e.location, ...(e.hint ? { hint: e.hint } : {}), remedies: e.remedies, ...stack, ...deeper };
  }
  const errno = (e as NodeJS.ErrnoException).code;
  return { detail: e instanceof Error ? e.message : String(e), ...(typeof errno === 'string' ? { errno } : {}), ...stack, ...deeper };
}

/**
 * The error a worker sent, rebuilt with its chain of causes; a system error keeps its errno code,
 * as if thrown here, and an error that was neither is a bug (ERR_INTERNAL), as on this thread.
 */
export function reviveError(w: WireError): Error {
  const cause = w.cause ? { cause: reviveError(w.cause) } : undefined;
  let e: Error;
  if (w.code && isStreamLayerCode(w.code)) e = new BootportError(w.code, w.detail, w.location ?? {}, w.hint, { ...cause, remedies: w.remedies ?? [] });
  else if (w.errno) e = Object.assign(new Error(w.detail, cause), { code: w.errno });
  else
    e = new BootportError('ERR_INTERNAL', `internal error in a worker: ${w.detail}`, {}, 'this is a bug in bootport: report it with the stack of the failure', {
      ...cause,
      remedies: ['report-bug'],
    });
  if (w.stack) e.stack = w.stack;
  return e;
}
