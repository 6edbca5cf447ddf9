import { bundleError } from '../format/errors.js';

/**
 * Exact-length reads over an async byte source. It pulls only when a read needs more bytes, so
 * what it buffers is bounded by one read plus one incoming piece.
 */
export class ByteReader {
  private pieces: Uint8Array[] = [];
  private buffered = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;
  /** Bytes consumed so far: the offset of the next byte `read` returns. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array | string>) {
    const inner = source[Symbol.asyncIterator]();
    this.it = {
      next: async () => {
        const r = await inner.next();
        if (!r.done && typeof r.value === 'string') throw new TypeError('bundle input must be bytes, not text');
        return r as IteratorResult<Uint8Array>;
      },
      return: async () => (inner.return ? ((await inner.return()) as IteratorResult<Uint8Array>) : { done: true, value: undefined }),
    };
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.pieces.push(r.value);
        this.buffered += r.value.length;
      }
    }
    return this.buffered >= n;
  }

  /** Exactly `n` bytes, or ERR_BUNDLE_TRUNCATED naming `what` and where the input ended. */
  async read(n: number, what: string): Promise<Uint8Array> {
    if (!(await this.fill(n))) {
      throw bundleError('ERR_BUNDLE_TRUNCATED', `input ended inside ${what}: needed ${n} bytes at offset ${this.position}, ${this.buffered} remain`, {
        offset: this.position + this.buffered,
      });
    }
    let out: Uint8Array;
    const first = this.pieces[0] as Uint8Array;
    if (first.length >= n) {
      // Zero-copy when one piece holds the whole read, the common case for chunk headers.
      out = first.subarray(0, n);
      if (first.length === n) this.pieces.shift();
      else this.pieces[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        const p = this.pieces[0] as Uint8Array;
        const take = Math.min(p.length, n - at);
        out.set(p.subarray(0, take), at);
        at += take;
        if (take === p.length) this.pieces.shift();
        else this.pieces[0] = p.subarray(take);
      }
    }
    this.buffered -= n;
    this.position += n;
    return out;
  }

  /** The next byte without consuming it, or undefined at end of input. */
  async peek(): Promise<number | undefined> {
    if (!(await this.fill(1))) return undefined;
    return (this.pieces[0] as Uint8Array)[0];
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  /** Stops pulling from the source (it will not be read further). */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}
