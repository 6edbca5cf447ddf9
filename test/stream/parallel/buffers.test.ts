import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../src/stream/parallel/buffers.js';

describe('BufferPool', () => {
  it('hands back the whole buffer behind a view, keeps at most `keep`, and ignores other sizes', () => {
    const pool = new BufferPool(16, 2);
    const a = pool.take();
    const b = pool.take();
    const c = pool.take();
    expect(a.length).toBe(16);
    pool.give(a.subarray(0, 3));
    pool.give(b);
    pool.give(c); // over the limit: left to the GC
    pool.give(new Uint8Array(8)); // another size
    const back = [pool.take(), pool.take()].map((x) => x.buffer);
    expect(new Set(back)).toEqual(new Set([a.buffer, b.buffer]));
    expect([a.buffer, b.buffer, c.buffer]).not.toContain(pool.take().buffer);
  });
});
