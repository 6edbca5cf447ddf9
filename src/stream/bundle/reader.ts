import { copyOf, digestString, equalBytes, toHex } from '../../format/bytes.js';
import { decodeChunkHeader, type ChunkHeader } from '../../format/chunk.js';
import {
  CHUNK_HEADER_SIZE,
  DIGEST_SIZE,
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
  zstdCompressBound,
} from '../../format/constants.js';
import { BootportError, bundleError } from '../../format/errors.js';
import { decodeExtensionHeader } from '../../format/extension.js';
import { decodeFooter, type Footer } from '../../format/footer.js';
import { decodeManifest, entryLabel, type Manifest } from '../../format/manifest.js';
import { decodePreamble, type Preamble } from '../../format/preamble.js';
import { decodeTrailer, decodeTrailerCounts, trailerSize, type Trailer } from '../../format/trailer.js';
import type { OpenJob } from '../parallel/chunk-work.js';
import { ByteReader } from '../io/byte-reader.js';
import { loadEngines } from '../engine/engines.js';
import type { Hasher } from '../engine/hash.js';
import { BufferPool } from '../parallel/buffers.js';
import { orderedWindow } from '../parallel/ordered.js';
import { mayNeedThreads, runnerFor, type RunOptions } from '../parallel/runner.js';
import type { ByteSource } from '../io/source.js';

export interface ReadOptions extends RunOptions {
  /** Decompress chunks and check every content digest (deep). Without it only digests over compressed bytes are checked. */
  inflate?: boolean;
  /**
   * Chunk events carry `release()`, which the consumer calls when done with `data`, so the buffer
   * can be decompressed into again (as the writer recycles its buffers). A buffer never released
   * is simply not reused.
   */
  recycle?: boolean;
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
  /** The decompressed bytes, when reading with `inflate`. */
  data?: Uint8Array;
  /** With `recycle`: hands `data`'s buffer back to be decompressed into again. Call it once done with `data`. */
  release?: () => void;
}
export interface EntryEndEvent {
  type: 'entry-end';
  entry: number;
  chunks: number;
  rawBytes: number;
  compBytes: number;
  /** BLAKE3 of the content, when reading with `inflate`. */
  contentDigest?: Uint8Array;
}
export interface EndEvent {
  type: 'end';
  trailer: Trailer;
  footer: Footer;
  size: number;
  extensions: { type: number; length: number }[];
}
export type BundleEvent = HeaderEvent | ChunkEvent | EntryEndEvent | EndEvent;

interface EntryState {
  chunks: number;
  rawBytes: number;
  compBytes: number;
  content?: Hasher;
  contentDigest?: Uint8Array;
}

/**
 * Reads a bundle in one pass and yields what it proves as it goes. It never yields a chunk's
 * data before that chunk's digest has matched, and stops at the first bad byte. The caller must
 * still wait for the `end` event before trusting the whole: only the trailer proves that nothing
 * was dropped, added or reordered.
 */
