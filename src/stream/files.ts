import { createWriteStream } from 'node:fs';
import { fileSource, type ByteSource } from './source.js';
import { rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
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
 * only when complete; a failed export leaves no half-written file under the real name.
 */
export async function writeFileAtomic(path: string, data: Readable, force: boolean): Promise<void> {
  if (!force && (await exists(path))) {
    throw new BootportError('ERR_EXISTS', `${path} exists`, {}, 'pass --force to overwrite it');
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await pipeline(data, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await rename(tmp, path);
  } catch (e) {
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

/** Writes all of `data` at the file position: a single write may be short. */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += (await fh.write(data, at, data.length - at)).bytesWritten;
}
