/**
 * Checks one volume alone, without the others: its header, that its bytes match its digest, and
 * every chunk record in it against the header hash it carries (so against its bundle). The first
 * volume's preamble and manifest must hash to that header hash; the last volume's trailer must
 * name it and end with a footer. What needs the whole set (order across volumes, totals, the
 * bundle digest, signatures) is left to reading the set.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { equalBytes } from '../../format/bytes.js';
import { decodeChunkHeader } from '../../format/chunk.js';
import { CHUNK_FIELDS_SIZE, CHUNK_HEADER_SIZE, FOOTER_MAGIC, FOOTER_SIZE, PREAMBLE_SIZE, TAG_CHUNK, TAG_TRAILER } from '../../format/constants.js';
import { BootportError } from '../../format/errors.js';
import { decodeManifest, type Manifest } from '../../format/manifest.js';
import { decodePreamble } from '../../format/preamble.js';
import { decodeTrailerCounts, trailerSize } from '../../format/trailer.js';
import { decodeVolumeHeader, VOLUME_HEADER_SIZE, volumeError, type VolumeHeader } from '../../format/volume.js';
import type { HashEngine } from '../engine/hash.js';
import { ByteReader } from '../io/byte-reader.js';
import { ioError } from '../io/io-error.js';

export interface VolumeCheck {
  header: VolumeHeader;
  /** Chunk records in this volume, and how many per entry index. */
  chunks: number;
  perEntry: Record<number, number>;
  /** The manifest, when this is the first volume. */
  manifest?: Manifest;
  /** Whether the trailer (and so the end of the bundle) is in this volume. */
  hasTrailer: boolean;
}

export async function checkVolume(path: string, hash: HashEngine, onChunk?: (comp: number) => void): Promise<VolumeCheck> {
  const blake3 = (b: Uint8Array) => hash.digestOf([b]);
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw ioError(`cannot read ${path}`, e);
  });
  let size: number;
  let head: Uint8Array;
  try {
    size = (await fh.stat()).size;
    head = new Uint8Array(VOLUME_HEADER_SIZE);
    head = head.subarray(0, (await fh.read(head, 0, head.length, 0)).bytesRead);
  } finally {
    await fh.close();
  }
  const header = decodeVolumeHeader(head, path, blake3);
  if (size < VOLUME_HEADER_SIZE + header.length)
    throw volumeError(
      'ERR_VOLUME_TRUNCATED',
      path,
      `holds ${size - VOLUME_HEADER_SIZE} of its ${header.length} bytes`,
      'the copy is incomplete: copy this volume again',
    );
  if (size > VOLUME_HEADER_SIZE + header.length) throw volumeError('ERR_VOLUME_DAMAGED', path, `holds more than the ${header.length} bytes its header says`);

  // Every byte of the payload passes through this hasher on its way to the record parser.
  const payloadHasher = await hash.create();
  const reader = new ByteReader(hashing(createReadStream(path, { highWaterMark: 1 << 20 }), payloadHasher));
  const out: VolumeCheck = { header, chunks: 0, perEntry: {}, hasTrailer: false };
  try {
    await reader.read(VOLUME_HEADER_SIZE, 'volume header');
    let at = 0;
    const fail = (e: unknown): never => {
      if (e instanceof BootportError) throw new BootportError(e.code, `${path}: ${e.detail}`, { ...e.location, offset: header.offset + at }, e.hint);
      throw e;
    };
    if (header.offset === 0) {
      const pre = await reader.read(PREAMBLE_SIZE, 'preamble').catch(fail);
      const p = (() => {
        try {
          return decodePreamble(pre);
        } catch (e) {
          return fail(e);
        }
      })();
      const man = await reader.read(p.manifestLength, 'manifest').catch(fail);
      if (!equalBytes(hash.digestOf([pre, man]), header.headerHash))
        throw volumeError('ERR_VOLUME_DAMAGED', path, 'its preamble and manifest do not hash to the header hash its volume header gives');
      try {
        out.manifest = decodeManifest(man);
      } catch (e) {
        fail(e);
      }
      at = PREAMBLE_SIZE + p.manifestLength;
    }
    while (at < header.length) {
      const tag = await reader.read(1, 'record tag').catch(fail);
      if (tag[0] === TAG_TRAILER) {
        await checkTail(reader, tag, header, path, header.length - at).catch(fail);
        out.hasTrailer = true;
        at = header.length;
        break;
      }
      if (tag[0] !== TAG_CHUNK)
        fail(new BootportError('ERR_BUNDLE_RECORD', `a record with tag 0x${tag[0]!.toString(16)} where a chunk or the trailer must begin`));
      const rest = await reader.read(CHUNK_HEADER_SIZE - 1, 'chunk header').catch(fail);
      const hb = new Uint8Array(CHUNK_HEADER_SIZE);
      hb.set(tag, 0);
      hb.set(rest, 1);
      let h;
      try {
        h = decodeChunkHeader(hb, header.offset + at);
      } catch (e) {
        return fail(e);
      }
      const frame = await reader.read(h.compLength, 'chunk frame').catch(fail);
      if (!equalBytes(hash.digestOf([header.headerHash, hb.subarray(0, CHUNK_FIELDS_SIZE), frame]), h.digest))
        throw new BootportError('ERR_BUNDLE_DIGEST_MISMATCH', `${path}: chunk digest does not match`, {
          entry: h.entry,
          chunk: h.seq,
          offset: header.offset + at,
        });
      out.chunks++;
      out.perEntry[h.entry] = (out.perEntry[h.entry] ?? 0) + 1;
      onChunk?.(CHUNK_HEADER_SIZE + h.compLength);
      at += CHUNK_HEADER_SIZE + h.compLength;
    }
    if (at !== header.length) throw volumeError('ERR_VOLUME_DAMAGED', path, 'its last record runs past the bytes its header says it holds');
    if (header.last !== out.hasTrailer)
      throw volumeError('ERR_VOLUME_DAMAGED', path, header.last ? 'is marked last but holds no trailer' : 'holds the trailer but is not marked last');
    if (!equalBytes(payloadHasher.digest(), header.payloadDigest))
      throw volumeError('ERR_VOLUME_DAMAGED', path, 'its bytes do not match the digest in its header', 'the copy is damaged: copy this volume again');
    return out;
  } finally {
    await reader.close();
  }
}

