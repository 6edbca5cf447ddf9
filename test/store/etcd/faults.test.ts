/**
 * The etcd catalog under faults, for real: members SIGKILLed in the middle of an import and of
 * an export, the quorum lost and regained, an importer SIGKILLed so that its lease expires, and
 * the copy of a store into etcd and back.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bp, MAIN, seedStore, tinyFiles, type TinyFiles } from '../helpers.js';
import { EtcdCluster, START_HOOK_MS } from '../../../spec/etcd-cluster.js';
import { expectClean, json, newCatalog } from './catalogs.js';

let dir: string;
let cluster: EtcdCluster;
let files: TinyFiles;
let bundle: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-etcd-faults-'));
  cluster = await EtcdCluster.start(join(dir, 'etcd'));
  files = await tinyFiles(join(dir, 'files'));
  bundle = join(dir, 'seed.bootport');
  await seedStore(dir, join(dir, 'src'), files, bundle);
}, START_HOOK_MS);
afterAll(async () => {
  cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

const fresh = (extra = '') => newCatalog(cluster, dir, `f${++n}`, extra);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `bootport import -` fed the bundle slowly, with `during` run once half of it is in. */
async function slowImport(url: string, args: string[], during: () => Promise<void> | void, kill = false): Promise<{ code: number | null; stderr: string }> {
  const bytes = await readFile(bundle);
  const p = spawn(process.execPath, [MAIN, 'import', '-', ...args, '--store', url], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  p.stdin.on('error', () => {});
  const done = new Promise<{ code: number | null; stderr: string }>((res) => p.on('close', (code) => res({ code, stderr })));
  const piece = 16 * 1024;
  for (let off = 0; off < bytes.length; off += piece) {
    if (off >= bytes.length / 2 && off < bytes.length / 2 + piece) {
      await during();
      if (kill) {
        p.kill('SIGKILL');
        return done;
      }
    }
    p.stdin.write(bytes.subarray(off, off + piece));
    await sleep(10);
  }
  p.stdin.end();
  return done;
}

describe('etcd members failing', () => {
  it('a URL whose members are not there is ERR_STORE_UNAVAILABLE, naming the cluster', async () => {
    const r = await bp(['ls', '--store', `etcd://127.0.0.1:1/nowhere?blobs=${join(dir, 'nowhere')}`], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ERR_STORE_UNAVAILABLE');
    expect(r.stderr).toContain('etcd://127.0.0.1:1/nowhere');
  }, 60_000);

  it('an import survives its leader being killed half way, and commits whole', async () => {
    const c = fresh();
    await c.ok(['node', 'create', 'name=n0']);
    let killed = -1;
    const r = await slowImport(c.url, ['--boot-config', 'through'], () => {
      killed = cluster.leader();
      cluster.kill(killed);
    });
    // Two of three members are a quorum: the import goes on through them.
    expect(r.code, r.stderr).toBe(0);
    cluster.restart(killed);
    await cluster.waitHealthy();
    expect(json<{ name: string }[]>(await c.ok(['ls', '--json'])).map((b) => b.name)).toEqual(['through']);
    await expectClean(c);
  }, 120_000);

  it('an export streams through a change of leader, and its bundle verifies', async () => {
    const c = fresh();
    await c.ok(['import', bundle]);
    const out = join(dir, `${c.id}.bootport`);
    const p = spawn(process.execPath, [MAIN, '-i', 'boot', 'export', '-o', out, '--store', c.url], { cwd: dir, stdio: 'ignore' });
    const done = new Promise<number | null>((res) => p.on('close', res));
    const killed = cluster.leader();
    cluster.kill(killed);
    expect(await done).toBe(0);
    cluster.restart(killed);
    await cluster.waitHealthy();
    expect((await bp(['verify', out], { cwd: dir })).code).toBe(0);
    // A new leader was elected while a member was down, and the catalog is as it was.
    await expectClean(c);
  }, 120_000);

  it('without a quorum: a clear error, nothing half done, and everything works again after recovery', async () => {
    const c = fresh();
    await c.ok(['node', 'create', 'name=q0']);
    cluster.kill(1);
    cluster.kill(2);
    try {
      const ls = await c.run(['ls'], { timeoutMs: 60_000 });
      expect(ls.code, ls.stderr).toBe(4);
      expect(ls.stderr).toContain('ERR_STORE_UNAVAILABLE');
      expect(ls.stderr).toContain('did not answer');
      const imp = await c.run(['import', bundle], { timeoutMs: 90_000 });
      expect(imp.code, imp.stderr).toBe(4);
      expect(imp.stderr).toContain('ERR_STORE_UNAVAILABLE');
    } finally {
      cluster.restart(1);
      cluster.restart(2);
    }
    await cluster.waitHealthy();
    // Nothing of the failed import is in the catalog, and it succeeds now.
    expect(json<unknown[]>(await c.ok(['ls', '--json']))).toEqual([]);
    await c.ok(['import', bundle]);
    expect(json<{ name: string }[]>(await c.ok(['ls', '--json'])).map((b) => b.name)).toEqual(['boot']);
    await expectClean(c);
  }, 240_000);
});

describe('a head node that dies', () => {
  it('leaves staging that becomes collectable when its lease expires, and nothing in the catalog', async () => {
    const c = fresh('&lease-ttl=2');
    await c.ok(['node', 'create', 'name=d0']);
    const staging = join(c.blobs, 'staging');
    // Killed once it holds its lease and has begun staging the bundle.
    const r = await slowImport(
      c.url,
      [],
      async () => {
        while ((await readdir(staging).catch(() => [])).length < 1) await sleep(20);
      },
      true,
    );
    expect(r.code).toBe(null);
    const left = await readdir(staging);
    expect(left.length).toBe(1);
    // While the lease lives, the staging is the living owner's; after it, it is dead.
    await sleep(3_500);
    const fsck = json<{ findings: { kind: string }[] }>(await c.run(['fsck', '--json']));
    expect(fsck.findings.map((f) => f.kind)).toContain('staging');
    await c.ok(['node', 'create', 'name=d1']);
    expect(existsSync(join(staging, left[0]!))).toBe(false);
    expect(json<unknown[]>(await c.ok(['ls', '--json']))).toEqual([]);
    await expectClean(c);
  }, 60_000);
});

describe('importers SIGKILLed at any moment', () => {
  it('leave either a whole boot config or nothing, and nothing that the next writer does not clean', async () => {
    const c = fresh('&lease-ttl=2');
    await c.ok(['node', 'create', 'name=k0']);
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const p = spawn(process.execPath, [MAIN, 'import', bundle, '--boot-config', `k${i}`, '--image', `kimg${i}`, '--store', c.url], {
        cwd: dir,
        stdio: 'ignore',
      });
      const done = new Promise<number | null>((res) => p.on('close', res));
      await sleep(150 + i * 120);
      p.kill('SIGKILL');
      outcomes.push(String(await done));
    }
    // Once their leases have expired, the next command that writes removes what they left.
    await sleep(3_000);
    await c.ok(['node', 'create', 'name=k1']);
    expect(await readdir(join(c.blobs, 'staging'))).toEqual([]);
    await expectClean(c);
    for (const b of json<{ name: string }[]>(await c.ok(['ls', '--json']))) {
      const out = join(dir, `${c.id}-${b.name}.bootport`);
      await c.ok(['-i', b.name, 'export', '-o', out]);
      await c.ok(['verify', out]);
    }
    // Some were killed before they committed: the test reached the window it is about.
    expect(outcomes.filter((o) => o === 'null').length).toBeGreaterThan(0);
  }, 120_000);
});

describe('store migrate', () => {
  it('copies a SQLite store into etcd and back, checks each copy, and is idempotent and resumable', async () => {
    const sqlite = join(dir, 'mig-src');
    await seedStore(dir, sqlite, files);
    await bp(['trust', 'require', 'on', '--store', sqlite], { cwd: dir });
    const c = fresh();
    const lsOf = async (store: string) =>
      Promise.all(
        [['ls'], ['image', 'ls'], ['node', 'ls'], ['trust', 'ls']].map(async (a) => (await bp([...a, '--json', '--store', store], { cwd: dir })).stdout),
      );
    const first = await bp(['store', 'migrate', '--from', sqlite, '--to', c.url, '--json'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(json<{ blobs: { copied: number }; rows: { nodes: { copied: number } } }>(first)).toMatchObject({
      blobs: { copied: 3 },
      rows: { nodes: { copied: 2 } },
    });
    expect(await lsOf(c.url)).toEqual(await lsOf(sqlite));
    // Again: nothing to copy. After losing a node in the target: that node only.
    const again = json<{ blobs: { copied: number; present: number } }>(await bp(['store', 'migrate', '--from', sqlite, '--to', c.url, '--json'], { cwd: dir }));
    expect(again.blobs).toMatchObject({ copied: 0, present: 3 });
    await c.ok(['node', '-i', 'n1', 'delete']);
    const resumed = json<{ rows: { nodes: { copied: number; present: number } } }>(
      await bp(['store', 'migrate', '--from', sqlite, '--to', c.url, '--json'], { cwd: dir }),
    );
    expect(resumed.rows.nodes).toEqual({ copied: 1, present: 1 });
    // And back into a new SQLite store: the same catalog again.
    const back = join(dir, 'mig-back');
    expect((await bp(['store', 'migrate', '--from', c.url, '--to', back], { cwd: dir })).code).toBe(0);
    expect(await lsOf(back)).toEqual(await lsOf(sqlite));
    await expectClean(c);
    // A target that holds something else under the same name is refused, and keeps what it has.
    const other = fresh();
    await other.ok(['node', 'create', 'name=n0']);
    const clash = await bp(['store', 'migrate', '--from', sqlite, '--to', other.url], { cwd: dir });
    expect(clash.code).toBe(3);
    expect(clash.stderr).toContain('ERR_CONFLICT');
  }, 180_000);
});
