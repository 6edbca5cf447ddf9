import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalStringify } from '../../src/format/canonical-json.js';
import { decodeManifest, encodeManifest, type Manifest } from '../../src/format/manifest.js';
import { nameProblem } from '../../src/format/names.js';
import { manifestFor, sampleBytes } from '../helpers.js';

const base = (): Manifest => manifestFor({ kernel: sampleBytes(10), initramfs: sampleBytes(10), image: sampleBytes(10) });
const enc = new TextEncoder();

describe('manifest', () => {
  it('round-trips and keeps unknown fields', () => {
    const m = base() as Manifest & { future?: unknown };
    m.future = { anything: [1, 'two'] };
    const b = encodeManifest(m);
    expect(decodeManifest(b)).toEqual(m);
    expect(encodeManifest(decodeManifest(b))).toEqual(b);
  });

  it('rejects non-canonical spellings of a valid manifest', () => {
    const m = base();
    const pretty = enc.encode(JSON.stringify(m, null, 1));
    expect(() => decodeManifest(pretty)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
    const dup = enc.encode(canonicalStringify(m as never).replace('{', '{"source":"x",'));
    expect(() => decodeManifest(dup)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
  });

  it('encode(decode(b)) == b for every mutation that still decodes', () => {
    const b0 = encodeManifest(base());
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat(b0.length - 1), fc.integer({ min: 32, max: 126 }), (pos, val) => {
        const b = b0.slice();
        b[pos] = val;
        let m: Manifest;
        try {
          m = decodeManifest(b);
        } catch (e) {
          expect((e as { code: string }).code).toMatch(/^ERR_BUNDLE_(MANIFEST|NAME)$/);
          return;
        }
        accepted++;
        expect(encodeManifest(m)).toEqual(b);
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('requires kernel and initramfs, allows no image, forbids duplicates and unknown roles', () => {
    const m = base();
    m.entries = m.entries.slice(0, 2);
    expect(decodeManifest(encodeManifest(m)).entries).toHaveLength(2);
    const dupe = base();
    dupe.entries[2] = { ...dupe.entries[0]! };
    expect(() => encodeManifest(dupe)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
    const none = base();
    none.entries = [none.entries[0]!];
    expect(() => encodeManifest(none)).toThrow(/kernel and an initramfs/);
    const odd = base() as unknown as { entries: { role: string }[] };
    odd.entries[2]!.role = 'firmware';
    expect(() => encodeManifest(odd as unknown as Manifest)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
  });

  it('checks chunk size, level and boot style', () => {
    for (const [k, v] of [
      ['chunk_size', 1000],
      ['chunk_size', 1 << 25],
      ['chunk_size', (1 << 16) + 4096],
      ['level', 0],
      ['level', 23],
    ] as const) {
      const m = base();
      (m.entries[0] as unknown as Record<string, unknown>)[k] = v;
      expect(() => encodeManifest(m)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
    }
    const m = base();
    (m.boot_config as unknown as Record<string, unknown>).boot_style = 'pxe';
    expect(() => encodeManifest(m)).toThrow(/boot_style/);
  });

  it('rejects a control character in the command line', () => {
    const m = base();
    m.boot_config.cmdline = 'quiet\nrd.break';
    expect(() => encodeManifest(m)).toThrow(/control character/);
  });
});

describe('names carry no path authority', () => {
  it.each(['', '.', '..', 'a/b', '../etc', 'a\\b', 'x..y', 'nul\u0000', 'tab\there', '-rf', '.hidden', 'sp ace', 'x'.repeat(129), 'é'])('rejects %j', (n) => {
    expect(nameProblem(n)).toBeDefined();
  });
  it.each(['xyzBoot', 'vmlinuz-6.1.0-13-amd64', 'initramfs-6.1.0.img', 'rocky_9.3', 'a', 'img@2026:1=x~y+z'])('accepts %j', (n) => {
    expect(nameProblem(n)).toBeUndefined();
  });
  it('a manifest with a traversal name is rejected with ERR_BUNDLE_NAME', () => {
    const m = base();
    const b = encodeManifest(m);
    const evil = new TextDecoder().decode(b).replace('"xyzImage"', '"../../etc"');
    expect(() => decodeManifest(enc.encode(evil))).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_NAME' }));
  });
});
