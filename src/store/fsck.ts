import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DIGEST_RE } from '../format/bytes.js';
import type { Engines } from '../stream/engine/engines.js';
import { hashFile } from '../stream/parallel/file-hash.js';
import { fsyncPath } from '../stream/io/files.js';
import { WorkerPool } from '../stream/parallel/pool.js';
import { ageMs, BLOB_MODE, CATALOG_FILE, DIR_MODE, FILE_MODE, LAYOUT_FILE, LAYOUT_VERSION, listDir, makePrivateDir, STORE_ENTRIES } from './layout.js';
import { SCHEMA_VERSION } from './backend/sqlite-schema.js';
import type { BlobRow, CatalogTx } from './backend/tx.js';
import type { Store } from './store.js';
import { readChunkIndex, renewChunkIndex } from './chunk-index.js';

export type FindingKind =
  | 'layout' // an older layout
  | 'schema' // an older catalog schema
  | 'catalog' // SQLite's integrity check failed
  | 'reference' // a row refers to a row that does not exist
  | 'unreferenced' // a blob row nothing refers to
  | 'missing' // a blob row whose file is gone
  | 'size' // a blob file of the wrong size, or not a file
  | 'digest' // a blob file whose BLAKE3 is not its name
  | 'orphan' // a blob file with no row
  | 'stray' // a file that is not bootport's where bootport keeps its own
  | 'staging' // staging left by a dead process
  | 'temp' // a temporary file left by a dead process
  | 'mode' // a file or directory others may read
  | 'index'; // a note, not a problem: a blob's chunk index missing or damaged, or an index with no blob

export interface Finding {
  kind: FindingKind;
  /** What it is about: a path in the store, a digest, or an object. */
  subject: string;
  message: string;
  /** For a damaged or missing blob: the objects that need it. */
  needed_by?: string[];
  /** What --repair did about it, or why it could not. */
  repair?: string;
  /** Set by --repair: whether the problem is gone. */
  repaired?: boolean;
}

export interface FsckReport {
  store: string;
  /** True when no problem remains. */
  ok: boolean;
  findings: Finding[];
  blobs: number;
  bytes: number;
  /** Whether every blob was hashed (false with --quick: sizes only). */
  hashed: boolean;
  /** What quarantine/ holds: blobs moved aside by earlier repairs. */
  quarantine: string[];
  /**
   * Derived data out of step, which is not damage: a chunk index missing (a blob stored by an
   * older bootport, or a crash right after a commit), damaged or left over. Delta export
   * computes a missing one when it needs it; --repair writes them all.
   */
  notes: Finding[];
}

export interface FsckOptions {
  /** Sizes only: skip hashing every blob. */
  quick?: boolean;
  engines: Engines;
  threads: number;
  /** Called as blobs are hashed, with the bytes done and the bytes in all. */
  progress?: (done: number, total: number) => void;
}

/** Checks a store and changes nothing. The store may be open read-only. */
export async function checkStore(store: Store, opts: FsckOptions): Promise<FsckReport> {
  const findings: Finding[] = [];
  const layout = readLayoutVersion(store);
  if (layout !== undefined && layout < LAYOUT_VERSION)
    findings.push({
      kind: 'layout',
      subject: LAYOUT_FILE,
      message: `store layout ${layout} was made by an older bootport`,
      repair: 'upgraded by a repair (or by any command that changes the store)',
    });
  if (store.schema < SCHEMA_VERSION)
    findings.push({ kind: 'schema', subject: CATALOG_FILE, message: `catalog schema ${store.schema} was made by an older bootport` });
  for (const m of (await store.catalog.integrity()).slice(0, 20))
    findings.push({ kind: 'catalog', subject: store.catalog.kind === 'sqlite' ? CATALOG_FILE : store.where, message: m });
  const { rows, users } = await store.read((tx) => {
    checkReferences(tx, findings);
    return { rows: tx.all('blobs'), users: usersOfBlobs(tx) };
  });
  const neededBy = (d: string) => users.get(d) ?? [];
  const present: BlobRow[] = [];
  for (const r of rows) {
    const path = store.blobPath(r.digest);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      findings.push({ kind: 'missing', subject: r.digest, message: `blob ${r.digest} is missing`, needed_by: neededBy(r.digest) });
      continue;
    }
    if (!st.isFile() || st.size !== r.size) {
      const what = st.isFile() ? `${st.size} bytes, the catalog says ${r.size}` : 'not a regular file';
      findings.push({ kind: 'size', subject: r.digest, message: `blob ${r.digest} is ${what}`, needed_by: neededBy(r.digest) });
      continue;
    }
    if ((st.mode & 0o777) !== BLOB_MODE)
      findings.push({ kind: 'mode', subject: path, message: `blob ${r.digest} has mode ${octal(st.mode)}, not ${octal(BLOB_MODE)}` });
    present.push(r);
  }
  if (!opts.quick) {
    for (const bad of await hashAll(store, present, opts)) {
      findings.push({
        kind: 'digest',
        subject: bad.digest,
        message: `blob ${bad.digest} does not hash to its name: its content is damaged`,
        needed_by: neededBy(bad.digest),
      });
    }
  }
  const known = new Set(rows.map((r) => r.digest));
  for (const f of listDir(store.paths.blobs)) {
    const d = `blake3:${f}`;
    if (known.has(d)) continue;
    if (DIGEST_RE.test(d) && isFile(join(store.paths.blobs, f)))
      findings.push({ kind: 'orphan', subject: d, message: `blob file ${f} has no row in the catalog` });
    else findings.push({ kind: 'stray', subject: join(store.paths.blobs, f), message: `blobs/blake3/${f} is not a blob` });
  }
  const damagedBlobs = new Set(findings.filter((f) => f.kind === 'digest').map((f) => f.subject));
  const notes: Finding[] = [];
  await checkIndexes(
    store,
    present.filter((r) => !damagedBlobs.has(r.digest)),
    known,
    opts.engines,
    notes,
  );
  await checkStaging(store, findings);
  checkRoot(store, findings);
  checkModes(store, findings);
  return {
    store: store.dir,
    ok: findings.length === 0,
    findings,
    blobs: rows.length,
    bytes: rows.reduce((a, r) => a + r.size, 0),
    hashed: !opts.quick,
    quarantine: listDir(store.paths.quarantine),
    notes,
  };
}

