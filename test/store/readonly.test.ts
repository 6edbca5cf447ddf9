/**
 * Defect 6 (issue 8): commands that only read must open the catalog read-only and write nothing,
 * so that they work on read-only media, for a user who may read the store but not write it, on a
 * full disk, and while another process holds the write lock. Every lock wait is bounded and ends
 * at once on Ctrl-C. Each case runs the real CLI against a real condition: a read-only bind
 * mount, an unprivileged user, a full tmpfs, a second process holding a write transaction.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmod, cp, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { bp, MAIN, run, seedStore, tinyFiles } from './helpers.js';

let dir: string;
let seeded: string;
let n = 0;

beforeAll(async () => {
  dir = await tempDir();
  seeded = join(dir, 'seeded');
  await seedStore(dir, seeded, await tinyFiles(join(dir, 'files')));
});

async function copyOf(): Promise<string> {
  const to = join(dir, `s-${n++}`);
  await cp(seeded, to, { recursive: true });
  return to;
}

/** Every path under `root` with its size and mtime: anything written shows here. */
async function tree(root: string): Promise<string> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      const st = await stat(p);
      out.push(`${p.slice(root.length)} ${e.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out.join('\n');
}

const READS = [['ls', '-l'], ['image', 'ls', '-l'], ['node', 'ls', '-l'], ['fsck']];

describe('read-only commands', () => {
  it('work on a read-only mount and change nothing', async () => {
    const s = await copyOf();
    const before = await tree(s);
    const out = join(dir, `ro-out-${n++}`);
    const cmds = [...READS, ['-i', 'boot', 'export', '-o', `${out}.export`]]
      .map((a) => `${process.execPath} ${MAIN} ${a.map((x) => `'${x}'`).join(' ')} --store ${s} >/dev/null 2>>${out}.err; echo $? >> ${out}.codes`)
      .join('\n');
    const r = await run(['unshare', '-m', 'bash', '-c', `mount --bind ${s} ${s} && mount -o remount,ro,bind ${s} || exit 90\n${cmds}\n`], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(`${out}.codes`, 'utf8')).trim().split('\n'), await readFile(`${out}.err`, 'utf8')).toEqual(['0', '0', '0', '0', '0']);
    expect(await tree(s)).toBe(before);
    // The export is a whole, verifiable bundle.
    expect((await bp(['verify', `${out}.export`], { cwd: dir })).code).toBe(0);
  });

  it('work for a user who may read the store but not write it', async () => {
    const s = await copyOf();
    // The admin opened the store to others for reading (it is created private).
    spawnSync('chmod', ['-R', 'go+rX', s]);
    for (let p = s; p !== '/'; p = join(p, '..')) await chmod(p, (await stat(p)).mode | 0o005);
    const before = await tree(s);
    const nobody = (args: string[]) =>
      run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, MAIN, ...args, '--store', s], { cwd: '/' });
    for (const args of [...READS.filter((a) => a[0] !== 'fsck'), ['-i', 'boot', 'export', '-o', '-']]) {
      const r = await nobody(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    // fsck reads it all too, and says what the admin did: the store is no longer private.
    const f = await nobody(['fsck', '--json']);
    expect(f.code, f.stderr).toBe(1);
    const kinds = new Set((JSON.parse(f.stdout) as { findings: { kind: string }[] }).findings.map((x) => x.kind));
    expect([...kinds]).toEqual(['mode']);
    expect(await tree(s)).toBe(before);
    const w = await run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, MAIN, 'node', 'create', 'name=x', '--store', s], {
      cwd: '/',
    });
    expect(w.code).toBe(4);
    expect(w.stderr).toMatch(/ERR_(IO|STORE)/);
    expect(await tree(s)).toBe(before);
  });

  it('work on a full disk, where a write fails with ERR_NO_SPACE and leaves the store whole', async () => {
    const out = join(dir, `full-${n++}`);
    const script = `
      M=$(mktemp -d); mount -t tmpfs -o size=2m tmpfs "$M" || exit 90
      cp -a ${seeded} "$M/S"
      dd if=/dev/zero of="$M/fill" bs=4k 2>/dev/null
      for a in 'ls -l' 'image ls' 'node ls' 'fsck --quick' '-i boot export -o ${out}.export'; do
        ${process.execPath} ${MAIN} $a --store "$M/S" >/dev/null 2>>${out}.err; echo $? >> ${out}.codes
      done
      ${process.execPath} ${MAIN} -i boot clone name=more --store "$M/S" >/dev/null 2>${out}.write; echo $? >> ${out}.codes
      rm "$M/fill"
      ${process.execPath} ${MAIN} fsck --store "$M/S" > ${out}.fsck 2>&1; echo $? >> ${out}.codes
    `;
    const r = await run(['unshare', '-m', 'bash', '-c', script], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const { readFile } = await import('node:fs/promises');
    const codes = (await readFile(`${out}.codes`, 'utf8')).trim().split('\n');
    expect(codes.slice(0, 5), await readFile(`${out}.err`, 'utf8')).toEqual(['0', '0', '0', '0', '0']);
    // The write failed for space, with its code, and fsck finds the store whole.
    expect(codes[5]).toBe('4');
    expect(await readFile(`${out}.write`, 'utf8')).toContain('ERR_NO_SPACE');
    expect(codes[6], await readFile(`${out}.fsck`, 'utf8')).toBe('0');
  });
});

describe('a process holding the write lock', () => {
  const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;

  /** Another program (not bootport) in the middle of a write transaction on the catalog. */
  function holdWriteLock(store: string): () => void {
    const db = new Sqlite(join(store, 'catalog.sqlite'));
    db.exec('BEGIN IMMEDIATE');
    db.prepare("UPDATE nodes SET mac = mac WHERE name = 'n0'").run();
    return () => {
      db.exec('ROLLBACK');
      db.close();
    };
  }

  it('does not block readers', async () => {
    const s = await copyOf();
    const release = holdWriteLock(s);
    try {
      for (const args of READS) {
        const r = await bp([...args, '--store', s], { cwd: dir, timeoutMs: 10_000 });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.ms).toBeLessThan(5_000);
      }
    } finally {
      release();
    }
  });

  it('makes a writer wait a bounded time, then fail with ERR_STORE_LOCKED saying who is there', async () => {
    const s = await copyOf();
    const release = holdWriteLock(s);
    try {
      const r = await bp(['node', 'create', 'name=x', '--store', s], { cwd: dir, env: { BOOTPORT_LOCK_TIMEOUT: '1' }, timeoutMs: 20_000 });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('ERR_STORE_LOCKED');
      expect(r.stderr).toContain('no bootport process is using it');
      expect(r.ms).toBeLessThan(8_000);
      // With a bootport import streaming into the store, the message names it.
      const bundle = join(dir, `lock-${n++}.export`);
      expect((await bp(['-i', 'boot', 'export', '-o', bundle, '--store', seeded], { cwd: dir })).code).toBe(0);
      const importer = spawn(process.execPath, [MAIN, 'import', '-', '--boot-config', 'other', '--store', s], { stdio: ['pipe', 'ignore', 'ignore'] });
      importer.stdin.on('error', () => {});
      importer.stdin.write(Buffer.alloc(10));
      await new Promise((res) => setTimeout(res, 1500));
      const r2 = await bp(['node', 'create', 'name=x', '--store', s], { cwd: dir, env: { BOOTPORT_LOCK_TIMEOUT: '1' } });
      importer.kill('SIGKILL');
      expect(r2.code).toBe(3);
      expect(r2.stderr).toMatch(/bootport processes using it: bootport import - --boot-config other --store \S+ \(pid \d+ on /);
    } finally {
      release();
    }
  });

  it('ends a wait at once on Ctrl-C', async () => {
    const s = await copyOf();
    const release = holdWriteLock(s);
    try {
      const child = spawn(process.execPath, [MAIN, 'node', 'create', 'name=x', '--store', s], {
        env: { ...process.env, BOOTPORT_LOCK_TIMEOUT: '60' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const done = new Promise<number | null>((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, 1000));
      const t0 = Date.now();
      child.kill('SIGINT');
      expect(await done).toBe(130);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(err).toContain('interrupted by SIGINT');
      expect(await readdir(join(s, 'staging'))).toEqual([]);
    } finally {
      release();
    }
  });
});
