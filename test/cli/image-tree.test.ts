/**
 * Directory images through the CLI: `image create content=@DIR`, `image ls -l` saying what kind
 * each image is, `image extract`, and `unpack --image-dir`, end to end from one store to another.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from './run.js';
import { tinyFiles, type TinyFiles } from '../store/helpers.js';
import { diffTrees, makeRichTree, treeListing, type RichTree } from '../stream/tree/tree-fixture.js';

let dir: string;
let tree: RichTree;
let files: TinyFiles;
const A = () => join(dir, 'store-a');
const B = () => join(dir, 'store-b');

async function ok(args: string[], store = A()) {
  const r = await cli([...args, '--store', store], { cwd: dir });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

beforeAll(async () => {
  dir = await tempDir();
  tree = await makeRichTree(join(dir, 'chroot'));
  files = await tinyFiles(join(dir, 'files'));
});
afterAll(async () => {
  await tree?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('directory images', () => {
  it('image create content=@DIR packs the tree, warns about the socket, and gives the same digest twice', async () => {
    const r = await ok(['image', 'create', 'name=tree', `content=@${tree.root}`]);
    expect(r.stdout).toMatch(/created image tree .* from a directory tree: \d+ files, .*1 hard link, .*1 FIFO, 1 sparse file/);
    expect(r.stderr).toContain('run/daemon.sock is a socket: left out');
    const again = await ok(['image', 'create', 'name=tree2', `content=@${tree.root}`, '--json']);
    const ls = JSON.parse((await ok(['image', 'ls', '-l', '--json'])).stdout) as { name: string; content: string; kind: string }[];
    expect(ls.find((i) => i.name === 'tree')!.content).toBe((JSON.parse(again.stdout) as { content: string }).content);
    expect(ls.map((i) => i.kind)).toEqual(['tar', 'tar']);
  });

  it('image create and image extract report progress as JSON events when asked', async () => {
    const events = (stderr: string) =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event: string; command: string; done: number; total?: number });
    const c = await ok(['image', 'create', 'name=tree-progress', `content=@${tree.root}`, '--progress=json']);
    const done = events(c.stderr).at(-1)!;
    expect(done).toMatchObject({ event: 'done', command: `reading ${tree.root}` });
    expect(done.done).toBeGreaterThan(300_000);
    const x = await ok(['image', '-i', 'tree-progress', 'extract', '-C', join(dir, 'progress-out'), '--progress=json']);
    const size = (JSON.parse((await ok(['image', 'ls', '-l', '--json', '-i', 'tree-progress'])).stdout) as { size: number }[])[0]!.size;
    expect(events(x.stderr).at(-1)).toMatchObject({ event: 'done', command: 'extracting tree-progress', done: size, total: size });
    await ok(['image', '-i', 'tree-progress', 'delete']);
  });

  it('image update content=@DIR repacks the tree: the same tree gives back the same content', async () => {
    await ok(['image', 'create', 'name=tree-upd', `content=@${files.image}`]);
    const before = JSON.parse((await ok(['image', 'ls', '-l', '--json', '-i', 'tree-upd'])).stdout) as { kind: string }[];
    expect(before[0]!.kind).toBe('file');
    await ok(['image', '-i', 'tree-upd', 'update', `content=@${tree.root}`]);
    await ok(['image', 'create', 'name=tree-ref', `content=@${tree.root}`]);
    const after = JSON.parse((await ok(['image', 'ls', '-l', '--json', '-i', 'tree-upd,tree-ref'])).stdout) as {
      name: string;
      kind: string;
      content: string;
    }[];
    expect(after.map((i) => i.kind)).toEqual(['tar', 'tar']);
    expect(after[0]!.content).toBe(after[1]!.content);
    await ok(['image', '-i', 'tree-upd,tree-ref', 'delete']);
  });

  it('image ls -l says which kind each image is', async () => {
    await ok(['image', 'create', 'name=opaque', `content=@${files.image}`]);
    const sq = join(dir, 'fake.squashfs');
    writeFileSync(sq, Buffer.concat([Buffer.from('hsqs'), Buffer.alloc(4096, 1)]));
    await ok(['image', 'create', 'name=squash', `content=@${sq}`]);
    const text = (await ok(['image', 'ls', '-l'])).stdout;
    expect(text).toMatch(/^NAME +UID +SIZE +KIND/);
    expect(text).toMatch(/^tree .* tar /m);
    expect(text).toMatch(/^opaque .* file /m);
    expect(text).toMatch(/^squash .* squashfs /m);
  });

  it('image extract rebuilds the tree, and refuses an image that is not a tar', async () => {
    const out = join(dir, 'extracted');
    const r = await ok(['image', '-i', 'tree', 'extract', '-C', out, '--keep-setuid']);
    expect(r.stdout).toContain(`extracted image tree into ${out}`);
    expect(r.stderr).not.toContain('setuid');
    const cleared = await ok(['image', '-i', 'tree', 'extract', '-C', join(dir, 'cleared')]);
    expect(cleared.stderr).toContain('warning: usr/bin/su setuid bit cleared (keep them with --keep-setuid)');
    expect(diffTrees(tree.root, out)).toEqual([]);
    expect(treeListing(out)).toBe(treeListing(tree.root));
    const bad = await cli(['image', '-i', 'squash', 'extract', '-C', join(dir, 'x'), '--store', A()], { cwd: dir });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('ERR_TAR_INVALID: image squash is a squashfs, not a tar');
  });

  it('image extract notices a damaged blob and leaves no tree', async () => {
    const ls = JSON.parse((await ok(['image', 'ls', '-l', '--json', '-i', 'tree'])).stdout) as { content: string }[];
    const hex = ls[0]!.content.slice('blake3:'.length);
    const blobDir = join(A(), 'blobs', 'blake3');
    const name = readdirSync(blobDir).find((n) => n.startsWith(hex))!;
    const { openSync, writeSync, closeSync, chmodSync } = await import('node:fs');
    chmodSync(join(blobDir, name), 0o644);
    const fd = openSync(join(blobDir, name), 'r+');
    const { readSync } = await import('node:fs');
    const saved = Buffer.alloc(4);
    readSync(fd, saved, 0, 4, 700);
    writeSync(fd, Buffer.from('XXXX'), 0, 4, 700);
    const out = join(dir, 'from-damaged');
    const r = await cli(['image', '-i', 'tree', 'extract', '-C', out, '--store', A()], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_STORE: blob .* does not hash to its name/);
    expect(readdirSync(dir)).not.toContain('from-damaged');
    // Repaired, for the tests that follow.
    writeSync(fd, saved, 0, 4, 700);
    closeSync(fd);
  });

  it('goes from one store to another through a bundle and comes out identical, and unpack --image-dir writes the tree', async () => {
    await ok(['create', 'name=boot', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=tree2']);
    const bundle = join(dir, 'boot.export');
    await ok(['-i', 'boot', 'export', '-o', bundle]);
    await ok(['import', bundle], B());
    const out = join(dir, 'imported');
    await ok(['image', '-i', 'tree2', 'extract', '-C', out, '--keep-setuid'], B());
    expect(diffTrees(tree.root, out)).toEqual([]);
    expect(treeListing(out)).toBe(treeListing(tree.root));

    const unpacked = join(dir, 'unpacked');
    const rootfs = join(dir, 'rootfs');
    const u = await ok(['unpack', bundle, '-C', unpacked, '--image-dir', rootfs, '--keep-setuid', '--json']);
    const doc = JSON.parse(u.stdout) as { files: string[]; image_directory: string };
    expect(doc.image_directory).toBe(rootfs);
    expect(readdirSync(unpacked).sort()).toEqual(['bootconfig.json', 'initramfs', 'kernel']);
    expect(diffTrees(tree.root, rootfs)).toEqual([]);
    expect(treeListing(rootfs)).toBe(treeListing(tree.root));
  });

  it('end to end: a chroot through image create, export --split-size, import of the volumes and image extract comes out identical', async () => {
    const S1 = join(dir, 'e2e-source');
    const S2 = join(dir, 'e2e-target');
    await ok(['image', 'create', 'name=rootfs', `content=@${tree.root}`], S1);
    await ok(['create', 'name=compute', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=rootfs'], S1);
    const vols = join(dir, 'e2e-volumes');
    mkdirSync(vols);
    const exp = await ok(['-i', 'compute', 'export', '-o', join(vols, 'compute.export'), '--split-size', '70K', '--chunk-size', '64K', '--json'], S1);
    const volumes = (JSON.parse(exp.stdout) as { volumes: string[] }).volumes;
    expect(volumes.length).toBeGreaterThan(1);
    await ok(['import', volumes[0]!], S2);
    const out = join(dir, 'e2e-root');
    await ok(['image', '-i', 'rootfs', 'extract', '-C', out, '--keep-setuid'], S2);
    expect(diffTrees(tree.root, out)).toEqual([]);
    expect(treeListing(out)).toBe(treeListing(tree.root));
  });

  it('unpack --image-dir refuses an image that is not a tar, and an image directory in use, changing nothing', async () => {
    await ok(['create', 'name=boot-opaque', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=opaque']);
    const bundle = join(dir, 'opaque.export');
    await ok(['-i', 'boot-opaque', 'export', '-o', bundle]);
    const r = await cli(['unpack', bundle, '-C', join(dir, 'u2'), '--image-dir', join(dir, 'r2')], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_TAR_INVALID');
    expect(readdirSync(dir).filter((n) => n === 'u2' || n === 'r2')).toEqual([]);
    const busy = await cli(['unpack', join(dir, 'boot.export'), '-C', join(dir, 'u3'), '--image-dir', join(dir, 'chroot')], { cwd: dir });
    expect(busy.code, busy.stderr).toBe(3);
    expect(busy.stderr).toContain('is not empty');
    expect(readdirSync(dir)).not.toContain('u3');
  });
});
