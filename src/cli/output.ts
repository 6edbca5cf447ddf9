import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** The error for a destination that went away: a closed pipe, as EPIPE would say. */
const gone = () => Object.assign(new Error('standard output was closed'), { code: 'EPIPE' });

/** One array as a byte stream, for the functions here and writeFileAtomic. */
export async function* onePiece(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/**
 * Copies a byte stream into `dest` honouring its backpressure, without ending it (stdout stays
 * open). A destination that fails or closes (a reader gone from the pipe) ends the copy with
 * that error instead of waiting forever for a 'drain' that will not come.
 */
export async function copyTo(src: AsyncIterable<Uint8Array>, dest: Writable): Promise<void> {
  for await (const chunk of src) {
    if (dest.destroyed || dest.writableEnded) throw dest.errored ?? gone();
    if (!dest.write(chunk)) {
      const ac = new AbortController();
      try {
        await Promise.race([
          once(dest, 'drain', { signal: ac.signal }),
          once(dest, 'close', { signal: ac.signal }).then(() => Promise.reject(dest.errored ?? gone())),
        ]);
      } finally {
        ac.abort();
      }
    }
  }
  if (dest.destroyed) throw dest.errored ?? gone();
}

/**
 * Like copyTo, but each piece is written, and its write finished, before the next is asked for:
 * the writer may then put the next piece in the same buffer. Only for a destination whose write
 * callback means the bytes have left the process (a descriptor), not one that keeps them.
 */
export async function copyEach(src: AsyncIterable<Uint8Array>, dest: Writable): Promise<void> {
  for await (const chunk of src) {
    if (dest.destroyed || dest.writableEnded) throw dest.errored ?? gone();
    await new Promise<void>((resolve, reject) => {
      const closed = () => reject(dest.errored ?? gone());
      dest.once('close', closed);
      dest.write(chunk, (err) => {
        dest.off('close', closed);
        if (err) reject(err);
        else resolve();
      });
    });
  }
}
