import { describe, expect, it } from 'vitest';
import { encodeChunkFields, type ChunkHeader } from '../../src/format/chunk.js';
import { BundleLedger, type DigestSink } from '../../src/format/ledger.js';
import type { Manifest } from '../../src/format/manifest.js';
import { decodeTrailer, type Trailer } from '../../src/format/trailer.js';
import { engines, manifestFor, sampleBytes } from '../helpers.js';

const CS = 1 << 16;

/** A digest sink that keeps what it was given, so a test can see exactly what the bundle digest covers. */
function recorder(): DigestSink & { parts: Uint8Array[] } {
  const parts: Uint8Array[] = [];
  return { parts, update: (b) => void parts.push(b), digest: () => Uint8Array.of(parts.length) };
}

const header = (h: Omit<ChunkHeader, 'digest'>): ChunkHeader => ({ ...h, digest: new Uint8Array(32) });

function ledger(m: Manifest) {
  const sink = recorder();
  return { sink, l: new BundleLedger(m, new Uint8Array(32).fill(7), sink, Uint8Array.of(1), Uint8Array.of(2)) };
}

describe('BundleLedger', () => {
  const m = manifestFor({ kernel: sampleBytes(10), initramfs: sampleBytes(CS + 5) }, { chunkSize: CS, declareSizes: true });

  it('takes the chunks in entry and sequence order, and moves on at each final chunk', () => {
    const { l } = ledger(m);
    const chunks = [
      header({ entry: 0, seq: 0, final: true, rawLength: 10, compLength: 9 }),
      header({ entry: 1, seq: 0, final: false, rawLength: CS, compLength: 100 }),
      header({ entry: 1, seq: 1, final: true, rawLength: 5, compLength: 6 }),
    ];
    let at = 1000;
    for (const h of chunks) {
      l.checkNext(h, at);
      l.add(h, encodeChunkFields(h), at);
      at += 52 + h.compLength;
    }
    expect(l.complete).toBe(true);
    expect(l.seekTable).toEqual([1000, 1061, 1213]);
    expect(l.totals).toEqual([
      { chunks: 1, rawBytes: 10, compBytes: 9 },
      { chunks: 2, rawBytes: CS + 5, compBytes: 106 },
    ]);
  });

  it.each([
    ['a chunk of the wrong entry', { entry: 1, seq: 0, final: true, rawLength: 10, compLength: 9 }, 'ERR_BUNDLE_SEQUENCE'],
    ['a sequence number that skips', { entry: 0, seq: 1, final: true, rawLength: 10, compLength: 9 }, 'ERR_BUNDLE_SEQUENCE'],
    ['a short chunk that is not final', { entry: 0, seq: 0, final: false, rawLength: 10, compLength: 9 }, 'ERR_BUNDLE_SEQUENCE'],
    ['a final chunk over the chunk size', { entry: 0, seq: 0, final: true, rawLength: CS + 1, compLength: 9 }, 'ERR_BUNDLE_SEQUENCE'],
    ['more bytes than the size claim', { entry: 0, seq: 0, final: true, rawLength: 11, compLength: 9 }, 'ERR_BUNDLE_SIZE_MISMATCH'],
  ] as const)('refuses %s', (_, h, code) => {
    expect(() => ledger(m).l.checkNext(header(h), 99)).toThrow(expect.objectContaining({ code }));
  });

  it('allows an empty final chunk only as chunk 0, and nothing after the last entry', () => {
    const empty = manifestFor({ kernel: new Uint8Array(0), initramfs: sampleBytes(3) }, { chunkSize: CS });
    const { l } = ledger(empty);
    const k = header({ entry: 0, seq: 0, final: true, rawLength: 0, compLength: 9 });
    l.checkNext(k, 0);
    l.add(k, encodeChunkFields(k), 0);
    const i = header({ entry: 1, seq: 0, final: true, rawLength: 3, compLength: 9 });
    l.add(i, encodeChunkFields(i), 61);
    expect(() => l.checkNext(header({ entry: 1, seq: 1, final: true, rawLength: 1, compLength: 9 }), 122)).toThrow(/after the final chunk of the last entry/);
  });

  it('seals a trailer that the decoder reads back, its digest over the preamble, manifest, headers and trailer body', () => {
    const { l, sink } = ledger(m);
    const h = header({ entry: 0, seq: 0, final: true, rawLength: 10, compLength: 9 });
    const fields = encodeChunkFields(h);
    l.add(h, fields, 50);
    const digests = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    const { body, bundleDigest } = l.seal(digests);
    expect(sink.parts).toEqual([Uint8Array.of(1), Uint8Array.of(2), fields, body]);
    const t = decodeTrailer(new Uint8Array([...body, ...bundleDigest.slice(0, 1), ...new Uint8Array(31)]));
    expect(t.seekTable).toEqual([50]);
    expect(t.entries.map((e) => [e.chunks, e.rawBytes, e.compBytes])).toEqual([
      [1, 10, 9],
      [0, 0, 0],
    ]);
    expect(t.entries[1]!.contentDigest).toEqual(digests[1]);
  });

  it('checks a trailer: its counts, its bundle digest, then its header hash, seek table, totals and claims', async () => {
    const hash = (await engines()).hash;
    const build = async () => {
      const l = new BundleLedger(m, new Uint8Array(32).fill(7), await hash.create(), Uint8Array.of(1), Uint8Array.of(2));
      for (const [h, at] of [
        [header({ entry: 0, seq: 0, final: true, rawLength: 10, compLength: 9 }), 50],
        [header({ entry: 1, seq: 0, final: false, rawLength: CS, compLength: 90 }), 111],
        [header({ entry: 1, seq: 1, final: true, rawLength: 5, compLength: 9 }), 253],
      ] as const) {
        l.checkNext(h, at);
        l.add(h, encodeChunkFields(h), at);
      }
      return l;
    };
    const digests = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    const { body, bundleDigest } = (await build()).seal(digests);
    const bytes = new Uint8Array([...body, ...bundleDigest]);
    const check = async (edit: (t: Trailer) => void, b = bytes, content: Uint8Array[] = digests) => {
      const t = decodeTrailer(b);
      edit(t);
      return (await build()).checkTrailer(t, b, content, 0);
    };
    await expect(check(() => {})).resolves.toBeUndefined();
    await expect(build().then((l) => l.checkCounts({ entryCount: 2, chunkCount: 2 }, 0))).rejects.toMatchObject({ code: 'ERR_BUNDLE_TRAILER' });
    const flipped = bytes.slice();
    flipped[20]! ^= 1;
    await expect(check(() => {}, flipped)).rejects.toMatchObject({ code: 'ERR_BUNDLE_DIGEST_MISMATCH' });
    await expect(check((t) => (t.headerHash = new Uint8Array(32)))).rejects.toMatchObject({ code: 'ERR_BUNDLE_TRAILER', message: /header hash/ });
    await expect(check((t) => (t.seekTable[1] = 112))).rejects.toMatchObject({ code: 'ERR_BUNDLE_TRAILER', message: /seek table entry 1/ });
    await expect(check((t) => (t.entries[1]!.compBytes += 1))).rejects.toMatchObject({ code: 'ERR_BUNDLE_TRAILER', message: /totals/ });
    await expect(check(() => {}, bytes, [digests[0]!, new Uint8Array(32)])).rejects.toMatchObject({
      code: 'ERR_BUNDLE_DIGEST_MISMATCH',
      message: /content digest/,
    });
  });
});
