import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeSample } from '../../src/cli/sample-files.js';
import { cli, tempDir } from './run.js';

const MAIN = join(import.meta.dirname, '../../dist/bin/main.js');

/** Runs the built CLI under strace with `args` (fault injection), returning its exit code and stderr. */
function straced(args: string[], argv: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const p = spawn('strace', ['-f', '-qq', '-o', '/dev/null', ...args, process.execPath, MAIN, ...argv], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => res({ code, stderr }));
  });
}

/** Everything a store lists, for before/after comparisons. */
async function snapshot(cwd: string, store: string): Promise<string> {
  const parts = await Promise.all([['ls'], ['image', 'ls'], ['node', 'ls']].map((a) => cli([...a, '--store', store, '--json'], { cwd })));
  return parts.map((p) => p.stdout).join('\n');
}

/** Files an import has staged, in the area directories of its staging. */
async function stagedFiles(store: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of await readdir(join(store, 'staging')).catch(() => [])) {
    for (const a of await readdir(join(store, 'staging', p)).catch(() => [])) {
      if (a.startsWith('area-')) out.push(...(await readdir(join(store, 'staging', p, a)).catch(() => [])));
    }
  }
  return out;
}

async function stagingLeft(store: string): Promise<string[]> {
  return readdir(join(store, 'staging'));
}

