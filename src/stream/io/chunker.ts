import { ByteReader } from './byte-reader.js';
import type { ByteSource } from './source.js';

/**
 * Cuts a byte source into chunks of exactly `size` bytes, the last one shorter, and tells which
 * chunk is final. One chunk of lookahead is the price of knowing that without knowing the length
 * in advance (the image may come from a pipe). An empty source yields one empty final chunk.
 */
export interface Piece {
  data: Uint8Array;
  final: boolean;
  /** The whole chunk-size buffer behind `data`, for the caller to hand back through `alloc` once done. */
  buffer: Uint8Array;
}

/** `alloc` lets the caller recycle chunk buffers (see BufferPool). */
export async function* chunked(source: ByteSource, size: number, alloc: () => Uint8Array = () => new Uint8Array(size)): AsyncGenerator<Piece> {
  const src = new ByteReader(source);
  try {
    let cur = alloc();
    let n = await src.readInto(cur);
    for (;;) {
      if (n < size) {
        yield { data: cur.subarray(0, n), final: true, buffer: cur };
        return;
      }
      const next = alloc();
      const m = await src.readInto(next);
      if (m === 0) {
        yield { data: cur, final: true, buffer: cur };
        return;
      }
      yield { data: cur, final: false, buffer: cur };
      cur = next;
      n = m;
    }
  } finally {
    await src.close();
  }
}
