import { beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_HEADER_SIZE, MIN_CHUNK_SIZE } from '../../../src/format/constants.js';
import { decodeChunkHeader } from '../../../src/format/chunk.js';
import { readEnds } from '../../../src/stream/bundle/inspect.js';
import { makeBundle, sampleBytes, verdict } from '../../helpers.js';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Chunk records as [start, end) byte ranges, walked with the pure codec. */
function chunkRanges(b: Uint8Array, first: number): [number, number][] {
  const out: [number, number][] = [];
  let at = first;
  while (b[at] === 0x43) {
    const h = decodeChunkHeader(b.subarray(at, at + CHUNK_HEADER_SIZE), at);
    out.push([at, at + CHUNK_HEADER_SIZE + h.compLength]);
    at += CHUNK_HEADER_SIZE + h.compLength;
  }
  return out;
}

const firstChunk = (b: Uint8Array) => 24 + new DataView(b.buffer, b.byteOffset).getUint32(20, true);

describe('a small bundle', () => {
  let b: Uint8Array;
  let other: Uint8Array;
  beforeAll(async () => {
    // Compressible content keeps the bundle small while still giving several chunks per entry.
    const zeros = new Uint8Array(2 * MIN_CHUNK_SIZE + 10);
    b = await makeBundle({ kernel: sampleBytes(300), initramfs: zeros, image: zeros });
    // The same files under a boot config name of the same length: every offset lines up, only the header hash differs.
    other = await makeBundle({ kernel: sampleBytes(300), initramfs: zeros, image: zeros }, { name: 'abcBoot' });
    expect(await verdict(b)).toBe('ok');
  });

  it('fails verify with a coded error when any single byte is flipped', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < b.length; i++) {
      const c = b.slice();
      c[i]! ^= 0x01 << (i % 8);
      const v = await verdict(c, { deep: false });
      expect(v, `flip at ${i}`).toMatch(/^ERR_BUNDLE_/);
      seen.set(v, (seen.get(v) ?? 0) + 1);
    }
    // Most flips must be caught by a digest, not by luck in a structural check.
    expect(seen.get('ERR_BUNDLE_DIGEST_MISMATCH') ?? 0).toBeGreaterThan(b.length / 2);
  });

  it('fails deep verify too for flips inside payloads', async () => {
    for (const [s, e] of chunkRanges(b, firstChunk(b))) {
      const c = b.slice();
      c[Math.floor((s + CHUNK_HEADER_SIZE + e) / 2)]! ^= 0xff;
      expect(await verdict(c, { deep: true })).toBe('ERR_BUNDLE_DIGEST_MISMATCH');
    }
  });

  it('reports truncation at every offset as ERR_BUNDLE_TRUNCATED', async () => {
    for (let n = 0; n < b.length; n++) {
      expect(await verdict(b.subarray(0, n), { deep: false }), `cut at ${n}`).toBe('ERR_BUNDLE_TRUNCATED');
    }
  });

  it('rejects one appended byte', async () => {
    const c = new Uint8Array(b.length + 1);
    c.set(b);
    expect(await verdict(c)).toBe('ERR_BUNDLE_TRAILING_DATA');
  });

  it('rejects two swapped chunks of the same size', async () => {
    const ranges = chunkRanges(b, firstChunk(b));
    // initramfs chunks 0 and 1 are both full zero chunks: identical payloads, different positions.
    const [a, z] = [ranges[1]!, ranges[2]!];
    expect(a[1] - a[0]).toBe(z[1] - z[0]);
    const c = b.slice();
    c.set(b.subarray(z[0], z[1]), a[0]);
    c.set(b.subarray(a[0], a[1]), z[0]);
    expect(await verdict(c)).toBe('ERR_BUNDLE_SEQUENCE');
  });

  it('rejects a chunk moved to another entry with its entry field rewritten', async () => {
    // Image chunk 0 has the same payload, length and flags as initramfs chunk 0; only the
    // digest, which binds the entry index, can tell them apart.
    const ranges = chunkRanges(b, firstChunk(b));
    const [is, ie] = ranges[1]!;
    const [ms, me] = ranges[4]!;
    expect(ie - is).toBe(me - ms);
    const c = b.slice();
    c.set(b.subarray(ms, me), is);
    new DataView(c.buffer).setUint16(is + 2, 1, true);
    expect(await verdict(c)).toBe('ERR_BUNDLE_DIGEST_MISMATCH');
  });

  it('rejects a chunk spliced in from another bundle', async () => {
    const mine = chunkRanges(b, firstChunk(b));
    const theirs = chunkRanges(other, firstChunk(other));
    // Both bundles have byte-identical initramfs chunks except for the digest, which binds the header hash.
    const [s, e] = mine[1]!;
    const [ts, te] = theirs[1]!;
    expect(e - s).toBe(te - ts);
    const c = b.slice();
    c.set(other.subarray(ts, te), s);
    expect(await verdict(c)).toBe('ERR_BUNDLE_DIGEST_MISMATCH');
  });

  it('rejects a dropped chunk', async () => {
    const [s, e] = chunkRanges(b, firstChunk(b))[2]!;
    const c = new Uint8Array(b.length - (e - s));
    c.set(b.subarray(0, s));
    c.set(b.subarray(e), s);
    expect(await verdict(c)).toMatch(/^ERR_BUNDLE_(SEQUENCE|TRAILER)$/);
  });

  it('inspect reads the ends, and notices a trailer from another bundle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bp-'));
    const good = join(dir, 'good');
    await writeFile(good, b);
    const ends = await readEnds(good);
    expect(ends.manifest.boot_config.name).toBe('xyzBoot');
    expect(ends.trailer.entries.map((e) => e.rawBytes)).toEqual([300, 2 * MIN_CHUNK_SIZE + 10, 2 * MIN_CHUNK_SIZE + 10]);
    const mixed = b.slice();
    const start = firstChunk(b);
    mixed.set(other.subarray(start), start);
    await writeFile(join(dir, 'mixed'), mixed);
    await expect(readEnds(join(dir, 'mixed'))).rejects.toMatchObject({ code: 'ERR_BUNDLE_TRAILER' });
    await writeFile(join(dir, 'short'), b.subarray(0, b.length - 1));
    await expect(readEnds(join(dir, 'short'))).rejects.toMatchObject({ code: 'ERR_BUNDLE_BAD_MAGIC' });
  });
});
