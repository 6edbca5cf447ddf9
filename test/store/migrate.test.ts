/**
 * The schema and layout upgrade, on a store that bootport 8235a44 really wrote
 * (fixtures/stores/layout1, made by spec/make-layout1-store.sh); a node's boot config as a real
 * foreign key; and the store's privacy whatever the umask.
 */
import { cp, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { catalogState, checkStore } from './checker.js';
import { bp, MAIN, run, seedStore, tinyFiles } from './helpers.js';

const FIXTURE = join(import.meta.dirname, '../../fixtures/stores/layout1');
const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});

async function fixtureCopy(name: string): Promise<string> {
  const s = join(dir, name);
  await cp(FIXTURE, s, { recursive: true });
  return s;
}

const json = async (args: string[], store: string) => {
  const r = await bp([...args, '--json', '--store', store], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};
const bootOf = (nodes: { name: string; attributes: Record<string, string> }[]) =>
  Object.fromEntries(nodes.map((n) => [n.name, n.attributes._boot_config ?? null]));

describe('a layout-1 store made by 8235a44', () => {
  it('is read as it is by read-only commands, which change nothing', async () => {
    const s = await fixtureCopy('read');
    const before = await readFile(join(s, 'catalog.sqlite'));
    const bcs = await json(['ls', '-l'], s);
    expect(bcs.map((b: { name: string; release: string; image: { name: string } | null }) => [b.name, b.release, b.image?.name ?? null])).toEqual([
      ['boot1', '6.1.0-13-amd64', 'img1'],
      ['boot2', '6.1.0-13-amd64', null],
      ['boot3', '6.1.0-13-amd64', 'img1'],
    ]);
    expect(bootOf(await json(['node', 'ls'], s))).toEqual({ n0: 'boot1', n1: 'boot1', n2: 'boot3', n3: null, n9: null });
    expect(JSON.parse(await readFile(join(s, 'bootport-store.json'), 'utf8')).layout).toBe(1);
    expect(await readFile(join(s, 'catalog.sqlite'))).toEqual(before);
    // fsck says it is old, and changes nothing either.
    const f = await bp(['fsck', '--json', '--store', s], { cwd: dir });
    expect(f.code).toBe(1);
    const kinds = new Set((JSON.parse(f.stdout) as { findings: { kind: string }[] }).findings.map((x) => x.kind));
    expect(kinds.has('layout') && kinds.has('schema')).toBe(true);
    expect(await readFile(join(s, 'catalog.sqlite'))).toEqual(before);
  });

  it('is upgraded by the first command that writes: schema 3, layout 2, private, nothing lost', async () => {
    const s = await fixtureCopy('upgrade');
    const stateBefore = catalogState(s);
    const nodesBefore = bootOf(await json(['node', 'ls'], s));
    expect((await bp(['node', 'create', 'name=n10', '--store', s], { cwd: dir })).code).toBe(0);
    expect(JSON.parse(await readFile(join(s, 'bootport-store.json'), 'utf8')).layout).toBe(2);
    const db = new Sqlite(join(s, 'catalog.sqlite'), { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(3);
      // Schema 3: the trust tables, empty, so the upgraded store trusts nothing and requires nothing.
      expect(db.prepare('SELECT count(*) AS c FROM trusted_keys').get()).toEqual({ c: 0 });
      expect(db.prepare('SELECT count(*) AS c FROM settings').get()).toEqual({ c: 0 });
      expect((db.pragma('foreign_key_list(nodes)') as { table: string; from: string }[]).map((f) => [f.from, f.table])).toEqual([
        ['boot_config', 'boot_configs'],
      ]);
      expect(db.prepare("SELECT count(*) AS c FROM nodes WHERE json_extract(attributes, '$._boot_config') IS NOT NULL").get()).toEqual({ c: 0 });
      expect(db.pragma('foreign_key_check')).toEqual([]);
    } finally {
      db.close();
    }
    // The same objects, the new node aside.
    const after = JSON.parse(catalogState(s));
    after.nodes = after.nodes.filter((x: { name: string }) => x.name !== 'n10');
    expect(JSON.stringify(after)).toBe(stateBefore);
    expect(bootOf(await json(['node', 'ls'], s))).toEqual({ ...nodesBefore, n10: null });
    expect(await checkStore(s)).toEqual({ badBlobs: [], danglingRefs: [], orphans: [], staging: [] });
    // Blobs stored before chunk indexes have none: fsck notes each, and --repair computes them.
    const notes = async () => (JSON.parse((await bp(['fsck', '--json', '--store', s], { cwd: dir })).stdout) as { notes: { kind: string }[] }).notes;
    const f = await bp(['fsck', '--store', s], { cwd: dir });
    expect(f.code, f.stdout).toBe(0);
    expect((await notes()).map((x) => x.kind)).toEqual(Array(4).fill('index'));
    expect((await bp(['fsck', '--repair', '--store', s], { cwd: dir })).code).toBe(0);
    expect(await notes()).toEqual([]);
    expect(((await stat(s)).mode & 0o777).toString(8)).toBe('700');
    for (const b of await readdir(join(s, 'blobs', 'blake3'))) expect(((await stat(join(s, 'blobs', 'blake3', b))).mode & 0o777).toString(8)).toBe('400');
  });

  it('is upgraded by fsck --repair, which reports it', async () => {
    const s = await fixtureCopy('repair');
    const r = await bp(['fsck', '--repair', '--json', '--store', s], { cwd: dir });
    expect(r.code, r.stdout).toBe(0);
    const findings = (JSON.parse(r.stdout) as { findings: { kind: string; repaired: boolean }[] }).findings;
    expect(findings.filter((f) => f.kind === 'layout' || f.kind === 'schema')).toEqual([
      expect.objectContaining({ kind: 'layout', repaired: true }),
      expect.objectContaining({ kind: 'schema', repaired: true }),
    ]);
    expect(findings.every((f) => f.repaired)).toBe(true);
  });
});

describe("a node's boot config is a foreign key", () => {
  let s: string;
  beforeAll(async () => {
    s = join(dir, 'fk');
    await seedStore(dir, s, await tinyFiles(join(dir, 'files')));
    expect((await bp(['node', '-i', 'n1', 'set', '_boot_config=boot', '--store', s], { cwd: dir })).code).toBe(0);
  });

  it('follows a rename, blocks a delete, and is cleared by clear', async () => {
    expect((await bp(['-i', 'boot', 'update', 'name=renamed', '--store', s], { cwd: dir })).code).toBe(0);
    expect(bootOf(await json(['node', 'ls'], s))).toEqual({ n0: 'renamed', n1: 'renamed' });
    const del = await bp(['-i', 'renamed', 'delete', '--store', s], { cwd: dir });
    expect(del.code).toBe(3);
    expect(del.stderr).toContain('boot config renamed is set on 2 node(s): n0, n1');
    expect((await bp(['node', '-a', 'clear', '_boot_config', '--store', s], { cwd: dir })).code).toBe(0);
    expect((await bp(['-i', 'renamed', 'delete', '--store', s], { cwd: dir })).code).toBe(0);
  });

  it('is enforced by SQLite itself, not only by bootport', async () => {
    const fresh = join(dir, 'fk2');
    await seedStore(dir, fresh, await tinyFiles(join(dir, 'files2')));
    const db = new Sqlite(join(fresh, 'catalog.sqlite'));
    try {
      db.pragma('foreign_keys = ON');
      expect(() => db.prepare("DELETE FROM boot_configs WHERE name = 'boot'").run()).toThrow(/FOREIGN KEY/);
    } finally {
      db.close();
    }
  });
});

describe('the store is private whatever the umask', () => {
  it('directories 0700, files 0600, blobs 0400, also the catalog WAL', async () => {
    const s = join(dir, 'private');
    const f = await tinyFiles(join(dir, 'files3'));
    const r = await run(
      [
        'bash',
        '-c',
        `umask 000; ${process.execPath} ${MAIN} image create name=i content=@${f.image} --store ${s} && ${process.execPath} ${MAIN} create name=b kernel=@${f.kernel} initramfs=@${f.initramfs} image=i --store ${s}`,
      ],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const modes: Record<string, string> = {};
    const walk = async (p: string, rel: string) => {
      const st = await stat(p);
      modes[rel || '.'] = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e), rel ? `${rel}/${e}` : e);
    };
    // While a connection is open, SQLite's -wal and -shm exist: they take the catalog's mode.
    const db = new Sqlite(join(s, 'catalog.sqlite'), { readonly: true });
    try {
      db.prepare('SELECT count(*) FROM nodes').get();
      await walk(s, '');
    } finally {
      db.close();
    }
    for (const [p, m] of Object.entries(modes)) {
      const want =
        p.startsWith('blobs/blake3/') || p.startsWith('index/blake3/')
          ? '400'
          : ['.', 'blobs', 'blobs/blake3', 'staging', 'quarantine', 'index', 'index/blake3'].includes(p)
            ? '700'
            : '600';
      expect(`${p} ${m}`).toBe(`${p} ${want}`);
    }
    expect(Object.keys(modes)).toEqual(expect.arrayContaining(['catalog.sqlite-wal', 'catalog.sqlite-shm', 'bootport-store.json']));
  });
});
