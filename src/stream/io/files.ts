import { fileSource, type ByteSource } from './source.js';
import { closeSync, fsyncSync, openSync, readSync } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BootportError } from '../../format/errors.js';
import { sweepWorkDirs, WorkDir } from './workdir.js';
import { ioError, modesUnsupported } from './io-error.js';

export { ioError };

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

/** Where a file being written waits for its rename: a locked work directory beside its target. */
export const OUTPUT_WORK_PREFIX = '.bootport-output-';

/**
 * Writes a stream to `path` through a temporary file in the same directory, fsynced, renamed into
 * place only when complete, and the directory fsynced after: a failed or interrupted write leaves
 * no half-written file under the real name, and a returned one survives an unplug or power cut.
 * The temporary file sits in a work directory this process holds locked, so one left by a killed
 * process is found dead and removed by the next write into the same directory.
 * Each piece is written before the next is asked for, which lets the bundle writer recycle its buffers.
 */
export async function writeFileAtomic(
  path: string,
  data: AsyncIterable<Uint8Array>,
  force: boolean,
  command = 'bootport',
  /** 0600 for a secret: the file never exists under any name with a wider mode. */
  mode = 0o644,
): Promise<void> {
  if (!force && (await exists(path))) {
    throw new BootportError('ERR_EXISTS', `${path} exists`, {}, 'overwrite it', { remedies: ['overwrite'] });
  }
  const dir = dirname(path);
  sweepWorkDirs(dir, OUTPUT_WORK_PREFIX);
  let work: WorkDir;
  try {
    work = WorkDir.create(dir, OUTPUT_WORK_PREFIX, command);
  } catch (e) {
    throw ioError(`cannot write in ${dir}`, e);
  }
  const tmp = join(work.path, 'data');
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', mode);
    // The umask may narrow the mode, never widen it; a secret must not depend on it either way.
    // Where the file system keeps no modes (a FAT stick), only a file others may read goes on.
    await fh.chmod(mode).catch((e: unknown) => {
      if ((mode & 0o077) === 0 || !modesUnsupported(e)) throw e;
    });
    const flusher = new BackgroundFlush(fh);
    // Written piece by piece as produced: no stream in between to buffer, concatenate or copy.
    for await (const piece of data) {
      await writeAll(fh, piece);
      flusher.wrote(piece.length);
    }
    await flusher.settle();
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (!force && (await exists(path))) throw new BootportError('ERR_EXISTS', `${path} appeared while it was being written`, {});
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (e) {
    await fh?.close().catch(() => {});
    throw isCoded(e) ? e : ioError(`cannot write ${path}`, e);
  } finally {
    work.removeSync();
  }
}

function isCoded(e: unknown): boolean {
  return e instanceof BootportError;
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
 * Dirty pages are written back every FLUSH_EVERY bytes, in the background, so the disk works
 * while later data is produced. Left to the final fsync, a whole image's worth of dirty pages was
 * flushed only after the last byte, and the command waited for all of it.
 */
export const FLUSH_EVERY = 64 << 20;

/** Starts a datasync of `fh` every FLUSH_EVERY bytes written, one at a time, never awaited in between. */
export class BackgroundFlush {
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;

  constructor(private readonly fh: FileHandle) {}

  /** Counts `n` more bytes written, and starts a flush if enough have piled up and none is running. */
  wrote(n: number): void {
    this.unflushed += n;
    if (this.unflushed < FLUSH_EVERY || this.flushing) return;
    this.unflushed = 0;
    this.flushing = this.fh.datasync().then(
      () => void (this.flushing = undefined),
      (e: Error) => void ((this.failed ??= e), (this.flushing = undefined)),
    );
  }

  /** Waits for a flush in progress; throws the first flush failure, if any. */
  async settle(): Promise<void> {
    await this.flushing;
    if (this.failed) throw this.failed;
  }

  /** Waits for a flush in progress, ignoring failures (the caller is already failing). */
  async abandon(): Promise<void> {
    await this.flushing?.catch(() => {});
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

/**
 * Reads `buf.length` bytes at `position`, or as many as there are before the end of the file: a
 * single read may be short. Returns how many were read; `what` names the file in errors.
 */
export async function readAt(fh: FileHandle, buf: Uint8Array, position: number, what: string): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got).catch((e: unknown) => {
      throw ioError(`cannot read ${what}`, e);
    });
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** `readAt` on the calling thread, by descriptor: for reads too small to be worth a thread-pool round trip. */
export function readFullSync(fd: number, buf: Uint8Array, position: number, what: string): number {
  let got = 0;
  while (got < buf.length) {
    let r: number;
    try {
      r = readSync(fd, buf, got, buf.length - got, position + got);
    } catch (e) {
      throw ioError(`cannot read ${what}`, e);
    }
    if (r === 0) break;
    got += r;
  }
  return got;
}

/** A file's bytes from where it is, in pieces of one reused buffer: each is consumed before the next is read. */
export async function* fileChunks(fh: FileHandle, what: string, size = 1 << 20, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(size);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null).catch((e: unknown) => {
      throw ioError(`cannot read ${what}`, e);
    });
    if (bytesRead === 0) return;
    onBytes?.(bytesRead);
    yield buf.subarray(0, bytesRead);
  }
}

/**
 * fsync of a directory, which makes the names created or renamed in it durable. A file system
 * that cannot sync directories (EINVAL, as some FUSE and network ones) is passed over, as SQLite
 * does: there the rename is as durable as that file system makes it.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync().catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EINVAL' && e.code !== 'ENOTSUP') throw e;
    });
  } finally {
    await fh.close();
  }
}

/** fsync of a file or directory, synchronously (see fsyncDir for what is passed over). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw e;
  } finally {
    closeSync(fd);
  }
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => {});
}

/** The first `n` bytes of a file, or fewer if it is shorter (a kernel's setup header). */
export async function readHead(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw ioError(`cannot read ${path}`, e);
  });
  try {
    const b = new Uint8Array(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
