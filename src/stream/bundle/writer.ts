import { Readable } from 'node:stream';
import { concatBytes, digestString } from '../../format/bytes.js';
import { MAX_EXTENSIONS, OPT_FEATURE_EXTENSIONS, REQ_FEATURE_DELTA, VERSION_MAJOR, VERSION_MINOR, zstdCompressBound } from '../../format/constants.js';
import { BootportError } from '../../format/errors.js';
import { encodeFooter } from '../../format/footer.js';
import { encodeManifest, entryLabel, type Manifest } from '../../format/manifest.js';
import { encodePreamble } from '../../format/preamble.js';
import { BundleLedger } from '../../format/ledger.js';
import { chunked } from '../io/chunker.js';
import type { SealJob } from '../parallel/chunk-work.js';
import { loadEngines } from '../engine/engines.js';
import { BufferPool } from '../parallel/buffers.js';
import { orderedWindow } from '../parallel/ordered.js';
import { mayNeedThreads, runnerFor, type RunOptions } from '../parallel/runner.js';
import { isDirect, type ByteSource } from '../io/source.js';
import { signatureExtension, type Signer } from '../sign/signatures.js';

export type { ByteSource };

/** Memory is bounded at about (2 x threads + 2) x chunk size of raw bytes, plus their compressed copies. */
export interface WriteOptions extends RunOptions {
  /**
   * The consumer is done with each piece before it asks for the next (it awaits the write), so
   * payload buffers can be compressed into again. Without it every payload is a new array: no
   * garbage to collect, no fresh pages to fault in, and no copy out of the compressor's scratch.
   */
  recycle?: boolean;
  /** Told of each chunk as it is written: its raw and compressed lengths, for progress. */
  onChunk?: (raw: number, comp: number) => void;
  /** Keys that sign the bundle as it is written: one signature record each, still in one pass. */
  signers?: readonly Signer[];
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
export async function* bundleBytes(
  manifest: Manifest,
  sources: readonly ByteSource[],
  opts: WriteOptions = {},
  summary?: (s: WriteSummary) => void,
): AsyncGenerator<Uint8Array> {
  if (sources.length !== manifest.entries.length) throw new RangeError(`manifest has ${manifest.entries.length} entries, ${sources.length} sources given`);
  const engines = opts.engines ?? (await loadEngines());
  for (const e of manifest.entries) {
    if (e.chunk_size > engines.codec.maxCompressChunk) {
      throw new BootportError(
        'ERR_CODEC',
        `${engines.codec.name} cannot compress ${e.chunk_size} byte chunks (limit ${engines.codec.maxCompressChunk})`,
        { entry: e.name },
        'choose a smaller chunk size',
        { remedies: ['smaller-chunks'] },
      );
    }
  }
  const signers = opts.signers ?? [];
  if (signers.length > MAX_EXTENSIONS) throw new RangeError(`at most ${MAX_EXTENSIONS} signers`);
  const manifestBytes = encodeManifest(manifest);
  // Every bundle allows extension records, so that one written unsigned can be signed later.
  const preamble = encodePreamble({
    major: VERSION_MAJOR,
    minor: VERSION_MINOR,
    required: manifest.entries.some((e) => e.delta) ? REQ_FEATURE_DELTA : 0,
    optional: OPT_FEATURE_EXTENSIONS,
    manifestLength: manifestBytes.length,
  });
  const headerHash = engines.hash.digestOf([preamble, manifestBytes]);
  const ledger = new BundleLedger(manifest, headerHash, await engines.hash.create(), preamble, manifestBytes);
  let offset = preamble.length + manifestBytes.length;
  const contentDigests: Uint8Array[] = [];
  const { runner, owned } = runnerFor(engines, opts);
  if (mayNeedThreads(manifest.entries)) runner.warm?.();
  try {
    yield concatBytes([preamble, manifestBytes]);
    for (const [i, entry] of manifest.entries.entries()) {
      const contentHasher = await engines.hash.create();
      let seq = 0;
      // Raw buffers come back from the runner once compressed and take the next chunk.
      const raws = new BufferPool(entry.chunk_size, runner.sealWidth + 2);
      const outs = new BufferPool(zstdCompressBound(entry.chunk_size), runner.sealWidth + 1);
      // Only full chunks get one: a short final chunk is cheaper to compress into scratch and copy.
      const outFor = (raw: Uint8Array) => (opts.recycle && raw.length === entry.chunk_size ? { out: outs.take() } : {});
      const jobs = async function* (): AsyncGenerator<SealJob> {
        try {
          for await (const piece of chunked(sources[i] as ByteSource, entry.chunk_size, () => raws.take())) {
            // Hash the content here, in order, before the raw bytes go off to be compressed.
            contentHasher.update(piece.data);
            yield { headerHash, entry: i, seq: seq++, final: piece.final, level: entry.level, raw: piece.data, ...outFor(piece.data) };
          }
        } catch (e) {
          if (e instanceof BootportError) throw e;
          throw new BootportError(
            'ERR_SOURCE',
            `reading the ${entry.role} source failed: ${(e as Error).message}`,
            { entry: entryLabel(manifest, i) },
            undefined,
            { cause: e },
          );
        }
      };
      for await (const s of orderedWindow(jobs(), (job) => runner.seal(job), runner.sealWidth)) {
        raws.give(s.raw);
        ledger.add(s.chunk, s.header, offset);
        opts.onChunk?.(s.chunk.rawLength, s.chunk.compLength);
        offset += s.header.length + s.payload.length;
        yield s.header;
        yield s.payload;
        if (s.out) outs.give(s.out);
      }
      const contentDigest = contentHasher.digest();
      const { rawBytes } = ledger.totals[i]!;
      if (entry.size !== undefined && entry.size !== rawBytes) {
        throw new BootportError('ERR_SOURCE', `the ${entry.role} was declared as ${entry.size} bytes but ${rawBytes} were read; did it change during export?`, {
          entry: entryLabel(manifest, i),
        });
      }
      if (entry.digest !== undefined && entry.digest !== digestString(contentDigest)) {
        throw new BootportError(
          'ERR_SOURCE',
          `the ${entry.role} content does not match its declared digest ${entry.digest}`,
          { entry: entryLabel(manifest, i) },
          'the stored blob is damaged: run the store check',
        );
      }
      contentDigests.push(contentDigest);
    }
  } finally {
    if (owned) await runner.close();
    // The writer owns its sources: files it never reached (after a failure) are closed here too.
    await Promise.all(sources.filter(isDirect).map((s) => s.close()));
  }

  const { body, bundleDigest } = ledger.seal(contentDigests);
  const trailerOffset = offset;
  const footer = encodeFooter({ trailerOffset, trailerLength: body.length + bundleDigest.length });
  const signatures = signers.map((s) => signatureExtension(s, bundleDigest));
  const tail = concatBytes([body, bundleDigest, ...signatures, footer]);
  yield tail;
  summary?.({
    bytes: trailerOffset + tail.length,
    bundleDigest: digestString(bundleDigest),
    entries: manifest.entries.map((e, i) => {
      const t = ledger.totals[i]!;
      return { role: e.role, name: e.name, rawBytes: t.rawBytes, compBytes: t.compBytes, chunks: t.chunks, digest: digestString(contentDigests[i]!) };
    }),
  });
}

/**
 * The bundle as a stream of Uint8Array pieces (records and payloads, as written) that honours
 * backpressure. Pieces are passed on as they are: a byte-mode stream concatenated whatever was
 * buffered on every read: a copy of the whole bundle on the main thread.
 */
export function createBundleStream(manifest: Manifest, sources: readonly ByteSource[], opts: WriteOptions = {}, summary?: (s: WriteSummary) => void): Readable {
  return Readable.from(bundleBytes(manifest, sources, opts, summary), { objectMode: true, highWaterMark: 2 });
}
