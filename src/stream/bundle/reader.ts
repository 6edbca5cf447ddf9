import { concatBytes, copyOf, equalBytes } from '../../format/bytes.js';
import { DeltaParser } from '../../format/delta.js';
import { decodeChunkHeader, type ChunkHeader } from '../../format/chunk.js';
import {
  CHUNK_HEADER_SIZE,
  EXTENSION_HEADER_SIZE,
  FOOTER_SIZE,
  MAX_EXTENSIONS,
  OPT_FEATURE_EXTENSIONS,
  PREAMBLE_SIZE,
  TAG_CHUNK,
  TAG_EXTENSION,
  TAG_FOOTER,
  TAG_TRAILER,
  TRAILER_FIXED_SIZE,
} from '../../format/constants.js';
import { BootportError, bundleError, type ErrorLocation } from '../../format/errors.js';
import { decodeExtensionHeader } from '../../format/extension.js';
import { decodeFooter, type Footer } from '../../format/footer.js';
import { checkDeltaFeature, decodeManifest, entryLabel, type Manifest } from '../../format/manifest.js';
import { decodePreamble, type Preamble } from '../../format/preamble.js';
import { BundleLedger } from '../../format/ledger.js';
import { decodeTrailer, decodeTrailerCounts, trailerSize, type Trailer } from '../../format/trailer.js';
import type { OpenJob } from '../parallel/chunk-work.js';
import type { Candidates } from '../engine/pieces.js';
import type { ContentHasher } from '../engine/tree.js';
import { alignedBytes } from '../io/direct.js';
import { ByteReader } from '../io/byte-reader.js';
import { loadEngines, type Engines } from '../engine/engines.js';
import { BufferPool } from '../parallel/buffers.js';
import { orderedWindow } from '../parallel/ordered.js';
import { mayNeedThreads, runnerFor, type ChunkRunner, type RunOptions } from '../parallel/runner.js';
import { isDirect, type ByteSource } from '../io/source.js';
import { planWalk, type Run } from './walk.js';

export interface ReadOptions extends RunOptions {
  /**
   * Decompress every chunk and check every content digest, as `verify --deep` does; true by
   * default. Without it only the digests over compressed bytes and the frame headers are checked.
   */
  deep?: boolean;
  /**
   * Chunk events carry `release()`, which the consumer calls when done with `data`, so the buffer
   * can be decompressed into again (as the writer recycles its buffers). A buffer never released
   * is simply not reused.
   */
  recycle?: boolean;
  /** Told of each chunk as it is verified: its raw and compressed lengths, for progress. */
  onChunk?: (raw: number, comp: number) => void;
  /** Entries whose chunks also come with their candidate pieces (cut where they are inflated), when reading deep. */
  pieces?: (entry: number) => boolean;
}

export interface HeaderEvent {
  type: 'header';
  preamble: Preamble;
  manifest: Manifest;
  headerHash: Uint8Array;
}
export interface ChunkEvent {
  type: 'chunk';
  entry: number;
  seq: number;
  offset: number;
  rawLength: number;
  compLength: number;
  /** The decompressed bytes, when reading `deep`. */
  data?: Uint8Array;
  /** With `recycle`: hands `data`'s buffer back to be decompressed into again. Call it once done with `data`. */
  release?: () => void;
  /** With `pieces`: the delta chunker's candidate pieces of `data`, for a PieceCutter. */
  pieces?: Candidates;
}
export interface EntryEndEvent {
  type: 'entry-end';
  entry: number;
  chunks: number;
  rawBytes: number;
  compBytes: number;
  /** BLAKE3 of the content, when reading `deep`. */
  contentDigest?: Uint8Array;
}
export interface EndEvent {
  type: 'end';
  trailer: Trailer;
  footer: Footer;
  size: number;
  /** Extension records, with their bodies: at most 16 of at most 64 KiB. */
  extensions: { type: number; length: number; body: Uint8Array }[];
}
export type BundleEvent = HeaderEvent | ChunkEvent | EntryEndEvent | EndEvent;

/**
 * Reads a bundle in one pass and yields what it proves as it goes. It never yields a chunk's
 * data before that chunk's digest has matched, and stops at the first bad byte. The caller must
 * still wait for the `end` event before trusting the whole: only the trailer proves that nothing
 * was dropped, added or reordered.
 */