/**
 * Repairs what `report` found, on a store opened to write (opening it so has already upgraded
 * an older layout and schema, and removed dead staging and orphan blobs). Nothing a row refers to
 * is deleted: damaged blobs are moved to quarantine/, and the objects that need them are named.
 */
export async function repairStore(store: Store, report: FsckReport, engines: Engines): Promise<void> {
  const quarantined = (subject: string) => join(store.paths.quarantine, `${subject.replace(/^blake3:/, '').replace(/[^0-9A-Za-z._-]/g, '_')}.${Date.now()}`);
  const damaged = report.findings.filter((f) => f.kind === 'size' || f.kind === 'digest');
  if (damaged.length) {
    makePrivateDir(store.paths.quarantine);
    const out: string[] = [];
    const moved = await store.write((tx) => {
      for (const f of damaged) {
        // Still the row's file? A concurrent import may have healed it meanwhile. (An etcd
        // transaction may run this again: what is moved already stays moved.)
        if (out.includes(f.subject) || !tx.get('blobs', f.subject)) continue;
        const to = quarantined(f.subject);
        try {
          renameSync(store.blobPath(f.subject), to);
          out.push(f.subject);
          f.repair =
            `moved to quarantine/${to.slice(store.paths.quarantine.length + 1)}; store it again by importing a bundle that holds it, ` +
            `or point ${f.needed_by?.join(', ') || 'its users'} elsewhere`;
        } catch (e) {
          f.repair = `could not be moved to quarantine/: ${(e as Error).message}`;
        }
      }
      return out;
    }, 'quarantining damaged blobs');
    if (moved.length) {
      fsyncPath(store.paths.blobs);
      fsyncPath(store.paths.quarantine);
    }
  }
  let collected: Promise<unknown> | undefined;
  for (const f of [...report.findings, ...report.notes]) {
    switch (f.kind) {
      case 'unreferenced':
        // One collection removes every unreferenced blob: the first such finding runs it.
        collected ??= store.write((tx) => store.dropUnreferencedBlobs(tx), 'removing unreferenced blobs').then((dead) => store.unlinkOrphans(dead));
        await collected;
        f.repair = 'row and file removed';
        break;
      case 'orphan':
        await store.unlinkOrphans([f.subject]);
        f.repair = 'removed';
        break;
      case 'stray':
        if (f.subject.startsWith(store.paths.blobs)) {
          makePrivateDir(store.paths.quarantine);
          renameSync(f.subject, quarantined(f.subject.slice(store.paths.blobs.length + 1)));
          f.repair = 'moved to quarantine/';
        } else f.repair = 'left alone: not bootport’s to remove';
        break;
      case 'index':
        if (f.subject.startsWith('blake3:')) {
          try {
            await renewChunkIndex(store, f.subject, engines);
            f.repair = 'computed from the blob';
          } catch (e) {
            f.repair = `could not be computed: ${(e as Error).message}`;
          }
        } else {
          rmSync(f.subject, { force: true });
          f.repair = 'removed';
        }
        break;
      case 'staging':
        if (isFile(f.subject)) rmSync(f.subject, { force: true });
        else await store.sweepStaging(true);
        f.repair = 'removed';
        break;
      case 'temp':
        rmSync(f.subject, { force: true });
        f.repair = 'removed';
        break;
      case 'mode':
        chmodSync(f.subject, f.subject.startsWith(store.paths.blobs + '/') ? BLOB_MODE : statSync(f.subject).isDirectory() ? DIR_MODE : FILE_MODE);
        f.repair = 'mode fixed';
        break;
      case 'layout':
      case 'schema':
        f.repair = 'upgraded';
        break;
      case 'missing':
        f.repair = `cannot be repaired here: store it again by importing a bundle that holds it, or point ${f.needed_by?.join(', ') || 'its users'} elsewhere`;
        break;
      case 'catalog':
        f.repair =
          store.catalog.kind === 'sqlite'
            ? 'cannot be repaired here: restore catalog.sqlite from a backup (sqlite3 .recover may save what is left)'
            : 'cannot be repaired here: restore the prefix from an etcd snapshot, or copy the store out and back with store migrate';
        break;
      case 'reference':
        f.repair = 'cannot be repaired safely: restore catalog.sqlite from a backup, or update or delete the object';
        break;
    }
  }
  // Orphans that quarantine or staging removal left are swept once more.
  await store.unlinkOrphans();
  mkdirSync(store.paths.quarantine, { recursive: true, mode: DIR_MODE });
}

