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
    expect(() => encodeManifest(none)).toThrow(/must have 2 to 3 entries/);
    const noInitrd = base();
    noInitrd.entries = [noInitrd.entries[0]!, noInitrd.entries[2]!];
    expect(() => encodeManifest(noInitrd)).toThrow(/kernel and an initramfs/);
    const four = base();
    four.entries = [...four.entries, { ...four.entries[2]!, name: 'other' }];
    expect(() => encodeManifest(four)).toThrow(/must have 2 to 3 entries/);
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

  /** Every string field the spec defines, and whether it may hold TAB and LF. */
  const fields: [string, boolean, (m: Manifest, v: string) => void][] = [
    ['source', false, (m, v) => void (m.source = v)],
    ['tool.name', false, (m, v) => void (m.tool.name = v)],
    ['tool.version', false, (m, v) => void (m.tool.version = v)],
    ['boot_config.cmdline', false, (m, v) => void (m.boot_config.cmdline = v)],
    ['boot_config.release', false, (m, v) => void (m.boot_config.release = v)],
    ['boot_config.description', true, (m, v) => void (m.boot_config.description = v)],
    ['boot_config.attributes value', true, (m, v) => void (m.boot_config.attributes = { key: v })],
    ['entries[2].meta value', true, (m, v) => void (m.entries[2]!.meta = { distro: v })],
  ];

  it.each(fields)('applies the one control-character rule to %s', (_, multiline, set) => {
    for (const [c, allowed] of [
      ['\t', multiline],
      ['\n', multiline],
      ['\r', false],
      ['\u0000', false],
      ['\u001b', false],
      ['\u007f', false],
      ['\u0085', false],
      ['\u009b', false],
      ['\u00a0', true],
      ['\u2028', true],
    ] as const) {
      const m = base();
      set(m, `a${c}b`);
      if (allowed) expect(decodeManifest(encodeManifest(m))).toEqual(m);
      else expect(() => encodeManifest(m), JSON.stringify(c)).toThrow(/control character/);
    }
  });

  it('counts characters as code points', () => {
    const m = base();
    m.source = '\u{1f427}'.repeat(256); // 512 UTF-16 units, 256 code points: at the cap
    expect(decodeManifest(encodeManifest(m)).source).toBe(m.source);
    m.source += 'x';
    expect(() => encodeManifest(m)).toThrow(/longer than 256 characters/);
  });

  it('refuses an unpaired surrogate anywhere, unknown fields included', () => {
    for (const set of [(m: Manifest) => void (m.source = 'a\ud800'), (m: Manifest) => Object.assign(m, { future: 'x\udc00' })]) {
      const m = base();
      set(m);
      expect(() => encodeManifest(m)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
    }
    const escaped = new TextDecoder().decode(encodeManifest(base())).replace('"source":"', '"source":"\\ud800');
    expect(() => decodeManifest(enc.encode(escaped))).toThrow(/not canonical/);
  });

  it.each([
    ['2026-11-25T00:00:00Z', true],
    ['2026-11-25T23:59:59.123Z', true],
    ['2024-02-29T00:00:00Z', true],
    ['2000-02-29T00:00:00Z', true],
    ['0001-01-01T00:00:00Z', true],
    ['2026-11-25T00:00:00.5Z', false],
    ['2026-11-25T00:00:00.1234Z', false],
    ['2026-11-25T24:00:00Z', false],
    ['2026-11-25T00:60:00Z', false],
    ['2026-11-25T00:00:60Z', false],
    ['2026-02-30T00:00:00Z', false],
    ['2023-02-29T00:00:00Z', false],
    ['1900-02-29T00:00:00Z', false],
    ['2026-13-01T00:00:00Z', false],
    ['2026-00-01T00:00:00Z', false],
    ['2026-11-00T00:00:00Z', false],
    ['0000-01-01T00:00:00Z', false],
    ['2026-11-25T00:00:00+00:00', false],
    ['2026-11-25 00:00:00Z', false],
  ])('created %s is accepted: %s', (created, ok) => {
    const m = base();
    m.created = created;
    if (ok) expect(decodeManifest(encodeManifest(m)).created).toBe(created);
    else expect(() => encodeManifest(m)).toThrow(/created must be/);
  });

  it('refuses a negative integer, even under a key it does not know', () => {
    const neg = new TextDecoder().decode(encodeManifest(base())).replace('{', '{"aaa":-1,');
    expect(() => decodeManifest(enc.encode(neg))).toThrow(/not canonical/);
    expect(() => encodeManifest(Object.assign(base(), { aaa: -1 }))).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
  });

  it('checks canonical form before the fields: a non-canonical manifest with a bad name is ERR_BUNDLE_MANIFEST', () => {
    const pretty = JSON.stringify(base(), null, 1).replace('"xyzImage"', '"../../etc"');
    expect(() => decodeManifest(enc.encode(pretty))).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_MANIFEST' }));
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
