import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { digestString, DIGEST_RE } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import type { Engines } from '../stream/engines.js';
import { writeAll } from '../stream/files.js';
import { LAYOUT_VERSION, SCHEMA, SCHEMA_VERSION } from './schema.js';

export const LAYOUT_FILE = 'bootport-store.json';
export const CATALOG_FILE = 'catalog.sqlite';

/** A file in staging whose digest was computed from the very bytes written to it. */
export interface StagedBlob {
  path: string;
  digest: string;
  size: number;
}

/**
 * One store directory: the SQLite catalog plus content-addressed blobs. Every change to the
 * catalog happens in an IMMEDIATE transaction, which also serialises blob placement and garbage
 * collection between processes, so one process can never collect a blob another is committing.
 */
/**
 * Creates the layout file all at once or not at all: written under a private name, then linked
 * into place, which fails if another process got there first (that one's file is as good). A
 * plain exclusive create let a racing process read it empty, or fail on EEXIST.
 */
function createLayout(path: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, JSON.stringify({ layout: LAYOUT_VERSION, created: new Date().toISOString() }) + '\n', { flag: 'wx' });
    fsyncPath(tmp);
    linkSync(tmp, path);
    fsyncPath(dirname(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new BootportError('ERR_IO', `cannot create ${path}: ${(e as Error).message}`, {}, undefined, { cause: e });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Opens (and on first use creates) the catalog. Processes that create one store at the same
 * moment can get SQLITE_BUSY from SQLite without its busy handler being consulted, while
 * another is switching the new file to WAL; so opening is retried, for up to about 15 s.
 */
function openCatalog(file: string, dir: string): Database.Database {
  // Loaded on first use, so commands without a store (pack, verify, inspect) start faster.
  const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  for (let attempt = 0; ; attempt++) {
    let db: Database.Database | undefined;
    try {
      db = new Sqlite(file);
      db.pragma('busy_timeout = 15000');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return db;
    } catch (e) {
      db?.close();
      const code = (e as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || attempt >= 300) throw storeError(e, `cannot open the catalog in ${dir}`);
      Atomics.wait(PAUSE, 0, 0, 20 + Math.random() * 30);
    }
  }
}
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export class Store {
  readonly db: Database.Database;
  readonly blobDir: string;
  readonly stagingDir: string;

  private constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'blake3');
    this.stagingDir = join(dir, 'staging');
    const layoutPath = join(dir, LAYOUT_FILE);
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.stagingDir, { recursive: true });
    if (!existsSync(layoutPath)) createLayout(layoutPath);
    let layout: { layout?: unknown };
    try {
      layout = JSON.parse(readFileSync(layoutPath, 'utf8'));
    } catch {
      throw new BootportError('ERR_STORE', `${layoutPath} is not valid JSON`, {}, 'restore it from a backup');
    }
    if (layout.layout !== LAYOUT_VERSION) throw new BootportError('ERR_STORE', `store layout ${String(layout.layout)} is not supported (this bootport uses ${LAYOUT_VERSION})`);
    this.db = openCatalog(join(dir, CATALOG_FILE), dir);
    this.removeStaleStaging();
  }

  static open(dir: string): Store {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new BootportError('ERR_IO', `cannot create the store ${dir}: ${(e as Error).message}`);
    }
    return new Store(dir);
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one IMMEDIATE transaction: all of it happens, or none of it. */
  tx<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      throw storeError(e, 'the catalog update failed');
    }
  }

  blobPath(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new BootportError('ERR_STORE', `not a digest: ${digest}`);
    return join(this.blobDir, digest.slice('blake3:'.length));
  }

  hasBlob(digest: string): boolean {
    return this.db.prepare('SELECT 1 FROM blobs WHERE digest = ?').get(digest) !== undefined;
  }

  /** A fresh staging directory, named after this process so a later run can tell it is stale. */
  newStaging(): string {
    const dir = join(this.stagingDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    mkdirSync(dir);
    liveStaging.add(dir);
    return dir;
  }

  /** Copies a file into staging, hashing the bytes as they are written. */
  async stageFile(source: string, staging: string, engines: Engines): Promise<StagedBlob> {
    const path = join(staging, randomBytes(8).toString('hex'));
    const hasher = await engines.hash.create();
    let size = 0;
    const src = await open(source, 'r').catch((e: Error) => {
      throw new BootportError('ERR_IO', `cannot read ${source}: ${e.message}`);
    });
    const dst = await open(path, 'wx', 0o444);
    try {
      const buf = new Uint8Array(1 << 20);
      for (;;) {
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const piece = buf.subarray(0, bytesRead);
        hasher.update(piece);
        await writeAll(dst, piece);
        size += bytesRead;
      }
      await dst.sync();
    } finally {
      await src.close();
      await dst.close();
    }
    return { path, digest: digestString(hasher.digest()), size };
  }

  /**
   * Moves staged blobs under their content names and records them. Call inside `tx`: the rename
   * is atomic, and a blob already present (the same content) is kept and the staged copy dropped.
   */
  placeBlobs(staged: readonly StagedBlob[]): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)');
    let moved = false;
    for (const s of staged) {
      const target = this.blobPath(s.digest);
      if (existsSync(target) && statSync(target).size === s.size) unlinkSync(s.path);
      else {
        renameSync(s.path, target);
        moved = true;
      }
      insert.run(s.digest, s.size);
    }
    if (moved) fsyncPath(this.blobDir);
  }

  /** Removes blobs no catalog row refers to, and blob files with no row (left by a crash). */
  collectGarbage(): number {
    return this.tx(() => {
      const dead = this.db
        .prepare(
          `SELECT digest FROM blobs WHERE digest NOT IN (
             SELECT kernel FROM boot_configs UNION SELECT initramfs FROM boot_configs UNION SELECT content FROM images)`,
        )
        .all() as { digest: string }[];
      const del = this.db.prepare('DELETE FROM blobs WHERE digest = ?');
      for (const { digest } of dead) del.run(digest);
      const live = new Set((this.db.prepare('SELECT digest FROM blobs').all() as { digest: string }[]).map((r) => r.digest.slice(7)));
      let removed = 0;
      for (const f of readdirSync(this.blobDir)) {
        if (!live.has(f)) {
          rmSync(join(this.blobDir, f), { force: true });
          removed++;
        }
      }
      return removed;
    });
  }

  /** Staging directories of processes that no longer exist: a crash or kill -9 mid-import. */
  private removeStaleStaging(): void {
    for (const d of readdirSync(this.stagingDir)) {
      const pid = Number(d.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) rmSync(join(this.stagingDir, d), { recursive: true, force: true });
    }
  }
}

/** Staging directories this process is using, so a signal handler can remove them on Ctrl-C. */
export const liveStaging = new Set<string>();

export function removeLiveStaging(): void {
  for (const d of liveStaging) rmSync(d, { recursive: true, force: true });
  liveStaging.clear();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fsync of a file, or of a directory (which makes the names in it durable). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function storeError(e: unknown, what: string): BootportError {
  if (e instanceof BootportError) return e;
  const code = (e as { code?: string }).code ?? '';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new BootportError('ERR_STORE_LOCKED', `${what}: the store is busy (another bootport is writing)`, {}, 'try again when the other command has finished');
  }
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return new BootportError('ERR_IO', `${what}: no space left on the store's file system`, {}, 'free space and try again');
  return new BootportError('ERR_STORE', `${what}: ${(e as Error).message}`, {}, undefined, { cause: e });
}