export async function* readBundle(input: ByteSource, opts: ReadOptions = {}): AsyncGenerator<BundleEvent> {
  const engines = opts.engines ?? (await loadEngines());
  const inflate = opts.deep ?? true;
  const r = new ByteReader(input);
  let closeRunner: (() => Promise<void>) | undefined;
  try {
    const { header, preBytes, manifestBytes } = await readHeader(r, engines);
    const { manifest, headerHash } = header;
    yield header;
    const ledger = new BundleLedger(manifest, headerHash, await engines.hash.create(), preBytes, manifestBytes);
    const { runner, owned } = runnerFor(engines, opts);
    closeRunner = owned ? () => runner.close() : undefined;
    if (mayNeedThreads(manifest.entries)) runner.warm?.();
    const buffers = new ChunkBuffers(runner.openWidth + 1);
    // Where the engines can, workers hash each whole chunk as a subtree of its content's tree, and
    // this thread only merges them: hashing every byte here in order was the longest task left.
    const tree = inflate ? engines.tree : undefined;
    const content = inflate ? await Promise.all(manifest.entries.map(async (): Promise<ContentHasher> => tree?.create() ?? engines.hash.create())) : undefined;
    const contentDigests: (Uint8Array | undefined)[] = [];
    const programs = inflate ? manifest.entries.map((e, i) => (e.delta ? new DeltaParser(e.delta, { entry: entryLabel(manifest, i) }) : undefined)) : [];

    // Only checking a file, with workers: they check runs of records, and this thread only books them.
    if (!inflate) yield* walkedRecords(r, input, runner, ledger, opts.onChunk);

    const jobs = chunkJobs(
      r,
      ledger,
      runner.readsFiles === true,
      (h) => (inflate && opts.recycle && h.rawLength > 0 ? buffers.take(manifest, h.entry) : undefined),
      tree !== undefined,
    );
    const piecesOf = (entry: number) => inflate && opts.pieces?.(entry) === true;
    const open = async (job: Omit<OpenJob, 'inflate'>) => ({ job, ...(await runner.open({ ...job, inflate, pieces: piecesOf(job.header.entry) })) });
    // Checking without inflating from a file, a job holds no bytes on this thread, only where its
    // payload is: many more can be in flight, so that no worker waits behind a slow one.
    const width = !inflate && runner.readsFiles === true && isDirect(input) ? runner.openWidth * 4 : runner.openWidth;
    for await (const { job, data, pieces, pair } of orderedWindow(jobs, open, width)) {
      const h = job.header;
      if (data) {
        const hasher = content![h.entry]!;
        if (!(pair && job.subtree !== undefined && hasher.push?.(pair, job.subtree, data.length))) hasher.update(data);
        const program = programs[h.entry];
        if (program) checkProgram(program, data, engines, { entry: entryLabel(manifest, h.entry), chunk: h.seq, offset: job.offset });
      }
      opts.onChunk?.(h.rawLength, h.compLength);
      const release = opts.recycle && data ? buffers.releaser(manifest, h.entry, data) : undefined;
      yield {
        type: 'chunk',
        entry: h.entry,
        seq: h.seq,
        offset: job.offset,
        rawLength: h.rawLength,
        compLength: h.compLength,
        ...(data ? { data } : {}),
        ...(release ? { release } : {}),
        ...(pieces ? { pieces } : {}),
      };
      if (h.final) {
        programs[h.entry]?.finish();
        // Every chunk of this entry was booked when its header was read, ahead of this point.
        const digest = content?.[h.entry]!.digest();
        contentDigests[h.entry] = digest;
        yield { type: 'entry-end', entry: h.entry, ...ledger.totals[h.entry]!, ...(digest ? { contentDigest: digest } : {}) };
      }
    }
    yield { type: 'end', ...(await readTail(r, ledger, header.preamble, contentDigests)) };
  } finally {
    await closeRunner?.();
    await r.close();
  }
}

/**
 * The chunk records of a bundle file checked in runs on the workers (walk.ts), booked here in
 * order by the same rules as one read at a time. It stops where a run stopped short, and leaves
 * `r` at the first record not booked: the trailer, when every run was whole.
 */
async function* walkedRecords(
  r: ByteReader,
  input: ByteSource,
  runner: ChunkRunner,
  ledger: BundleLedger,
  onChunk: ReadOptions['onChunk'],
): AsyncGenerator<ChunkEvent | EntryEndEvent> {
  const where = runner.walk && isDirect(input) ? await input.locate?.() : undefined;
  const plan = where && planWalk(where.fd, where.size, r.position, runner.openWidth);
  if (!where || !plan) return;
  const walk = async (run: Run) => ({ run, walked: await runner.walk!({ headerHash: ledger.headerHash, fd: where.fd, ...run }) });
  let at = r.position;
  for await (const { run, walked } of orderedWindow(plan.runs, walk, runner.openWidth)) {
    at = run.from;
    for (let i = 0; i < walked.headers.length; i += CHUNK_HEADER_SIZE) {
      const headerBytes = walked.headers.subarray(i, i + CHUNK_HEADER_SIZE);
      const h = decodeChunkHeader(headerBytes, at);
      ledger.checkNext(h, at);
      ledger.add(h, headerBytes, at);
      onChunk?.(h.rawLength, h.compLength);
      yield { type: 'chunk', entry: h.entry, seq: h.seq, offset: at, rawLength: h.rawLength, compLength: h.compLength };
      if (h.final) yield { type: 'entry-end', entry: h.entry, ...ledger.totals[h.entry]! };
      at += CHUNK_HEADER_SIZE + h.compLength;
    }
    if (!walked.complete) break;
  }
  r.skip(at - r.position);
}

