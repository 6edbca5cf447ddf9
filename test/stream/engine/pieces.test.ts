/** The piece engines: the native one cuts and hashes exactly as the JS chunker and BLAKE3 do. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutLength, DELTA_CHUNKER } from '../../../src/format/cdc.js';
import { hashWasmEngine, nativeHashEngine } from '../../../src/stream/engine/hash.js';
import { jsPieceEngine, nativePieceEngine, type Candidates } from '../../../src/stream/engine/pieces.js';
import { noiseBytes, sampleBytes } from '../../helpers.js';

const native = nativePieceEngine();
const hash = nativeHashEngine();
const others = [jsPieceEngine(hash), jsPieceEngine(await hashWasmEngine())];

/** The pieces as format/cdc.ts cuts them (its golden test holds those cuts), each hashed alone. */
function reference(data: Uint8Array, toEnd: boolean): Candidates {
  const cuts: number[] = [];
  const digests: Uint8Array[] = [];
  for (let at = 0; data.length - at > (toEnd ? 0 : DELTA_CHUNKER.max);) {
    const n = cutLength(data, at, data.length, DELTA_CHUNKER);
    digests.push(hash.digestOf([data.subarray(at, at + n)]));
    cuts.push((at += n));
  }
  return { cuts: Uint32Array.from(cuts), digests: Uint8Array.from(Buffer.concat(digests)) };
}

describe('piece engines', () => {
  it('cut and hash a block as the chunker and BLAKE3 do, on noise, on text and on runs of one byte', () => {
    for (const data of [noiseBytes(3 << 20, 21), sampleBytes(1 << 20, 22), new Uint8Array(100_000), noiseBytes(5000, 23), new Uint8Array(0)])
      for (const toEnd of [false, true]) {
        const want = reference(data, toEnd);
        expect(native.candidates(data, toEnd)).toEqual(want);
        for (const e of others) expect(e.candidates(data, toEnd), e.name).toEqual(want);
      }
  });

  it('agree on blocks of any length and content', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 90_000 }), fc.integer({ min: 1, max: 1 << 30 }), fc.boolean(), (n, seed, toEnd) => {
        const data = seed & 1 ? noiseBytes(n, seed) : sampleBytes(n, seed);
        expect(native.candidates(data, toEnd)).toEqual(others[0]!.candidates(data, toEnd));
      }),
      { numRuns: 60 },
    );
  });

  it('hash pieces of every length a chunk index can hold, and longer, with or without others around them', () => {
    const data = noiseBytes(40_000, 24);
    const lengths: number[] = [];
    for (let n = 0; n <= 17_000; n += n < 2100 ? 1 : 61) lengths.push(n);
    lengths.push(16_383, 16_384, 16_385, 32_768, 40_000);
    for (const n of lengths) {
      const one = Uint32Array.of(n);
      expect(Buffer.from(native.digests(data, one)).toString('hex'), `a piece of ${n} bytes`).toBe(
        Buffer.from(hash.digestOf([data.subarray(0, n)])).toString('hex'),
      );
    }
    // Many together, whole chunks of different pieces side by side in the SIMD lanes.
    const mixed = Uint32Array.from([1024, 5000, 0, 16_384, 1, 2048, 3071, 1025, 7]);
    const want = Buffer.concat(
      [...mixed].map((n, i) => {
        const at = mixed.subarray(0, i).reduce((a, b) => a + b, 0);
        return hash.digestOf([data.subarray(at, at + n)]);
      }),
    );
    expect(Buffer.from(native.digests(data, mixed))).toEqual(want);
    for (const e of others) expect(Buffer.from(e.digests(data, mixed)), e.name).toEqual(want);
  });

  it('hash thousands of pieces in one call, their short last chunks and their trees side by side in SIMD lanes', () => {
    // Every length from 0 to 16 KiB comes up, so tails of every chunk counter and block count,
    // and trees of every shape up to 16 chunks, are batched with many others like them.
    const rnd = noiseBytes(4 * 3000, 26);
    const lengths = Uint32Array.from({ length: 3000 }, (_, i) => (i < 1100 ? i * 15 : new DataView(rnd.buffer).getUint32(4 * i, true) % 17_500));
    const data = noiseBytes(
      lengths.reduce((a, b) => a + b, 0),
      27,
    );
    const want: Uint8Array[] = [];
    let at = 0;
    for (const n of lengths) want.push(hash.digestOf([data.subarray(at, (at += n))]));
    expect(Buffer.from(native.digests(data, lengths)).equals(Buffer.concat(want))).toBe(true);
  });

  it('refuse pieces that run past the data, rather than read beyond it', () => {
    expect(() => native.digests(new Uint8Array(100), Uint32Array.of(60, 41))).toThrow(RangeError);
    expect(native.digests(new Uint8Array(100), new Uint32Array(0))).toEqual(new Uint8Array(0));
  });
});