describe('the seed workflow between two stores', () => {
  let dir: string;
  const A = (...a: string[]) => cli([...a, '--store', 'A'], { cwd: dir });
  const B = (...a: string[]) => cli([...a, '--store', 'B'], { cwd: dir });

  beforeAll(async () => {
    dir = await tempDir();
    await writeSample({ dir: join(dir, 's'), imageSize: 3 << 20 });
    await writeSample({ dir: join(dir, 's2'), imageSize: 2 << 20, seed: 99, release: '6.6.0-1-amd64' });
    expect((await A('image', 'create', 'name=xyzImage', 'content=@s/rootfs.tar', 'distro=rocky9')).code).toBe(0);
    const c = await A('create', 'name=xyzBoot', 'kernel=@s/vmlinuz', 'initramfs=@s/initramfs.img', 'image=xyzImage', 'cmdline=console=ttyS0 quiet');
    expect(c.code, c.stderr).toBe(0);
    expect((await A('-i', 'xyzBoot', 'export')).code).toBe(0);
  });

  it('1. creates a boot config with the kernel release and sizes on store A', async () => {
    const ls = JSON.parse((await A('-i', 'xyzBoot', 'ls', '-l', '--json')).stdout);
    expect(ls[0]).toMatchObject({
      name: 'xyzBoot',
      release: '6.1.0-13-amd64',
      cmdline: 'console=ttyS0 quiet',
      boot_style: 'rwram',
      image: { name: 'xyzImage' },
    });
    expect(ls[0].kernel.size).toBe((await stat(join(dir, 's/vmlinuz'))).size);
    expect((await A('-i', 'xyzBoot', 'ls', '-l')).stdout).toContain('release:    6.1.0-13-amd64');
  });

  it('2-4. checks names on B, imports, and sets _boot_config on nodes', async () => {
    expect((await B('ls', '-l', '--json')).stdout.trim()).toBe('[]');
    const imp = await B('import', 'xyzBoot.export', '--json');
    expect(imp.code, imp.stderr).toBe(0);
    expect(JSON.parse(imp.stdout)).toMatchObject({
      committed: true,
      boot_config: { name: 'xyzBoot', action: 'create' },
      image: { name: 'xyzImage', action: 'create' },
    });
    // The imported content is byte-identical to the source files.
    const v = JSON.parse((await B('-i', 'xyzBoot', 'ls', '--json')).stdout)[0];
    const src = JSON.parse((await A('-i', 'xyzBoot', 'ls', '--json')).stdout)[0];
    expect([v.kernel.digest, v.initramfs.digest, v.image.digest, v.release, v.cmdline]).toEqual([
      src.kernel.digest,
      src.initramfs.digest,
      src.image.digest,
      src.release,
      src.cmdline,
    ]);
    expect(await readFile(join(dir, 'B/blobs/blake3', v.image.digest.slice(7)))).toEqual(await readFile(join(dir, 's/rootfs.tar')));

    expect((await B('node', 'create', 'name=n[0-3]')).code).toBe(0);
    expect((await B('node', '-i', 'n[0-3]', 'set', '_boot_config=xyzBoot')).code).toBe(0);
    const nodes = JSON.parse((await B('node', 'ls', '--json')).stdout);
    expect(nodes.map((n: { name: string; attributes: Record<string, string> }) => [n.name, n.attributes._boot_config])).toEqual([
      ['n0', 'xyzBoot'],
      ['n1', 'xyzBoot'],
      ['n2', 'xyzBoot'],
      ['n3', 'xyzBoot'],
    ]);
    const bad = await B('node', '-i', 'n0', 'set', '_boot_config=missing');
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('ERR_NOT_FOUND');
    expect((await B('node', '-i', 'n[2-3]', 'clear', '_boot_config')).code).toBe(0);
    expect(JSON.parse((await B('node', '-i', 'n3', 'ls', '--json')).stdout)[0].attributes).toEqual({});
  });

  it('importing the same bundle twice is a boot-config conflict, not a duplicate', async () => {
    const before = await snapshot(dir, 'B');
    const again = await B('import', 'xyzBoot.export');
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('ERR_CONFLICT: boot config xyzBoot already exists');
    expect(again.stderr).toContain('--boot-config NEW');
    expect(await snapshot(dir, 'B')).toBe(before);
  });

  it('--boot-config NEW alone reuses the identical image and stores nothing new', async () => {
    const blobsBefore = await readdir(join(dir, 'B/blobs/blake3'));
    const r = JSON.parse((await B('import', 'xyzBoot.export', '--boot-config', 'copy1', '--json')).stdout);
    expect(r).toMatchObject({ committed: true, boot_config: { name: 'copy1' }, image: { action: 'reuse' }, bytes_to_store: 0 });
    expect(await readdir(join(dir, 'B/blobs/blake3'))).toEqual(blobsBefore);
    const [c1, x] = ['copy1', 'xyzBoot'].map(async (n) => JSON.parse((await B('-i', n, 'ls', '--json')).stdout)[0]);
    expect((await c1).image.uid).toBe((await x).image.uid);
  });

  it('an image name taken with different content is a conflict suggesting --image or --no-recurse', async () => {
    await cli(['image', 'create', 'name=clashImg', 'content=@s2/rootfs.tar', '--store', 'C'], { cwd: dir });
    await A('image', '-i', 'xyzImage', 'clone', 'name=clashImg');
    await A('-i', 'xyzBoot', 'clone', 'name=clashBoot');
    await A('-i', 'clashBoot', 'update', 'image=clashImg');
    await A('-i', 'clashBoot', 'export', '-o', 'clash.export');
    const before = await snapshot(dir, 'C');
    const r = await cli(['import', 'clash.export', '--store', 'C'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('image clashImg already exists with different content');
    expect(r.stderr).toMatch(/--image NEW.*--no-recurse/);
    expect(await snapshot(dir, 'C')).toBe(before);

    const withImage = JSON.parse((await cli(['import', 'clash.export', '--store', 'C', '--image', 'otherImg', '--json'], { cwd: dir })).stdout);
    expect(withImage).toMatchObject({ committed: true, image: { name: 'otherImg', action: 'create' } });
    expect(JSON.parse((await cli(['-i', 'clashBoot', 'ls', '--store', 'C', '--json'], { cwd: dir })).stdout)[0].image.name).toBe('otherImg');
  });

  it('--no-recurse leaves the image unset, to be associated later', async () => {
    const r = JSON.parse((await cli(['import', 'clash.export', '--store', 'D', '--no-recurse', '--json'], { cwd: dir })).stdout);
    expect(r).toMatchObject({ committed: true, image: { action: 'skip' } });
    expect(JSON.parse((await cli(['image', 'ls', '--store', 'D', '--json'], { cwd: dir })).stdout)).toEqual([]);
    expect(JSON.parse((await cli(['-i', 'clashBoot', 'ls', '--store', 'D', '--json'], { cwd: dir })).stdout)[0].image).toBeNull();
    // Only kernel and initramfs were stored.
    expect(await readdir(join(dir, 'D/blobs/blake3'))).toHaveLength(2);
    await cli(['image', 'create', 'name=later', 'content=@s2/rootfs.tar', '--store', 'D'], { cwd: dir });
    expect((await cli(['-i', 'clashBoot', 'update', 'image=later', '--store', 'D'], { cwd: dir })).code).toBe(0);
  });

  it('combines --boot-config, --image and --no-recurse; --dry-run changes nothing', async () => {
    const before = await snapshot(dir, 'B');
    const dry = await B('import', 'xyzBoot.export', '--boot-config', 'dry', '--image', 'dryImg', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      committed: false,
      dry_run: true,
      boot_config: { name: 'dry', action: 'create' },
      image: { name: 'dryImg', action: 'create' },
      bytes_to_store: 0,
    });
    const dryConflict = await B('import', 'xyzBoot.export', '--dry-run');
    expect(dryConflict.code).toBe(3);
    expect(dryConflict.stdout).toContain('REJECT ERR_CONFLICT');
    expect(await snapshot(dir, 'B')).toBe(before);

    const both = JSON.parse((await B('import', 'xyzBoot.export', '--boot-config', 'both', '--image', 'bothImg', '--json')).stdout);
    expect(both).toMatchObject({ committed: true, image: { name: 'bothImg', action: 'create' } });
    const nr = JSON.parse((await B('import', 'xyzBoot.export', '--boot-config', 'nr', '--no-recurse', '--json')).stdout);
    expect(nr).toMatchObject({ committed: true, image: { action: 'skip' } });
    const all3 = JSON.parse((await B('import', 'xyzBoot.export', '--boot-config', 'all3', '--image', 'ignored', '--no-recurse', '--json')).stdout);
    expect(all3).toMatchObject({ committed: true, image: { action: 'skip' } });
    expect(JSON.parse((await B('image', 'ls', '--json')).stdout).map((i: { name: string }) => i.name)).toEqual(['bothImg', 'xyzImage']);
  });

  it('works through a pipe: export -o - | import -', async () => {
    const out = await A('-i', 'xyzBoot', 'export', '-o', '-');
    expect(out.code).toBe(0);
    const r = await cli(['import', '-', '--store', 'E', '--json'], { cwd: dir, stdin: out.bytes });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).committed).toBe(true);
  });

  it('dedups: a second boot config sharing the kernel stores the kernel once', async () => {
    await A('create', 'name=second', 'kernel=@s/vmlinuz', 'initramfs=@s2/initramfs.img');
    await A('-i', 'second', 'export', '-o', 'second.export', '--no-recurse');
    const r = JSON.parse((await cli(['import', 'second.export', '--store', 'E', '--json'], { cwd: dir })).stdout);
    expect(r.entries.map((e: { role: string; action: string }) => [e.role, e.action])).toEqual([
      ['kernel', 'dedup'],
      ['initramfs', 'store'],
    ]);
    const views = JSON.parse((await cli(['ls', '--store', 'E', '--json'], { cwd: dir })).stdout);
    expect(views[0].kernel.digest).toBe(views[1].kernel.digest);
    // kernel, two initramfs, one image
    expect(await readdir(join(dir, 'E/blobs/blake3'))).toHaveLength(4);
  });
});

