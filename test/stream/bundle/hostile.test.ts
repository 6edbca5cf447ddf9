import { describe, expect, it } from 'vitest';
import type { EngineChoice } from '../../../src/stream/engine/engines.js';
import { encodeExtension } from '../../../src/format/extension.js';
import { OPT_FEATURE_EXTENSIONS } from '../../../src/format/constants.js';
import { forgeBundle, type ForgedChunk } from '../../../spec/forge.js';
import { ENGINES, engines, manifestFor, sampleBytes, verdict } from '../../helpers.js';

const K = sampleBytes(100);
const I = sampleBytes(50);

async function honestChunks(choice: EngineChoice = 'native'): Promise<ForgedChunk[]> {
  const e = await engines(choice);
  return [
    { entry: 0, seq: 0, final: true, rawLength: K.length, payload: e.codec.compress(K, 3) },
    { entry: 1, seq: 0, final: true, rawLength: I.length, payload: e.codec.compress(I, 3) },
  ];
}

describe.each(ENGINES)('hostile bundles with valid digests (%s engine)', (choice) => {
  const m = manifestFor({ kernel: K, initramfs: I });

  it('the forger itself makes valid bundles', async () => {
    const e = await engines(choice);
    const b = forgeBundle(e.hash, m, await honestChunks(choice), { contents: [K, I] });
    expect(await verdict(b, { engines: e })).toBe('ok');
  });

  it('rejects a decompression bomb: a frame larger than its declared length', async () => {
    const e = await engines(choice);
    // 8 MiB of zeros in a few hundred bytes, declared as 60000 bytes: small enough to pass the
    // compressed-length bound, so only the frame check stands between it and the decoder.
    const bomb = (await engines('native')).codec.compress(new Uint8Array(8 << 20), 19);
    const loose = manifestFor({ kernel: K, initramfs: I }, { declareSizes: false });
    const chunks = await honestChunks(choice);
    chunks[0] = { ...chunks[0]!, rawLength: 60000, payload: bomb };
    const b = forgeBundle(e.hash, loose, chunks, { contents: [K, I] });
    // Even shallow verify inspects frame headers, so the bomb is refused without inflating it.
    expect(await verdict(b, { engines: e, deep: false })).toBe('ERR_BUNDLE_CORRUPT_CHUNK');
    expect(await verdict(b, { engines: e, deep: true })).toBe('ERR_BUNDLE_CORRUPT_CHUNK');
  });

  it('bounds the compressed length by the declared length', async () => {
    const e = await engines(choice);
    const chunks = await honestChunks(choice);
    chunks[0] = { ...chunks[0]!, payload: new Uint8Array(1000) };
    const b = forgeBundle(e.hash, m, chunks, { contents: [K, I] });
    expect(await verdict(b, { engines: e, deep: false })).toBe('ERR_BUNDLE_LIMIT');
  });

  it('rejects a frame with trailing bytes and two concatenated frames', async () => {
    const e = await engines(choice);
    const chunks = await honestChunks(choice);
    const one = chunks[0]!.payload;
    for (const payload of [Uint8Array.from([...one, 0]), Uint8Array.from([...one, ...one])]) {
      const b = forgeBundle(e.hash, m, [{ ...chunks[0]!, payload }, chunks[1]!], { contents: [K, I] });
      expect(await verdict(b, { engines: e })).toBe('ERR_BUNDLE_CORRUPT_CHUNK');
    }
  });

  it('rejects a frame whose compressed blocks are garbage', async () => {
    const e = await engines(choice);
    const chunks = await honestChunks(choice);
    const p = chunks[0]!.payload.slice();
    for (let i = 12; i < p.length - 2; i++) p[i] = 0xa5;
    const b = forgeBundle(e.hash, m, [{ ...chunks[0]!, payload: p }, chunks[1]!], { contents: [K, I] });
    expect(await verdict(b, { engines: e, deep: true })).toMatch(/^ERR_BUNDLE_(CORRUPT_CHUNK)$/);
  });

  it('rejects a trailer whose content digest lies (deep verify)', async () => {
    const e = await engines(choice);
    const b = forgeBundle(e.hash, m, await honestChunks(choice), { contents: [new Uint8Array(100), I] });
    expect(await verdict(b, { engines: e, deep: false })).toBe('ok');
    expect(await verdict(b, { engines: e, deep: true })).toBe('ERR_BUNDLE_DIGEST_MISMATCH');
  });

  it('rejects trailer totals that disagree with the chunks', async () => {
    const e = await engines(choice);
    const b = forgeBundle(e.hash, m, await honestChunks(choice), {
      contents: [K, I],
      trailerEntries: (t) => t.map((x, i) => (i === 1 ? { ...x, rawBytes: x.rawBytes + 1 } : x)),
    });
    expect(await verdict(b, { engines: e })).toBe('ERR_BUNDLE_TRAILER');
  });

  it('rejects a non-final chunk shorter than the chunk size, and a missing final chunk', async () => {
    const e = await engines(choice);
    const chunks = await honestChunks(choice);
    const short = forgeBundle(e.hash, m, [
      { ...chunks[0]!, final: false },
      { entry: 0, seq: 1, final: true, rawLength: 0, payload: e.codec.compress(new Uint8Array(0), 3) },
      chunks[1]!,
    ]);
    expect(await verdict(short, { engines: e })).toBe('ERR_BUNDLE_SEQUENCE');
    const unfinished = forgeBundle(e.hash, m, [chunks[0]!]);
    expect(await verdict(unfinished, { engines: e })).toBe('ERR_BUNDLE_SEQUENCE');
  });

  it('accepts unknown optional feature bits with extension records, rejects extensions not announced', async () => {
    const e = await engines(choice);
    const chunks = await honestChunks(choice);
    const ext = [encodeExtension(7, new Uint8Array(40))];
    const announced = forgeBundle(e.hash, m, chunks, { contents: [K, I], preamble: { optional: OPT_FEATURE_EXTENSIONS | 0x100 }, extensions: ext });
    expect(await verdict(announced, { engines: e })).toBe('ok');
    const silent = forgeBundle(e.hash, m, chunks, { contents: [K, I], extensions: ext });
    expect(await verdict(silent, { engines: e })).toBe('ERR_BUNDLE_RECORD');
    const required = forgeBundle(e.hash, m, chunks, { contents: [K, I], preamble: { required: 2 } });
    expect(await verdict(required, { engines: e })).toBe('ERR_BUNDLE_UNSUPPORTED');
  });

  it('rejects more content than the manifest declares before reading it all', async () => {
    const e = await engines(choice);
    const m2 = manifestFor({ kernel: sampleBytes(10), initramfs: I });
    const b = forgeBundle(e.hash, m2, await honestChunks(choice), { contents: [K, I] });
    expect(await verdict(b, { engines: e })).toBe('ERR_BUNDLE_SIZE_MISMATCH');
  });
});
