import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeVolumeHeader,
  encodeVolumeHeader,
  parseVolumeFileName,
  RecordBoundaries,
  VOLUME_HEADER_SIZE,
  volumeFileName,
  type VolumeHeader,
} from '../../src/format/volume.js';
import { CHUNK_HEADER_SIZE, PREAMBLE_SIZE } from '../../src/format/constants.js';
import { decodeChunkHeader } from '../../src/format/chunk.js';
import { codeOf, engines, makeBundle, sampleBytes } from '../helpers.js';

const hash = await engines();
const blake3 = (b: Uint8Array) => hash.hash.digestOf([b]);

const base: VolumeHeader = {
  index: 2,
  last: false,
  count: 0,
  bundleId: '6f1d2c3b-0000-4000-8000-00000000abcd',
  offset: 1234,
  length: 5678,
  headerHash: new Uint8Array(32).fill(3),
  payloadDigest: new Uint8Array(32).fill(9),
};

describe('the volume header', () => {
  it('round-trips, and its check value catches any flipped bit', () => {
    const b = encodeVolumeHeader(base, blake3);
    expect(b.length).toBe(VOLUME_HEADER_SIZE);
    expect(decodeVolumeHeader(b, 'v', blake3)).toEqual(base);
    for (let i = 8; i < VOLUME_HEADER_SIZE; i++) {
      const c = b.slice();
      c[i]! ^= 0x10;
      expect(
        codeOf(() => decodeVolumeHeader(c, 'v', blake3)),
        `byte ${i}`,
      ).toMatch(/ERR_VOLUME_DAMAGED|ERR_BUNDLE_UNSUPPORTED/);
    }
  });

  it('refuses a short header, another magic, and fields that contradict each other', () => {
    const b = encodeVolumeHeader(base, blake3);
    expect(codeOf(() => decodeVolumeHeader(b.subarray(0, 100), 'v', blake3))).toBe('ERR_VOLUME_TRUNCATED');
    expect(codeOf(() => decodeVolumeHeader(new Uint8Array(128), 'v', blake3))).toBe('ERR_BUNDLE_BAD_MAGIC');
    const bad = (v: Partial<VolumeHeader>) => codeOf(() => decodeVolumeHeader(encodeVolumeHeader({ ...base, ...v }, blake3), 'v', blake3));
    expect(bad({ index: 0 })).toBe('ERR_BUNDLE_RECORD');
    expect(bad({ last: true, count: 3 })).toBe('ERR_BUNDLE_RECORD');
    expect(bad({ count: 2 })).toBe('ERR_BUNDLE_RECORD');
    expect(bad({ index: 1 })).toBe('ERR_BUNDLE_RECORD');
    expect(bad({ index: 1, offset: 0 })).toBeUndefined();
    expect(bad({ last: true, count: 2 })).toBeUndefined();
  });

  it('names files NAME.001 … and reads the index back', () => {
    expect(volumeFileName('boot.export', 7)).toBe('boot.export.007');
    expect(volumeFileName('boot.export', 1234)).toBe('boot.export.1234');
    expect(parseVolumeFileName('boot.export.012')).toEqual({ base: 'boot.export', index: 12 });
    expect(parseVolumeFileName('boot.export')).toBeUndefined();
  });
});

describe('RecordBoundaries', () => {
  it('finds every record start of a real bundle, however its bytes are cut into pieces', async () => {
    const bundle = await makeBundle({ kernel: sampleBytes(70_000, 1), initramfs: sampleBytes(200_000, 2) }, { chunkSize: 1 << 16 });
    // The truth: walk the records by their lengths.
    const manifestEnd = PREAMBLE_SIZE + new DataView(bundle.buffer, bundle.byteOffset).getUint32(20, true);
    const truth = [manifestEnd];
    for (let at = manifestEnd; bundle[at] === 0x43;) {
      at += CHUNK_HEADER_SIZE + decodeChunkHeader(bundle.subarray(at, at + CHUNK_HEADER_SIZE), at).compLength;
      truth.push(at);
    }
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bundle.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const t = new RecordBoundaries();
        const found: number[] = [];
        let from = 0;
        for (const p of [...points, bundle.length]) {
          found.push(...t.feed(bundle.subarray(from, p)));
          from = p;
        }
        expect(found).toEqual(truth);
      }),
      { numRuns: 200 },
    );
  });
});