/** Marks each finding of `before` repaired if a check after the repair no longer reports it. */
export function markRepaired(before: FsckReport, after: FsckReport): FsckReport {
  const left = new Set(after.findings.map((f) => `${f.kind} ${f.subject}`));
  const findings = before.findings.map((f) => ({ ...f, repaired: !left.has(`${f.kind} ${f.subject}`) && !(f.kind === 'size' || f.kind === 'digest') }));
  const stillNoted = new Set(after.notes.map((f) => f.subject));
  return {
    ...after,
    ok: after.findings.length === 0,
    notes: [
      ...before.notes.map((f) => ({ ...f, repaired: !stillNoted.has(f.subject) })),
      ...after.notes.filter((f) => !before.notes.some((b) => b.subject === f.subject)),
    ],
    findings: [...findings, ...after.findings.filter((f) => !before.findings.some((b) => b.kind === f.kind && b.subject === f.subject))],
  };
}

function checkReferences(tx: CatalogTx, findings: Finding[]): void {
  const add = (subject: string, message: string) => findings.push({ kind: 'reference', subject, message });
  const blob = (d: string) => tx.get('blobs', d) !== undefined;
  const bcs = tx.all('boot_configs');
  for (const b of bcs) {
    if (!blob(b.kernel)) add(b.name, `boot config ${b.name}: its kernel ${b.kernel} has no blob row`);
    if (!blob(b.initramfs)) add(b.name, `boot config ${b.name}: its initramfs ${b.initramfs} has no blob row`);
  }
  const images = tx.all('images');
  for (const i of images) if (!blob(i.content)) add(i.name, `image ${i.name}: its content ${i.content} has no blob row`);
  for (const b of bcs) if (b.image !== null && !tx.get('images', b.image)) add(b.name, `boot config ${b.name}: its image ${b.image} does not exist`);
  const bcNames = new Set(bcs.map((b) => b.name));
  for (const n of tx.all('nodes')) {
    if (tx.schema >= 2 && n.boot_config && !tx.get('boot_configs', n.boot_config))
      add(n.name, `node ${n.name}: its boot config ${n.boot_config} does not exist`);
    const named = (JSON.parse(n.attributes) as Record<string, unknown>)._boot_config;
    if (typeof named === 'string' && !bcNames.has(named)) add(n.name, `node ${n.name}: its _boot_config ${named} names no boot config`);
  }
  const used = new Set([...bcs.flatMap((b) => [b.kernel, b.initramfs]), ...images.map((i) => i.content)]);
  for (const r of tx.all('blobs')) {
    if (!used.has(r.digest)) findings.push({ kind: 'unreferenced', subject: r.digest, message: `blob ${r.digest} is referred to by nothing` });
  }
}

/** For each blob, the objects that need it, by name. */
function usersOfBlobs(tx: CatalogTx): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (d: string, who: string) => out.set(d, [...(out.get(d) ?? []), who]);
  for (const b of tx.all('boot_configs')) {
    add(b.kernel, `boot config ${b.name}`);
    if (b.initramfs !== b.kernel) add(b.initramfs, `boot config ${b.name}`);
  }
  for (const i of tx.all('images')) add(i.content, `image ${i.name}`);
  return out;
}

