import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * Copies a byte stream into `dest` honouring its backpressure, without ending it (stdout stays
 * open). A destination that fails or closes (a reader gone from the pipe) ends the copy with
 * that error instead of waiting forever for a 'drain' that will not come.
 */
export async function copyTo(src: AsyncIterable<Uint8Array>, dest: Writable): Promise<void> {
  const gone = () => Object.assign(new Error('standard output was closed'), { code: 'EPIPE' });
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
