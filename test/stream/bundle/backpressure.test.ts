import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MIN_CHUNK_SIZE } from '../../../src/format/constants.js';
import { createBundleStream } from '../../../src/stream/bundle/writer.js';
import { engines, fromBytes, manifestFor, sampleBytes } from '../../helpers.js';

/** A large image source that counts what the writer has pulled from it. */
function countingSource(total: number, piece = 1 << 16): { source: AsyncGenerator<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const block = sampleBytes(piece, 5);
  async function* gen(): AsyncGenerator<Uint8Array> {
    while (pulled < total) {
      pulled += piece;
      yield block;
    }
  }
  return { source: gen(), pulled: () => pulled };
}

describe('backpressure', () => {
  it('a paused consumer stops the writer from reading its source', async () => {
    const total = 256 * MIN_CHUNK_SIZE; // 16 MiB
    const { source, pulled } = countingSource(total);
    const m = manifestFor({ kernel: sampleBytes(10), initramfs: sampleBytes(10) }, { declareSizes: false });
    m.entries.push({ role: 'image', name: 'big', chunk_size: MIN_CHUNK_SIZE, codec: 'zstd', level: 1 });
    const stream = createBundleStream(m, [fromBytes(sampleBytes(10)), fromBytes(sampleBytes(10)), source], { engines: await engines() });

    // Take a little, then stop reading.
    let got = 0;
    for await (const c of stream.iterator({ destroyOnReturn: false })) {
      got += (c as Buffer).length;
      if (got > 3 * MIN_CHUNK_SIZE) break;
    }
    await sleep(200);
    const whilePaused = pulled();
    await sleep(200);
    expect(pulled()).toBe(whilePaused);
    // Bounded by a few chunks (one in hand, one of lookahead, the stream's buffer), not the 16 MiB on offer.
    expect(whilePaused).toBeLessThan(12 * MIN_CHUNK_SIZE);

    for await (const c of stream) got += (c as Buffer).length;
    expect(pulled()).toBe(total);
  });
});
