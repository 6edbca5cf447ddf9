import { accessSync, chmodSync, closeSync, constants, openSync, renameSync, rmSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type Database from 'better-sqlite3';
import { digestString, DIGEST_RE } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import type { Engines } from '../stream/engine/engines.js';
import { fsyncPath, ioError, writeAll } from '../stream/io/files.js';
import { describeOwner, loadSqlite, sweepWorkDirs, WorkDir } from '../stream/io/workdir.js';
import {
  ageMs,
  BLOB_MODE,
  FILE_MODE,
  LAYOUT_FILE,
  LAYOUT_VERSION,
  listDir,
  makePrivate,
  makePrivateDir,
  probeStore,
  sizeOf,
  storePaths,
  writeLayout,
  type StorePaths,
} from './layout.js';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema.js';

/** A file in staging whose digest was computed from the very bytes written to it. */
export interface StagedBlob {
  path: string;
  digest: string;
  size: number;
}

/** `read` commands write nothing and work on read-only media and full disks; `write` commands may change the store. */
export type StoreMode = 'read' | 'write';

export interface StoreOptions {
  /** How long to wait for another process's write transaction before ERR_STORE_LOCKED. */
  lockTimeoutMs?: number;
  /** What this process is doing, recorded so that a process waiting on it can name it. */
  command?: string;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/**
 * Each attempt at the write lock waits at most this long inside SQLite, which blocks the thread;
 * between attempts the event loop runs, so Ctrl-C ends a long wait at once.
 */
const LOCK_SLICE_MS = 100;
/** Store-root temporary files older than this belong to no living write. */
const STALE_TEMP_MS = 60_000;

/**
 * One store directory: the SQLite catalog plus content-addressed blobs.
 *
 * The blob protocol (README, "The store"): a blob is written to this process's staging directory,
 * fsynced, and renamed into blobs/ inside the write transaction that inserts its row, after which
 * blobs/ is fsynced; so a row only ever names a file that exists. A transaction that fails removes
 * the blobs it placed that no row refers to. Garbage collection deletes rows and commits first,
 * and only then unlinks files, in a later write transaction that re-checks each one. Whatever a
 * crash still leaves is an orphan file, removed by the next process that opens the store to write.
 */
export class Store {
  readonly paths: StorePaths;
  readonly dir: string;
  private session: WorkDir | undefined;

  private constructor(
    dir: string,
    readonly db: Database.Database,
    readonly writable: boolean,
    /** The catalog's schema version: the current one, except on a read-only view of an older store. */
    readonly schema: number,
    private readonly lockTimeoutMs: number,
  ) {
    this.dir = dir;
    this.paths = storePaths(dir);
  }

  get blobDir(): string {
    return this.paths.blobs;
  }

  /**
   * Opens the store at `dir`. For `write`, a store is created if there is none (only in a new or
   * empty directory), an older layout is upgraded, and what dead processes left is cleaned up.
   * For `read`, nothing on disk is changed, and a missing store reads as an empty one.
   */
  static async open(dir: string, mode: StoreMode, opts: StoreOptions = {}): Promise<Store> {
    const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    const state = probeStore(dir);
    if (mode === 'read') {
      if (state.kind !== 'store') return Store.emptyView(dir, lockTimeoutMs);
      const db = await openReadOnly(storePaths(dir), lockTimeoutMs);
      const schema = db.pragma('user_version', { simple: true }) as number;
      checkSchemaVersion(schema, dir);
      return new Store(dir, db, false, schema, lockTimeoutMs);
    }
    const p = storePaths(dir);
    if (state.kind !== 'store') createDirs(p);
    else if (state.layout < LAYOUT_VERSION) {
      // Written first, so a bootport that predates this layout refuses the store from here on.
      createDirs(p);
      makePrivate(p);
      writeLayout(p.layout, true);
    }
    const db = await openWritable(p, state.kind !== 'store', lockTimeoutMs);
    const store = new Store(dir, db, true, SCHEMA_VERSION, lockTimeoutMs);
    try {
      await store.migrate();
      if (state.kind !== 'store') writeLayout(p.layout, false);
      store.session = WorkDir.create(p.staging, '', opts.command ?? 'bootport');
      await store.recover();
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /** A store that is not there yet reads as one with nothing in it. */
  private static emptyView(dir: string, lockTimeoutMs: number): Store {
    const db = new (loadSqlite())(':memory:');
    db.exec(SCHEMA);
    return new Store(dir, db, false, SCHEMA_VERSION, lockTimeoutMs);
  }

  close(): void {
    this.session?.removeSync();
    this.session = undefined;
    if (this.db.open) this.db.close();
  }

  /** This process's private staging directory in the store (write mode only). */
  stagingDir(): string {
    if (!this.session) throw new Error('the store was opened read-only');
    return this.session.path;
  }

  /** A fresh directory inside this process's staging directory. */
  async newStagingArea(): Promise<string> {
    const d = join(this.stagingDir(), `area-${randomBytes(6).toString('hex')}`);
    await mkdir(d, { mode: 0o700 });
    return d;
  }

  // ---- transactions ---------------------------------------------------------------------------

  /** Runs `fn` in a read transaction, so everything it reads comes from one snapshot. */
  read<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).deferred();
    } catch (e) {
      throw this.storeError(e, 'reading the catalog failed');
    }
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction: all of it happens, or none of it. The write lock is
   * waited for in slices, so the wait is bounded and a signal can end it; `fn` itself must not
   * await, since nothing else may run while the lock is held.
   */
  async write<T>(fn: () => T, what = 'the catalog update'): Promise<T> {
    if (!this.writable) throw new Error('the store was opened read-only');
    await this.begin();
    try {
      const r = fn();
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw this.storeError(e, `${what} failed`);
    }
  }

  private async begin(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (e) {
        if (!isBusy(e)) throw this.storeError(e, 'cannot start a catalog update');
        if (Date.now() >= deadline) throw this.lockedError();
        await sleep(5 + Math.random() * 20);
      }
    }
  }

  /** ERR_STORE_LOCKED, naming the bootport processes that are using the store. */
  lockedError(): BootportError {
    const others = sweepWorkDirs(this.paths.staging, '', { dryRun: true, ...(this.session ? { skip: this.session.path } : {}) }).live;
    const who = others.length
      ? `bootport processes using it: ${others.map(describeOwner).join('; ')}`
      : 'no bootport process is using it, so another program holds the lock (an sqlite3 shell on catalog.sqlite, say)';
    return new BootportError(
      'ERR_STORE_LOCKED',
      `the store ${this.dir} stayed locked for ${Math.round(this.lockTimeoutMs / 1000)} s: ${who}`,
      {},
      'try again when that has finished; BOOTPORT_LOCK_TIMEOUT sets how many seconds to wait',
    );
  }

  storeError(e: unknown, what: string): BootportError {
    if (e instanceof BootportError) return e;
    if (isBusy(e)) return this.lockedError();
    return storeError(e, what);
  }

  // ---- blobs ----------------------------------------------------------------------------------

  blobPath(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new BootportError('ERR_STORE', `not a digest: ${digest}`);
    return join(this.paths.blobs, digest.slice('blake3:'.length));
  }

  /** The blob's size if its row and its file both exist and agree, which is all dedup trusts. */
  healthyBlob(digest: string): number | undefined {
    const row = this.db.prepare('SELECT size FROM blobs WHERE digest = ?').get(digest) as { size: number } | undefined;
    if (!row) return undefined;
    try {
      return statSync(this.blobPath(digest)).size === row.size ? row.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Copies a file into staging, hashing the bytes as they are written, and fsyncs it. */
  async stageFile(source: string, engines: Engines, onBytes?: (n: number) => void): Promise<StagedBlob> {
    const src = await open(source, 'r').catch((e: unknown) => {
      throw ioError(`cannot read ${source}`, e);
    });
    try {
      if (!(await src.stat()).isFile()) throw new BootportError('ERR_INVALID', `${source} is not a regular file`);
      return await this.stageStream(readChunks(src, source, onBytes), engines, source);
    } finally {
      await src.close();
    }
  }

  /**
   * Copies a stream into this store's staging, hashed on the way and fsynced, ready for `commit`.
   * `what` names the source in errors.
   */
  async stageStream(data: AsyncIterable<Uint8Array>, engines: Engines, what: string): Promise<StagedBlob> {
    const path = join(this.stagingDir(), `file-${randomBytes(8).toString('hex')}`);
    const hasher = await engines.hash.create();
    let size = 0;
    try {
      const dst = await open(path, 'wx', BLOB_MODE);
      try {
        await dst.chmod(BLOB_MODE);
        // Small pieces (a tar's headers and small files) are gathered into one write: a write
        // per piece cost a thread-pool round trip each, which dominated packing a tree.
        const batch = new Uint8Array(STAGE_BATCH);
        let fill = 0;
        const flush = async () => {
          if (fill === 0) return;
          hasher.update(batch.subarray(0, fill));
          await writeAll(dst, batch.subarray(0, fill));
          fill = 0;
        };
        for await (const piece of data) {
          size += piece.length;
          if (piece.length >= STAGE_BATCH / 2) {
            await flush();
            hasher.update(piece);
            await writeAll(dst, piece);
            continue;
          }
          if (fill + piece.length > STAGE_BATCH) await flush();
          batch.set(piece, fill);
          fill += piece.length;
        }
        await flush();
        await dst.sync();
      } finally {
        await dst.close();
      }
    } catch (e) {
      throw e instanceof BootportError ? e : ioError(`cannot stage ${what} in ${this.dir}`, e);
    }
    return { path, digest: digestString(hasher.digest()), size };
  }

  /**
   * Runs `fn` in a write transaction with `place`, which moves `staged` blobs into blobs/ and
   * records them. `fn` validates everything first and calls `place` only when nothing is left to
   * refuse. If the transaction fails, the blobs it placed that no row refers to are removed.
   */
  async commit<T>(staged: readonly StagedBlob[], fn: (place: () => void) => T, what?: string): Promise<T> {
    const placed: string[] = [];
    const place = (): void => {
      const upsert = this.db.prepare('INSERT INTO blobs (digest, size) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET size = excluded.size');
      for (const s of staged) {
        // A healthy copy is kept. Anything else at that name (a file with no row, a short file)
        // was never verified, and is replaced by the bytes hashed on the way into staging.
        if (this.healthyBlob(s.digest) === s.size) {
          rmSync(s.path, { force: true });
          continue;
        }
        renameSync(s.path, this.blobPath(s.digest));
        placed.push(s.digest);
        upsert.run(s.digest, s.size);
      }
      if (placed.length) fsyncPath(this.paths.blobs);
    };
    try {
      return await this.write(() => fn(place), what);
    } catch (e) {
      if (placed.length) await this.unlinkOrphans(placed).catch(() => {});
      throw e;
    }
  }

  /**
   * GC, first phase: deletes the rows of blobs nothing refers to. Call inside `write`, after
   * deleting objects; pass what it returns to `unlinkOrphans` once the transaction has committed.
   */
  dropUnreferencedBlobs(): string[] {
    const dead = (
      this.db
        .prepare(
          `SELECT digest FROM blobs WHERE digest NOT IN (
             SELECT kernel FROM boot_configs UNION SELECT initramfs FROM boot_configs UNION SELECT content FROM images)`,
        )
        .all() as { digest: string }[]
    ).map((r) => r.digest);
    const del = this.db.prepare('DELETE FROM blobs WHERE digest = ?');
    for (const d of dead) del.run(d);
    return dead;
  }

  /**
   * GC, second phase: unlinks blob files that no row refers to, re-checked under the write lock
   * (a concurrent import may have committed a row for the same content meanwhile). With no
   * argument, every file in blobs/ is considered: the sweep for orphans a crash left.
   * Returns the digests whose files were removed.
   */
  async unlinkOrphans(digests?: readonly string[]): Promise<string[]> {
    const candidates = digests ?? this.orphanCandidates();
    if (!candidates.length) return [];
    return this.write(() => {
      const has = this.db.prepare('SELECT 1 FROM blobs WHERE digest = ?');
      const removed: string[] = [];
      for (const d of candidates) {
        if (has.get(d)) continue;
        try {
          unlinkSync(this.blobPath(d));
          removed.push(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      return removed;
    }, 'removing unreferenced blobs');
  }

  /** Files in blobs/ with no row, seen from outside a transaction (re-checked by unlinkOrphans). */
  orphanCandidates(): string[] {
    const rows = new Set((this.db.prepare('SELECT digest FROM blobs').all() as { digest: string }[]).map((r) => r.digest));
    return listDir(this.paths.blobs)
      .map((f) => `blake3:${f}`)
      .filter((d) => DIGEST_RE.test(d) && !rows.has(d));
  }

  /** What dead processes left: their staging, stray layout temporaries, and orphan blobs. */
  private async recover(): Promise<void> {
    sweepWorkDirs(this.paths.staging, '', this.session ? { skip: this.session.path } : {});
    for (const f of listDir(this.dir)) {
      if (f.startsWith(`${LAYOUT_FILE}.`) && ageMs(join(this.dir, f)) > STALE_TEMP_MS) rmSync(join(this.dir, f), { force: true });
    }
    await this.unlinkOrphans();
  }

  // ---- schema ---------------------------------------------------------------------------------

  /** Creates the schema in a new catalog, or migrates an older one, in one transaction. */
  private async migrate(): Promise<void> {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    checkSchemaVersion(version, this.dir);
    if (version === SCHEMA_VERSION) return;
    // Foreign keys cannot be switched inside a transaction; the migration checks them itself.
    this.db.pragma('foreign_keys = OFF');
    try {
      await this.write(() => {
        const v = this.db.pragma('user_version', { simple: true }) as number;
        if (v === 0) this.db.exec(SCHEMA);
        else for (let from = v; from < SCHEMA_VERSION; from++) this.db.exec(MIGRATIONS[from]!);
        const bad = this.db.pragma('foreign_key_check') as unknown[];
        if (bad.length)
          throw new BootportError('ERR_STORE', `the catalog has ${bad.length} broken reference(s); it was not upgraded`, {}, 'run bootport fsck to see them');
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }, 'upgrading the catalog');
    } finally {
      this.db.pragma('foreign_keys = ON');
    }
  }
}

function createDirs(p: StorePaths): void {
  try {
    makePrivateDir(p.dir);
    for (const d of [p.blobs, p.staging, p.quarantine]) makePrivateDir(d);
  } catch (e) {
    throw ioError(`cannot create the store ${p.dir}`, e);
  }
}

function checkSchemaVersion(v: number, dir: string): void {
  if (v > SCHEMA_VERSION)
    throw new BootportError('ERR_STORE', `the catalog in ${dir} has schema ${v}, newer than this bootport's ${SCHEMA_VERSION}`, {}, 'use a newer bootport');
}

/**
 * The catalog for a command that may write. A new catalog file is created 0600 before SQLite
 * opens it (SQLite gives its -wal and -shm files the same mode), and switched to WAL.
 */
async function openWritable(p: StorePaths, create: boolean, lockTimeoutMs: number): Promise<Database.Database> {
  if (create) {
    try {
      closeSync(openSync(p.catalog, 'a', FILE_MODE));
      chmodSync(p.catalog, FILE_MODE);
    } catch (e) {
      throw ioError(`cannot create the catalog ${p.catalog}`, e);
    }
  }
  const deadline = Date.now() + lockTimeoutMs;
  for (;;) {
    let db: Database.Database | undefined;
    try {
      db = new (loadSqlite())(p.catalog, { fileMustExist: true });
      db.pragma(`busy_timeout = ${LOCK_SLICE_MS}`);
      // Processes creating one store at once can get SQLITE_BUSY here without the busy handler
      // being consulted, while another switches the new file to WAL: retried like a lock wait.
      if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      return db;
    } catch (e) {
      db?.close();
      if (!isBusy(e) || Date.now() >= deadline) throw storeError(e, `cannot open the catalog in ${p.dir}`);
      await sleep(10 + Math.random() * 30);
    }
  }
}

/**
 * The catalog for a command that only reads, opened so that it writes nothing. SQLite's WAL mode
 * needs a -shm file beside the catalog, which it cannot create on read-only media, on a full file
 * system, or for a user who may read the store but not write it. There, a catalog whose WAL is
 * empty (every commit already in the main file) is opened `immutable`, which needs no -shm.
 */
async function openReadOnly(p: StorePaths, lockTimeoutMs: number): Promise<Database.Database> {
  const Sqlite = loadSqlite();
  const walBytes = sizeOf(`${p.catalog}-wal`) ?? 0;
  const immutable = (): Database.Database => new Sqlite(`${pathToFileURL(p.catalog).href}?immutable=1`, { readonly: true, fileMustExist: true });
  if (!canCreateFiles(p.dir) && walBytes === 0) return check(immutable());
  const deadline = Date.now() + lockTimeoutMs;
  for (;;) {
    let db: Database.Database | undefined;
    try {
      db = new Sqlite(p.catalog, { readonly: true, fileMustExist: true });
      db.pragma(`busy_timeout = ${LOCK_SLICE_MS}`);
      return check(db);
    } catch (e) {
      db?.close();
      const code = (e as { code?: string }).code ?? '';
      if (isBusy(e) && Date.now() < deadline) {
        await sleep(10 + Math.random() * 30);
        continue;
      }
      if (walBytes === 0 && /^SQLITE_(CANTOPEN|READONLY|IOERR)/.test(code)) return check(immutable());
      throw storeError(e, `cannot read the catalog in ${p.dir}`);
    }
  }

  function check(db: Database.Database): Database.Database {
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }
}

/** Whether new files can be made in `dir`: not read-only, not full, and permitted. */
function canCreateFiles(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    const s = statfsSync(dir);
    return s.bavail > 0 && s.ffree !== 0;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

export function storeError(e: unknown, what: string): BootportError {
  if (e instanceof BootportError) return e;
  const code = (e as { code?: string }).code ?? '';
  if (isBusy(e))
    return new BootportError(
      'ERR_STORE_LOCKED',
      `${what}: the store is busy (another process is writing)`,
      {},
      'try again when the other command has finished',
    );
  // SHMSIZE: SQLite could not extend the catalog's -shm file, which on Linux means a full disk.
  if (code === 'ENOSPC' || code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE') {
    return new BootportError('ERR_NO_SPACE', `${what}: no space left on the store's file system`, {}, 'free space and try again', { cause: e });
  }
  if (code.startsWith('E')) return ioError(what, e);
  return new BootportError('ERR_STORE', `${what}: ${(e as Error).message}`, {}, undefined, { cause: e });
}

/** Pieces smaller than half this are gathered before they are written to staging. */
const STAGE_BATCH = 1 << 20;

/** A file's bytes in pieces of one reused buffer: each is consumed before the next is read. */
async function* readChunks(fh: FileHandle, name: string, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null).catch((e: unknown) => {
      throw ioError(`cannot read ${name}`, e);
    });
    if (bytesRead === 0) return;
    onBytes?.(bytesRead);
    yield buf.subarray(0, bytesRead);
  }
}
