import { close, fstat, open, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { ioError } from './io-error.js';

const openAsync = promisify(open);
const readAsync = promisify(read);
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);

/**
 * A source that fills the caller's buffer itself. Files are read this way: straight into the
 * chunk (or payload) buffer that goes on to a worker, with no stream pieces to copy, concatenate
 * and collect, which was a large share of the export's main-thread time (bench/README.md,
 * "Measurements behind the design").
 */
export interface DirectSource {
  /** Reads up to `len` bytes into `buf` at `at`; 0 means end of input. */
  readInto(buf: Uint8Array, at: number, len: number): Promise<number>;
  close(): Promise<void>;
  /** For a regular file: its open descriptor and size, so other threads can read ranges of it themselves. */
  locate?(): Promise<{ fd: number; size: number } | undefined>;
  /** Moves the read position past `n` bytes without reading them (someone else reads them). */
  skip?(n: number): void;
}

/** What payload and bundle readers accept: a pipe or stream yields pieces, a file fills buffers. */
export type ByteSource = AsyncIterable<Uint8Array | string> | DirectSource;

export function isDirect(s: ByteSource): s is DirectSource {
  return typeof (s as DirectSource).readInto === 'function';
}

/** Reads this small from a regular file are made on the calling thread (see fileSource). */
export const SYNC_READ_MAX = 1 << 16;

/**
 * Reads a file from the start, by path (opened at the first read) or by an open descriptor (which
 * the source then owns and closes). A regular file is read at positions, so nothing else moves
 * them, and other threads may read ranges of it (`locate`). Anything else (a named pipe, a
 * character device such as /dev/stdin on a pipe) is read in sequence and offers no `locate`:
 * positional reads there fail with ESPIPE.
 */
export function fileSource(file: string | number): DirectSource {
  let fd: number | undefined = typeof file === 'number' ? file : undefined;
  let regular: { size: number } | undefined;
  let pos = 0;
  let closed = false;
  const fail = (e: unknown): never => {
    throw ioError(`cannot read ${typeof file === 'string' ? file : `descriptor ${file}`}`, e);
  };
  let ready: Promise<number> | undefined;
  const opened = (): Promise<number> =>
    (ready ??= (async () => {
      fd ??= await openAsync(file as string, 'r');
      // Taken once: the bundle is read as it was when reading began, and a file that shrinks
      // later shows up as a short read, reported as truncation where it happens.
      const st = await fstatAsync(fd);
      if (st.isFile()) regular = { size: st.size };
      return fd;
    })());
  return {
    async readInto(buf, at, len) {
      if (closed) return 0;
      try {
        const d = await opened();
        // Small reads of a regular file (chunk headers, between the payloads workers read
        // themselves) are made here: a thread-pool round trip per header held up the main
        // thread (measured in bench/README.md).
        const n = !regular
          ? (await readAsync(d, buf, at, len, null)).bytesRead
          : len <= SYNC_READ_MAX
            ? readSync(d, buf, at, len, pos)
            : (await readAsync(d, buf, at, len, pos)).bytesRead;
        pos += n;
        return n;
      } catch (e) {
        return fail(e);
      }
    },
    async locate() {
      try {
        const d = await opened();
        return regular ? { fd: d, size: regular.size } : undefined;
      } catch (e) {
        return fail(e);
      }
    },
    skip(n) {
      if (!regular) throw new Error('skip() on a source that cannot be read at positions');
      pos += n;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (fd !== undefined) await closeAsync(fd).catch(() => {});
    },
  };
}
