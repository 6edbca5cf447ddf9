import { Readable } from 'node:stream';
import { concatBytes, digestString } from '../format/bytes.js';
import { VERSION_MAJOR, VERSION_MINOR } from '../format/constants.js';
import { BootportError } from '../format/errors.js';
import { encodeFooter } from '../format/footer.js';
import { encodeManifest, entryLabel, type Manifest } from '../format/manifest.js';
import { encodePreamble } from '../format/preamble.js';
import { encodeTrailerBody, type TrailerEntry } from '../format/trailer.js';
import { chunked } from './chunker.js';
import { sealChunk, type Sealed, type SealJob } from './chunk-work.js';
import { loadEngines, type Engines } from './engines.js';
import { orderedWindow } from './ordered.js';

export type ByteSource = AsyncIterable<Uint8Array | string>;

export interface WriteOptions {
  engines?: Engines;
  /** Runs the per-chunk work; defaults to this thread. A worker pool plugs in here. */
  seal?: (job: SealJob) => Promise<Sealed>;
  /** Chunks compressing at once; bounds memory at about (width + 2) x chunk size. */
  width?: number;
}

export interface WriteSummary {
  bytes: number;
  bundleDigest: string;
  entries: { role: string; name: string; rawBytes: number; compBytes: number; chunks: number; digest: string }[];
}

/**
 * Writes a bundle in one pass: manifest first, then each entry's chunks in manifest order, then
 * the trailer and footer. Nothing is buffered beyond the chunks in flight, and the sources are
 * read only as fast as the returned stream is consumed.
 */
export async function* bundleBytes(manifest: Manifest, sources: readonly ByteSource[], opts: WriteOptions = {}, summary?: (s: WriteSummary) => void): AsyncGenerator<Uint8Array> {
  if (sources.length !== manifest.entries.length) throw new RangeError(`manifest has ${manifest.entries.length} entries, ${sources.length} sources given`);
  const engines = opts.engines ?? (await loadEngines());
  const seal = opts.seal ?? (async (job: SealJob) => sealChunk(engines, job));
  const width = Math.max(1, opts.width ?? 1);
  for (const e of manifest.entries) {
    if (e.chunk_size > engines.codec.maxCompressChunk) {
      throw new BootportError('ERR_CODEC', `${engines.codec.name} cannot compress ${e.chunk_size} byte chunks (limit ${engines.codec.maxCompressChunk})`, { entry: e.name }, 'choose a smaller --chunk-size');
    }
  }
  const manifestBytes = encodeManifest(manifest);
  const preamble = encodePreamble({ major: VERSION_MAJOR, minor: VERSION_MINOR, required: 0, optional: 0, manifestLength: manifestBytes.length });
  const headerHash = engines.hash.digestOf([preamble, manifestBytes]);
  const bundleHasher = await engines.hash.create();
  bundleHasher.update(preamble);
  bundleHasher.update(manifestBytes);
  let offset = preamble.length + manifestBytes.length;
  yield concatBytes([preamble, manifestBytes]);

  const seekTable: number[] = [];
  const totals: TrailerEntry[] = [];
  for (const [i, entry] of manifest.entries.entries()) {
    const contentHasher = await engines.hash.create();
    let seq = 0;
    let rawBytes = 0;
    const spare: Uint8Array[] = [];
    const alloc = () => spare.pop() ?? new Uint8Array(entry.chunk_size);
    const buffers = new Map<number, Uint8Array>();
    const jobs = async function* (): AsyncGenerator<SealJob> {
      try {
        for await (const piece of chunked(sources[i] as ByteSource, entry.chunk_size, alloc)) {
          buffers.set(seq, piece.buffer);
          // Hash the content here, in order, before the raw bytes go off to be compressed.
          contentHasher.update(piece.data);
          rawBytes += piece.data.length;
          yield { headerHash, entry: i, seq: seq++, final: piece.final, level: entry.level, raw: piece.data };
        }
      } catch (e) {
        if (e instanceof BootportError) throw e;
        throw new BootportError('ERR_SOURCE', `reading the ${entry.role} source failed: ${(e as Error).message}`, { entry: entryLabel(manifest, i) }, undefined, { cause: e });
      }
    };
    let compBytes = 0;
    let chunks = 0;
    let done = 0;
    for await (const s of orderedWindow(jobs(), seal, width)) {
      // The chunk is compressed: its raw buffer can take the next chunk.
      const buf = buffers.get(done);
      buffers.delete(done++);
      if (buf && spare.length < width + 2) spare.push(buf);
      seekTable.push(offset);
      bundleHasher.update(s.header);
      offset += s.header.length + s.payload.length;
      compBytes += s.payload.length;
      chunks++;
      yield s.header;
      yield s.payload;
    }
    const contentDigest = contentHasher.digest();
    if (entry.size !== undefined && entry.size !== rawBytes) {
      throw new BootportError('ERR_SOURCE', `the ${entry.role} was declared as ${entry.size} bytes but ${rawBytes} were read; did it change during export?`, { entry: entryLabel(manifest, i) });
    }
    if (entry.digest !== undefined && entry.digest !== digestString(contentDigest)) {
      throw new BootportError('ERR_SOURCE', `the ${entry.role} content does not match its declared digest ${entry.digest}`, { entry: entryLabel(manifest, i) }, 'the stored blob is damaged: run the store check');
    }
    totals.push({ chunks, rawBytes, compBytes, contentDigest });
  }

  const body = encodeTrailerBody({ entries: totals, seekTable, headerHash });
  bundleHasher.update(body);
  const bundleDigest = bundleHasher.digest();
  const trailerOffset = offset;
  const footer = encodeFooter({ trailerOffset, trailerLength: body.length + bundleDigest.length });
  yield concatBytes([body, bundleDigest, footer]);
  summary?.({
    bytes: trailerOffset + body.length + bundleDigest.length + footer.length,
    bundleDigest: digestString(bundleDigest),
    entries: manifest.entries.map((e, i) => {
      const t = totals[i] as TrailerEntry;
      return { role: e.role, name: e.name, rawBytes: t.rawBytes, compBytes: t.compBytes, chunks: t.chunks, digest: digestString(t.contentDigest) };
    }),
  });
}

/** The bundle as a byte stream that honours backpressure. */
export function createBundleStream(manifest: Manifest, sources: readonly ByteSource[], opts: WriteOptions = {}, summary?: (s: WriteSummary) => void): Readable {
  return Readable.from(bundleBytes(manifest, sources, opts, summary), { objectMode: false, highWaterMark: 1 << 16 });
}
