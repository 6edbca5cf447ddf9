/**
 * A root file system tree packed to a tar and extracted again: identical as diff -r, find and
 * getfattr see it; the same tree gives the same bytes; GNU tar reads what bootport writes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packTree, type TreeWarning } from '../../../src/stream/tree/pack-tree.js';
import { extractTree } from '../../../src/stream/tree/extract-tree.js';
import { tempDir } from '../../cli/run.js';
import { diffTrees, IS_ROOT, makeRichTree, treeListing, type RichTree } from './tree-fixture.js';

let dir: string;
let tree: RichTree;
let tarBytes: Buffer;
const warnings: TreeWarning[] = [];

async function tarOf(root: string, onWarning?: (w: TreeWarning) => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of packTree(root, { onWarning }).stream as AsyncIterable<Buffer>) parts.push(b);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  dir = await tempDir();
  tree = await makeRichTree(join(dir, 'src'));
  tarBytes = await tarOf(tree.root, (w) => warnings.push(w));
});
afterAll(async () => {
  await tree?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('packTree', () => {
  it('leaves the socket out with a warning, and keeps the sparse file small', () => {
    expect(warnings.map((w) => w.path)).toEqual(['run/daemon.sock']);
    expect(warnings[0]!.message).toMatch(/socket/);
    // 64 MiB apparent, a few KiB of data: the tar holds the data, not the holes.
    expect(tarBytes.length).toBeLessThan(1 << 20);
  });

  it('gives the same bytes for the same tree, whatever the order the directory lists it in', async () => {
    const again = await tarOf(tree.root);
    expect(createHash('sha256').update(again).digest('hex')).toBe(createHash('sha256').update(tarBytes).digest('hex'));
    // A file's access time is not part of the image.
    execFileSync('cat', [join(tree.root, 'etc/passwd')]);
    await utimes(join(tree.root, 'etc/passwd'), new Date(), statSync(join(tree.root, 'etc/passwd')).mtime);
    expect((await tarOf(tree.root)).equals(tarBytes)).toBe(true);
  });

  it('writes a tar GNU tar lists and extracts to the same tree, sparse file included', async () => {
    await writeFile(join(dir, 'image.tar'), tarBytes);
    const list = execFileSync('tar', ['-tvf', join(dir, 'image.tar')], { encoding: 'utf8' });
    expect(list).toMatch(/^h.* etc\/passwd- link to etc\/passwd$/m);
    expect(list).toMatch(/^l.* etc\/localtime -> \/usr\/share\/zoneinfo\/UTC$/m);
    expect(list).toMatch(/^p.* run\/initctl$/m);
    const out = join(dir, 'gnu');
    await mkdir(out);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', join(dir, 'image.tar'), '-C', out]);
    expect(readFileSync(join(out, 'usr/lib/modules/sparse.img')).equals(readFileSync(join(tree.root, 'usr/lib/modules/sparse.img')))).toBe(true);
    expect(diffTrees(tree.root, out)).toEqual([]);
    expect(treeListing(out)).toBe(treeListing(tree.root));
  });

  it('refuses a path that is not a directory, naming it', async () => {
    const parts: unknown[] = [];
    await expect(
      (async () => {
        for await (const b of packTree(join(tree.root, 'etc/passwd')).stream) parts.push(b);
      })(),
    ).rejects.toMatchObject({ code: 'ERR_INVALID', message: expect.stringContaining('etc/passwd is not a directory') });
  });
});

describe('extractTree', () => {
  it('rebuilds the tree: contents, types, modes, owners, times, links, holes and extended attributes', async () => {
    const out = join(dir, 'out');
    const stats = await extractTree(Readable.from([tarBytes]), out, { keepSetuid: true });
    expect(diffTrees(tree.root, out)).toEqual([]);
    expect(treeListing(out)).toBe(treeListing(tree.root));
    expect(lstatSync(join(out, 'etc/passwd')).ino).toBe(lstatSync(join(out, 'etc/passwd-')).ino);
    // Holes stay holes: the blocks in use are those of the data.
    expect(statSync(join(out, 'usr/lib/modules/sparse.img')).blocks * 512).toBeLessThan(1 << 20);
    expect(stats).toMatchObject({ hardlinks: 1, symlinks: 2, fifos: 1, sparse: 1, devices: IS_ROOT ? 2 : 0 });
  });

  it('clears setuid bits unless asked, and says so', async () => {
    const seen: TreeWarning[] = [];
    const out = join(dir, 'no-suid');
    await extractTree(Readable.from([tarBytes]), out, { onWarning: (w) => seen.push(w) });
    expect(statSync(join(out, 'usr/bin/su')).mode & 0o7777).toBe(0o755);
    expect(seen).toContainEqual({ path: 'usr/bin/su', message: 'setuid bit cleared', remedies: ['keep-setuid'] });
  });

  it('as an unprivileged user: no device nodes, no owners, modes under the umask, user. attributes only', async () => {
    const seen: TreeWarning[] = [];
    const out = join(dir, 'user');
    const old = process.umask(0o027);
    try {
      await extractTree(Readable.from([tarBytes]), out, { privileged: false, onWarning: (w) => seen.push(w) });
    } finally {
      process.umask(old);
    }
    expect(() => lstatSync(join(out, 'dev/null'))).toThrow();
    expect(statSync(join(out, 'etc/hostname')).uid).toBe(process.getuid!());
    expect(statSync(join(out, 'usr/bin/tool')).mode & 0o777).toBe(0o750);
    expect(statSync(join(out, 'tmp')).mode & 0o7777).toBe(0o750);
    expect(execFileSync('getfattr', ['-d', join(out, 'etc/hostname')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toContain(
      'user.origin="golden image"',
    );
    if (IS_ROOT) {
      expect(seen).toContainEqual({ path: 'dev/null', message: expect.stringContaining('device node: left out') });
      expect(seen).toContainEqual({ path: 'usr/bin/tool', message: expect.stringContaining('security.capability not set') });
    }
  });

  it('extracts what GNU tar writes (PAX, its sparse format 1.0, xattrs) to the same tree', async () => {
    const gnu = join(dir, 'by-gnu.tar');
    execFileSync('tar', [
      '--xattrs',
      '--xattrs-include=*',
      '--format=posix',
      '--sparse',
      '--sparse-version=1.0',
      '--numeric-owner',
      '-cpf',
      gnu,
      '-C',
      tree.root,
      '--exclude=./run/daemon.sock',
      '.',
    ]);
    const out = join(dir, 'from-gnu');
    const stats = await extractTree(Readable.from([readFileSync(gnu)]), out, { keepSetuid: true });
    expect(stats.sparse).toBe(1);
    expect(diffTrees(tree.root, out)).toEqual([]);
    expect(treeListing(out)).toBe(treeListing(tree.root));
  });

  it('refuses a target that is not empty, and leaves it as it was', async () => {
    const out = join(dir, 'busy');
    await mkdir(out);
    await writeFile(join(out, 'keep'), 'mine');
    await expect(extractTree(Readable.from([tarBytes]), out)).rejects.toMatchObject({ code: 'ERR_EXISTS' });
    expect(readFileSync(join(out, 'keep'), 'utf8')).toBe('mine');
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' })).not.toMatch(/bootport-extract/);
  });
});
