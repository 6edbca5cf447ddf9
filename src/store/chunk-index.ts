import { open, readFile } from 'node:fs/promises';
import { digestString, fromHex } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import { decodeChunkIndex, encodeChunkIndex, type PieceList } from '../format/pieces.js';
import { PieceCutter } from '../stream/delta/cutter.js';
import type { BaseLookup } from '../stream/delta/rebuild.js';
import type { Engines } from '../stream/engine/engines.js';
import { fileChunks, ioError } from '../stream/io/files.js';
import type { Store } from './store.js';

/**
 * Each blob's chunk index, kept in index/ beside blobs/: the pieces delta export matches and
 * delta import copies. It is derived from the blob's content alone, so it is written after the
 * blob is committed, and one that is missing or damaged is computed again from the blob (by
 * `fsck --repair`, or by whatever needs it).
 */

export type IndexState = { state: 'ok'; pieces: PieceList } | { state: 'missing' } | { state: 'damaged'; why: string };

export async function readChunkIndex(store: Store, digest: string, engines: Engines): Promise<IndexState> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(store.indexPath(digest));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw ioError(`cannot read the chunk index of ${digest}`, e);
  }
  try {
    const pieces = decodeChunkIndex(bytes, (p) => engines.hash.digestOf(p), `the chunk index of ${digest}`);
    if (digestString(pieces.digest) !== digest) return { state: 'damaged', why: 'it describes another blob' };
    return { state: 'ok', pieces };
  } catch (e) {
    if (e instanceof BootportError) return { state: 'damaged', why: e.detail };
    throw e;
  }
}

/** Cuts a stored blob into pieces, reading its file; the content digest is checked as it goes. */
async function computeChunkIndex(store: Store, digest: string, engines: Engines): Promise<PieceList> {
  const path = store.blobPath(digest);
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw ioError(`cannot read blob ${digest}`, e);
  });
  try {
    const cutter = new PieceCutter(engines.pieces);
    const content = await engines.hash.create();
    for await (const part of fileChunks(fh, `blob ${digest}`, 4 << 20)) {
      content.update(part);
      cutter.update(part);
    }
    const d = content.digest();
    if (digestString(d) !== digest) {
      throw new BootportError('ERR_STORE', `blob ${digest} is damaged: its content hashes to ${digestString(d)}`, {}, 'run the store check');
    }
    return cutter.finish(fromHex(digest.slice('blake3:'.length)));
  } finally {
    await fh.close();
  }
}

/**
 * The blob's chunk index, computed and kept (in a store open for writing) when it is missing or
 * damaged.
 */
export async function chunkIndexOf(store: Store, digest: string, engines: Engines): Promise<PieceList> {
  const got = await readChunkIndex(store, digest, engines);
  return got.state === 'ok' ? got.pieces : renewChunkIndex(store, digest, engines);
}

/** Computes the blob's chunk index from its content, and keeps it when the store is open for writing. */
export async function renewChunkIndex(store: Store, digest: string, engines: Engines): Promise<PieceList> {
  const pieces = await computeChunkIndex(store, digest, engines);
  if (store.writable)
    await store.saveIndex(
      digest,
      encodeChunkIndex(pieces, (p) => engines.hash.digestOf(p)),
    );
  return pieces;
}

/** Where a delta being rebuilt finds its bases: blobs this store holds whole, with their chunk indexes. */
export function heldBases(store: Store, engines: Engines): BaseLookup {
  return async (digest) => {
    const held = await store.read((tx) => store.healthyBlob(tx, digest) !== undefined);
    return held ? { path: store.blobPath(digest), pieces: await chunkIndexOf(store, digest, engines) } : undefined;
  };
}
