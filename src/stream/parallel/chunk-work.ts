import { decodeChunkHeader, encodeChunkFields, encodeChunkHeader, type ChunkHeader } from '../../format/chunk.js';
import { CHUNK_FIELDS_SIZE, CHUNK_HEADER_SIZE } from '../../format/constants.js';
import { concatBytes, equalBytes } from '../../format/bytes.js';
import { bundleError, isBootportError, type ErrorLocation } from '../../format/errors.js';
import { FrameError, inspectZstdFrame } from '../../format/zstd-frame.js';
import type { Engines } from '../engine/engines.js';
import { readFullSync } from '../io/files.js';
import type { Candidates } from '../engine/pieces.js';

/**
 * The per-chunk work, kept apart from the stream plumbing so a worker pool can run it:
 * sealing compresses and digests one chunk; opening checks one chunk and, if asked, inflates it.
 */
export interface SealJob {
  headerHash: Uint8Array;
  entry: number;
  seq: number;
  final: boolean;
  level: number;
  raw: Uint8Array;
  /** A buffer of at least zstdCompressBound(raw.length) bytes to compress into, if the caller recycles them. */
  out?: Uint8Array;
}

export interface Sealed {
  /** The 52-byte chunk header, digest included. */
  header: Uint8Array;
  /** The header's fields, for the books. */
  chunk: { entry: number; final: boolean; rawLength: number; compLength: number };
  payload: Uint8Array;
  /** The job's raw bytes, handed back (a worker transfers them back) so the buffer can be reused. */
  raw: Uint8Array;
  /** The job's `out` buffer, handed back likewise; `payload` may be a view into it. */
  out?: Uint8Array;
}

export function sealChunk(engines: Engines, job: SealJob): Sealed {
  const payload = engines.codec.compress(job.raw, job.level, job.out);
  const h = { final: job.final, entry: job.entry, rawLength: job.raw.length, compLength: payload.length, seq: job.seq };
  const header = encodeChunkHeader({ ...h, digest: engines.hash.digestOf([job.headerHash, encodeChunkFields(h), payload]) });
  return { header, chunk: h, payload, raw: job.raw, ...(job.out ? { out: job.out } : {}) };
}

export interface OpenJob {
  headerHash: Uint8Array;
  /** The raw 52 header bytes as read. */
  headerBytes: Uint8Array;
  header: ChunkHeader;
  /** The compressed bytes, or where in a file to read them (the thread doing the work reads them). */
  payload?: Uint8Array;
  at?: { fd: number; offset: number };
  offset: number;
  inflate: boolean;
  /** A buffer of at least rawLength bytes to decompress into, if the caller recycles them. */
  out?: Uint8Array;
  /** Also cut the inflated bytes into the delta chunker's candidate pieces (for a chunk index). */
  pieces?: boolean;
  /** Also hash the inflated bytes as the subtree of the content's BLAKE3 tree at this content offset, where they are a whole one (engine/tree.ts). */
  subtree?: number;
}

/** An opened chunk: its inflated bytes, when asked for, and their candidate pieces, when asked for. */
export interface Opened {
  data?: Uint8Array;
  pieces?: Candidates;
  /** The subtree's pair, when asked for and the bytes are a whole aligned subtree. */
  pair?: Uint8Array;
}

/** openChunk, then the candidate pieces and the subtree the job asks for: the whole of a reader's per-chunk work. */
export function openWithPieces(engines: Engines, job: OpenJob, scratch?: Uint8Array): Opened {
  const data = openChunk(engines, job, scratch);
  if (!data) return {};
  const pair = job.subtree === undefined ? undefined : engines.tree?.subtree(data, job.subtree);
  return { data, ...(job.pieces ? { pieces: engines.pieces.candidates(data) } : {}), ...(pair ? { pair } : {}) };
}

/**
 * The job's payload: as given, or read from the file, into `scratch` when it is large enough.
 * Reading here, on the thread that hashes it, keeps the bytes in that core's cache between the
 * copy from the page cache and the hash, as b3sum does.
 */
export function payloadOf(job: OpenJob, scratch?: Uint8Array): Uint8Array {
  if (job.payload) return job.payload;
  const { fd, offset } = job.at!;
  const h = job.header;
  const n = h.compLength;
  const buf = scratch && scratch.length >= n ? scratch.subarray(0, n) : new Uint8Array(n);
  const got = readFullSync(fd, buf, offset, `the payload of entry ${h.entry} chunk ${h.seq} at byte offset ${offset}`);
  if (got < n) {
    throw bundleError(
      'ERR_BUNDLE_TRUNCATED',
      `input ended inside the payload of entry ${h.entry} chunk ${h.seq}: needed ${n} bytes at offset ${offset}, ${got} remain`,
      { offset: offset + got },
    );
  }
  return buf;
}