describe('objects', () => {
  let dir: string;
  const S = (...a: string[]) => cli([...a, '--store', 'S'], { cwd: dir });
  beforeAll(async () => {
    dir = await tempDir();
    await writeSample({ dir: join(dir, 's'), imageSize: 1 << 20 });
    await S('image', 'create', 'name=img', 'content=@s/rootfs.tar');
    await S('create', 'name=bc', 'kernel=@s/vmlinuz', 'initramfs=@s/initramfs.img', 'image=img');
  });

  it('a frozen object can be neither changed nor deleted, until unfrozen', async () => {
    expect((await S('-i', 'bc', 'update', 'frozen=true')).code).toBe(0);
    const u = await S('-i', 'bc', 'update', 'cmdline=x');
    expect(u.code).toBe(3);
    expect(u.stderr).toContain('ERR_FROZEN');
    expect((await S('-i', 'bc', 'delete')).stderr).toContain('ERR_FROZEN');
    expect((await S('-i', 'bc', 'update', 'frozen=false')).code).toBe(0);
    expect((await S('-i', 'bc', 'update', 'cmdline=x')).code).toBe(0);
    await S('image', '-i', 'img', 'update', 'frozen=yes');
    expect((await S('image', '-i', 'img', 'update', 'distro=x')).stderr).toContain('ERR_FROZEN');
    await S('image', '-i', 'img', 'update', 'frozen=no');
  });

  it('an image in use cannot be deleted; deleting the last user frees its blob', async () => {
    const d = await S('image', '-i', 'img', 'delete');
    expect(d.code).toBe(3);
    expect(d.stderr).toContain('ERR_IN_USE');
    const uid = JSON.parse((await S('-i', 'bc', 'ls', '--json')).stdout)[0].uid as string;
    // Select by uid prefix, as Scyld's -i allows.
    expect((await S('-i', uid.slice(0, 6), 'delete')).code).toBe(0);
    expect((await S('image', '-i', 'img', 'delete')).code).toBe(0);
    expect(await readdir(join(dir, 'S/blobs/blake3'))).toEqual([]);
  });

  it('rejects unsafe names and unknown fields', async () => {
    const r = await S('create', 'name=../x', 'kernel=@s/vmlinuz', 'initramfs=@s/initramfs.img');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_INVALID');
    expect((await S('create', 'name=y', 'colour=blue')).code).toBe(2);
    expect((await S('-i', 'abc', 'ls')).stderr).toContain('ERR_NOT_FOUND');
  });
});