/** The trailer and what follows it: it must name the volume's header hash and end with a footer. */
async function checkTail(reader: ByteReader, tag: Uint8Array, header: VolumeHeader, path: string, remaining: number): Promise<void> {
  const fixed = await reader.read(15, 'trailer');
  const t = new Uint8Array(16);
  t.set(tag, 0);
  t.set(fixed, 1);
  const { entryCount, chunkCount } = decodeTrailerCounts(t);
  const size = trailerSize(entryCount, chunkCount);
  if (size + FOOTER_SIZE > remaining) throw volumeError('ERR_VOLUME_DAMAGED', path, 'its trailer runs past the end of the volume');
  const body = await reader.read(size - 16, 'trailer');
  if (!equalBytes(body.subarray(size - 16 - 64, size - 16 - 32), header.headerHash))
    throw volumeError('ERR_VOLUME_FOREIGN', path, "its trailer names another bundle's header hash");
  const rest = await reader.read(remaining - size, 'extension records and footer');
  if (!equalBytes(rest.subarray(rest.length - FOOTER_MAGIC.length), FOOTER_MAGIC))
    throw volumeError('ERR_VOLUME_DAMAGED', path, 'does not end with the bundle footer');
}

async function* hashing(source: AsyncIterable<Buffer>, hasher: { update(b: Uint8Array): void }): AsyncGenerator<Uint8Array> {
  let skipped = 0;
  for await (const piece of source) {
    // The volume header is not part of the payload digest.
    const start = Math.max(0, VOLUME_HEADER_SIZE - skipped);
    skipped += Math.min(piece.length, VOLUME_HEADER_SIZE);
    if (start < piece.length) hasher.update(piece.subarray(start));
    yield piece;
  }
}

/** A volume's header, and the manifest when it is the first volume: read, not verified. */
export async function readVolumeHead(path: string, hash: HashEngine): Promise<{ header: VolumeHeader; manifest?: Manifest }> {
  const reader = new ByteReader(createReadStream(path, { highWaterMark: 1 << 16 }) as AsyncIterable<Uint8Array>);
  try {
    const header = decodeVolumeHeader(await reader.readUpTo(VOLUME_HEADER_SIZE, 'volume header'), path, (b) => hash.digestOf([b]));
    if (header.offset !== 0) return { header };
    const p = decodePreamble(await reader.read(PREAMBLE_SIZE, 'preamble'));
    return { header, manifest: decodeManifest(await reader.read(p.manifestLength, 'manifest')) };
  } finally {
    await reader.close();
  }
}
