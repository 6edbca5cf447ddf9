/**
 * Several head nodes on one etcd catalog and one blob directory: each head is a separate bootport
 * process, and the cluster is three real etcd members that the tests kill and restart.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bp, MAIN, seedStore, tinyFiles, type TinyFiles } from '../helpers.js';
import { EtcdCluster, START_HOOK_MS } from '../../../spec/etcd-cluster.js';
import { expectClean, json, newCatalog } from './catalogs.js';

let dir: string;
let cluster: EtcdCluster;
let files: TinyFiles;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-multihead-'));
  cluster = await EtcdCluster.start(join(dir, 'etcd'));
  files = await tinyFiles(join(dir, 'files'));
}, START_HOOK_MS);
afterAll(async () => {
  cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A new catalog: its URL, its blob directory, and a runner for bootport against it. */
const fresh = (extra = '') => newCatalog(cluster, dir, `c${++n}`, extra);

/** A bundle of one boot config, made in a SQLite store of its own. */
async function bundleOf(name: string, opts: { kernel?: string; image?: string } = {}): Promise<string> {
  const store = join(dir, `src-${name}`);
  const out = join(dir, `${name}.bootport`);
  const ok = async (args: string[]) => {
    const r = await bp([...args, '--store', store], { cwd: dir });
    if (r.code !== 0) throw new Error(`bootport ${args.join(' ')}: ${r.stderr}`);
  };
  await ok(['image', 'create', `name=img-${name}`, `content=@${opts.image ?? files.image}`]);
  await ok(['create', `name=${name}`, `kernel=@${opts.kernel ?? files.kernel}`, `initramfs=@${files.initramfs}`, `image=img-${name}`]);
  await ok(['-i', name, 'export', '-o', out, '--chunk-size', '64K']);
  return out;
}

describe('one catalog in etcd', () => {
  it('runs the whole seed workflow, every store command, as on SQLite', async () => {
    const c = fresh();
    const bundle = join(dir, 'seed.bootport');
    await seedStore(dir, c.url, files, bundle);
    expect(json<{ name: string }[]>(await c.ok(['ls', '--json'])).map((b) => b.name)).toEqual(['boot']);
    expect(json<{ name: string; boot_config: string | null }[]>(await c.ok(['node', 'ls', '--json']))).toMatchObject([
      { name: 'n0', boot_config: 'boot' },
      { name: 'n1', boot_config: null },
    ]);
    await c.ok(['-i', 'boot', 'clone', 'name=boot2']);
    await c.ok(['-i', 'boot2', 'update', 'cmdline=quiet', 'name=boot3']);
    await c.ok(['image', '-i', 'img', 'clone', 'name=img2']);
    await c.ok(['image', '-i', 'img2', 'update', 'distro=alma9']);
    // Import: a clash is the same ERR_CONFLICT, with the same hints, as on SQLite.
    const clash = await c.run(['import', bundle, '--json']);
    expect(clash.code).toBe(3);
    const sqlite = join(dir, `${c.id}-sqlite`);
    await bp(['import', bundle, '--store', sqlite], { cwd: dir });
    const onSqlite = await bp(['import', bundle, '--json', '--store', sqlite], { cwd: dir });
    expect(JSON.parse(clash.stdout)).toMatchObject({ error: { code: 'ERR_CONFLICT' } });
    expect(JSON.parse(clash.stdout)).toEqual(JSON.parse(onSqlite.stdout));
    expect(json<{ committed: boolean }>(await c.ok(['import', bundle, '--boot-config', 'other', '--dry-run', '--json'])).committed).toBe(false);
    await c.ok(['import', bundle, '--boot-config', 'other']);
    await c.ok(['-i', 'other', 'export', '-o', join(dir, 'again.bootport')]);
    await c.ok(['verify', join(dir, 'again.bootport')]);
    // In use, frozen, deleted: the same refusals.
    expect((await c.run(['image', '-i', 'img', 'delete'])).code).toBe(3);
    expect((await c.run(['-i', 'boot', 'delete'])).code).toBe(3);
    await c.ok(['node', '-i', 'n0', 'clear', '_boot_config']);
    await c.ok(['-i', 'boot,boot3', 'delete']);
    await c.ok(['node', '-a', 'delete']);
    await c.ok(['trust', 'ls']);
    await expectClean(c);
    // The blobs are files in the shared directory, named by their digests.
    expect((await readdir(join(c.blobs, 'blobs', 'blake3'))).length).toBeGreaterThan(0);
  }, 120_000);

  it('refuses a change larger than one etcd transaction may be, whole, and says what to raise', async () => {
    const c = fresh();
    // Two writes a node (its row and its name), against etcd's default of 128 per transaction.
    const big = await c.run(['node', 'create', 'name=n[0-99]']);
    expect(big.code, big.stderr).toBe(4);
    expect(big.stderr).toContain('ERR_STORE');
    expect(big.stderr).toContain('max-txn-ops');
    expect(json<unknown[]>(await c.ok(['node', 'ls', '--json']))).toEqual([]);
    await c.ok(['node', 'create', 'name=n[0-49]']);
    expect(json<unknown[]>(await c.ok(['node', 'ls', '--json']))).toHaveLength(50);
  }, 60_000);

  it('refuses a blob directory that belongs to another catalog, and a prefix without its catalog', async () => {
    const a = fresh();
    await seedStore(dir, a.url, files);
    const wrongDir = await bp(['ls', '--store', cluster.url(a.id, join(dir, 'elsewhere'))], { cwd: dir });
    expect(wrongDir.code).toBe(4);
    expect(wrongDir.stderr).toContain('is not the blob directory');
    const lostPrefix = await bp(['node', 'create', 'name=x', '--store', cluster.url(`${a.id}-gone`, a.blobs)], { cwd: dir });
    expect(lostPrefix.code).toBe(4);
    expect(lostPrefix.stderr).toContain('will not create an empty catalog over them');
    // Nothing was collected from the blob directory.
    await expectClean(a);
  }, 60_000);
});

