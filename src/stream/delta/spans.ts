import type { FileHandle } from 'node:fs/promises';
import type { PieceList } from '../../format/pieces.js';
import { readAt } from '../io/files.js';

/** Whole pieces read from a blob's file together, with their lengths, for hashing. */
export interface Span {
  /** The index of the span's first piece in its list. */
  first: number;
  lengths: Uint32Array;
  data: Uint8Array;
}

/**
 * Pieces `first .. first + count` of `list`, read from `fh` in spans of whole pieces of at most
 * `limit` bytes (or one piece, if larger): one read per span, not one per piece. A file that
 * ends before a span does is `short(at)`.
 */
export async function* pieceSpans(
  fh: FileHandle,
  list: PieceList,
  first: number,
  count: number,
  limit: number,
  what: string,
  short: (at: number) => Error,
): AsyncGenerator<Span> {
  let i = first;
  while (i < first + count) {
    let j = i;
    let bytes = 0;
    while (j < first + count && (bytes === 0 || bytes + list.lengthAt(j) <= limit)) bytes += list.lengthAt(j++);
    const data = new Uint8Array(bytes);
    const at = list.offsetAt(i);
    const got = await readAt(fh, data, at, what);
    if (got < bytes) throw short(at + got);
    const lengths = new Uint32Array(j - i);
    for (let k = i; k < j; k++) lengths[k - i] = list.lengthAt(k);
    yield { first: i, lengths, data };
    i = j;
  }
}