/** Hashes every blob, several at once on the worker pool; returns those whose digest is wrong. */
async function hashAll(store: Store, blobs: BlobRow[], opts: FsckOptions): Promise<BlobRow[]> {
  const total = blobs.reduce((a, b) => a + b.size, 0);
  let done = 0;
  const tick = (n: number) => {
    done += n;
    opts.progress?.(done, total);
  };
  const pool = opts.threads > 1 && blobs.length > 0 ? new WorkerPool(opts.engines, Math.min(opts.threads, blobs.length)) : undefined;
  const bad: BlobRow[] = [];
  try {
    let next = 0;
    const lane = async () => {
      while (next < blobs.length) {
        const b = blobs[next++]!;
        const path = store.blobPath(b.digest);
        try {
          const got = pool ? await pool.hashFile(path, tick) : await hashFile(opts.engines, path, tick);
          if (`blake3:${got.hex}` !== b.digest || got.size !== b.size) bad.push(b);
        } catch (e) {
          // Removed between the listing and the hash (a concurrent delete) is not damage.
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') bad.push(b);
        }
      }
    };
    await Promise.all(Array.from({ length: pool ? Math.min(opts.threads, blobs.length) : 1 }, lane));
  } finally {
    await pool?.close();
  }
  return bad.sort((a, b) => a.digest.localeCompare(b.digest));
}

/**
 * Each blob's chunk index: there, whole, and describing that blob; and no index whose blob is
 * gone. A blob stored by a bootport before chunk indexes has none: --repair computes it.
 */
async function checkIndexes(store: Store, blobs: readonly BlobRow[], known: ReadonlySet<string>, engines: Engines, findings: Finding[]): Promise<void> {
  for (const r of blobs) {
    const got = await readChunkIndex(store, r.digest, engines);
    if (got.state === 'missing') findings.push({ kind: 'index', subject: r.digest, message: `blob ${r.digest} has no chunk index` });
    else if (got.state === 'damaged')
      findings.push({ kind: 'index', subject: r.digest, message: `the chunk index of blob ${r.digest} is damaged: ${got.why}` });
    else if (got.pieces.size !== r.size)
      findings.push({
        kind: 'index',
        subject: r.digest,
        message: `the chunk index of blob ${r.digest} covers ${got.pieces.size} bytes, the blob has ${r.size}`,
      });
  }
  for (const f of listDir(store.paths.index)) {
    const p = join(store.paths.index, f);
    if (!known.has(`blake3:${f}`) && !f.startsWith('.'))
      findings.push({ kind: 'index', subject: p, message: `index/blake3/${f} is the chunk index of no blob in the catalog` });
  }
}

async function checkStaging(store: Store, findings: Finding[]): Promise<void> {
  for (const d of await store.sweepStaging(false)) {
    findings.push({ kind: 'staging', subject: d, message: `staging ${d.slice(store.dir.length + 1)} was left by a process that is gone` });
  }
  for (const f of listDir(store.paths.staging)) {
    const p = join(store.paths.staging, f);
    if (isFile(p)) findings.push({ kind: 'staging', subject: p, message: `staging/${f} is a stray file` });
  }
}

const ROOT_NAMES = new Set<string>([LAYOUT_FILE, ...STORE_ENTRIES]);

function checkRoot(store: Store, findings: Finding[]): void {
  for (const f of listDir(store.dir)) {
    if (ROOT_NAMES.has(f)) continue;
    const p = join(store.dir, f);
    if (f.startsWith(`${LAYOUT_FILE}.`)) {
      if (ageMs(p) > 60_000) findings.push({ kind: 'temp', subject: p, message: `${f} is a temporary file left by a process that is gone` });
    } else findings.push({ kind: 'stray', subject: p, message: `${f} in the store directory is not bootport's` });
  }
}

function checkModes(store: Store, findings: Finding[]): void {
  const p = store.paths;
  const want: [string, number][] = [
    [p.dir, DIR_MODE],
    [join(p.dir, 'blobs'), DIR_MODE],
    [p.blobs, DIR_MODE],
    [p.staging, DIR_MODE],
    [p.quarantine, DIR_MODE],
    [dirname(p.index), DIR_MODE],
    [p.index, DIR_MODE],
    [p.layout, FILE_MODE],
    [p.catalog, FILE_MODE],
    [`${p.catalog}-wal`, FILE_MODE],
    [`${p.catalog}-shm`, FILE_MODE],
  ];
  for (const [path, mode] of want) {
    let m: number;
    try {
      m = lstatSync(path).mode & 0o777;
    } catch {
      continue;
    }
    if (m & ~mode)
      findings.push({
        kind: 'mode',
        subject: path,
        message: `${path.slice(p.dir.length + 1) || 'the store directory'} has mode ${octal(m)}: others may read it (want ${octal(mode)})`,
      });
  }
}

function readLayoutVersion(store: Store): number | undefined {
  try {
    return (JSON.parse(readFileSync(store.paths.layout, 'utf8')) as { layout?: number }).layout;
  } catch {
    return undefined;
  }
}

function isFile(p: string): boolean {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
}

const octal = (m: number) => `0${(m & 0o777).toString(8)}`;