describe('two head nodes at once', () => {
  it('import different boot configs at the same moment: both are committed, each once', async () => {
    const c = fresh();
    const [a, b] = [await bundleOf('alpha'), await bundleOf('beta', { kernel: files.kernel2, image: files.image2 })];
    for (let round = 0; round < 3; round++) {
      const [ra, rb] = await Promise.all([c.run(['import', a, '--boot-config', `a${round}`]), c.run(['import', b, '--boot-config', `b${round}`])]);
      expect([ra.code, rb.code], ra.stderr + rb.stderr).toEqual([0, 0]);
    }
    const names = json<{ name: string }[]>(await c.ok(['ls', '--json'])).map((x) => x.name);
    expect(names).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
    await expectClean(c);
  }, 120_000);

  it('import the same boot config under the same name at once: exactly one wins, the other gets ERR_CONFLICT', async () => {
    const c = fresh();
    const a = await bundleOf('gamma');
    for (let round = 0; round < 3; round++) {
      const rs = await Promise.all([0, 1].map(() => c.run(['import', a, '--boot-config', `g${round}`, '--image', `img${round}`])));
      expect(rs.map((r) => r.code).sort(), rs.map((r) => r.stderr).join('')).toEqual([0, 3]);
      expect(rs.find((r) => r.code === 3)!.stderr).toMatch(/ERR_CONFLICT|already exists/);
    }
    expect(json<unknown[]>(await c.ok(['ls', '--json']))).toHaveLength(3);
    expect(json<unknown[]>(await c.ok(['image', 'ls', '--json']))).toHaveLength(3);
    await expectClean(c);
  }, 120_000);

  it('collect garbage on one head while the other imports the same content: no row is left without its file', async () => {
    const c = fresh();
    const a = await bundleOf('delta');
    await c.ok(['import', a, '--boot-config', 'keep0', '--image', 'keepimg0']);
    const gc = (async () => {
      // Head A: create and delete boot configs that share the content, collecting it each time.
      for (let i = 0; i < 4; i++) {
        await c.ok(['import', a, '--boot-config', `tmp${i}`, '--image', `tmpimg${i}`]);
        await c.ok(['-i', 'keep0', 'delete']).catch(() => {});
        await c.ok(['-i', `tmp${i}`, 'delete']);
        await c.ok(['image', '-i', `tmpimg${i}`, 'delete']);
      }
    })();
    const imports = (async () => {
      // Head B: import it again and again under new names.
      for (let i = 1; i <= 4; i++) await c.ok(['import', a, '--boot-config', `keep${i}`, '--image', `keepimg${i}`]);
    })();
    await Promise.all([gc, imports]);
    await expectClean(c);
    for (const name of ['keep1', 'keep4']) {
      const out = join(dir, `${c.id}-${name}.bootport`);
      await c.ok(['-i', name, 'export', '-o', out]);
      await c.ok(['verify', out]);
    }
  }, 180_000);

  it('a watch on one head sees the other head’s import at once', async () => {
    const c = fresh();
    await c.ok(['node', 'create', 'name=w0']);
    const a = await bundleOf('epsilon');
    const watcher = spawn(process.execPath, [MAIN, 'watch', '--for', '30', '--store', c.url], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise<void>((res) => watcher.stderr.once('data', () => res()));
      const t0 = Date.now();
      await c.ok(['import', a, '--boot-config', 'seen']);
      await c.ok(['node', '-i', 'w0', 'set', '_boot_config=seen']);
      while (!out.includes('updated node w0') && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(out).toContain('created boot config seen');
      expect(out).toContain('created image img-epsilon');
      expect(out).toContain('updated node w0');
    } finally {
      watcher.kill('SIGTERM');
    }
  }, 60_000);
});
