/**
 * Regression tests for the store-integrity defects (issue 8), each run against the real CLI in a
 * child process, with real faults: SIGKILL and errors injected at syscalls by strace, a second
 * process, a PID namespace. Each was seen to fail on the build before its fix
 * (BOOTPORT_TEST_MAIN=<old dist>/cli/main.js npx vitest run test/store/integrity.test.ts).
 */
import { spawn } from 'node:child_process';
import { cp, readdir, readFile, rm, truncate, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { catalogState, checkStore } from './checker.js';
import { blobFiles, bp, MAIN, run, seedStore, tinyFiles, type TinyFiles } from './helpers.js';

let dir: string;
let files: TinyFiles;
/** A store with boot config `boot` (image `img`), nodes n0 (booting it) and n1; and its bundle. */
let seeded: string;
const BUNDLE = 'boot.export';

beforeAll(async () => {
  dir = await tempDir();
  files = await tinyFiles(join(dir, 'files'));
  seeded = join(dir, 'seeded');
  await seedStore(dir, seeded, files, BUNDLE);
});

let n = 0;
/** A fresh copy of a store, so each trial starts from the same state. */
async function copyOf(store: string): Promise<string> {
  const to = join(dir, `trial-${n++}`);
  await cp(store, to, { recursive: true });
  return to;
}

/** A store holding the bundle imported, with no node booting it. */
async function imported(): Promise<string> {
  const s = join(dir, `imported-${n++}`);
  const r = await bp(['import', BUNDLE, '--store', s], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return s;
}

const strace = (...inject: string[]) => ['strace', '-f', '-qq', '-o', '/dev/null', ...inject.flatMap((i) => ['-e', `inject=${i}`])];

describe('1. a crash during garbage collection', () => {
  it('never leaves a row whose file is gone, and a re-import then exports', async () => {
    const base = await imported();
    // Deleting `boot` collects its kernel and initramfs: kill the process at each unlink in turn.
    for (let when = 1; when <= 4; when++) {
      const s = await copyOf(base);
      await bp(['-i', 'boot', 'delete', '--store', s], { cwd: dir, wrap: strace(`unlink,unlinkat:signal=KILL:when=${when}`) });
      const v = await checkStore(s);
      expect(v.badBlobs, `kill at unlink ${when}`).toEqual([]);
      expect(v.danglingRefs).toEqual([]);
      const again = await bp(['import', BUNDLE, '--boot-config', 'again', '--store', s], { cwd: dir });
      expect(again.code, again.stderr).toBe(0);
      const out = await bp(['-i', 'again', 'export', '-o', join(s, '..', `again-${when}.export`), '--store', s], { cwd: dir });
      expect(out.code, out.stderr).toBe(0);
      expect((await checkStore(s)).orphans).toEqual([]);
    }
  });
});

describe('2. a store whose catalog is gone', () => {
  for (const damage of ['missing', 'zero-length'] as const) {
    it(`is refused, not recreated, when catalog.sqlite is ${damage}; no blob is touched`, async () => {
      const s = await copyOf(seeded);
      const blobs = await blobFiles(s);
      if (damage === 'missing') await rm(join(s, 'catalog.sqlite'));
      else await truncate(join(s, 'catalog.sqlite'), 0);
      for (const args of [['ls'], ['node', 'create', 'name=x'], ['import', BUNDLE, '--boot-config', 'b2']]) {
        const r = await bp([...args, '--store', s], { cwd: dir });
        expect(r.code, args.join(' ')).toBe(4);
        expect(r.stderr).toContain('ERR_STORE');
        expect(r.stderr).toMatch(/catalog .* is (missing|empty)/);
        expect(r.stderr).toContain('restore catalog.sqlite from a backup');
      }
      expect(await blobFiles(s)).toEqual(blobs);
      expect(existsSync(join(s, 'catalog.sqlite'))).toBe(damage === 'zero-length');
    });
  }

  it('--store on a directory that holds other things is refused before anything is created in it', async () => {
    const other = join(dir, 'not-a-store');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'mine\n');
    for (const args of [['node', 'create', 'name=x'], ['ls']]) {
      const r = await bp([...args, '--store', other], { cwd: dir });
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(`ERR_STORE: ${other} is not a bootport store`);
    }
    expect(await readdir(other)).toEqual(['notes.txt']);
  });

  it('--store /proc/self is refused at once', async () => {
    const r = await bp(['node', 'create', 'name=x', '--store', '/proc/self'], { cwd: dir, timeoutMs: 10_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('is not a bootport store');
  });
});

describe('3. a failed commit', () => {
  it('leaves no blob behind when a field is refused (a tab in cmdline), and stages nothing', async () => {
    const s = await copyOf(seeded);
    const before = await blobFiles(s);
    const r = await bp(['create', 'name=tab', `kernel=@${files.kernel2}`, `initramfs=@${files.initramfs}`, 'cmdline=a\tb', '--store', s], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_INVALID');
    expect(await blobFiles(s)).toEqual(before);
    expect((await checkStore(s)).staging).toEqual([]);
    const img = await bp(['image', 'create', 'name=bad\u0001', `content=@${files.image2}`, '--store', s], { cwd: dir });
    expect(img.code).toBe(3);
    expect(await blobFiles(s)).toEqual(before);
  });

  it('killed at any rename or fsync of the commit, leaves orphans that the next command removes; the retry succeeds', async () => {
    const empty = join(dir, `empty-${n++}`);
    expect((await bp(['node', 'create', 'name=x', '--store', empty], { cwd: dir })).code).toBe(0);
    const before = catalogState(empty);
    const done = await copyOf(empty);
    expect((await bp(['import', BUNDLE, '--store', done], { cwd: dir })).code).toBe(0);
    const afterState = catalogState(done);
    for (const [sys, count] of [
      ['rename', 4],
      ['fsync', 8],
    ] as const) {
      for (let when = 1; when <= count; when++) {
        const s = await copyOf(empty);
        await bp(['import', BUNDLE, '--store', s], { cwd: dir, wrap: strace(`${sys}:signal=KILL:when=${when}`) });
        const state = catalogState(s);
        const v = await checkStore(s);
        expect(v.badBlobs, `${sys} ${when}`).toEqual([]);
        // The next command that writes, whatever it is, removes what the kill stranded.
        expect((await bp(['node', 'create', 'name=next', '--store', s], { cwd: dir })).code).toBe(0);
        expect((await checkStore(s)).orphans, `${sys} ${when}: orphans after the next command`).toEqual([]);
        const retry = await bp(['import', BUNDLE, '--store', s], { cwd: dir });
        if (state === before) expect(retry.code, `${sys} ${when}: ${retry.stderr}`).toBe(0);
        else {
          expect(state, `${sys} ${when}: the catalog is neither as before nor as after`).toBe(afterState);
          expect(retry.stderr, `${sys} ${when}`).toContain('ERR_CONFLICT: boot config boot already exists');
        }
        const after = await checkStore(s);
        expect(after.orphans, `${sys} ${when}`).toEqual([]);
        expect(after.staging).toEqual([]);
      }
    }
  });
});

describe('3. blobs stranded by a kill on a nearly full file system', () => {
  it('never count as new space: after a kill at any fsync of the import, the retry fits', async () => {
    const bundle = join(dir, BUNDLE);
    const out = join(dir, `tmpfs-${n++}`);
    await mkdir(out);
    // Room for the store and one copy of the content, not two.
    const script = `
      set -u
      M=$(mktemp -d)
      mount -t tmpfs -o size=760k tmpfs "$M" || exit 90
      for when in 1 2 3 4 5 6 7 8; do
        rm -rf "$M/S"
        BOOTPORT_THREADS=1 ${process.execPath} ${MAIN} node create name=x --store "$M/S" >/dev/null || exit 91
        strace -f -qq -o /dev/null -e inject=fsync:signal=KILL:when=$when ${process.execPath} ${MAIN} import ${bundle} --store "$M/S" >/dev/null 2>&1
        ${process.execPath} ${MAIN} node create name=next --store "$M/S" >/dev/null 2>&1
        BOOTPORT_THREADS=1 ${process.execPath} ${MAIN} import ${bundle} --store "$M/S" > "${out}/retry-$when.out" 2>&1
        echo "$when $?" >> "${out}/codes"
      done
      umount "$M"
    `;
    const r = await run(['unshare', '-m', 'bash', '-c', script], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const codes = (await readFile(join(out, 'codes'), 'utf8')).trim().split('\n');
    for (const line of codes) {
      const [when, code] = line.split(' ');
      const said = await readFile(join(out, `retry-${when}.out`), 'utf8');
      // Either the kill came after the commit (the retry is a conflict), or the retry imported.
      if (code !== '0') expect(said, `kill at fsync ${when}`).toContain('ERR_CONFLICT: boot config boot already exists');
      else expect(said).toContain('imported');
    }
    expect(codes.some((l) => l.endsWith(' 0'))).toBe(true);
  });
});

describe('4. a conflict that appears while an import streams', () => {
  it('is ERR_CONFLICT (exit 3), leaves no orphan, and the import then succeeds', async () => {
    // The store holds `img` with the bundle's image content and no boot config using it: the
    // import plans to reuse it and does not stage the image. Then it is deleted mid-stream.
    const s = join(dir, `conflict-${n++}`);
    expect((await bp(['image', 'create', 'name=img', `content=@${files.image}`, '--store', s], { cwd: dir })).code).toBe(0);
    const bundle = await readFile(join(dir, BUNDLE));
    const child = spawn(process.execPath, [MAIN, 'import', '-', '--store', s], { cwd: dir, env: { ...process.env, BOOTPORT_THREADS: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<number | null>((r) => child.on('close', r));
    child.stdin.write(bundle.subarray(0, 20_000));
    await waitFor(async () => (await stagedAreaFiles(s)).length > 0);
    const del = await bp(['image', '-i', 'img', 'delete', '--store', s], { cwd: dir });
    expect(del.code, del.stderr).toBe(0);
    child.stdin.end(bundle.subarray(20_000));
    expect(await done).toBe(3);
    expect(stderr).toContain('ERR_CONFLICT');
    expect(stderr).toContain('was removed from the store while this import ran');
    const v = await checkStore(s);
    expect(v.orphans).toEqual([]);
    expect(v.badBlobs).toEqual([]);
    const again = await bp(['import', BUNDLE, '--store', s], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
  });
});

describe('5. staging of a process in another PID namespace', () => {
  it('is not taken for dead: its lock, not its PID, proves it alive', async () => {
    const s = join(dir, `pidns-${n++}`);
    expect((await bp(['node', 'create', 'name=x', '--store', s], { cwd: dir })).code).toBe(0);
    // Inside the namespace the import gets a PID that no process has out here, so kill(pid, 0)
    // says it is dead.
    let pid = 77_777;
    while (existsSync(`/proc/${pid}`)) pid += 101;
    // Not exec'd: the shell stays PID 1 of the namespace and the import is its child, `pid`.
    const script = `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid; ${process.execPath} ${MAIN} import - --store ${s}; exit $?`;
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '-c', script], { cwd: dir, env: { ...process.env, BOOTPORT_THREADS: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<number | null>((r) => child.on('close', r));
    const bundle = await readFile(join(dir, BUNDLE));
    child.stdin.write(bundle.subarray(0, 40_000));
    await waitFor(async () => (await stagedAreaFiles(s)).length > 0);
    // A command that writes sweeps staging left by dead processes.
    expect((await bp(['node', 'create', 'name=y', '--store', s], { cwd: dir })).code).toBe(0);
    expect((await stagedAreaFiles(s)).length).toBeGreaterThan(0);
    child.stdin.end(bundle.subarray(40_000));
    expect(await done, stderr).toBe(0);
    expect(JSON.parse((await bp(['ls', '--json', '--store', s], { cwd: dir })).stdout).map((b: { name: string }) => b.name)).toEqual(['boot']);
  });
});

describe('9. a command on several objects', () => {
  it('-a delete with one in use deletes nothing and names every object that blocks it', async () => {
    const s = await copyOf(seeded);
    for (const name of ['b1', 'b2', 'frosty']) {
      expect((await bp(['-i', 'boot', 'clone', `name=${name}`, '--store', s], { cwd: dir })).code).toBe(0);
    }
    expect((await bp(['-i', 'frosty', 'update', 'frozen=true', '--store', s], { cwd: dir })).code).toBe(0);
    const before = catalogState(s);
    const r = await bp(['-a', 'delete', '--store', s], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_IN_USE');
    expect(r.stderr).toContain('boot config boot is set on 1 node(s): n0');
    expect(r.stderr).toContain('boot config frosty is frozen');
    expect(catalogState(s)).toBe(before);
    // image delete likewise: `img` is in use, `spare` is not, and neither goes.
    expect((await bp(['image', '-i', 'img', 'clone', 'name=spare', '--store', s], { cwd: dir })).code).toBe(0);
    const before2 = catalogState(s);
    const ri = await bp(['image', '-i', 'img,spare', 'delete', '--store', s], { cwd: dir });
    expect(ri.code).toBe(3);
    expect(ri.stderr).toContain('image img is used by boot config(s)');
    expect(catalogState(s)).toBe(before2);
  });
});

/** Entry files an import has staged (named by their entry index), wherever staging keeps them. */
async function stagedAreaFiles(store: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory() && depth < 3) await walk(join(d, e.name), depth + 1);
      else if (e.isFile() && /^\d+$/.test(e.name)) found.push(join(d, e.name));
    }
  };
  await walk(join(store, 'staging'), 0);
  return found;
}

async function waitFor(cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
