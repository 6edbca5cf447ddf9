/** Content-defined chunking: cuts that depend on the content alone, and stay put under edits. */
import { describe, expect, it } from 'vitest';
import { checkParams, cutLength, DELTA_CHUNKER, GEAR, type CdcParams } from '../../src/format/cdc.js';
import { cdcChunks } from '../../src/stream/io/cdc.js';
import { fromBytes, noiseBytes, sampleBytes } from '../helpers.js';
import { createHash } from 'node:crypto';

const P: CdcParams = { min: 2048, avg: 8192, max: 32768 };

async function cut(data: Uint8Array, piece = 1 << 16, p = P): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of cdcChunks(fromBytes(data, piece), p)) out.push(c);
  return out;
}

const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('content-defined chunks', () => {
  it('cover the input exactly, within the size bounds, whatever the pieces it arrives in', async () => {
    const data = noiseBytes(1 << 20, 1);
    const whole = await cut(data, data.length);
    expect(Buffer.concat(whole).equals(Buffer.from(data))).toBe(true);
    for (const c of whole.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(P.min);
      expect(c.length).toBeLessThanOrEqual(P.max);
    }
    for (const piece of [1, 7, 4096, 100_000]) expect((await cut(data, piece)).map(digest)).toEqual(whole.map(digest));
    // Around the average on bytes with no structure.
    const mean = data.length / whole.length;
    expect(mean).toBeGreaterThan(P.avg / 2);
    expect(mean).toBeLessThan(P.avg * 2);
  });

  it('stay the same after an insertion or a deletion, but for the chunks around it', async () => {
    const data = noiseBytes(1 << 21, 2);
    const before = (await cut(data)).map(digest);
    const at = 1_000_003;
    const inserted = new Uint8Array(data.length + 100);
    inserted.set(data.subarray(0, at));
    inserted.set(noiseBytes(100, 3), at);
    inserted.set(data.subarray(at), at + 100);
    const deleted = new Uint8Array(data.length - 5000);
    deleted.set(data.subarray(0, at));
    deleted.set(data.subarray(at + 5000), at);
    for (const edited of [inserted, deleted]) {
      const after = (await cut(edited)).map(digest);
      const kept = new Set(before);
      const changed = after.filter((d) => !kept.has(d)).length;
      expect(changed, `${changed} of ${after.length} chunks changed`).toBeLessThanOrEqual(3);
    }
  });

  it('cut a long run of one byte at the maximum, and an empty input into nothing', async () => {
    expect((await cut(new Uint8Array(100_000))).map((c) => c.length)).toEqual([32768, 32768, 32768, 1696]);
    expect(await cut(new Uint8Array(0))).toEqual([]);
    expect(cutLength(new Uint8Array(10), 0, 10, P)).toBe(10);
  });

  it('use a fixed gear table, so that two stores cut the same bytes the same way', () => {
    // Golden values of SplitMix64 (whose reference gives e220a8397b1dcdaf first for seed 0)
    // seeded with "bootport": a change here is a new chunking, which no old index matches.
    expect(GEAR.length).toBe(256);
    expect(new Set(GEAR).size).toBe(256);
    expect([GEAR[0]!.toString(16), GEAR[1]!.toString(16), GEAR[255]!.toString(16)]).toEqual(['710ec8b4', 'fcc6422d', 'e69b82ac']);
    expect(createHash('sha256').update(GEAR).digest('hex')).toBe('ac3cf58f7d5b4ceaaa0f30545227ff96212612e786e9513f99ce5578bffa5605');
  });

  it('cut bootport-cdc-1 where it always has: golden cut lists on noise and on text', () => {
    // Fixed by the implementation that first wrote indexes: a faster loop must cut the same bytes.
    const lists = [noiseBytes(1 << 20, 5), sampleBytes(1 << 20, 5)].map((data) => {
      const lens: number[] = [];
      for (let s = 0; s < data.length; s += lens[lens.length - 1]!) lens.push(cutLength(data, s, data.length, DELTA_CHUNKER));
      return `${lens.length} ${createHash('sha256').update(lens.join(',')).digest('hex')}`;
    });
    expect(lists).toEqual([
      '227 712af488b3bfbffca18d65ed8124b93aae8de9874bec62f2b576a878c8b4dd73',
      '141 28679807dd05279cde595afb1f99faef867ac5bd6fa727cc5eb5d113ddb2f32e',
    ]);
  });

  it('refuse sizes that cannot work', () => {
    for (const p of [
      { min: 2048, avg: 8000, max: 32768 },
      { min: 8192, avg: 8192, max: 32768 },
      { min: 2048, avg: 8192, max: 8192 },
      { min: 10, avg: 8192, max: 32768 },
    ])
      expect(() => checkParams(p)).toThrow(RangeError);
  });
});
