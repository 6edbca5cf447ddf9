/**
 * Rebuilding a delta into aligned output blocks: spans cut where blocks meet, and a content of
 * several blocks rebuilt byte for byte, on the worker pool and on one thread, with its digest put
 * together from subtrees or hashed in order.
 */
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestString } from '../../../src/format/bytes.js';
import { DELTA_CHUNKER } from '../../../src/format/cdc.js';
import { PieceListBuilder, type PieceList } from '../../../src/format/pieces.js';
import { PieceCutter } from '../../../src/stream/delta/cutter.js';
import { BATCH, placedParts, PlacedOutput } from '../../../src/stream/delta/placed.js';
import { HaveTable, planDelta } from '../../../src/stream/delta/plan.js';
import { deltaProgram } from '../../../src/stream/delta/program.js';
import { DeltaRebuild } from '../../../src/stream/delta/rebuild.js';
import { loadEngines, type Engines } from '../../../src/stream/engine/engines.js';
import { addonIfBuilt } from '../../../src/stream/io/addon.js';
import { WorkerPool } from '../../../src/stream/parallel/pool.js';
import { noiseBytes } from '../../helpers.js';

const engines = await loadEngines();

describe('placedParts', () => {
  const plan = (lengths: number[]) => ({ first: 10, at: 5000, bytes: lengths.reduce((a, b) => a + b, 0), lengths: Uint32Array.from(lengths) });

  it('keeps a span inside one block whole', () => {
    expect([...placedParts(plan([4000, 5000]), BATCH - 9000)]).toEqual([{ ...plan([4000, 5000]), out: BATCH - 9000, straddles: false }]);
  });

  it('cuts a span where blocks meet, the piece across the boundary a part of its own', () => {
    const parts = [...placedParts(plan([4000, 5000, 3000, 6000]), BATCH - 6000)];
    expect(parts.map((p) => ({ first: p.first, at: p.at, bytes: p.bytes, lengths: [...p.lengths], out: p.out, straddles: p.straddles }))).toEqual([
      { first: 10, at: 5000, bytes: 4000, lengths: [4000], out: BATCH - 6000, straddles: false },
      { first: 11, at: 9000, bytes: 5000, lengths: [5000], out: BATCH - 2000, straddles: true },
      { first: 12, at: 14000, bytes: 9000, lengths: [3000, 6000], out: BATCH + 3000, straddles: false },
    ]);
  });

  it('cuts between pieces, with nothing across, when a piece ends on the boundary', () => {
    const parts = [...placedParts(plan([4000, 2000, 7000]), BATCH - 6000)];
    expect(parts.map((p) => [p.first, p.bytes, p.out, p.straddles])).toEqual([
      [10, 6000, BATCH - 6000, false],
      [12, 7000, BATCH, false],
    ]);
  });
});

describe('PlacedOutput', () => {
  it('writes whole aligned blocks in order, then the rest, and hashes them into the content digest', async () => {
    const data = noiseBytes(2 * BATCH + 12345, 7);
    for (const subtree of [true, false]) {
      const tree = engines.tree;
      const writes: Uint8Array[] = [];
      const out = new PlacedOutput(
        async (b, done) => {
          writes.push(b.slice());
          if (addonIfBuilt()) expect(addonIfBuilt()!.alignment(b)).toBe(0);
          done?.();
        },
        tree?.create() ?? (await engines.hash.create()),
        subtree && tree ? (b, at) => Promise.resolve(tree.subtree(b, at)) : undefined,
      );
      // Filled out of order, as runs come back from workers.
      out.put(data.subarray(BATCH + 100), BATCH + 100);
      out.put(data.subarray(0, BATCH + 100), 0);
      await out.finish(data.length);
      expect(writes.map((w) => w.length)).toEqual([BATCH, BATCH, 12345]);
      expect(Buffer.concat(writes).equals(data)).toBe(true);
      expect(await out.digest()).toEqual(engines.hash.digestOf([data]));
    }
  });
});

