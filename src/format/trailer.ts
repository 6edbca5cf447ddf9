import { copyOf, readU64, view, writeU64 } from './bytes.js';
import { DIGEST_SIZE, MAX_CHUNKS, MAX_ENTRIES, TAG_TRAILER, TRAILER_ENTRY_SIZE, TRAILER_FIXED_SIZE } from './constants.js';
import { bundleError } from './errors.js';

export interface TrailerEntry {
  chunks: number;
  rawBytes: number;
  compBytes: number;
  /** BLAKE3 of the entry's uncompressed content. */
  contentDigest: Uint8Array;
}

export interface Trailer {
  entries: TrailerEntry[];
  /** Absolute offset of every chunk record, in bundle order. */
  seekTable: number[];
  headerHash: Uint8Array;
  /** BLAKE3 over every byte before this field except chunk payloads (FORMAT.md, "Bundle digest"). */
  bundleDigest: Uint8Array;
}

export function trailerSize(entryCount: number, chunkCount: number): number {
  return TRAILER_FIXED_SIZE + entryCount * TRAILER_ENTRY_SIZE + chunkCount * 8 + 2 * DIGEST_SIZE;
}

export interface TrailerCounts {
  entryCount: number;
  chunkCount: number;
}

/** No bundle holds more chunks than every entry at its cap. */
export const MAX_TRAILER_CHUNKS = MAX_CHUNKS * MAX_ENTRIES;

/** Reads the fixed part, so a reader can check the counts before it reads (or allocates) the rest. */
export function decodeTrailerCounts(b: Uint8Array, offset = 0): TrailerCounts {
  if (b.length < TRAILER_FIXED_SIZE) throw bundleError('ERR_BUNDLE_TRUNCATED', 'input ends inside the trailer', { offset: offset + b.length });
  if (b[0] !== TAG_TRAILER) throw bundleError('ERR_BUNDLE_RECORD', `expected the trailer (tag 0x54), found tag 0x${(b[0] ?? 0).toString(16)}`, { offset });
  if (b[1] !== 0 || b[2] !== 0 || b[3] !== 0) throw bundleError('ERR_BUNDLE_RECORD', 'trailer reserved bytes are not zero', { offset: offset + 1 });
  const dv = view(b);
  const entryCount = dv.getUint32(4, true);
  if (entryCount > MAX_ENTRIES) throw bundleError('ERR_BUNDLE_LIMIT', `trailer entry count ${entryCount} exceeds ${MAX_ENTRIES}`, { offset: offset + 4 });
  const rawCount = dv.getBigUint64(8, true);
  if (rawCount > BigInt(MAX_TRAILER_CHUNKS)) {
    throw bundleError('ERR_BUNDLE_LIMIT', `trailer chunk count ${rawCount} exceeds ${MAX_TRAILER_CHUNKS}`, { offset: offset + 8 });
  }
  const chunkCount = Number(rawCount);
  return { entryCount, chunkCount };
}

export function encodeTrailerBody(t: Omit<Trailer, 'bundleDigest'>): Uint8Array {
  const size = trailerSize(t.entries.length, t.seekTable.length) - DIGEST_SIZE;
  const out = new Uint8Array(size);
  const dv = view(out);
  out[0] = TAG_TRAILER;
  dv.setUint32(4, t.entries.length, true);
  writeU64(dv, 8, t.seekTable.length);
  let at = TRAILER_FIXED_SIZE;
  for (const e of t.entries) {
    writeU64(dv, at, e.chunks);
    writeU64(dv, at + 8, e.rawBytes);
    writeU64(dv, at + 16, e.compBytes);
    out.set(e.contentDigest, at + 24);
    at += TRAILER_ENTRY_SIZE;
  }
  for (const off of t.seekTable) {
    writeU64(dv, at, off);
    at += 8;
  }
  out.set(t.headerHash, at);
  return out;
}

export function encodeTrailer(t: Trailer): Uint8Array {
  const body = encodeTrailerBody(t);
  const out = new Uint8Array(body.length + DIGEST_SIZE);
  out.set(body, 0);
  out.set(t.bundleDigest, body.length);
  return out;
}

export function decodeTrailer(b: Uint8Array, offset = 0): Trailer {
  const { entryCount, chunkCount } = decodeTrailerCounts(b, offset);
  const size = trailerSize(entryCount, chunkCount);
  if (b.length < size) throw bundleError('ERR_BUNDLE_TRUNCATED', `trailer needs ${size} bytes, ${b.length} remain`, { offset: offset + b.length });
  if (b.length > size) throw bundleError('ERR_BUNDLE_TRAILER', `trailer is ${b.length} bytes, its counts say ${size}`, { offset });
  const dv = view(b);
  const entries = decodeEntries(b, entryCount, offset);
  let at = TRAILER_FIXED_SIZE + entryCount * TRAILER_ENTRY_SIZE;
  const seekTable: number[] = [];
  for (let i = 0; i < chunkCount; i++) {
    seekTable.push(readU64(dv, at, 'seek table offset', { offset: offset + at }));
    at += 8;
  }
  const headerHash = copyOf(b, at, at + DIGEST_SIZE);
  const bundleDigest = copyOf(b, at + DIGEST_SIZE, at + 2 * DIGEST_SIZE);
  return { entries, seekTable, headerHash, bundleDigest };
}

/** The per-entry totals that follow the trailer's fixed part. */
function decodeEntries(b: Uint8Array, entryCount: number, offset: number): TrailerEntry[] {
  const dv = view(b);
  const entries: TrailerEntry[] = [];
  let at = TRAILER_FIXED_SIZE;
  for (let i = 0; i < entryCount; i++) {
    const loc = { entry: i, offset: offset + at };
    entries.push({
      chunks: readU64(dv, at, 'entry chunk count', loc),
      rawBytes: readU64(dv, at + 8, 'entry raw bytes', loc),
      compBytes: readU64(dv, at + 16, 'entry compressed bytes', loc),
      contentDigest: copyOf(b, at + 24, at + 56),
    });
    at += TRAILER_ENTRY_SIZE;
  }
  return entries;
}

/** A trailer without its seek table: what a reader of the two ends of a file needs. */
export type TrailerSummary = Omit<Trailer, 'seekTable'> & { chunkCount: number };

/**
 * Decodes the trailer's fixed part and entries (`head`) and its two closing digests (`tail`),
 * leaving out the seek table between them. Reading only these, a reader of the ends holds a
 * bounded amount whatever the chunk count claims.
 */
export function decodeTrailerSummary(head: Uint8Array, tail: Uint8Array, offset = 0): TrailerSummary {
  const { entryCount, chunkCount } = decodeTrailerCounts(head, offset);
  if (head.length !== TRAILER_FIXED_SIZE + entryCount * TRAILER_ENTRY_SIZE || tail.length !== 2 * DIGEST_SIZE) {
    throw new RangeError('decodeTrailerSummary: head or tail of the wrong length');
  }
  return {
    entries: decodeEntries(head, entryCount, offset),
    chunkCount,
    headerHash: copyOf(tail, 0, DIGEST_SIZE),
    bundleDigest: copyOf(tail, DIGEST_SIZE, 2 * DIGEST_SIZE),
  };
}