/** A delta program's operations in `data`, and each carried piece's digest. */
function checkProgram(program: DeltaParser, data: Uint8Array, engines: Engines, loc: ErrorLocation): void {
  for (const op of program.feed(data)) {
    if (op.kind === 'data' && !equalBytes(engines.hash.digestOf([op.bytes]), op.digest))
      throw bundleError('ERR_BUNDLE_DIGEST_MISMATCH', `the piece carried at byte ${op.at} of the delta program does not match its digest`, loc);
  }
}

/** The preamble and manifest, and the header hash over them. */
async function readHeader(r: ByteReader, engines: Engines): Promise<{ header: HeaderEvent; preBytes: Uint8Array; manifestBytes: Uint8Array }> {
  // Read short on purpose: a few bytes that are not a bundle's start are bad magic, not a truncation.
  const preBytes = await r.readUpTo(PREAMBLE_SIZE, 'the preamble');
  const preamble = decodePreamble(preBytes);
  const manifestBytes = await r.read(preamble.manifestLength, 'the manifest');
  const manifest = decodeManifest(manifestBytes);
  checkDeltaFeature(preamble, manifest);
  const headerHash = engines.hash.digestOf([preBytes, manifestBytes]);
  return { header: { type: 'header', preamble, manifest, headerHash }, preBytes, manifestBytes };
}

/**
 * The chunk records in order, each decoded, checked against the order rules and booked before it
 * is handed on; the digest and frame checks run in the runner. A file's payloads are left for the
 * runner to read itself; anything else is read here and goes to a worker transferred, so it must
 * be an array of the reader's own.
 */
async function* chunkJobs(
  r: ByteReader,
  ledger: BundleLedger,
  runnerReadsFiles: boolean,
  outFor: (h: ChunkHeader) => Uint8Array | undefined,
  subtrees: boolean,
): AsyncGenerator<Omit<OpenJob, 'inflate'>> {
  // Each entry's content offset so far: where the next chunk's bytes go in its tree.
  const rawAt = new Map<number, number>();
  while ((await r.peek()) === TAG_CHUNK) {
    const offset = r.position;
    const headerBytes = await r.read(CHUNK_HEADER_SIZE, 'a chunk header');
    const h = decodeChunkHeader(headerBytes, offset);
    ledger.checkNext(h, offset);
    const what = `the payload of entry ${h.entry} chunk ${h.seq}`;
    const at = runnerReadsFiles ? await r.claim(h.compLength, what) : undefined;
    const payload = at ? { at } : { payload: await r.readOwned(h.compLength, what) };
    const out = outFor(h);
    ledger.add(h, headerBytes, offset);
    const subtree = rawAt.get(h.entry) ?? 0;
    rawAt.set(h.entry, subtree + h.rawLength);
    yield {
      headerHash: ledger.headerHash,
      headerBytes: copyOf(headerBytes),
      header: h,
      ...payload,
      offset,
      ...(out ? { out } : {}),
      ...(subtrees ? { subtree } : {}),
    };
  }
}

/** Decompressed chunk buffers, back from the consumer (with `recycle`), one pool per chunk size. */
class ChunkBuffers {
  private readonly pools = new Map<number, BufferPool>();
  constructor(private readonly depth: number) {}

  private poolFor(size: number): BufferPool {
    let p = this.pools.get(size);
    // Aligned for O_DIRECT: an import writes these straight to its staged files (DirectFile).
    if (!p) this.pools.set(size, (p = new BufferPool(size, this.depth, alignedBytes)));
    return p;
  }

  take(m: Manifest, entry: number): Uint8Array {
    return this.poolFor(m.entries[entry]!.chunk_size).take();
  }

  /** Gives `data` back once only: a second call would put one buffer in the pool twice. */
  releaser(m: Manifest, entry: number, data: Uint8Array): () => void {
    const pool = this.poolFor(m.entries[entry]!.chunk_size);
    let given = false;
    return () => void (given || ((given = true), pool.give(data)));
  }
}

