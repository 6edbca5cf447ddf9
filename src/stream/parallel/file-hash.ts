import { open } from 'node:fs/promises';
import { toHex } from '../../format/bytes.js';
import type { Engines } from '../engine/engines.js';

/** Read size for hashing whole files: large enough that a read costs little next to its hash. */
const PIECE = 4 << 20;
/** How often, in bytes, progress is reported while one file is hashed. */
export const PROGRESS_EVERY = 256 << 20;

export interface FileDigest {
  /** Lowercase hex BLAKE3 of the whole file, as b3sum prints it. */
  hex: string;
  size: number;
}

/**
 * BLAKE3 of a whole file, read in large pieces (in a pool worker, to hash several files at
 * once). `progress` is told the bytes hashed since its last call.
 */
export async function hashFile(engines: Engines, path: string, progress?: (bytes: number) => void, scratch?: Uint8Array): Promise<FileDigest> {
  const fh = await open(path, 'r');
  try {
    const buf = scratch && scratch.length >= PIECE ? scratch : new Uint8Array(PIECE);
    const h = await engines.hash.create();
    let size = 0;
    let unreported = 0;
    for (;;) {
      const { bytesRead: n } = await fh.read(buf, 0, PIECE, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      size += n;
      unreported += n;
      if (progress && unreported >= PROGRESS_EVERY) {
        progress(unreported);
        unreported = 0;
      }
    }
    if (progress && unreported) progress(unreported);
    return { hex: toHex(h.digest()), size };
  } finally {
    await fh.close();
  }
}
