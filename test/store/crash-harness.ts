/**
 * The crash harness (issue 8): every mutating command is run under strace, killed with SIGKILL
 * at the N-th call of each mutating syscall, or failed there with ENOSPC or EIO, for every N up
 * to that command's count. After each trial an independent checker (checker.ts: SQL and BLAKE3,
 * not bootport's fsck) asserts that
 *   - the catalog equals the before or the after state;
 *   - every blob row has a file whose BLAKE3 matches, and every reference resolves;
 *   - the command, re-run if the catalog is as before, succeeds (and the catalog is then as after);
 *   - after that next command no orphan blob and no staging remain;
 *   - bootport fsck agrees that the store is consistent.
 * A trial whose process ended with an uncaught exception fails: a crash must come from the
 * injected kill, never from bootport.
 */
import { cp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { createBLAKE3 } from 'hash-wasm';
import { catalogState, checkStore } from './checker.js';
import { bp, seedStore, tinyFiles, type Run, type TinyFiles } from './helpers.js';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;

/** The mutating syscalls, as strace names them on Linux, in classes that share one counter. */
export const SYSCALLS: Record<string, string> = {
  write: 'write',
  pwrite64: 'pwrite64',
  fsync: 'fsync',
  fdatasync: 'fdatasync',
  rename: 'rename,renameat,renameat2',
  unlink: 'unlink,unlinkat',
  ftruncate: 'ftruncate',
};
/** Where errors are injected: every write and every fsync. */
export const FAULT_SYSCALLS = ['write', 'pwrite64', 'fsync', 'fdatasync'];

export type Fault = 'KILL' | 'ENOSPC' | 'EIO';

export interface Point {
  scenario: string;
  sys: string;
  when: number;
  fault: Fault;
}

export interface Scenario {
  name: string;
  /** The store before the command (never changed: each trial works on a copy). */
  template: string;
  args: (store: string) => string[];
  before: string;
  after: string;
  /** Calls of each syscall class, the most any one thread made (strace counts per thread). */
  counts: Record<string, number>;
}

/** Injection is counted per thread: one libuv pool thread and one bootport thread keep it repeatable. */
const ENV = { BOOTPORT_THREADS: '1', UV_THREADPOOL_SIZE: '1' };

interface Spec {
  name: string;
  /** Prepares the store the command runs on. */
  prepare: (cwd: string, store: string, files: TinyFiles, bundle: string) => Promise<void>;
  args: (store: string, files: TinyFiles, bundle: string) => string[];
}

/** A public key file beside the tiny files, for the trust commands. */
const signerPub = (f: TinyFiles) => join(dirname(f.kernel), 'signer.pub');

const ok = async (cwd: string, args: string[]): Promise<void> => {
  const r = await bp(args, { cwd });
  if (r.code !== 0) throw new Error(`bootport ${args.join(' ')}: ${r.stderr}`);
};

/** The delta bundle beside the seed's bundle: a changed image, against what the seed exported. */
const deltaOf = (bundle: string) => join(dirname(bundle), 'delta.export');

const SPECS: Spec[] = [
  {
    name: 'import',
    prepare: (cwd, s) => ok(cwd, ['node', 'create', 'name=x', '--store', s]),
    args: (s, _f, bundle) => ['import', bundle, '--store', s],
  },
  {
    // A target that imported the seed's bundle rebuilds the changed image from its stored blob.
    name: 'import delta',
    prepare: (cwd, s, _f, bundle) => ok(cwd, ['import', bundle, '--store', s]),
    args: (s, _f, bundle) => ['import', deltaOf(bundle), '--store', s],
  },
  {
    name: 'create',
    prepare: (cwd, s, f) => seedStore(cwd, s, f),
    args: (s, f) => ['create', 'name=c2', `kernel=@${f.kernel2}`, `initramfs=@${f.initramfs}`, '--store', s],
  },
  { name: 'image create', prepare: (cwd, s, f) => seedStore(cwd, s, f), args: (s, f) => ['image', 'create', 'name=i2', `content=@${f.image2}`, '--store', s] },
  { name: 'update kernel', prepare: (cwd, s, f) => seedStore(cwd, s, f), args: (s, f) => ['-i', 'boot', 'update', `kernel=@${f.kernel2}`, '--store', s] },
  { name: 'clone', prepare: (cwd, s, f) => seedStore(cwd, s, f), args: (s) => ['-i', 'boot', 'clone', 'name=boot2', '--store', s] },
  {
    name: 'delete',
    prepare: async (cwd, s, f) => {
      await seedStore(cwd, s, f);
      await ok(cwd, ['create', 'name=other', `kernel=@${f.kernel2}`, `initramfs=@${f.initramfs}`, '--store', s]);
    },
    args: (s) => ['-i', 'other', 'delete', '--store', s],
  },
  {
    name: 'image delete',
    prepare: async (cwd, s, f) => {
      await seedStore(cwd, s, f);
      await ok(cwd, ['image', 'create', 'name=spare', `content=@${f.image2}`, '--store', s]);
    },
    args: (s) => ['image', '-i', 'spare', 'delete', '--store', s],
  },
  {
    name: 'trust add',
    prepare: async (cwd, s, f) => {
      await seedStore(cwd, s, f);
      await writeFile(signerPub(f), `bootport-ed25519 ${Buffer.alloc(32, 5).toString('base64')} signer\n`);
    },
    args: (s, f) => ['trust', 'add', signerPub(f), '--store', s],
  },
  { name: 'trust require', prepare: (cwd, s, f) => seedStore(cwd, s, f), args: (s) => ['trust', 'require', 'on', '--store', s] },
  { name: 'node set', prepare: (cwd, s, f) => seedStore(cwd, s, f), args: (s) => ['node', '-i', 'n1', 'set', '_boot_config=boot', 'rack=r2', '--store', s] },
  {
    name: 'fsck --repair',
    prepare: async (cwd, s, f) => {
      await seedStore(cwd, s, f);
      // Damage it can repair: an orphan file, an unreferenced blob row, a dead process's staging.
      await writeFile(join(s, 'blobs', 'blake3', 'a'.repeat(64)), 'orphan', { mode: 0o400 });
      const hasher = await createBLAKE3();
      const unreferenced = hasher.update('no object refers to this blob').digest('hex');
      await writeFile(join(s, 'blobs', 'blake3', unreferenced), 'no object refers to this blob', { mode: 0o400 });
      const db = new Sqlite(join(s, 'catalog.sqlite'));
      db.prepare('INSERT INTO blobs (digest, size) VALUES (?, ?)').run(`blake3:${unreferenced}`, 'no object refers to this blob'.length);
      db.close();
      await mkdir(join(s, 'staging', 'deadbeefdeadbeef'));
      new Sqlite(join(s, 'staging', 'deadbeefdeadbeef', 'lock')).close();
      await writeFile(
        join(s, 'staging', 'deadbeefdeadbeef', 'owner.json'),
        '{"pid":1,"host":"x","command":"bootport import","started":"2026-01-01T00:00:00Z","locked":true}',
      );
    },
    args: (s) => ['fsck', '--repair', '--quick', '--store', s],
  },
];

let counter = 0;

/** Builds each scenario's template store, its before and after states, and its syscall counts. */
export async function buildScenarios(dir: string, only?: string[]): Promise<Scenario[]> {
  const files = await tinyFiles(join(dir, 'files'));
  const bundle = join(dir, 'bundle.export');
  const src = join(dir, 'source');
  await seedStore(dir, src, files, bundle);
  // The seed's image with an edit in the middle, exported as a delta against the seed's bundle.
  const changed = Buffer.from(await readFile(files.image));
  changed.write('a change in the middle of the image', changed.length >> 1);
  await writeFile(join(dir, 'rootfs3.img'), changed);
  await ok(dir, ['image', 'create', 'name=img3', `content=@${join(dir, 'rootfs3.img')}`, '--store', src]);
  await ok(dir, ['create', 'name=boot3', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=img3', '--store', src]);
  await ok(dir, ['-i', 'boot3', 'export', '-o', deltaOf(bundle), '--base', bundle, '--chunk-size', '64K', '--store', src]);
  const out: Scenario[] = [];
  for (const spec of SPECS.filter((s) => !only || only.includes(s.name))) {
    const template = join(dir, `template-${spec.name.replace(/\W+/g, '-')}`);
    await spec.prepare(dir, template, files, bundle);
    const args = (store: string) => spec.args(store, files, bundle);
    const probe = await copy(dir, template);
    const r = await bp(args(probe), { cwd: dir, env: ENV });
    if (r.code !== 0) throw new Error(`${spec.name} fails without faults: ${r.stderr}`);
    const counted = await copy(dir, template);
    out.push({ name: spec.name, template, args, before: catalogState(template), after: catalogState(probe), counts: await countCalls(dir, args(counted)) });
  }
  return out;
}

async function copy(dir: string, store: string): Promise<string> {
  const to = join(dir, `trial-${counter++}`);
  await cp(store, to, { recursive: true });
  return to;
}

/** The most calls any one thread made of each syscall class. */
async function countCalls(dir: string, args: string[]): Promise<Record<string, number>> {
  const log = join(dir, `count-${counter++}.log`);
  const all = Object.values(SYSCALLS).join(',');
  const r = await bp(args, { cwd: dir, env: ENV, wrap: ['strace', '-f', '-qq', '-o', log, '-e', `trace=${all}`] });
  if (r.code !== 0) throw new Error(`counting ${args.join(' ')}: ${r.stderr}`);
  const per = new Map<string, number>();
  for (const line of (await readFile(log, 'utf8')).split('\n')) {
    const m = /^(\d+)\s+(?:<\.\.\.\s+)?(\w+)[( ]/.exec(line);
    if (!m || line.includes('resumed>')) continue;
    const cls = Object.entries(SYSCALLS).find(([, v]) => v.split(',').includes(m[2]!))?.[0];
    if (!cls) continue;
    const key = `${m[1]} ${cls}`;
    per.set(key, (per.get(key) ?? 0) + 1);
  }
  await rm(log);
  const counts: Record<string, number> = {};
  for (const [key, c] of per) {
    const cls = key.split(' ')[1]!;
    counts[cls] = Math.max(counts[cls] ?? 0, c);
  }
  return counts;
}

/** Every crash and fault point of the scenarios. */
export function allPoints(scenarios: Scenario[]): Point[] {
  const out: Point[] = [];
  for (const s of scenarios) {
    for (const [sys, count] of Object.entries(s.counts)) {
      for (let when = 1; when <= count; when++) {
        out.push({ scenario: s.name, sys, when, fault: 'KILL' });
        if (FAULT_SYSCALLS.includes(sys)) out.push({ scenario: s.name, sys, when, fault: 'ENOSPC' }, { scenario: s.name, sys, when, fault: 'EIO' });
      }
    }
  }
  return out;
}

export interface TrialResult {
  point: Point;
  /** How the faulted command ended. */
  ended: 'ok' | 'coded error' | 'killed' | 'aborted by the runtime';
  state: 'before' | 'after';
  problems: string[];
}

/** One trial: the command with its fault, then the checks. Problems are returned, not thrown. */
export async function runTrial(dir: string, s: Scenario, p: Point): Promise<TrialResult> {
  const store = await copy(dir, s.template);
  const problems: string[] = [];
  const inject = p.fault === 'KILL' ? 'signal=KILL' : `error=${p.fault}`;
  const r = await bp(s.args(store), {
    cwd: dir,
    env: ENV,
    wrap: ['strace', '-f', '-qq', '-o', '/dev/null', '-e', `inject=${SYSCALLS[p.sys]}:${inject}:when=${p.when}`],
  });
  const ended = howEnded(r);
  if (/^\s+at /m.test(r.stderr) || /Uncaught|TypeError|ReferenceError/.test(r.stderr)) problems.push(`uncaught exception: ${r.stderr.slice(0, 300)}`);
  if (ended === 'coded error' && r.stderr && !/ERR_[A-Z_]+/.test(r.stderr) && !/interrupted/.test(r.stderr))
    problems.push(`an error without a code: ${r.stderr.slice(0, 200)}`);
  const st = catalogState(store);
  const state = st === s.before ? 'before' : st === s.after ? 'after' : undefined;
  if (!state) problems.push('the catalog is neither as before nor as after');
  const v = await checkStore(store);
  if (v.badBlobs.length) problems.push(`blob rows without their file: ${v.badBlobs.join(', ')}`);
  if (v.danglingRefs.length) problems.push(`dangling references: ${v.danglingRefs.join(', ')}`);
  // The next command: the same one if it did not happen (it must now succeed), else another writer.
  const next = state === 'before' ? s.args(store) : ['node', 'create', 'name=probe', '--store', store];
  const n = await bp(next, { cwd: dir, env: ENV });
  if (n.code !== 0) problems.push(`the next command (${next.slice(0, 3).join(' ')}) failed: ${n.stderr.slice(0, 300)}`);
  else if (state === 'before' && catalogState(store) !== s.after) problems.push('the re-run did not leave the catalog as after');
  const after = await checkStore(store);
  if (after.orphans.length) problems.push(`orphans after the next command: ${after.orphans.join(', ')}`);
  if (after.staging.length) problems.push(`staging after the next command: ${after.staging.join(', ')}`);
  const f = await bp(['fsck', '--quick', '--json', '--store', store], { cwd: dir, env: ENV });
  if (f.code !== 0) problems.push(`fsck disagrees: ${f.stdout.slice(0, 400)}`);
  await rm(store, { recursive: true, force: true });
  return { point: p, ended, state: state ?? 'before', problems };
}

function howEnded(r: Run): TrialResult['ended'] {
  if (r.signal === 'SIGKILL' || r.code === 137) return 'killed';
  if (r.signal === 'SIGABRT' || r.code === 134) return 'aborted by the runtime';
  return r.code === 0 ? 'ok' : 'coded error';
}

/** A deterministic sample of `n` points, spread over scenarios, syscalls and faults. */
export function samplePoints(points: Point[], n: number, seed = 1): Point[] {
  let x = seed;
  const rand = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
  const byGroup = new Map<string, Point[]>();
  for (const p of points) {
    const k = `${p.scenario}/${p.sys}/${p.fault}`;
    byGroup.set(k, [...(byGroup.get(k) ?? []), p]);
  }
  const groups = [...byGroup.values()];
  const out: Point[] = [];
  for (let i = 0; out.length < n && i < n * 4; i++) {
    const g = groups[Math.floor(rand() * groups.length)]!;
    const p = g[Math.floor(rand() * g.length)]!;
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