/** What follows the last chunk: the trailer, any extension records, the footer and end of input. */
async function readTail(
  r: ByteReader,
  ledger: BundleLedger,
  preamble: Preamble,
  contentDigests: readonly (Uint8Array | undefined)[],
): Promise<Omit<EndEvent, 'type'>> {
  const { manifest } = ledger;
  const trailerOffset = r.position;
  const tag = await r.peek();
  if (tag === undefined) {
    throw bundleError('ERR_BUNDLE_TRUNCATED', `input ended after ${ledger.entry} of ${manifest.entries.length} entries, before the trailer`, {
      offset: trailerOffset,
    });
  }
  if (tag !== TAG_TRAILER)
    throw bundleError('ERR_BUNDLE_RECORD', `expected a chunk or the trailer, found tag 0x${tag.toString(16)}`, { offset: trailerOffset });
  if (!ledger.complete) {
    throw bundleError('ERR_BUNDLE_SEQUENCE', `the trailer came before entry ${entryLabel(manifest, ledger.entry)} was complete`, { offset: trailerOffset });
  }
  const fixed = await r.read(TRAILER_FIXED_SIZE, 'the trailer');
  const counts = decodeTrailerCounts(fixed, trailerOffset);
  ledger.checkCounts(counts, trailerOffset);
  const size = trailerSize(counts.entryCount, counts.chunkCount);
  const trailerBytes = concatBytes([fixed, await r.read(size - TRAILER_FIXED_SIZE, 'the trailer')]);
  const trailer = decodeTrailer(trailerBytes, trailerOffset);
  ledger.checkTrailer(trailer, trailerBytes, contentDigests, trailerOffset);

  const extensions: EndEvent['extensions'] = [];
  while ((await r.peek()) === TAG_EXTENSION) {
    const at = r.position;
    if (!(preamble.optional & OPT_FEATURE_EXTENSIONS))
      throw bundleError('ERR_BUNDLE_RECORD', 'extension record present but the preamble does not announce extensions', { offset: at });
    if (extensions.length >= MAX_EXTENSIONS) throw bundleError('ERR_BUNDLE_LIMIT', `more than ${MAX_EXTENSIONS} extension records`, { offset: at });
    const xh = decodeExtensionHeader(await r.read(EXTENSION_HEADER_SIZE, 'an extension record'), at);
    const body = await r.readOwned(xh.length, 'an extension record');
    extensions.push({ ...xh, body });
  }
  const footerOffset = r.position;
  const ftag = await r.peek();
  if (ftag === undefined) throw bundleError('ERR_BUNDLE_TRUNCATED', 'input ended before the footer', { offset: footerOffset });
  if (ftag !== TAG_FOOTER) throw bundleError('ERR_BUNDLE_RECORD', `expected the footer (tag 0x46), found tag 0x${ftag.toString(16)}`, { offset: footerOffset });
  const footer = decodeFooter(await r.read(FOOTER_SIZE, 'the footer'), footerOffset);
  if (footer.trailerOffset !== trailerOffset || footer.trailerLength !== size) {
    throw bundleError(
      'ERR_BUNDLE_TRAILER',
      `footer locates the trailer at ${footer.trailerOffset}+${footer.trailerLength}, it is at ${trailerOffset}+${size}`,
      { offset: footerOffset },
    );
  }
  if (!(await r.atEnd())) throw bundleError('ERR_BUNDLE_TRAILING_DATA', 'data follows the footer', { offset: r.position });
  return { trailer, footer, size: r.position, extensions };
}

/** Reads a whole bundle for its verdict, discarding content. Throws the first failure. */
export async function verifyBundle(input: ByteSource, opts: VerifyOptions = {}): Promise<VerifyResult> {
  let header: HeaderEvent | undefined;
  const entries: EntryEndEvent[] = [];
  // Nothing here keeps chunk data, so every buffer goes straight back.
  for await (const ev of readBundle(input, { ...opts, recycle: true })) {
    if (ev.type === 'chunk') {
      if (ev.data) await opts.onData?.(header!, ev.entry, ev.data);
      ev.release?.();
    } else if (ev.type === 'header') header = ev;
    else if (ev.type === 'entry-end') {
      await opts.onEntryEnd?.(header!, ev.entry);
      entries.push(ev);
    } else if (ev.type === 'end') {
      return { preamble: header!.preamble, manifest: header!.manifest, headerHash: header!.headerHash, entries, end: ev, deep: opts.deep ?? true };
    }
  }
  throw new BootportError('ERR_BUNDLE_TRUNCATED', 'bundle ended without a footer');
}

export interface VerifyOptions extends ReadOptions {
  /** Each chunk's bytes, when reading deep, before its buffer is reused: for checks beyond the bundle's own. */
  onData?: (header: HeaderEvent, entry: number, data: Uint8Array) => Promise<void>;
  onEntryEnd?: (header: HeaderEvent, entry: number) => Promise<void>;
}

export interface VerifyResult {
  preamble: Preamble;
  manifest: Manifest;
  headerHash: Uint8Array;
  entries: EntryEndEvent[];
  end: EndEvent;
  deep: boolean;
}
