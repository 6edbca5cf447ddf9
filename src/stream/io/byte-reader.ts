import { copyOf, standalone } from '../../format/bytes.js';
import { bundleError } from '../../format/errors.js';
import { isDirect, type ByteSource, type DirectSource } from './source.js';

/**
 * Small reads from a direct source (headers, the manifest) are served from blocks of this size.
 * Small, because what a block reads past a chunk header is the start of a payload that a worker
 * may read again itself.
 */
const BLOCK = 1 << 14;

/**
 * The one adapter over a byte source, whichever kind it is: exact-length reads for the records of
 * a bundle, and fills of a caller's buffer for the chunks of a payload. It pulls only when a read
 * needs more bytes, so what it buffers is bounded by one read plus one incoming piece. From a
 * file, a large read (a chunk payload, a chunk to compress) goes straight into its destination:
 * one copy, from the page cache.
 */
export class ByteReader {
  private pieces: Uint8Array[] = [];
  private buffered = 0;
  private done = false;
  private readonly pull: () => Promise<Uint8Array | undefined>;
  private readonly stop: () => Promise<unknown>;
  private readonly direct: DirectSource | undefined;
  /** Bytes consumed so far: the offset of the next byte `read` returns. */
  position = 0;

  constructor(source: ByteSource) {
    if (isDirect(source)) {
      this.direct = source;
      this.pull = async () => {
        const b = new Uint8Array(BLOCK);
        const n = await source.readInto(b, 0, BLOCK);
        return n === 0 ? undefined : b.subarray(0, n);
      };
      this.stop = () => source.close();
    } else {
      const it = source[Symbol.asyncIterator]();
      this.pull = async () => {
        const r = await it.next();
        if (r.done) return undefined;
        if (typeof r.value === 'string') throw new TypeError('byte sources must yield bytes, not text');
        return r.value;
      };
      this.stop = async () => it.return?.();
    }
  }

  private async want(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const piece = await this.pull();
      if (!piece) this.done = true;
      else if (piece.length > 0) {
        this.pieces.push(piece);
        this.buffered += piece.length;
      }
    }
    return this.buffered >= n;
  }

  private truncated(n: number, what: string, have: number): never {
    throw bundleError('ERR_BUNDLE_TRUNCATED', `input ended inside ${what}: needed ${n} bytes at offset ${this.position}, ${have} remain`, {
      offset: this.position + have,
    });
  }

  /**
   * Passes over `n` bytes that another thread will read itself, returning where they are in the
   * file. Only for a file source and a range of at least a block; otherwise undefined, and
   * nothing is consumed. A range that runs past the end of the file is a truncation, as for `read`.
   */
  async claim(n: number, what: string): Promise<{ fd: number; offset: number } | undefined> {
    const src = this.direct;
    if (!src?.locate || !src.skip || n < BLOCK || this.done) return undefined;
    const where = await src.locate();
    if (!where) return undefined;
    const { fd, size } = where;
    const offset = this.position;
    if (offset + n > size) this.truncated(n, what, size - offset);
    // Buffered bytes (less than a block) are the start of the range.
    this.skip(n);
    return { fd, offset };
  }

  /**
   * Moves past `n` bytes that another thread has read, without reading them: only for a file
   * source, which can be read at positions.
   */
  skip(n: number): void {
    const src = this.direct;
    if (!src?.skip) throw new Error('skip() on a source that cannot be read at positions');
    let left = n;
    while (left > 0 && this.pieces.length) {
      const p = this.pieces[0] as Uint8Array;
      const take = Math.min(p.length, left);
      if (take === p.length) this.pieces.shift();
      else this.pieces[0] = p.subarray(take);
      this.buffered -= take;
      left -= take;
    }
    if (left > 0) src.skip(left);
    this.position += n;
  }

  /** Moves up to `n` buffered bytes into `out` from `at`; returns how many. */
  private drain(out: Uint8Array, at: number, n: number): number {
    let moved = 0;
    while (moved < n && this.pieces.length) {
      const p = this.pieces[0] as Uint8Array;
      const take = Math.min(p.length, n - moved);
      out.set(p.subarray(0, take), at + moved);
      moved += take;
      if (take === p.length) this.pieces.shift();
      else this.pieces[0] = p.subarray(take);
    }
    this.buffered -= moved;
    return moved;
  }

  /** Exactly `n` bytes, or ERR_BUNDLE_TRUNCATED naming `what` and where the input ended. */
  async read(n: number, what: string): Promise<Uint8Array> {
    return (await this.take(n, what)).bytes;
  }

  /**
   * Fills `buf` as far as the input goes and returns how many bytes it now holds: fewer than its
   * length only at end of input. A file is read straight into `buf`; pieces from a stream are
   * copied in, and what does not fit is kept for the next read.
   */
  async readInto(buf: Uint8Array): Promise<number> {
    let n = this.drain(buf, 0, buf.length);
    while (n < buf.length && !this.done) {
      if (this.direct) {
        const got = await this.direct.readInto(buf, n, buf.length - n);
        if (got === 0) this.done = true;
        n += got;
      } else if (await this.want(1)) n += this.drain(buf, n, buf.length - n);
    }
    this.position += n;
    return n;
  }

  /** Up to `n` bytes: fewer only where the input ends. For a small read whose shortness means something. */
  async readUpTo(n: number, what: string): Promise<Uint8Array> {
    await this.want(n);
    return this.read(Math.min(n, this.buffered), what);
  }

  /**
   * Like `read`, but the array is this reader's own and spans its whole buffer: never a view of
   * the caller's bytes or of a larger block. It may be kept or transferred to a worker without
   * pinning or detaching anything else.
   */
  async readOwned(n: number, what: string): Promise<Uint8Array> {
    const { bytes, own } = await this.take(n, what);
    return own ? standalone(bytes) : copyOf(bytes);
  }

  private async take(n: number, what: string): Promise<{ bytes: Uint8Array; own: boolean }> {
    if (n === 0) return { bytes: new Uint8Array(0), own: true };
    if (this.direct && n - this.buffered >= BLOCK && !this.done) return { bytes: await this.readDirect(this.direct, n, what), own: true };
    if (!(await this.want(n))) this.truncated(n, what, this.buffered);
    this.position += n;
    const first = this.pieces[0] as Uint8Array;
    if (first.length >= n) {
      // Zero-copy when one piece holds the whole read, the common case for chunk headers.
      if (first.length === n) this.pieces.shift();
      else this.pieces[0] = first.subarray(n);
      this.buffered -= n;
      return { bytes: first.subarray(0, n), own: this.direct !== undefined };
    }
    const out = new Uint8Array(n);
    this.drain(out, 0, n);
    return { bytes: out, own: true };
  }

  private async readDirect(src: DirectSource, n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = this.drain(out, 0, n);
    while (at < n) {
      const got = await src.readInto(out, at, n - at);
      if (got === 0) {
        this.done = true;
        this.truncated(n, what, at);
      }
      at += got;
    }
    this.position += n;
    return out;
  }

  /** The next byte without consuming it, or undefined at end of input. */
  async peek(): Promise<number | undefined> {
    if (!(await this.want(1))) return undefined;
    return (this.pieces[0] as Uint8Array)[0];
  }

  async atEnd(): Promise<boolean> {
    return !(await this.want(1));
  }

  /** Stops pulling from the source (it will not be read further). */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.stop();
    } else if (this.direct) await this.direct.close();
  }
}
