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

/**
 * `alloc` lets the caller recycle chunk buffers: a fresh multi-MiB allocation per chunk made
 * glibc's heap fragment, and peak RSS crept up with the payload size.
 */
export async function* chunked(source: AsyncIterable<Uint8Array | string>, size: number, alloc: () => Uint8Array = () => new Uint8Array(size)): AsyncGenerator<Piece> {
  let pending: Uint8Array | undefined;
  let cur = alloc();
  let fill = 0;
  for await (const input of source) {
    if (typeof input === 'string') throw new TypeError('payload sources must yield bytes');
    let at = 0;
    while (at < input.length) {
      if (pending) {
        yield { data: pending, final: false, buffer: pending };
        pending = undefined;
      }
      const take = Math.min(size - fill, input.length - at);
      cur.set(input.subarray(at, at + take), fill);
      fill += take;
      at += take;
      if (fill === size) {
        pending = cur;
        cur = alloc();
        fill = 0;
      }
    }
  }
  if (pending && fill === 0) yield { data: pending, final: true, buffer: pending };
  else {
    if (pending) yield { data: pending, final: false, buffer: pending };
    yield { data: cur.subarray(0, fill), final: true, buffer: cur };
  }
}
