import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { orderedWindow } from '../../../src/stream/parallel/ordered.js';

async function* upTo(n: number, thenThrow?: Error): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
  if (thenThrow) throw thenThrow;
}

async function collect<R>(g: AsyncGenerator<R>): Promise<{ got: R[]; error?: unknown }> {
  const got: R[] = [];
  try {
    for await (const x of g) got.push(x);
    return { got };
  } catch (error) {
    return { got, error };
  }
}

describe('orderedWindow', () => {
  it('yields in source order whatever order the calls finish in', async () => {
    const { got } = await collect(orderedWindow(upTo(6), async (i) => (await sleep((6 - i) * 3), i * 10), 3));
    expect(got).toEqual([0, 10, 20, 30, 40, 50]);
  });

  it('keeps at most width calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    await collect(
      orderedWindow(
        upTo(10),
        async (i) => {
          most = Math.max(most, ++inFlight);
          await sleep(2);
          inFlight--;
          return i;
        },
        3,
      ),
    );
    expect(most).toBe(3);
  });

  it('reports an earlier item failure before a later source failure', async () => {
    const late = new Error('source broke after item 1');
    const early = new Error('item 0 failed');
    const { got, error } = await collect(
      orderedWindow(
        upTo(2, late),
        async (i) => {
          await sleep(20);
          if (i === 0) throw early;
          return i;
        },
        4,
      ),
    );
    expect(got).toEqual([]);
    expect(error).toBe(early);
  });

  it('finishes the items before a source failure, then reports it', async () => {
    const late = new Error('source broke after item 2');
    const { got, error } = await collect(orderedWindow(upTo(3, late), async (i) => (await sleep(5), i), 4));
    expect(got).toEqual([0, 1, 2]);
    expect(error).toBe(late);
  });
});
