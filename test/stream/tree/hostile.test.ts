/**
 * A corpus of hostile tars, each aimed at a directory outside the target: absolute names, `..`,
 * writes through symlinks (the two-step tricks of node-tar's and GNU tar's CVEs), hard links out
 * of the tree or through symlinks, and broken archives. Each gives a coded error naming the entry,
 * or is defused; either way nothing outside changes and the target is not created.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractTree } from '../../../src/stream/tree/extract-tree.js';
import { loadTarStream } from '../../../src/stream/tree/modules.js';
import { encodeSparseMap } from '../../../src/stream/tree/tar-records.js';
import type { TarHeader } from '../../../src/stream/tree/pack-tree.js';
import { tempDir } from '../../cli/run.js';

let dir: string;
let outside: string;
let target: string;

type Item = TarHeader & { body?: string | Uint8Array };

async function tar(items: Item[]): Promise<Buffer> {
  const pack = loadTarStream().pack();
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const b of pack as AsyncIterable<Buffer>) parts.push(b);
  })();
  for (const { body, ...h } of items) {
    const data = body === undefined ? undefined : Buffer.from(body);
    await new Promise<void>((res, rej) => {
      const cb = (e?: Error | null) => (e ? rej(e) : res());
      if (data) pack.entry({ mtime: new Date(0), mode: 0o644, ...h, size: data.length }, data, cb);
      else pack.entry({ mtime: new Date(0), mode: 0o755, ...h }, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

const file = (name: string, body = 'pwned\n'): Item => ({ name, type: 'file', body });
const symlink = (name: string, linkname: string): Item => ({ name, type: 'symlink', linkname });
const hardlink = (name: string, linkname: string): Item => ({ name, type: 'link', linkname });
const directory = (name: string): Item => ({ name, type: 'directory' });

function snapshot(): string {
  return execFileSync('find', [outside, '-printf', '%p %y %s %T@\\n'], { encoding: 'utf8' }) + readFileSync(join(outside, 'target'), 'utf8');
}

async function attempt(bytes: Uint8Array): Promise<unknown> {
  return extractTree(Readable.from([Buffer.from(bytes)]), target).then(
    () => undefined,
    (e: unknown) => e,
  );
}

beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  outside = join(dir, 'outside');
  target = join(dir, 'target');
  await rm(outside, { recursive: true, force: true });
  await rm(target, { recursive: true, force: true });
  await mkdir(outside);
  await writeFile(join(outside, 'target'), 'original\n');
});

describe('hostile tars', () => {
  const refused: [string, () => Item[], string, RegExp][] = [
    ['an absolute name', () => [file(join(outside, 'pwned'))], 'ERR_TAR_UNSAFE', /is absolute/],
    ['a name with ..', () => [file('../outside/pwned')], 'ERR_TAR_UNSAFE', /climbs out/],
    ['.. in the middle of a name', () => [directory('a'), file('a/../../outside/pwned')], 'ERR_TAR_UNSAFE', /climbs out/],
    ['a file through a symlink to outside', () => [symlink('evil', outside), file('evil/pwned')], 'ERR_TAR_UNSAFE', /evil is a symlink/],
    ['a file through a relative symlink that climbs', () => [symlink('up', '../outside'), file('up/pwned')], 'ERR_TAR_UNSAFE', /up is a symlink/],
    [
      'a file through a symlink two levels up the path',
      () => [directory('a'), symlink('a/b', outside), file('a/b/c/pwned')],
      'ERR_TAR_UNSAFE',
      /a\/b is a symlink/,
    ],
    ['a hard link to a path outside', () => [hardlink('h', '../outside/target')], 'ERR_TAR_UNSAFE', /climbs out/],
    ['a hard link to an absolute path', () => [hardlink('h', join(outside, 'target'))], 'ERR_TAR_UNSAFE', /absolute/],
    ['a hard link through a symlink', () => [symlink('s', outside), hardlink('h', 's/target')], 'ERR_TAR_UNSAFE', /not inside a directory of this archive/],
    ['a hard link to a directory', () => [directory('d'), hardlink('h', 'd')], 'ERR_TAR_UNSAFE', /is a directory/],
    ['a hard link to nothing', () => [hardlink('h', 'missing')], 'ERR_TAR_INVALID', /not in the archive before it/],
    ['a file under a file', () => [file('f'), file('f/x')], 'ERR_TAR_UNSAFE', /f is not a directory/],
    ['a file replacing a directory', () => [directory('d'), file('d/x'), file('d')], 'ERR_TAR_INVALID', /would replace a directory/],
    [
      'a symlink replacing a directory, then a file through it',
      () => [directory('a'), symlink('a', outside), file('a/pwned')],
      'ERR_TAR_INVALID',
      /replace a directory/,
    ],
    [
      'a sparse map that lies past the size',
      () => [
        {
          name: 'sp',
          type: 'file',
          body: encodeSparseMap([[0, 10]]),
          pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'sp', 'GNU.sparse.realsize': '5' },
        },
      ],
      'ERR_TAR_INVALID',
      /past the file's size/,
    ],
    [
      'a sparse entry with less data than its map',
      () => [
        {
          name: 'sp',
          type: 'file',
          body: new Uint8Array([...encodeSparseMap([[0, 100]]), 1, 2, 3]),
          pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'sp', 'GNU.sparse.realsize': '100' },
        },
      ],
      'ERR_TAR_INVALID',
      /less data than its map/,
    ],
    [
      'an old sparse format',
      () => [{ name: 'sp', type: 'file', body: 'x', pax: { 'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.name': 'sp' } }],
      'ERR_TAR_INVALID',
      /sparse format 0\.1/,
    ],
    [
      'a sparse name that climbs out',
      () => [
        {
          name: 'sp',
          type: 'file',
          body: encodeSparseMap([]),
          pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': '../outside/pwned', 'GNU.sparse.realsize': '0' },
        },
      ],
      'ERR_TAR_UNSAFE',
      /climbs out/,
    ],
    ['a PAX uid that is not a number', () => [{ ...file('f'), pax: { uid: '12abc' } }], 'ERR_TAR_INVALID', /not a number/],
  ];

  for (const [what, items, code, message] of refused) {
    it(`refuses ${what}, names the entry, and changes nothing`, async () => {
      const before = snapshot();
      const e = await attempt(await tar(items()));
      expect(e, what).toMatchObject({ code, message: expect.stringMatching(message) });
      expect((e as Error).message).toMatch(/^tar entry "/);
      expect(snapshot()).toBe(before);
      expect(existsSync(target)).toBe(false);
      expect(readdirSync(dir).filter((n) => n.includes('bootport-extract'))).toEqual([]);
    });
  }

  it('defuses a symlink followed by a directory of the same name: the directory replaces the link', async () => {
    const before = snapshot();
    expect(await attempt(await tar([symlink('a', outside), directory('a'), file('a/pwned')]))).toBeUndefined();
    expect(snapshot()).toBe(before);
    expect(readFileSync(join(target, 'a/pwned'), 'utf8')).toBe('pwned\n');
  });

  it('defuses a write through a hard link: the later file replaces the link, not the linked file', async () => {
    const before = snapshot();
    const items = [
      file('etc/passwd', 'root\n'),
      hardlink('h', 'etc/passwd'),
      file('h', 'EVIL\n'),
      symlink('s', join(outside, 'target')),
      hardlink('hs', 's'),
      file('hs', 'EVIL\n'),
    ];
    expect(await attempt(await tar(items))).toBeUndefined();
    expect(readFileSync(join(target, 'etc/passwd'), 'utf8')).toBe('root\n');
    expect(readFileSync(join(target, 'h'), 'utf8')).toBe('EVIL\n');
    expect(snapshot()).toBe(before);
  });

  it('refuses a tar cut anywhere, even between entries, and one with a bad header checksum, as not a usable tar', async () => {
    const good = await tar([file('a', 'x'.repeat(5000)), file('b')]);
    const cuts = [good.subarray(0, 2048), good.subarray(0, 512 * 12), good.subarray(0, 512 * 13), good.subarray(0, 512 * 14)];
    for (const bytes of [...cuts, Buffer.concat([good.subarray(0, 148), Buffer.from('9'), good.subarray(149)])]) {
      const e = await attempt(bytes);
      expect(e).toMatchObject({ code: 'ERR_TAR_INVALID', message: expect.stringMatching(/^not a usable tar/) });
      expect(existsSync(target)).toBe(false);
    }
  });
});
