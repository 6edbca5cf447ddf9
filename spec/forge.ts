/**
 * Builds bundles record by record with correct digests around arbitrary content: the tool of a
 * hostile writer who knows the format. Vectors and tests use it to make bundles that pass every
 * digest yet break a structural rule (a decompression bomb, a lying trailer), which a plain
 * writer never produces.
 */
import { concatBytes } from '../src/format/bytes.js';
import { encodeChunkFields } from '../src/format/chunk.js';
import { VERSION_MAJOR, VERSION_MINOR } from '../src/format/constants.js';
import { encodeFooter } from '../src/format/footer.js';
import { encodeManifest, type Manifest } from '../src/format/manifest.js';
import { encodePreamble } from '../src/format/preamble.js';
import { encodeTrailerBody, type TrailerEntry } from '../src/format/trailer.js';
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
  /** Edits the trailer entries the forger would otherwise compute honestly. */
  trailerEntries?: (honest: TrailerEntry[]) => TrailerEntry[];
  /** Content of each entry, for the trailer's content digests (defaults to empty). */
  contents?: Uint8Array[];
  extensions?: Uint8Array[];
}

export function forgeBundle(hash: HashEngine, manifest: Manifest, chunks: ForgedChunk[], opts: ForgeOptions = {}): Uint8Array {
  const manifestBytes = encodeManifest(manifest);
  const pre = encodePreamble({
    major: VERSION_MAJOR,
    minor: opts.preamble?.minor ?? VERSION_MINOR,
    required: opts.preamble?.required ?? 0,
    optional: opts.preamble?.optional ?? 0,
    manifestLength: manifestBytes.length,
  });
  const headerHash = hash.digestOf([pre, manifestBytes]);
  const covered: Uint8Array[] = [pre, manifestBytes];
  const out: Uint8Array[] = [pre, manifestBytes];
  let offset = pre.length + manifestBytes.length;
  const seek: number[] = [];
  const totals: TrailerEntry[] = manifest.entries.map((_, i) => ({
    chunks: 0,
    rawBytes: 0,
    compBytes: 0,
    contentDigest: hash.digestOf([opts.contents?.[i] ?? new Uint8Array(0)]),
  }));
  for (const c of chunks) {
    const fields = encodeChunkFields({ final: c.final, entry: c.entry, rawLength: c.rawLength, compLength: c.payload.length, seq: c.seq });
    const header = concatBytes([fields, hash.digestOf([headerHash, fields, c.payload])]);
    seek.push(offset);
    covered.push(header);
    out.push(header, c.payload);
    offset += header.length + c.payload.length;
    const t = totals[c.entry];
    if (t) {
      t.chunks++;
      t.rawBytes += c.rawLength;
      t.compBytes += c.payload.length;
    }
  }
  const body = encodeTrailerBody({ entries: opts.trailerEntries ? opts.trailerEntries(totals) : totals, seekTable: seek, headerHash });
  covered.push(body);
  const digest = hash.digestOf(covered);
  const ext = opts.extensions ?? [];
  out.push(body, digest, ...ext, encodeFooter({ trailerOffset: offset, trailerLength: body.length + digest.length }));
  return concatBytes(out);
}
