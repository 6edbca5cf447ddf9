import type { FileHandle } from 'node:fs/promises';
import type { PieceEngine } from '../engine/pieces.js';
import type { PieceList } from '../../format/pieces.js';
import { readAt, readFullSync } from '../io/files.js';
import { SYNC_READ_MAX } from '../io/source.js';

/** Whole neighbouring pieces of a list, to be read with one call: where, how long, and each piece's length. */
export interface SpanPlan {
  /** The index of the span's first piece in its list. */
  first: number;
  /** Its offset in the blob, and its length in bytes. */
  at: number;
  bytes: number;
  lengths: Uint32Array;
}

/** A planned span, read. */
export interface Span extends SpanPlan {
  data: Uint8Array;
}

/**
 * Pieces `first .. first + count` of `list` in spans of whole pieces of at most `limit` bytes (or
 * one piece, if larger): one read per span, not one per piece.
 */
export function* spanPlans(list: PieceList, first: number, count: number, limit: number): Generator<SpanPlan> {
  let i = first;
  while (i < first + count) {
    let j = i;
    let bytes = 0;
    while (j < first + count && (bytes === 0 || bytes + list.lengthAt(j) <= limit)) bytes += list.lengthAt(j++);
    const lengths = new Uint32Array(j - i);
    for (let k = i; k < j; k++) lengths[k - i] = list.lengthAt(k);
    yield { first: i, at: list.offsetAt(i), bytes, lengths };
    i = j;
  }
}

/** The spans of `spanPlans`, read from `fh`. A file that ends before a span does is `short(at)`. */
export async function* pieceSpans(
  fh: FileHandle,
  list: PieceList,
  first: number,
  count: number,
  limit: number,
  what: string,
  short: (at: number) => Error,
): AsyncGenerator<Span> {
  for (const plan of spanPlans(list, first, count, limit)) {
    const data = new Uint8Array(plan.bytes);
    // The carried pieces of a delta are many small spans: a thread-pool round trip for each
    // kept the export waiting most of its time.
    const got = plan.bytes <= SYNC_READ_MAX ? readFullSync(fh.fd, data, plan.at, what) : await readAt(fh, data, plan.at, what);
    if (got < plan.bytes) throw short(plan.at + got);
    yield { ...plan, data };
  }
}

/** A span read from a file and hashed piece by piece; `got` short of its length where the file ended. */
export interface HashedSpan {
  data: Uint8Array;
  digests: Uint8Array;
  got: number;
}

/**
 * Reads a span from `fd` and hashes each of its pieces, on the calling thread: a worker runs this
 * whole, so the bytes are copied from the page cache and hashed on the same core, and the thread
 * that asked never touches them until they are checked.
 */
export function readAndHashSpan(
  pieces: PieceEngine,
  fd: number,
  at: number,
  bytes: number,
  lengths: Uint32Array,
  what: string,
  /** A buffer of at least `bytes` to read into; the span is a view of it. */
  into?: Uint8Array,
): HashedSpan {
  const data = into ? into.subarray(0, bytes) : new Uint8Array(bytes);
  const got = readFullSync(fd, data, at, what);
  return { data, digests: got < bytes ? new Uint8Array(0) : pieces.digests(data, lengths), got };
}
