/** Cutting as content streams past, and matching a new blob's pieces against what is held. */
import { describe, expect, it } from 'vitest';
import { cutLength, DELTA_CHUNKER } from '../../../src/format/cdc.js';
import { PieceCutter } from '../../../src/stream/delta/cutter.js';
import { HaveTable, planDelta, RUN_LIMIT } from '../../../src/stream/delta/plan.js';
import { loadEngines } from '../../../src/stream/engine/engines.js';
import { noiseBytes } from '../../helpers.js';

const engines = await loadEngines();
const digest = new Uint8Array(32);

function cutAll(data: Uint8Array, step: number) {
  const c = new PieceCutter(engines.pieces);
  for (let i = 0; i < data.length; i += step) c.update(data.subarray(i, i + step));
  return c.finish(digest);
}

describe('the piece cutter', () => {
  it('cuts exactly as the chunker over the whole content, whatever the pieces it is given', () => {
    const data = noiseBytes(300_000, 3);
    const lengths: number[] = [];
    for (let at = 0; at < data.length;) at += lengths[lengths.push(cutLength(data, at, data.length, DELTA_CHUNKER)) - 1]!;
    for (const step of [1000, 16384, 65536, 300_000]) {
      const l = cutAll(data, step);
      expect(Array.from({ length: l.count }, (_, i) => l.lengthAt(i))).toEqual(lengths);
      expect(l.digestAt(5)).toEqual(engines.hash.digestOf([data.subarray(l.offsetAt(5), l.offsetAt(6))]));
    }
  });
});

describe('stitching the pieces workers cut block by block', () => {
  it('gives exactly the pieces of cutting the whole, on noise, text-like and constant content, with blocks of any size', () => {
    const text = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(20_000));
    for (const data of [noiseBytes(1_000_000, 6), new Uint8Array(text), new Uint8Array(500_000)]) {
      const whole = cutAll(data, data.length);
      for (const block of [20_000, 65_536, 100_003, 1 << 20]) {
        const c = new PieceCutter(engines.pieces);
        for (let i = 0; i < data.length; i += block) {
          const b = data.subarray(i, i + block);
          c.update(b, engines.pieces.candidates(b));
        }
        const l = c.finish(digest);
        expect(l.count).toBe(whole.count);
        expect(l.records).toEqual(whole.records);
      }
    }
  });
});

describe('planDelta', () => {
  it('references what is held as long runs, carries the rest, and caps runs', () => {
    const old = noiseBytes(12_000_000, 4);
    const edited = new Uint8Array(old.length + 10);
    edited.set(old.subarray(0, 6_000_000));
    edited.set(noiseBytes(10, 5), 6_000_000);
    edited.set(old.subarray(6_000_000), 6_000_010);
    const have = new HaveTable([cutAll(old, 1 << 20)]);
    const plan = planDelta(cutAll(edited, 1 << 20), have);
    expect(plan.bases).toEqual([0]);
    expect(plan.carried).toBeGreaterThan(10);
    expect(plan.carried).toBeLessThan(3 * DELTA_CHUNKER.max);
    expect(plan.carried + plan.referenced).toBe(edited.length);
    const refs = plan.steps.filter((s) => s.kind === 'ref');
    expect(refs.every((r) => r.kind === 'ref' && r.bytes <= RUN_LIMIT)).toBe(true);
    // 12 MB in runs of at most 4 MiB, split once by the edit: a handful of references.
    expect(refs.length).toBeLessThan(8);
    expect(planDelta(cutAll(noiseBytes(100_000, 9), 1 << 20), have)).toMatchObject({ referenced: 0, bases: [] });
  });
});
