import { describe, expect, it } from 'vitest';
import {
  encodeSparseMap,
  imageKind,
  isTarHeader,
  numberRecords,
  safeParts,
  SparseMapReader,
  xattrRecords,
  xattrsOf,
} from '../../../src/stream/tree/tar-records.js';
import { codeOf } from '../../helpers.js';

describe('safeParts', () => {
  it('drops . and empty components, and keeps ordinary names', () => {
    expect(safeParts('./etc//passwd')).toEqual(['etc', 'passwd']);
    expect(safeParts('./')).toEqual([]);
    expect(safeParts('usr/lib/x..y')).toEqual(['usr', 'lib', 'x..y']);
  });
  it('refuses absolute names, .. anywhere, NUL and the empty name', () => {
    for (const n of ['/etc/passwd', '../x', 'a/../../b', 'a/..', 'a\0b', ''])
      expect(
        codeOf(() => safeParts(n)),
        n,
      ).toBe('ERR_TAR_UNSAFE');
  });
});

describe('extended attributes in PAX records', () => {
  it('go as SCHILY text when UTF-8, as LIBARCHIVE base64 when not, and read back the same', () => {
    const attrs = new Map<string, Uint8Array>([
      ['user.text', new TextEncoder().encode('héllo\nworld')],
      ['security.capability', Uint8Array.of(0x01, 0x00, 0xff, 0xfe)],
      ['user.a=b', Uint8Array.of(0x41)],
    ]);
    const rec = xattrRecords(attrs);
    expect(rec['SCHILY.xattr.user.text']).toBe('héllo\nworld');
    expect(rec['LIBARCHIVE.xattr.security.capability']).toBe(Buffer.from([1, 0, 0xff, 0xfe]).toString('base64'));
    expect(rec['LIBARCHIVE.xattr.user.a%3Db']).toBe('QQ==');
    const back = xattrsOf(rec);
    expect(back.garbled).toEqual([]);
    expect([...back.attrs.keys()].sort()).toEqual([...attrs.keys()].sort());
    for (const [k, v] of attrs) expect(Buffer.from(back.attrs.get(k)!).equals(Buffer.from(v)), k).toBe(true);
  });
  it('report a SCHILY value that was not UTF-8 in the archive instead of setting it garbled', () => {
    expect(xattrsOf({ 'SCHILY.xattr.user.bin': 'a\uFFFDb' })).toEqual({ attrs: new Map(), garbled: ['user.bin'] });
  });
});

describe('numbers a ustar header cannot hold', () => {
  it('go to PAX records, and only those', () => {
    expect(numberRecords({ uid: 1000, gid: 1000, mtime: 1_700_000_000 })).toEqual({});
    expect(numberRecords({ uid: 4294967294, gid: 300000, mtime: -5, devminor: 1 << 19 })).toEqual({
      uid: '4294967294',
      gid: '300000',
      mtime: '-5',
      'SCHILY.devminor': String(1 << 19),
    });
  });
});

describe('the sparse map', () => {
  const segs = [
    [0, 4096],
    [1 << 20, 10],
    [5 << 20, 0],
  ] as const;

  it('parses back from any split of its bytes, handing over the data after its padding', () => {
    const map = encodeSparseMap(segs);
    expect(map.length % 512).toBe(0);
    const data = Uint8Array.of(7, 8, 9);
    const whole = new Uint8Array([...map, ...data]);
    for (const cut of [1, 5, map.length - 1, map.length, map.length + 1]) {
      const r = new SparseMapReader('f', 5 << 20);
      let rest = r.feed(whole.subarray(0, cut));
      let tail = whole.subarray(cut);
      if (rest === undefined) {
        rest = r.feed(tail);
        tail = new Uint8Array(0);
      }
      const after = new Uint8Array([...rest!, ...tail]).subarray(r.skip);
      expect(r.segments, `cut ${cut}`).toEqual(segs);
      expect([...after], `cut ${cut}`).toEqual([7, 8, 9]);
    }
  });

  it('refuses overlapping segments, segments past the size, and lines that are not numbers', () => {
    const feed =
      (text: string, size = 100) =>
      () =>
        new SparseMapReader('f', size).feed(new TextEncoder().encode(text));
    expect(codeOf(feed('2\n0\n50\n40\n10\n'))).toBe('ERR_TAR_INVALID');
    expect(codeOf(feed('1\n90\n20\n'))).toBe('ERR_TAR_INVALID');
    expect(codeOf(feed('1\n0x1\n'))).toBe('ERR_TAR_INVALID');
    expect(codeOf(feed('99999999\n'))).toBe('ERR_TAR_INVALID');
    expect(codeOf(feed('1'.repeat(30)))).toBe('ERR_TAR_INVALID');
  });
});

describe('image kinds', () => {
  it('tells a tar from a squashfs, a qcow2, an ext file system and plain bytes', () => {
    const tar = new Uint8Array(512);
    tar.set(new TextEncoder().encode('etc/hostname'));
    tar.set(new TextEncoder().encode('ustar\x0000'), 257);
    tar.fill(0x20, 148, 156);
    const sum = tar.reduce((a, b) => a + b, 0);
    tar.set(new TextEncoder().encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    expect(isTarHeader(tar)).toBe(true);
    expect(imageKind(tar)).toBe('tar');
    const bad = tar.slice();
    bad[0] = 0x46;
    expect(imageKind(bad)).toBe('file');
    expect(imageKind(new TextEncoder().encode('hsqs....'))).toBe('squashfs');
    expect(imageKind(Uint8Array.of(0x51, 0x46, 0x49, 0xfb))).toBe('qcow2');
    const ext = new Uint8Array(2048);
    ext.set([0x53, 0xef], 1080);
    expect(imageKind(ext)).toBe('ext');
    expect(imageKind(new Uint8Array(512))).toBe('file');
  });
});