describe('import is atomic', () => {
  let dir: string;
  let good: Buffer;
  beforeAll(async () => {
    dir = await tempDir();
    await writeSample({ dir: join(dir, 's'), imageSize: 2 << 20 });
    await cli(['image', 'create', 'name=img', 'content=@s/rootfs.tar', '--store', 'A'], { cwd: dir });
    await cli(['create', 'name=bc', 'kernel=@s/vmlinuz', 'initramfs=@s/initramfs.img', 'image=img', '--store', 'A'], { cwd: dir });
    await cli(['-i', 'bc', 'export', '-o', 'bc.export', '--store', 'A', '--chunk-size', '1M'], { cwd: dir });
    good = await readFile(join(dir, 'bc.export'));
    // A target store with some existing content.
    await cli(['node', 'create', 'name=n[0-1]', '--store', 'T'], { cwd: dir });
  });

  let before: string;
  beforeEach(async () => {
    before = await snapshot(dir, 'T');
  });
  const unchanged = async () => {
    expect(await snapshot(dir, 'T')).toBe(before);
    expect(await stagingLeft(join(dir, 'T'))).toEqual([]);
    // Nothing the failed import staged reached the blob store.
    expect(await readdir(join(dir, 'T/blobs/blake3'))).toEqual([]);
  };

  it('after a corrupt bundle', async () => {
    const bad = Buffer.from(good);
    bad[bad.length - 1000]! ^= 4;
    await writeFile(join(dir, 'bad.export'), bad);
    const r = await cli(['import', 'bad.export', '--store', 'T'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_BUNDLE_');
    await unchanged();
  });

  it('after a truncated bundle', async () => {
    await writeFile(join(dir, 'short.export'), good.subarray(0, good.length - 40));
    const r = await cli(['import', 'short.export', '--store', 'T'], { cwd: dir });
    expect(r.stderr).toContain('ERR_BUNDLE_TRUNCATED');
    await unchanged();
  });

  it('after a bundle cut off in a pipe', async () => {
    async function* cutOff(): AsyncGenerator<Buffer> {
      yield good.subarray(0, good.length >> 1);
      throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    }
    const r = await cli(['import', '-', '--store', 'T'], { cwd: dir, stdin: Readable.from(cutOff()) });
    expect(r.code).not.toBe(0);
    await unchanged();
  });

  it("after a full disk while the commit is written (ENOSPC injected at the catalog's WAL writes)", async () => {
    const store = join(dir, 'T');
    const r = await straced(['-P', `${store}/catalog.sqlite-wal`, '-e', 'inject=pwrite64,write:error=ENOSPC'], ['import', 'bc.export', '--store', store], dir);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('ERR_NO_SPACE');
    await unchanged();
    // And the same bundle imports cleanly afterwards.
    expect((await cli(['import', 'bc.export', '--store', 'T'], { cwd: dir })).code).toBe(0);
    before = await snapshot(dir, 'T');
  });

  it('after kill -9 in the middle of an import; the next run removes the stale staging', async () => {
    const fresh = join(dir, 'K');
    await cli(['node', 'create', 'name=k0', '--store', fresh], { cwd: dir });
    const snap = await snapshot(dir, fresh);
    const child = spawn(process.execPath, [MAIN, 'import', '-', '--store', fresh], { stdio: ['pipe', 'ignore', 'ignore'] });
    // The child dies with its stdin open; the write that races its death may fail with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.write(good.subarray(0, good.length - 100_000));
    // Wait until it has staged something, then kill it without warning.
    for (let i = 0; i < 200 && !(await stagedFiles(fresh)).length; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await stagedFiles(fresh)).length).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(await snapshot(dir, fresh)).toBe(snap);
    // Reading commands change nothing; the next command that writes finds the owner dead, by its
    // lock, and removes its staging.
    expect(await readdir(join(fresh, 'staging'))).toHaveLength(1);
    const repair = await cli(['fsck', '--repair', '--json', '--store', fresh], { cwd: dir });
    expect(repair.code, repair.stdout).toBe(0);
    expect(JSON.parse(repair.stdout).findings).toMatchObject([{ kind: 'staging', repaired: true }]);
    expect(await snapshot(dir, fresh)).toBe(snap);
    expect(await readdir(join(fresh, 'staging'))).toEqual([]);
  });
});

describe('an interrupted import', () => {
  it('Ctrl-C removes its staging at once and commits nothing', async () => {
    const dir = await tempDir();
    await writeSample({ dir: join(dir, 's'), imageSize: 2 << 20 });
    await cli(['create', 'name=bc', 'kernel=@s/vmlinuz', 'initramfs=@s/initramfs.img', '--store', 'A'], { cwd: dir });
    await cli(['-i', 'bc', 'export', '-o', 'bc.export', '--store', 'A'], { cwd: dir });
    const good = await readFile(join(dir, 'bc.export'));
    const store = join(dir, 'I');
    await cli(['node', 'create', 'name=i0', '--store', store], { cwd: dir });
    const snap = await snapshot(dir, store);
    const child = spawn(process.execPath, [MAIN, 'import', '-', '--store', store], { stdio: ['pipe', 'ignore', 'pipe'] });
    child.stdin.on('error', () => {});
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.write(good.subarray(0, good.length >> 1));
    for (let i = 0; i < 200 && !(await readdir(join(store, 'staging')).catch(() => [])).length; i++) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(130);
    expect(err).toContain('nothing was committed');
    // Removed by the process itself, not by the next run.
    expect(await readdir(join(store, 'staging'))).toEqual([]);
    expect(await snapshot(dir, store)).toBe(snap);
  });
});

describe('two processes on one store', () => {
  it('import concurrently without corrupting it, storing shared blobs once', async () => {
    const dir = await tempDir();
    await writeSample({ dir: join(dir, 's'), imageSize: 4 << 20 });
    await cli(['image', 'create', 'name=img', 'content=@s/rootfs.tar', '--store', 'A'], { cwd: dir });
    await cli(['create', 'name=bc', 'kernel=@s/vmlinuz', 'initramfs=@s/initramfs.img', 'image=img', '--store', 'A'], { cwd: dir });
    await cli(['-i', 'bc', 'export', '-o', 'bc.export', '--store', 'A'], { cwd: dir });
    const errors: string[] = [];
    const run = (name: string) =>
      new Promise<number>((res) => {
        const p = spawn(process.execPath, [MAIN, 'import', 'bc.export', '--store', 'P', '--boot-config', name, '--image', `${name}Img`], {
          cwd: dir,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        p.stderr.on('data', (d: Buffer) => errors.push(`${name}: ${d.toString()}`));
        p.on('close', (c) => res(c ?? -1));
      });
    expect(await Promise.all([run('p1'), run('p2'), run('p3')]), errors.join('\n')).toEqual([0, 0, 0]);
    const ls = JSON.parse((await cli(['ls', '--store', 'P', '--json'], { cwd: dir })).stdout);
    expect(ls.map((b: { name: string }) => b.name)).toEqual(['p1', 'p2', 'p3']);
    expect(await readdir(join(dir, 'P/blobs/blake3'))).toHaveLength(3);
    expect(await readdir(join(dir, 'P/staging'))).toEqual([]);
  });
});