export async function* readBundle(input: ByteSource, opts: ReadOptions = {}): AsyncGenerator<BundleEvent> {
  const engines = opts.engines ?? (await loadEngines());
  const inflate = opts.inflate ?? true;
  const r = new ByteReader(input);
  let closeRunner: (() => Promise<void>) | undefined;
  try {
    const preBytes = await r.read(PREAMBLE_SIZE, 'the preamble');
    const preamble = decodePreamble(preBytes);
    const manifestBytes = await r.read(preamble.manifestLength, 'the manifest');
    const manifest = decodeManifest(manifestBytes);
    const headerHash = engines.hash.digestOf([preBytes, manifestBytes]);
    const bundleHasher = await engines.hash.create();
    bundleHasher.update(preBytes);
    bundleHasher.update(manifestBytes);
    yield { type: 'header', preamble, manifest, headerHash };

    const states: EntryState[] = [];
    for (let i = 0; i < manifest.entries.length; i++) {
      states.push({ chunks: 0, rawBytes: 0, compBytes: 0, ...(inflate ? { content: await engines.hash.create() } : {}) });
    }
    const seekTable: number[] = [];
    let current = 0;
    let nextSeq = 0;

    const { runner, owned } = runnerFor(engines, opts);
    closeRunner = owned ? () => runner.close() : undefined;
    if (mayNeedThreads(manifest.entries)) runner.warm?.();
    // Decompressed chunk buffers, back from the consumer (with `recycle`), one pool per chunk size.
    const pools = new Map<number, BufferPool>();
    const poolFor = (size: number): BufferPool => {
      let p = pools.get(size);
      if (!p) pools.set(size, (p = new BufferPool(size, runner.openWidth + 1)));
      return p;
    };

    // Parses and checks chunk records in order; the digest and frame work runs in `open`.
    const records = async function* (): AsyncGenerator<OpenJob & { header: ChunkHeader }> {
      while ((await r.peek()) === TAG_CHUNK) {
        const offset = r.position;
        const headerBytes = await r.read(CHUNK_HEADER_SIZE, 'a chunk header');
        const h = decodeChunkHeader(headerBytes, offset);
        const loc = { entry: entryLabel(manifest, h.entry), chunk: h.seq, offset };
        if (current >= manifest.entries.length) throw bundleError('ERR_BUNDLE_SEQUENCE', 'chunk after the final chunk of the last entry', loc);
        if (h.entry !== current || h.seq !== nextSeq) {
          throw bundleError('ERR_BUNDLE_SEQUENCE', `expected entry ${current} chunk ${nextSeq}, found entry ${h.entry} chunk ${h.seq}`, loc);
        }
        const entry = manifest.entries[current]!;
        if (h.final ? h.rawLength > entry.chunk_size || (h.rawLength === 0 && h.seq !== 0) : h.rawLength !== entry.chunk_size) {
          throw bundleError('ERR_BUNDLE_SEQUENCE', `chunk of ${h.rawLength} bytes is not allowed here (chunk size ${entry.chunk_size}, final ${h.final})`, loc);
        }
        if (h.compLength > zstdCompressBound(h.rawLength)) {
          throw bundleError('ERR_BUNDLE_LIMIT', `compressed length ${h.compLength} exceeds the zstd bound for ${h.rawLength} bytes`, loc);
        }
        const st = states[current]!;
        if (entry.size !== undefined && st.rawBytes + h.rawLength > entry.size) {
          throw bundleError('ERR_BUNDLE_SIZE_MISMATCH', `entry holds more than its declared ${entry.size} bytes`, loc);
        }
        const what = `the payload of entry ${h.entry} chunk ${h.seq}`;
        // Workers read a file's payloads themselves. Anything else is read here and goes to the
        // worker transferred, so it must be an array of the reader's own.
        const at = runner.readsFiles ? await r.claim(h.compLength, what) : undefined;
        const payload = at ? {} : { payload: await r.readOwned(h.compLength, what) };
        const out = inflate && opts.recycle && h.rawLength > 0 ? { out: poolFor(entry.chunk_size).take() } : {};
        const job: OpenJob = { headerHash, headerBytes: copyOf(headerBytes), header: h, ...payload, ...(at ? { at } : {}), offset, inflate, ...out };
        seekTable.push(offset);
        st.chunks++;
        st.rawBytes += h.rawLength;
        st.compBytes += h.compLength;
        if (h.final) {
          current++;
          nextSeq = 0;
        } else nextSeq++;
        yield job;
      }
    };

    const opened = orderedWindow(records(), async (job) => ({ job, data: await runner.open(job) }), runner.openWidth);
    for await (const { job, data } of opened) {
      const h = job.header;
      bundleHasher.update(job.headerBytes);
      const st = states[h.entry]!;
      if (data) st.content!.update(data);
      let release: (() => void) | undefined;
      if (opts.recycle && data) {
        const pool = poolFor(manifest.entries[h.entry]!.chunk_size);
        let given = false;
        // Once only: a second call would put one buffer in the pool twice.
        release = () => void (given || ((given = true), pool.give(data)));
      }
      yield {
        type: 'chunk',
        entry: h.entry,
        seq: h.seq,
        offset: job.offset,
        rawLength: h.rawLength,
        compLength: h.compLength,
        ...(data ? { data } : {}),
        ...(release ? { release } : {}),
      };
      if (h.final) {
        if (st.content) st.contentDigest = st.content.digest();
        yield {
          type: 'entry-end',
          entry: h.entry,
          chunks: st.chunks,
          rawBytes: st.rawBytes,
          compBytes: st.compBytes,
          ...(st.contentDigest ? { contentDigest: st.contentDigest } : {}),
        };
      }
    }

    const trailerOffset = r.position;
    const tag = await r.peek();
    if (tag === undefined) {
      throw bundleError('ERR_BUNDLE_TRUNCATED', `input ended after ${current} of ${manifest.entries.length} entries, before the trailer`, {
        offset: trailerOffset,
      });
    }
    if (tag !== TAG_TRAILER)
      throw bundleError('ERR_BUNDLE_RECORD', `expected a chunk or the trailer, found tag 0x${tag.toString(16)}`, { offset: trailerOffset });
    if (current < manifest.entries.length) {
      throw bundleError('ERR_BUNDLE_SEQUENCE', `the trailer came before entry ${entryLabel(manifest, current)} was complete`, { offset: trailerOffset });
    }
    const fixed = await r.read(TRAILER_FIXED_SIZE, 'the trailer');
    const counts = decodeTrailerCounts(fixed, trailerOffset);
    // Check the counts against what was read before reading (and allocating) the rest.
    if (counts.entryCount !== manifest.entries.length || counts.chunkCount !== seekTable.length) {
      throw bundleError(
        'ERR_BUNDLE_TRAILER',
        `trailer counts ${counts.entryCount} entries and ${counts.chunkCount} chunks, the bundle holds ${manifest.entries.length} and ${seekTable.length}`,
        { offset: trailerOffset },
      );
    }
    const size = trailerSize(counts.entryCount, counts.chunkCount);
    const rest = await r.read(size - TRAILER_FIXED_SIZE, 'the trailer');
    const trailerBytes = new Uint8Array(size);
    trailerBytes.set(fixed, 0);
    trailerBytes.set(rest, TRAILER_FIXED_SIZE);
    const trailer = decodeTrailer(trailerBytes, trailerOffset);
    bundleHasher.update(trailerBytes.subarray(0, size - DIGEST_SIZE));
    if (!equalBytes(bundleHasher.digest(), trailer.bundleDigest)) {
      throw bundleError('ERR_BUNDLE_DIGEST_MISMATCH', 'the bundle digest in the trailer does not match the headers and trailer', {
        offset: trailerOffset + size - DIGEST_SIZE,
      });
    }
    checkTrailer(manifest, trailer, headerHash, seekTable, states, trailerOffset);

    const extensions: { type: number; length: number }[] = [];
    while ((await r.peek()) === TAG_EXTENSION) {
      const at = r.position;
      if (!(preamble.optional & OPT_FEATURE_EXTENSIONS))
        throw bundleError('ERR_BUNDLE_RECORD', 'extension record present but the preamble does not announce extensions', { offset: at });
      if (extensions.length >= MAX_EXTENSIONS) throw bundleError('ERR_BUNDLE_LIMIT', `more than ${MAX_EXTENSIONS} extension records`, { offset: at });
      const xh = decodeExtensionHeader(await r.read(EXTENSION_HEADER_SIZE, 'an extension record'), at);
      await r.read(xh.length, 'an extension record');
      extensions.push(xh);
    }
    const footerOffset = r.position;
    const ftag = await r.peek();
    if (ftag === undefined) throw bundleError('ERR_BUNDLE_TRUNCATED', 'input ended before the footer', { offset: footerOffset });
    if (ftag !== TAG_FOOTER)
      throw bundleError('ERR_BUNDLE_RECORD', `expected the footer (tag 0x46), found tag 0x${ftag.toString(16)}`, { offset: footerOffset });
    const footer = decodeFooter(await r.read(FOOTER_SIZE, 'the footer'), footerOffset);
    if (footer.trailerOffset !== trailerOffset || footer.trailerLength !== size) {
      throw bundleError(
        'ERR_BUNDLE_TRAILER',
        `footer locates the trailer at ${footer.trailerOffset}+${footer.trailerLength}, it is at ${trailerOffset}+${size}`,
        { offset: footerOffset },
      );
    }
    if (!(await r.atEnd())) throw bundleError('ERR_BUNDLE_TRAILING_DATA', 'data follows the footer', { offset: r.position });
    yield { type: 'end', trailer, footer, size: r.position, extensions };
  } finally {
    await closeRunner?.();
    await r.close();
  }
}

