import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../../src/stream/bundle/reader.js';
import { engines, makeBundle, sampleBytes } from '../../helpers.js';

/** Everything the reader reports, as comparable JSON (data as lengths and a checksum). */
async function transcript(pieces: AsyncIterable<Uint8Array>): Promise<string> {
  const out: unknown[] = [];
  try {
    for await (const ev of readBundle(pieces, { engines: await engines() })) {
      if (ev.type === 'header') out.push(['header', ev.manifest.bundle_id]);
      else if (ev.type === 'chunk') out.push(['chunk', ev.entry, ev.seq, ev.offset, ev.data?.reduce((a, x) => (a * 31 + x) >>> 0, 0)]);
      else if (ev.type === 'entry-end') out.push(['end', ev.entry, ev.rawBytes]);
      else out.push(['footer', ev.size]);
    }
  } catch (e) {
    out.push(['error', (e as { code: string }).code, (e as Error).message]);
  }
  return JSON.stringify(out);
}

async function* split(b: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const c of [...new Set(cuts.map((x) => x % (b.length + 1)))].sort((x, y) => x - y)) {
    yield b.subarray(at, c);
    at = c;
  }
  yield b.subarray(at);
}

async function* oneByteAtATime(b: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i++) yield b.subarray(i, i + 1);
}

describe('awkward feeding', () => {
  let b: Uint8Array;
  let whole: string;
  beforeAll(async () => {
    b = await makeBundle({ kernel: sampleBytes(5000), initramfs: sampleBytes(70000, 3), image: sampleBytes(140000, 4) });
    whole = await transcript(split(b, []));
    expect(whole).toContain('footer');
  });

  it('one byte at a time gives the same result', async () => {
    expect(await transcript(oneByteAtATime(b))).toBe(whole);
  });

  it('random splits give the same result', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 40 }), async (cuts) => {
        expect(await transcript(split(b, cuts))).toBe(whole);
      }),
      { numRuns: 60 },
    );
  });

  it('a truncated bundle fails the same way however it is split', async () => {
    const cut = b.subarray(0, b.length - 100);
    const expected = await transcript(split(cut, []));
    expect(expected).toContain('ERR_BUNDLE_TRUNCATED');
    expect(await transcript(oneByteAtATime(cut))).toBe(expected);
  });
});
