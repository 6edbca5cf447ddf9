import { fileSource, type ByteSource } from './source.js';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BootportError } from '../format/errors.js';

/** A file, or standard input for `-`, as a byte source. */
export function inputSource(path: string, stdin: Readable = process.stdin): ByteSource {
  return path === '-' ? stdin : fileSource(path);
}

export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw ioError(`cannot read ${path}`, e);
  }
}

export function ioError(what: string, e: unknown): BootportError {
  const err = e as NodeJS.ErrnoException;
  return new BootportError('ERR_IO', `${what}: ${err.code ?? ''} ${err.message}`.trim(), {}, undefined, { cause: e });
}

/**
 * Writes a stream to `path` through a temporary name in the same directory, renamed into place
 * only when complete; a failed export leaves no half-written file under the real name. Each piece
 * is written before the next is asked for, which lets the bundle writer recycle its buffers.
 */
export async function writeFileAtomic(path: string, data: AsyncIterable<Uint8Array>, force: boolean): Promise<void> {
  if (!force && (await exists(path))) {
    throw new BootportError('ERR_EXISTS', `${path} exists`, {}, 'pass --force to overwrite it');
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o644);
    // Written piece by piece as produced: no stream in between to buffer, concatenate or copy.
    for await (const piece of data) await writeAll(fh, piece);
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes all of `data` at `position`, or at the file position when it is omitted: a single write
 * may be short.
 */
export async function writeAll(fh: FileHandle, data: Uint8Array, position?: number): Promise<void> {
  let at = 0;
  while (at < data.length) at += (await fh.write(data, at, data.length - at, position === undefined ? null : position + at)).bytesWritten;
}
