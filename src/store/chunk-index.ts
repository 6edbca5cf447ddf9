import { open, readFile } from 'node:fs/promises';
import { digestString, fromHex } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import { decodeChunkIndex, encodeChunkIndex, type PieceList } from '../format/pieces.js';
import { PieceCutter } from '../stream/delta/cutter.js';
import type { BaseLookup } from '../stream/delta/rebuild.js';
import type { Engines } from '../stream/engine/engines.js';
import { ioError } from '../stream/io/files.js';
import { writeIndexFile } from './index-file.js';
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

/** Writes a blob's chunk index file (see index-file.ts). */
export function saveChunkIndex(store: Store, digest: string, bytes: Uint8Array): Promise<void> {
  return writeIndexFile(store.indexPath(digest), store.stagingDir(), digest, bytes);
}

/** Cuts a stored blob into pieces, reading its file; the content digest is checked as it goes. */
export async function computeChunkIndex(store: Store, digest: string, engines: Engines): Promise<PieceList> {
  const path = store.blobPath(digest);
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw ioError(`cannot read blob ${digest}`, e);
  });
  try {
    const cutter = new PieceCutter(engines.hash);
    const content = await engines.hash.create();
    const buf = new Uint8Array(4 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const part = buf.subarray(0, bytesRead);
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
  if (got.state === 'ok') return got.pieces;
  const pieces = await computeChunkIndex(store, digest, engines);
  if (store.writable)
    await saveChunkIndex(
      store,
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
