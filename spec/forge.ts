/**
 * Builds bundles record by record with correct digests around arbitrary content: the tool of a
 * hostile writer who knows the format. Vectors and tests use it to make bundles that pass every
 * digest yet break a structural rule (a decompression bomb, a lying trailer), which a plain
 * writer never produces.
 */
import { concatBytes } from '../src/format/bytes.js';
import { encodeChunkFields, encodeChunkHeader } from '../src/format/chunk.js';
import { VERSION_MAJOR, VERSION_MINOR } from '../src/format/constants.js';
import { encodeFooter } from '../src/format/footer.js';
import { encodeManifest, type Manifest } from '../src/format/manifest.js';
import { encodePreamble } from '../src/format/preamble.js';
import { BundleLedger } from '../src/format/ledger.js';
import type { TrailerEntry } from '../src/format/trailer.js';
import type { HashEngine } from '../src/stream/engine/hash.js';

export interface ForgedChunk {
  entry: number;
  seq: number;
  final: boolean;
  rawLength: number;
  payload: Uint8Array;
}

export interface ForgeOptions {
  preamble?: { required?: number; optional?: number; minor?: number };
  /** Manifest bytes to use as they are, instead of the canonical encoding of `manifest`. */
  manifestBytes?: Uint8Array;
  /** Edits the trailer entries the forger would otherwise compute honestly. */
  trailerEntries?: (honest: TrailerEntry[]) => TrailerEntry[];
  /** Content of each entry, for the trailer's content digests (defaults to empty). */
  contents?: Uint8Array[];
  extensions?: Uint8Array[];
}

/**
 * A bundle of `chunks` in the order given, booked by the same ledger the writer and reader keep,
 * so everything the forger does not break on purpose is exactly what a writer would emit.
 */
export function forgeBundle(hash: HashEngine, manifest: Manifest, chunks: ForgedChunk[], opts: ForgeOptions = {}): Uint8Array {
  const manifestBytes = opts.manifestBytes ?? encodeManifest(manifest);
  const pre = encodePreamble({
    major: VERSION_MAJOR,
    minor: opts.preamble?.minor ?? VERSION_MINOR,
    required: opts.preamble?.required ?? 0,
    optional: opts.preamble?.optional ?? 0,
    manifestLength: manifestBytes.length,
  });
  const headerHash = hash.digestOf([pre, manifestBytes]);
  const covered: Uint8Array[] = [];
  const ledger = new BundleLedger(manifest, headerHash, { update: (b) => void covered.push(b), digest: () => hash.digestOf(covered) }, pre, manifestBytes);
  const out: Uint8Array[] = [pre, manifestBytes];
  let offset = pre.length + manifestBytes.length;
  for (const c of chunks) {
    const fields = encodeChunkFields({ final: c.final, entry: c.entry, rawLength: c.rawLength, compLength: c.payload.length, seq: c.seq });
    const header = encodeChunkHeader({
      final: c.final,
      entry: c.entry,
      rawLength: c.rawLength,
      compLength: c.payload.length,
      seq: c.seq,
      digest: hash.digestOf([headerHash, fields, c.payload]),
    });
    ledger.add({ ...c, compLength: c.payload.length }, header, offset);
    out.push(header, c.payload);
    offset += header.length + c.payload.length;
  }
  const contents = manifest.entries.map((_, i) => hash.digestOf([opts.contents?.[i] ?? new Uint8Array(0)]));
  const { body, bundleDigest } = ledger.seal(contents, opts.trailerEntries);
  out.push(body, bundleDigest, ...(opts.extensions ?? []), encodeFooter({ trailerOffset: offset, trailerLength: body.length + bundleDigest.length }));
  return concatBytes(out);
}
