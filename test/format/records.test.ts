import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeChunkHeader, encodeChunkHeader } from '../../src/format/chunk.js';
import { CHUNK_HEADER_SIZE, FOOTER_SIZE, MAX_CHUNK_SIZE, PREAMBLE_MAGIC, PREAMBLE_SIZE } from '../../src/format/constants.js';
import { decodeExtensionHeader, encodeExtension } from '../../src/format/extension.js';
import { decodeFooter, encodeFooter } from '../../src/format/footer.js';
import { decodePreamble, encodePreamble } from '../../src/format/preamble.js';
import { decodeTrailer, encodeTrailer, trailerSize } from '../../src/format/trailer.js';
import { BootportError } from '../../src/format/errors.js';

/** Runs decode; returns undefined when it rejects with a coded error (and fails on anything else). */
function tryDecode<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    expect(e).toBeInstanceOf(BootportError);
    return undefined;
  }
}

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('preamble', () => {
  it('round-trips and keeps the version outside the JSON', () => {
    const b = encodePreamble({ major: 1, minor: 7, required: 0, optional: 0xffff, manifestLength: 300 });
    expect(b.length).toBe(PREAMBLE_SIZE);
    expect(decodePreamble(b)).toEqual({ major: 1, minor: 7, required: 0, optional: 0xffff, manifestLength: 300 });
  });

  it('rejects an unknown required feature bit, ignores unknown optional bits', () => {
    expect(() => decodePreamble(encodePreamble({ major: 1, minor: 0, required: 4, optional: 0, manifestLength: 10 }))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_UNSUPPORTED' }),
    );
    expect(decodePreamble(encodePreamble({ major: 1, minor: 0, required: 0, optional: 0x80000000, manifestLength: 10 })).optional).toBe(0x80000000);
  });

  it('rejects another major version and a manifest over the cap', () => {
    expect(() => decodePreamble(encodePreamble({ major: 2, minor: 0, required: 0, optional: 0, manifestLength: 10 }))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_UNSUPPORTED' }),
    );
    expect(() => decodePreamble(encodePreamble({ major: 1, minor: 0, required: 0, optional: 0, manifestLength: (1 << 20) + 1 }))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }),
    );
    expect(() => decodePreamble(encodePreamble({ major: 1, minor: 0, required: 0, optional: 0, manifestLength: 0 }))).toThrow(
      expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }),
    );
  });

  it('encode(decode(b)) == b for every preamble that decodes', () => {
    const arb = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean()).map(([tail, keepVersion]) => {
      const b = new Uint8Array(PREAMBLE_SIZE);
      b.set(PREAMBLE_MAGIC, 0);
      b.set(tail, 8);
      if (keepVersion) {
        b[8] = 1;
        b[9] = 0;
        b.fill(0, 12, 16);
      }
      return b;
    });
    fc.assert(
      fc.property(arb, (b) => {
        const p = tryDecode(() => decodePreamble(b));
        if (p) expect(encodePreamble(p)).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('chunk header', () => {
  it('encode(decode(b)) == b for every header that decodes', () => {
    const arb = fc
      .tuple(
        fc.uint8Array({ minLength: CHUNK_HEADER_SIZE, maxLength: CHUNK_HEADER_SIZE }),
        fc.nat(3),
        fc.nat(MAX_CHUNK_SIZE),
        fc.nat(MAX_CHUNK_SIZE),
        fc.nat(1000),
      )
      .map(([b, flags, raw, comp, seq]) => {
        // Bias towards plausible headers so most cases decode; the rest still must fail cleanly.
        const dv = new DataView(b.buffer);
        if (flags < 3) {
          b[0] = 0x43;
          b[1] = flags;
          dv.setUint32(4, raw, true);
          dv.setUint32(8, comp, true);
          dv.setBigUint64(12, BigInt(seq), true);
        }
        return b;
      });
    let decoded = 0;
    fc.assert(
      fc.property(arb, (b) => {
        const h = tryDecode(() => decodeChunkHeader(b));
        if (h) {
          decoded++;
          expect(encodeChunkHeader(h)).toEqual(b);
        }
      }),
      { numRuns: 3000 },
    );
    expect(decoded).toBeGreaterThan(500);
  });

  it('rejects lengths over the caps before anything is allocated', () => {
    const h = encodeChunkHeader({ final: true, entry: 0, rawLength: 10, compLength: 20, seq: 0, digest: new Uint8Array(32) });
    const dv = new DataView(h.buffer);
    dv.setUint32(4, MAX_CHUNK_SIZE + 1, true);
    expect(() => decodeChunkHeader(h)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }));
    dv.setUint32(4, 10, true);
    dv.setUint32(8, 0xffffffff, true);
    expect(() => decodeChunkHeader(h)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }));
    dv.setUint32(8, 20, true);
    dv.setBigUint64(12, 2n ** 60n, true);
    expect(() => decodeChunkHeader(h)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }));
    dv.setBigUint64(12, 0n, true);
    h[1] = 0x80;
    expect(() => decodeChunkHeader(h)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_RECORD' }));
  });
});

describe('trailer', () => {
  const trailerArb = fc.record({
    entries: fc.array(fc.record({ chunks: fc.nat(), rawBytes: fc.maxSafeNat(), compBytes: fc.maxSafeNat(), contentDigest: digest }), { maxLength: 3 }),
    seekTable: fc.array(fc.maxSafeNat(), { maxLength: 20 }),
    headerHash: digest,
    bundleDigest: digest,
  });

  it('round-trips values past 4 GiB and up to 2^53-1', () => {
    fc.assert(
      fc.property(trailerArb, (t) => {
        const b = encodeTrailer(t);
        expect(b.length).toBe(trailerSize(t.entries.length, t.seekTable.length));
        expect(decodeTrailer(b)).toEqual(t);
      }),
    );
  });

  it('encode(decode(b)) == b for mutated trailers that still decode', () => {
    fc.assert(
      fc.property(trailerArb, fc.nat(), fc.nat(255), (t, pos, val) => {
        const b = encodeTrailer(t);
        b[pos % b.length] = val;
        const d = tryDecode(() => decodeTrailer(b));
        if (d) expect(encodeTrailer(d)).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a u64 above 2^53-1 instead of rounding it', () => {
    const b = encodeTrailer({
      entries: [{ chunks: 1, rawBytes: 5, compBytes: 5, contentDigest: new Uint8Array(32) }],
      seekTable: [0],
      headerHash: new Uint8Array(32),
      bundleDigest: new Uint8Array(32),
    });
    new DataView(b.buffer).setBigUint64(24, 2n ** 53n, true);
    expect(() => decodeTrailer(b)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }));
  });
});

describe('footer and extension', () => {
  it('encode(decode(b)) == b for every footer that decodes', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.maxSafeNat(), fc.nat(FOOTER_SIZE - 1), fc.nat(255), (o, l, pos, val) => {
        const b = encodeFooter({ trailerOffset: o, trailerLength: l });
        b[pos] = val;
        const f = tryDecode(() => decodeFooter(b));
        if (f) expect(encodeFooter(f)).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('extension headers round-trip and are length-capped', () => {
    const x = encodeExtension(1, new Uint8Array(100));
    expect(decodeExtensionHeader(x)).toEqual({ type: 1, length: 100 });
    new DataView(x.buffer).setUint32(4, 1 << 30, true);
    expect(() => decodeExtensionHeader(x)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_LIMIT' }));
  });
});
