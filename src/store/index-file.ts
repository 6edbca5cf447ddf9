import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDir, ioError, writeAll } from '../stream/io/files.js';
import { BLOB_MODE, DIR_MODE } from './layout.js';

/**
 * Writes a chunk index file at `path`: to a private temporary in `tmpDir` (this process's
 * staging), fsynced, renamed into place, and the directory fsynced. It is derived from its blob,
 * so a half-written one never appears under its name and a lost one is computed again.
 */
export async function writeIndexFile(path: string, tmpDir: string, digest: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(tmpDir, `index-${randomBytes(8).toString('hex')}`);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE });
    const fh = await open(tmp, 'wx', BLOB_MODE);
    try {
      await writeAll(fh, bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`cannot write the chunk index of ${digest}`, e);
  }
}

/**
 * Moves a finished, fsynced chunk index file (see IndexSpool) from staging to `path`, and fsyncs
 * the directory: the same end state as writeIndexFile, without the index ever in memory.
 */
export async function placeIndexFile(staged: string, path: string, digest: string): Promise<void> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE });
    await rename(staged, path);
    await fsyncDir(dirname(path));
  } catch (e) {
    await rm(staged, { force: true }).catch(() => undefined);
    throw ioError(`cannot keep the chunk index of ${digest}`, e);
  }
}