/**
 * Checks the digest first: a chunk whose bytes are not what the writer sealed is reported as a
 * digest mismatch, and no codec ever sees it. The frame is inspected even when not inflating, so
 * a hostile but correctly-digested bomb fails `verify` too.
 */
export function openChunk(engines: Engines, job: OpenJob, scratch?: Uint8Array): Uint8Array | undefined {
  const { header: h } = job;
  const loc: ErrorLocation = { entry: h.entry, chunk: h.seq, offset: job.offset };
  const fields = job.headerBytes.subarray(0, CHUNK_FIELDS_SIZE);
  const payload = payloadOf(job, scratch);
  if (!equalBytes(engines.hash.digestOf([job.headerHash, fields, payload]), h.digest)) {
    throw bundleError('ERR_BUNDLE_DIGEST_MISMATCH', 'chunk digest does not match its bytes', loc);
  }
  try {
    const info = inspectZstdFrame(payload);
    if (info.frameSize !== payload.length) throw new FrameError(`frame is ${info.frameSize} bytes, the chunk holds ${payload.length}`);
    if (info.contentSize !== h.rawLength) throw new FrameError(`frame declares ${info.contentSize} bytes, the chunk ${h.rawLength}`);
    if (!job.inflate) return undefined;
    return engines.codec.decompress(payload, h.rawLength, job.out);
  } catch (e) {
    if (isBootportError(e)) throw e;
    throw bundleError('ERR_BUNDLE_CORRUPT_CHUNK', `chunk is not one zstd frame of ${h.rawLength} bytes: ${(e as Error).message}`, loc);
  }
}

/** A run of whole chunk records, [from, to) of a bundle file, for one worker to check in one go (bundle/walk.ts). */
export interface WalkJob {
  headerHash: Uint8Array;
  fd: number;
  from: number;
  to: number;
}

/** The 52-byte headers of the records that passed, in order, and whether they reach `to`. */
export interface Walked {
  headers: Uint8Array;
  complete: boolean;
}

/**
 * Checks each record of a walk as openChunk does without inflating, each read into the worker's
 * scratch with positional reads. It stops at the first record that does not pass, that would run
 * past `to`, or that the file ends inside (it may have been cut short since the run was planned),
 * and never throws for what it finds there: the reader reads on from that record one at a time,
 * so what is reported, and where, is what a reading in order reports. Nothing it passes is
 * trusted before the reader has also put each header through the order rules.
 *
 * Read, not mapped: letting go of a mapping's pages as a walk goes flushes the TLB of every
 * other thread of the process, which a hypervisor makes dear, and hashing through a mapping ran
 * slower than copying each record into a buffer the thread keeps reusing, as b3sum does, on a
 * machine where both were timed (bench/README.md).
 */
export function walkChunks(engines: Engines, job: WalkJob, scratch: (bytes: number) => Uint8Array): Walked {
  const { fd, from, to } = job;
  const passed: Uint8Array[] = [];
  let at = from;
  try {
    while (to - at >= CHUNK_HEADER_SIZE) {
      const headerBytes = new Uint8Array(CHUNK_HEADER_SIZE);
      if (readFullSync(fd, headerBytes, at, `a chunk header at byte offset ${at}`) < CHUNK_HEADER_SIZE) break;
      const header = decodeChunkHeader(headerBytes, at);
      const payloadAt = at + CHUNK_HEADER_SIZE;
      const end = payloadAt + header.compLength;
      if (end > to) break;
      openChunk(
        engines,
        { headerHash: job.headerHash, headerBytes, header, at: { fd, offset: payloadAt }, offset: at, inflate: false },
        scratch(header.compLength),
      );
      passed.push(headerBytes);
      at = end;
    }
  } catch {
    // Read again in order by the reader, which reports it.
  }
  return { headers: concatBytes(passed), complete: at === to };
}

/**
 * Where per-chunk work runs. The writer keeps `sealWidth` jobs in flight through an ordered
 * window and the reader `openWidth`, so output order and backpressure do not depend on which
 * runner is used, and the widths bound the buffers held.
 */
export interface ChunkRunner {
  /** Chunks being compressed at once when writing. */
  readonly sealWidth: number;
  /** Chunks being checked (and inflated) at once when reading. */
  readonly openWidth: number;
  seal(job: SealJob): Promise<Sealed>;
  open(job: OpenJob): Promise<Opened>;
  close(): Promise<void>;
  /** Whether `open` jobs may name a file range instead of carrying the payload. */
  readonly readsFiles?: boolean;
  /** A hint that multi-chunk work is coming: start any threads now, while the caller does other things. */
  warm?(): void;
  /** Checks a run of records in a file at once (walkChunks), where the runner has threads to spread runs over. */
  walk?(job: WalkJob): Promise<Walked>;
}