/** Text-like bytes that do not repeat, which cut into pieces of every length. */
function imageBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = `word${x >>> 18} `;
    for (let k = 0; k < w.length && i < n; k++) out[i++] = w.charCodeAt(k);
  }
  return out;
}

function cut(data: Uint8Array): PieceList {
  const c = new PieceCutter(engines.pieces);
  c.update(data, engines.pieces.candidates(data, true));
  return c.finish(engines.hash.digestOf([data]));
}

describe('DeltaRebuild over several output blocks', () => {
  let dir: string;
  let base: Uint8Array;
  let next: Uint8Array;
  let baseList: PieceList;
  let program: Uint8Array[];
  let claim: Parameters<typeof DeltaRebuild.start>[0];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootport-rebuild-'));
    base = imageBytes(11 << 20, 3);
    // Edits spread through it, so that runs start and end everywhere, across block boundaries too.
    const parts: Uint8Array[] = [];
    let at = 0;
    for (let k = 1; k <= 12; k++) {
      const cutAt = Math.floor((base.length * k) / 13);
      parts.push(base.subarray(at, cutAt), noiseBytes(3000 + k * 111, k));
      at = cutAt + (k % 3) * 500;
    }
    parts.push(base.subarray(at));
    next = Uint8Array.from(Buffer.concat(parts));
    await writeFile(join(dir, 'base'), base);
    await writeFile(join(dir, 'next'), next);
    baseList = cut(base);
    const nextList = cut(next);
    const plan = planDelta(nextList, new HaveTable([baseList]));
    const fh = await open(join(dir, 'next'), 'r');
    program = [];
    for await (const b of deltaProgram(plan, nextList, fh, engines, 'next')) program.push(b);
    await fh.close();
    claim = {
      chunker: DELTA_CHUNKER.name,
      base: [{ digest: digestString(engines.hash.digestOf([base])), size: base.length }],
      size: next.length,
      digest: digestString(engines.hash.digestOf([next])),
      carried: plan.carried,
      referenced: plan.referenced,
    };
    expect(plan.referenced).toBeGreaterThan(next.length * 0.9);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function rebuild(e: Engines, pool?: WorkerPool) {
    const writes: Uint8Array[] = [];
    const index = new PieceListBuilder();
    const r = await DeltaRebuild.start(
      claim,
      () => Promise.resolve({ path: join(dir, 'base'), pieces: baseList }),
      e,
      async (b, done) => {
        writes.push(b.slice());
        done?.();
      },
      'image',
      index,
      pool && { span: pool.span.bind(pool), subtree: pool.subtree.bind(pool) },
    );
    // The program arrives in pieces of odd sizes, as chunks of a bundle do.
    const all = Buffer.concat(program);
    for (let at = 0; at < all.length; at += 77_777) await r.update(all.subarray(at, at + 77_777));
    const done = await r.finish();
    return { writes, done, index: index.finish(done.digest) };
  }

  it('rebuilds byte for byte, in whole blocks, on the worker pool and on one thread, with and without subtrees', async () => {
    const pool = new WorkerPool(engines, 2);
    try {
      const { tree: _tree, ...noTree } = engines;
      for (const [e, p] of [
        [engines, pool],
        [engines, undefined],
        [noTree, undefined],
      ] as const) {
        const { writes, done, index } = await rebuild(e, p);
        expect(writes.slice(0, -1).every((w) => w.length === BATCH)).toBe(true);
        expect(writes.length).toBe(Math.ceil(next.length / BATCH));
        expect(Buffer.concat(writes).equals(next)).toBe(true);
        expect(done).toEqual({ digest: engines.hash.digestOf([next]), size: next.length });
        expect(index.records).toEqual(cut(next).records);
      }
    } finally {
      await pool.close();
    }
  });
});
