import { open } from 'node:fs/promises';
import {
  CHUNK_HEADER_SIZE,
  DIGEST_SIZE,
  EXTENSION_HEADER_SIZE,
  FOOTER_SIZE,
  MAX_EXTENSIONS,
  OPT_FEATURE_EXTENSIONS,
  PREAMBLE_SIZE,
  TAG_EXTENSION,
  TRAILER_ENTRY_SIZE,
  TRAILER_FIXED_SIZE,
} from '../../format/constants.js';
import { equalBytes } from '../../format/bytes.js';
import { bundleError } from '../../format/errors.js';
import { decodeExtensionHeader } from '../../format/extension.js';
import { decodeFooter } from '../../format/footer.js';
import { checkDeltaFeature, decodeManifest, type Manifest } from '../../format/manifest.js';
import { decodePreamble, type Preamble } from '../../format/preamble.js';
import { decodeTrailerCounts, decodeTrailerSummary, trailerSize, type TrailerSummary } from '../../format/trailer.js';
import { loadEngines, type Engines } from '../engine/engines.js';

export interface EndsView {
  preamble: Preamble;
  manifest: Manifest;
  headerHash: Uint8Array;
  /** The trailer without its seek table, which `inspect` never reads. */
  trailer: TrailerSummary;
  /** The extension records between the trailer and the footer (signatures), unverified. */
  extensions: { type: number; length: number; body: Uint8Array }[];
  size: number;
}

/**
 * Reads only the two ends of a seekable bundle: the preamble and manifest from the front, the
 * footer and trailer from the back. It checks that both ends belong to the same bundle (the
 * trailer's header hash), but proves nothing about the chunks in between: that is `verify`.
 * It reads a bounded amount whatever the bundle claims: the seek table is skipped, and a chunk
 * count that could not fit between the manifest and the trailer is refused before anything else.
 */
export async function readEnds(path: string, engines?: Engines): Promise<EndsView> {
  const eng = engines ?? (await loadEngines());
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const at = async (pos: number, n: number): Promise<Uint8Array> => {
      const b = new Uint8Array(n);
      const { bytesRead } = await fh.read(b, 0, n, pos);
      if (bytesRead !== n)
        throw bundleError('ERR_BUNDLE_TRUNCATED', `file ends at ${pos + bytesRead}, needed ${n} bytes at ${pos}`, { offset: pos + bytesRead });
      return b;
    };
    const pre = await at(0, Math.min(PREAMBLE_SIZE, size));
    const preamble = decodePreamble(pre);
    if (PREAMBLE_SIZE + preamble.manifestLength + FOOTER_SIZE > size) {
      throw bundleError('ERR_BUNDLE_TRUNCATED', `a ${preamble.manifestLength} byte manifest and a footer do not fit in ${size} bytes`, { offset: size });
    }
    const manifestBytes = await at(PREAMBLE_SIZE, preamble.manifestLength);
    const manifest = decodeManifest(manifestBytes);
    checkDeltaFeature(preamble, manifest);
    const headerHash = eng.hash.digestOf([pre, manifestBytes]);
    const footerAt = size - FOOTER_SIZE;
    const footer = decodeFooter(await at(footerAt, FOOTER_SIZE), footerAt);
    const start = PREAMBLE_SIZE + preamble.manifestLength;
    if (footer.trailerOffset < start || footer.trailerLength < TRAILER_FIXED_SIZE + 2 * DIGEST_SIZE || footer.trailerOffset + footer.trailerLength > footerAt) {
      throw bundleError('ERR_BUNDLE_TRAILER', `footer places the trailer at ${footer.trailerOffset}+${footer.trailerLength}, outside the bundle`, {
        offset: footerAt,
      });
    }
    const counts = decodeTrailerCounts(await at(footer.trailerOffset, TRAILER_FIXED_SIZE), footer.trailerOffset);
    if (trailerSize(counts.entryCount, counts.chunkCount) !== footer.trailerLength) {
      throw bundleError('ERR_BUNDLE_TRAILER', 'footer trailer length disagrees with the trailer counts', { offset: footerAt });
    }
    // Every chunk record is a header and at least one payload byte: a count that cannot fit is a lie.
    if (counts.chunkCount * (CHUNK_HEADER_SIZE + 1) > footer.trailerOffset - start) {
      throw bundleError(
        'ERR_BUNDLE_TRAILER',
        `the trailer claims ${counts.chunkCount} chunks, more than fit in the ${footer.trailerOffset - start} bytes before it`,
        { offset: footer.trailerOffset },
      );
    }
    const head = await at(footer.trailerOffset, TRAILER_FIXED_SIZE + counts.entryCount * TRAILER_ENTRY_SIZE);
    const tail = await at(footer.trailerOffset + footer.trailerLength - 2 * DIGEST_SIZE, 2 * DIGEST_SIZE);
    const trailer = decodeTrailerSummary(head, tail, footer.trailerOffset);
    if (!equalBytes(trailer.headerHash, headerHash)) {
      throw bundleError('ERR_BUNDLE_TRAILER', 'the trailer belongs to a different header: the file was spliced or damaged', { offset: footer.trailerOffset });
    }
    if (trailer.entries.length !== manifest.entries.length) {
      throw bundleError('ERR_BUNDLE_TRAILER', `trailer has ${trailer.entries.length} entries, the manifest ${manifest.entries.length}`, {
        offset: footer.trailerOffset,
      });
    }
    const extensions = await readExtensions(at, preamble, footer.trailerOffset + footer.trailerLength, footerAt);
    return { preamble, manifest, headerHash, trailer, extensions, size };
  } finally {
    await fh.close();
  }
}

/**
 * The extension records in `[start, end)`, the bytes between the trailer and the footer: at most
 * 16 of at most 64 KiB, read one at a time, and they must fill the span exactly.
 */
async function readExtensions(
  at: (pos: number, n: number) => Promise<Uint8Array>,
  preamble: Preamble,
  start: number,
  end: number,
): Promise<EndsView['extensions']> {
  const out: EndsView['extensions'] = [];
  let pos = start;
  while (pos < end) {
    const head = await at(pos, Math.min(EXTENSION_HEADER_SIZE, end - pos));
    if (head[0] !== TAG_EXTENSION)
      throw bundleError('ERR_BUNDLE_RECORD', `expected an extension record or the footer, found tag 0x${(head[0] ?? 0).toString(16)}`, { offset: pos });
    if (!(preamble.optional & OPT_FEATURE_EXTENSIONS))
      throw bundleError('ERR_BUNDLE_RECORD', 'extension record present but the preamble does not announce extensions', { offset: pos });
    if (out.length >= MAX_EXTENSIONS) throw bundleError('ERR_BUNDLE_LIMIT', `more than ${MAX_EXTENSIONS} extension records`, { offset: pos });
    const xh = decodeExtensionHeader(head, pos);
    if (pos + EXTENSION_HEADER_SIZE + xh.length > end) {
      throw bundleError('ERR_BUNDLE_TRAILER', 'an extension record runs into the footer', { offset: pos });
    }
    out.push({ ...xh, body: await at(pos + EXTENSION_HEADER_SIZE, xh.length) });
    pos += EXTENSION_HEADER_SIZE + xh.length;
  }
  return out;
}