function checkTrailer(manifest: Manifest, t: Trailer, headerHash: Uint8Array, seekTable: number[], states: EntryState[], offset: number): void {
  if (!equalBytes(t.headerHash, headerHash))
    throw bundleError('ERR_BUNDLE_TRAILER', 'trailer header hash does not match the preamble and manifest', { offset });
  for (let i = 0; i < seekTable.length; i++) {
    if (t.seekTable[i] !== seekTable[i])
      throw bundleError('ERR_BUNDLE_TRAILER', `seek table entry ${i} says ${t.seekTable[i]}, the chunk is at ${seekTable[i]}`, { offset });
  }
  manifest.entries.forEach((e, i) => {
    const te = t.entries[i]!;
    const st = states[i]!;
    const loc = { entry: entryLabel(manifest, i), offset };
    if (te.chunks !== st.chunks || te.rawBytes !== st.rawBytes || te.compBytes !== st.compBytes) {
      throw bundleError(
        'ERR_BUNDLE_TRAILER',
        `trailer totals (${te.chunks} chunks, ${te.rawBytes} raw, ${te.compBytes} compressed) differ from the chunks read (${st.chunks}, ${st.rawBytes}, ${st.compBytes})`,
        loc,
      );
    }
    if (e.size !== undefined && e.size !== te.rawBytes)
      throw bundleError('ERR_BUNDLE_SIZE_MISMATCH', `manifest declares ${e.size} bytes, the entry holds ${te.rawBytes}`, loc);
    if (e.digest !== undefined && e.digest !== digestString(te.contentDigest)) {
      throw bundleError('ERR_BUNDLE_SIZE_MISMATCH', `manifest declares content ${e.digest}, the trailer says ${digestString(te.contentDigest)}`, loc);
    }
    if (st.contentDigest && !equalBytes(st.contentDigest, te.contentDigest)) {
      throw bundleError(
        'ERR_BUNDLE_DIGEST_MISMATCH',
        `content digest is blake3:${toHex(st.contentDigest)}, the trailer says ${digestString(te.contentDigest)}`,
        loc,
      );
    }
  });
}

/** Reads a whole bundle for its verdict, discarding content. Throws the first failure. */
export async function verifyBundle(input: ByteSource, opts: ReadOptions = {}): Promise<VerifyResult> {
  let header: HeaderEvent | undefined;
  const entries: EntryEndEvent[] = [];
  // Nothing here keeps chunk data, so every buffer goes straight back.
  for await (const ev of readBundle(input, { ...opts, recycle: true })) {
    if (ev.type === 'chunk') ev.release?.();
    else if (ev.type === 'header') header = ev;
    else if (ev.type === 'entry-end') entries.push(ev);
    else if (ev.type === 'end') return { manifest: header!.manifest, headerHash: header!.headerHash, entries, end: ev, deep: opts.inflate ?? true };
  }
  throw new BootportError('ERR_BUNDLE_TRUNCATED', 'bundle ended without a footer');
}

export interface VerifyResult {
  manifest: Manifest;
  headerHash: Uint8Array;
  entries: EntryEndEvent[];
  end: EndEvent;
  deep: boolean;
}
