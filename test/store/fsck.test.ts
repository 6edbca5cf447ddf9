/**
 * bootport fsck: each kind of damage is made for real on a store (a flipped byte, a lost file, a
 * stray file, a broken index, a dead process's staging), then found, and repaired where that is
 * safe. Exit codes: 0 consistent, 1 problems, 4 could not run.
 */
import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { checkStore } from './checker.js';
import { bp, MAIN, run, seedStore, tinyFiles } from './helpers.js';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
let dir: string;
let seeded: string;
const BUNDLE = 'boot.export';
let n = 0;

beforeAll(async () => {
  dir = await tempDir();
  seeded = join(dir, 'seeded');
  await seedStore(dir, seeded, await tinyFiles(join(dir, 'files')), BUNDLE);
});

async function copyOf(): Promise<string> {
  const to = join(dir, `s-${n++}`);
  await cp(seeded, to, { recursive: true });
  return to;
}

interface Report {
  ok: boolean;
  findings: { kind: string; subject: string; message: string; needed_by?: string[]; repaired?: boolean; repair?: string }[];
  blobs: number;
  hashed: boolean;
  quarantine: string[];
  notes: { kind: string; subject: string; message: string; repaired?: boolean }[];
}

async function fsck(store: string, ...flags: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const r = await bp(['fsck', '--json', ...flags, '--store', store], { cwd: dir });
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

/** The digest of the blob that holds a boot config's `role`. */
async function digestOf(store: string, role: 'kernel' | 'initramfs' | 'image'): Promise<string> {
  const v = JSON.parse((await bp(['-i', 'boot', 'ls', '--json', '--store', store], { cwd: dir })).stdout)[0];
  return (role === 'image' ? v.image.digest : v[role].digest) as string;
}
const blobPath = (store: string, digest: string) => join(store, 'blobs', 'blake3', digest.slice(7));

describe('fsck', () => {
  it('passes a healthy store, hashing every blob', async () => {
    const { code, report } = await fsck(seeded);
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, findings: [], blobs: 3, hashed: true });
  });

  it('finds a flipped byte, quarantines the blob on --repair, names who needs it; a re-import heals it', async () => {
    const s = await copyOf();
    const d = await digestOf(s, 'image');
    await chmod(blobPath(s, d), 0o600);
    const fh = await open(blobPath(s, d), 'r+');
    await fh.write(Buffer.from([0x5a]), 0, 1, 1000);
    await fh.close();
    await chmod(blobPath(s, d), 0o400);
    // --quick checks sizes only: the same size passes.
    expect((await fsck(s, '--quick')).code).toBe(0);
    const found = await fsck(s);
    expect(found.code).toBe(1);
    expect(found.report.findings).toEqual([expect.objectContaining({ kind: 'digest', subject: d, needed_by: ['image img'] })]);
    const repaired = await fsck(s, '--repair');
    expect(repaired.code).toBe(1);
    expect(repaired.report.findings[0]).toMatchObject({ kind: 'digest', repaired: false, repair: expect.stringContaining('moved to quarantine/') });
    expect(repaired.report.findings[1]).toMatchObject({ kind: 'missing', subject: d, needed_by: ['image img'] });
    expect(repaired.report.quarantine).toHaveLength(1);
    // The row stays; the data is kept aside, never deleted.
    const q = await readdir(join(s, 'quarantine'));
    expect((await readFile(join(s, 'quarantine', q[0]!))).length).toBe(300_000);
    const ex = await bp(['-i', 'boot', 'export', '-o', join(dir, `x-${n++}.export`), '--store', s], { cwd: dir });
    expect(ex.code).toBe(4);
    expect(ex.stderr).toContain('is missing from the store');
    // A bundle that holds the blob stores it again.
    const heal = await bp(['import', BUNDLE, '--boot-config', 'healer', '--json', '--store', s], { cwd: dir });
    expect(heal.code, heal.stderr).toBe(0);
    // The plan stored the image again: its row was there, its file was not.
    expect(JSON.parse(heal.stdout).entries.find((e: { role: string }) => e.role === 'image')).toMatchObject({ action: 'store' });
    expect((await fsck(s)).code).toBe(0);
    expect((await checkStore(s)).badBlobs).toEqual([]);
  });

  it('finds a truncated and a missing blob, which --repair cannot fix', async () => {
    const s = await copyOf();
    const k = await digestOf(s, 'kernel');
    const i = await digestOf(s, 'initramfs');
    await rm(blobPath(s, k));
    await chmod(blobPath(s, i), 0o600);
    const fh = await open(blobPath(s, i), 'r+');
    await fh.truncate(100);
    await fh.close();
    await chmod(blobPath(s, i), 0o400);
    const quick = await fsck(s, '--quick');
    expect(quick.code).toBe(1);
    expect(quick.report.findings.map((f) => [f.kind, f.subject]).sort()).toEqual(
      [
        ['missing', k],
        ['size', i],
      ].sort(),
    );
    expect(quick.report.findings.find((f) => f.kind === 'missing')!.needed_by).toEqual(['boot config boot']);
    const r = await fsck(s, '--repair');
    expect(r.code).toBe(1);
    expect(r.report.findings.find((f) => f.subject === k && f.kind === 'missing')).toMatchObject({
      repaired: false,
      repair: expect.stringContaining('cannot be repaired here'),
    });
  });

  it('removes an orphan, a stray in blobs/, dead staging and a layout temporary; fixes modes', async () => {
    const s = await copyOf();
    await writeFile(join(s, 'blobs', 'blake3', 'a'.repeat(64)), 'orphan');
    await writeFile(join(s, 'blobs', 'blake3', 'notes.txt'), 'stray');
    await writeFile(join(s, 'bootport-store.json.12345.abcd'), '{}');
    const old = new Date(Date.now() - 3600_000);
    const { utimes } = await import('node:fs/promises');
    await utimes(join(s, 'bootport-store.json.12345.abcd'), old, old);
    // A dead process's staging: owner.json written, its lock free.
    const dead = join(s, 'staging', 'deadbeefdeadbeef');
    await mkdir(dead);
    new Sqlite(join(dead, 'lock')).close();
    await writeFile(
      join(dead, 'owner.json'),
      JSON.stringify({ pid: 1, host: 'elsewhere', command: 'bootport import', started: old.toISOString(), locked: true }),
    );
    await writeFile(join(dead, 'file-0'), 'half staged');
    await chmod(s, 0o755);
    const found = await fsck(s);
    expect(found.code).toBe(1);
    expect(found.report.findings.map((f) => f.kind).sort()).toEqual(['mode', 'orphan', 'staging', 'stray', 'temp']);
    const r = await fsck(s, '--repair');
    expect(r.code, JSON.stringify(r.report.findings)).toBe(0);
    expect(r.report.findings.every((f) => f.repaired)).toBe(true);
    expect(await readdir(join(s, 'blobs', 'blake3'))).toHaveLength(3);
    expect(await readdir(join(s, 'staging'))).toEqual([]);
    expect(await readdir(join(s, 'quarantine'))).toEqual([expect.stringMatching(/^notes\.txt\./)]);
    expect((await fsck(s)).code).toBe(0);
  });

  it('leaves a live process’s staging alone', async () => {
    const s = await copyOf();
    const child = spawn(process.execPath, [MAIN, 'import', '-', '--boot-config', 'live', '--store', s], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.on('error', () => {});
    child.stdin.write(Buffer.alloc(8));
    const done = new Promise((r) => child.on('close', r));
    for (let i = 0; i < 100 && (await readdir(join(s, 'staging'))).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    const r = await fsck(s, '--repair');
    expect(r.code).toBe(0);
    expect(await readdir(join(s, 'staging'))).toHaveLength(1);
    child.kill('SIGKILL');
    await done;
  });

  it('reports an unreferenced blob row and a broken reference; removes only the first', async () => {
    const s = await copyOf();
    await writeFile(join(s, 'blobs', 'blake3', 'b'.repeat(64)), 'x', { mode: 0o400 });
    const db = new Sqlite(join(s, 'catalog.sqlite'));
    db.prepare('INSERT INTO blobs (digest, size) VALUES (?, 1)').run(`blake3:${'b'.repeat(64)}`);
    db.pragma('foreign_keys = OFF');
    db.prepare("UPDATE boot_configs SET image = 'f00' WHERE name = 'boot'").run();
    db.close();
    const found = await fsck(s, '--quick');
    expect(found.report.findings.map((f) => f.kind).sort()).toEqual(['reference', 'unreferenced']);
    // A blob put there by hand has no chunk index either: a note, which is not a problem.
    expect(found.report.notes.map((f) => [f.kind, f.subject])).toEqual([['index', `blake3:${'b'.repeat(64)}`]]);
    expect(found.report.findings.find((f) => f.kind === 'reference')!.message).toBe('boot config boot: its image f00 does not exist');
    const r = await fsck(s, '--repair', '--quick');
    expect(r.code).toBe(1);
    expect(r.report.findings.find((f) => f.kind === 'unreferenced')).toMatchObject({ repaired: true });
    expect(r.report.findings.find((f) => f.kind === 'reference')).toMatchObject({ repaired: false });
    expect(await readdir(join(s, 'blobs', 'blake3'))).not.toContain('b'.repeat(64));
  });

  it('notes chunk indexes missing, damaged or left over, which are not problems, and --repair computes or removes them', async () => {
    const s = await copyOf();
    const index = join(s, 'index', 'blake3');
    const [first, second] = (await readdir(index)).sort();
    await rm(join(index, first!));
    await chmod(join(index, second!), 0o600);
    const bytes = await readFile(join(index, second!));
    bytes[100] = bytes[100]! ^ 1;
    await writeFile(join(index, second!), bytes);
    await writeFile(join(index, 'c'.repeat(64)), 'left over');
    const found = await fsck(s);
    expect(found.code).toBe(0);
    expect(found.report.findings).toEqual([]);
    expect(found.report.notes.map((n) => n.message.replace(/[0-9a-f]{64}/g, 'D'))).toEqual([
      'blob blake3:D has no chunk index',
      'the chunk index of blob blake3:D is damaged: the chunk index of blake3:D: its check digest does not match: the file is damaged',
      'index/blake3/D is the chunk index of no blob in the catalog',
    ]);
    const text = await bp(['fsck', '--store', s], { cwd: dir });
    expect(text.stdout).toContain('NOTE     index: blob blake3:');
    const r = await fsck(s, '--repair');
    expect(r.report.notes.every((n) => n.repaired)).toBe(true);
    expect((await fsck(s)).report.notes).toEqual([]);
    expect(await readdir(index)).toEqual(expect.arrayContaining([first, second]));
    expect(await readdir(index)).not.toContain('c'.repeat(64));
  });

  it('reports SQLite integrity errors', async () => {
    const s = await copyOf();
    // Two unique indexes made to share one b-tree: the file still opens, and the check fails.
    // (better-sqlite3 opens in defensive mode, so the sqlite3 shell does the damage.)
    const sql =
      "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET rootpage = (SELECT rootpage FROM sqlite_schema WHERE name = 'sqlite_autoindex_images_2') WHERE name = 'sqlite_autoindex_boot_configs_2';";
    expect((await run(['sqlite3', join(s, 'catalog.sqlite'), sql], { cwd: dir })).code).toBe(0);
    const r = await fsck(s, '--quick');
    expect(r.code).toBe(1);
    expect(r.report.findings.filter((f) => f.kind === 'catalog').length).toBeGreaterThan(0);
    expect(r.report.findings.find((f) => f.kind === 'catalog')!.message).toMatch(/^SQLite integrity check: /);
    const rep = await fsck(s, '--quick', '--repair');
    expect(rep.code).toBe(1);
    expect(rep.report.findings.find((f) => f.kind === 'catalog')).toMatchObject({
      repaired: false,
      repair: expect.stringContaining('restore catalog.sqlite from a backup'),
    });
  });

  it('exits 4 when it cannot run: a lost catalog', async () => {
    const s = await copyOf();
    await rm(join(s, 'catalog.sqlite'));
    const r = await bp(['fsck', '--store', s], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ERR_STORE');
  });

  it('shows progress on stderr', async () => {
    const r = await run([process.execPath, MAIN, 'fsck', '--progress', '--store', seeded], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/fsck: hashed .* of .*  100%/);
  });
});
