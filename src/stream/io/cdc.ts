import { checkParams, cutLength, type CdcParams } from '../../format/cdc.js';
import { ByteReader } from './byte-reader.js';
import type { ByteSource } from './source.js';

/**
 * A byte source cut into content-defined chunks, in order, each a fresh array. Memory is bounded
 * by two maximum chunks, whatever the source and however it is read.
 */
export async function* cdcChunks(source: ByteSource, p: CdcParams): AsyncGenerator<Uint8Array> {
  checkParams(p);
  const src = new ByteReader(source);
  try {
    const buf = new Uint8Array(2 * p.max);
    let start = 0;
    let end = 0;
    let eof = false;
    for (;;) {
      // A cut needs `max` bytes ahead (or the end): refill behind the window when fewer remain.
      if (!eof && end - start < p.max) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
        end += await src.readInto(buf.subarray(end));
        eof = end < buf.length;
      }
      if (start === end) return;
      const len = cutLength(buf, start, end, p);
      yield buf.slice(start, start + len);
      start += len;
    }
  } finally {
    await src.close();
  }
}
