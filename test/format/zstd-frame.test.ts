import { describe, expect, it } from 'vitest';
import { FrameError, inspectZstdFrame } from '../../src/format/zstd-frame.js';
import { ENGINES, engines, sampleBytes } from '../helpers.js';

describe.each(ENGINES)('zstd frames from the %s codec', (choice) => {
  it.each([0, 1, 255, 256, 65535, 65536, 1 << 20])('declare their content size (%i bytes)', async (n) => {
    const e = await engines(choice);
    const f = e.codec.compress(sampleBytes(n), 3);
    const info = inspectZstdFrame(f);
    expect(info.contentSize).toBe(n);
    expect(info.frameSize).toBe(f.length);
  });
});

describe('frame inspection', () => {
  it('rejects truncation, bad magic, missing content size and oversized windows', () => {
    expect(() => inspectZstdFrame(new Uint8Array([0x28, 0xb5, 0x2f]))).toThrow(FrameError);
    expect(() => inspectZstdFrame(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/magic/);
    // FHD 0x00: no single segment, no content size field.
    expect(() => inspectZstdFrame(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x01, 0x00, 0x00]))).toThrow(/content size/);
    // FHD 0x40 (2-byte size) with window descriptor exponent 30 (a 1 TiB window).
    expect(() => inspectZstdFrame(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x40, 30 << 3, 0, 0, 1, 0, 0]))).toThrow(/window/);
    // A dictionary id.
    expect(() => inspectZstdFrame(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x21, 7, 0, 1, 0, 0]))).toThrow(/dictionary/);
  });
});
