import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestString } from '../../../src/format/bytes.js';
import { MIN_CHUNK_SIZE } from '../../../src/format/constants.js';
import { readBundle } from '../../../src/stream/bundle/reader.js';
import { ENGINES, engines, fromBytes, makeBundle, sampleBytes, verdict, type Contents } from '../../helpers.js';

const CS = MIN_CHUNK_SIZE;

async function readBack(b: Uint8Array, eng = 'native' as const): Promise<{ contents: Uint8Array[]; digests: string[] }> {
  const parts: Uint8Array[][] = [];
  const digests: string[] = [];
  for await (const ev of readBundle(fromBytes(b), { engines: await engines(eng) })) {
    if (ev.type === 'chunk') (parts[ev.entry] ??= []).push(ev.data!.slice());
    if (ev.type === 'entry-end') digests.push(digestString(ev.contentDigest!));
  }
  return { contents: parts.map((p) => Buffer.concat(p)), digests };
}

describe.each(ENGINES)('round trip on the %s engine', (choice) => {
  it('holds for random sizes around chunk boundaries', async () => {
    const eng = await engines(choice);
    const size = fc.oneof(fc.integer({ min: 0, max: 3 * CS + 2 }), fc.constantFrom(0, 1, CS - 1, CS, CS + 1, 2 * CS, 2 * CS + 1));
    await fc.assert(
      fc.asyncProperty(size, size, fc.option(size, { nil: undefined }), fc.integer({ min: 1, max: 1000 }), async (k, i, img, seed) => {
        const c: Contents = {
          kernel: sampleBytes(k, seed),
          initramfs: sampleBytes(i, seed + 1),
          ...(img !== undefined ? { image: sampleBytes(img, seed + 2) } : {}),
        };
        const b = await makeBundle(c, { engines: eng });
        const back = await readBack(b);
        expect(back.contents).toEqual([c.kernel, c.initramfs, ...(c.image ? [c.image] : [])].map((x) => Buffer.from(x)));
        const want = await Promise.all([c.kernel, c.initramfs, ...(c.image ? [c.image] : [])].map(async (x) => digestString(eng.hash.digestOf([x]))));
        expect(back.digests).toEqual(want);
      }),
      { numRuns: 25 },
    );
  });

  it.each([
    ['an empty payload', 0, 1],
    ['a one-byte payload', 1, 1],
    ['an exact multiple of the chunk size', 2 * CS, 2],
    ['one byte over a multiple', 2 * CS + 1, 3],
  ])('defines %s', async (_name, n, chunks) => {
    const eng = await engines(choice);
    const b = await makeBundle({ kernel: sampleBytes(5), initramfs: sampleBytes(5), image: sampleBytes(n) }, { engines: eng });
    const ends: number[] = [];
    for await (const ev of readBundle(fromBytes(b), { engines: eng })) if (ev.type === 'entry-end') ends.push(ev.chunks);
    expect(ends).toEqual([1, 1, chunks]);
  });

  it('writes a bundle without an image', async () => {
    const eng = await engines(choice);
    const b = await makeBundle({ kernel: sampleBytes(100), initramfs: sampleBytes(100) }, { engines: eng });
    expect(await verdict(b, { engines: eng })).toBe('ok');
  });
});

describe('engines are interchangeable', () => {
  it('each engine reads what the other wrote, including 16 MiB chunks', async () => {
    const c = { kernel: sampleBytes(1000), initramfs: sampleBytes(CS + 7), image: sampleBytes((16 << 20) + 5, 9) };
    const native = await engines('native');
    const fallback = await engines('fallback');
    const big = await makeBundle(c, { engines: native, chunkSize: 16 << 20 });
    expect(await verdict(big, { engines: fallback })).toBe('ok');
    const small = await makeBundle(c, { engines: fallback, chunkSize: 1 << 20 });
    expect(await verdict(small, { engines: native })).toBe('ok');
  });

  it('the fallback refuses to write chunks it cannot compress, with a clear code', async () => {
    await expect(
      makeBundle({ kernel: sampleBytes(10), initramfs: sampleBytes(10) }, { engines: await engines('fallback'), chunkSize: 8 << 20 }),
    ).rejects.toMatchObject({
      code: 'ERR_CODEC',
    });
  });
});

describe('declared sizes are claims', () => {
  it('a writer whose source yields fewer bytes than declared fails', async () => {
    const { bundleBytes } = await import('../../../src/stream/bundle/writer.js');
    const { manifestFor } = await import('../../helpers.js');
    const m = manifestFor({ kernel: sampleBytes(100), initramfs: sampleBytes(100) });
    const run = async () => {
      for await (const _ of bundleBytes(m, [fromBytes(sampleBytes(99)), fromBytes(sampleBytes(100))], { engines: await engines() })) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: 'ERR_SOURCE' });
  });
});
