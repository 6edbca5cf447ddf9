import { accessSync, chmodSync, closeSync, constants, openSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type Database from 'better-sqlite3';
import { BootportError } from '../../format/errors.js';
import { fsyncPath, ioError } from '../../stream/io/files.js';
import { describeOwner, loadSqlite, sweepWorkDirs, WorkDir } from '../../stream/io/workdir.js';
import { FILE_MODE, sizeOf, type StorePaths } from '../layout.js';
import { unlinkBlob, type BlobFiles, type Catalog, type CatalogChange, type Placement, type Session, type StagingSweep } from './catalog.js';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './sqlite-schema.js';
import {
  keyOf,
  nameOf,
  referringColumns,
  TABLE_ORDER,
  TABLES,
  type CatalogTx,
  type NamedTable,
  type Referenced,
  type Referrer,
  type Rows,
  type Table,
} from './tx.js';

/**
 * Each attempt at the write lock waits at most this long inside SQLite, which blocks the thread;
 * between attempts the event loop runs, so Ctrl-C ends a long wait at once.
 */
const LOCK_SLICE_MS = 100;
/** How often `watch` asks SQLite whether another connection committed. */
const WATCH_POLL_MS = 100;

/**
 * The embedded catalog: one SQLite file beside the blobs, for one head node. A write takes
 * SQLite's write lock for its whole length, so staged blobs are renamed into blobs/ inside the
 * transaction that inserts their rows, and garbage collection re-checks each file under the same
 * lock: nobody can place or commit in between.
 */
export class SqliteCatalog implements Catalog {
  readonly kind = 'sqlite' as const;
  readonly where: string;
  private readonly tx: SqliteTx;
  /** This process's staging directory, which lock-waits leave out when naming who holds the store. */
  private ownStaging: string | undefined;

  private constructor(
    readonly db: Database.Database,
    private readonly paths: StorePaths,
    readonly writable: boolean,
    readonly schema: number,
    private readonly lockTimeoutMs: number,
  ) {
    this.where = paths.dir;
    this.tx = new SqliteTx(db, schema);
  }

  static async open(p: StorePaths, mode: 'read' | 'write', create: boolean, lockTimeoutMs: number): Promise<SqliteCatalog> {
    if (mode === 'read') {
      const db = await openReadOnly(p, lockTimeoutMs);
      const schema = db.pragma('user_version', { simple: true }) as number;
      checkSchemaVersion(schema, p.dir);
      return new SqliteCatalog(db, p, false, schema, lockTimeoutMs);
    }
    const db = await openWritable(p, create, lockTimeoutMs);
    const cat = new SqliteCatalog(db, p, true, SCHEMA_VERSION, lockTimeoutMs);
    try {
      await cat.migrate();
    } catch (e) {
      db.close();
      throw e;
    }
    return cat;
  }

  /** A store that is not there yet reads as one with nothing in it. */
  static empty(p: StorePaths, lockTimeoutMs: number): SqliteCatalog {
    const db = new (loadSqlite())(':memory:');
    db.exec(SCHEMA);
    return new SqliteCatalog(db, p, false, SCHEMA_VERSION, lockTimeoutMs);
  }

  read<T>(fn: (tx: CatalogTx) => T): Promise<T> {
    try {
      return Promise.resolve(this.db.transaction(() => fn(this.tx)).deferred());
    } catch (e) {
      return Promise.reject(this.storeError(e, 'reading the catalog failed'));
    }
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction: all of it happens, or none of it. The write lock is
   * waited for in slices, so the wait is bounded and a signal can end it; `fn` itself must not
   * await, since nothing else may run while the lock is held.
   */
  async write<T>(fn: (tx: CatalogTx) => T, what: string): Promise<T> {
    if (!this.writable) throw new Error('the store was opened read-only');
    await this.begin();
    try {
      const r = fn(this.tx);
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw this.storeError(e, `${what} failed`);
    }
  }

  async commit<T>(staged: readonly Placement[], files: BlobFiles, fn: (tx: CatalogTx, place: () => void) => T, what: string): Promise<T> {
    const placed: string[] = [];
    const place = (): void => {
      for (const s of staged) {
        // A healthy copy is kept. Anything else at that name (a file with no row, a short file)
        // was never verified, and is replaced by the bytes hashed on the way into staging.
        const row = this.tx.get('blobs', s.digest);
        if (row?.size === s.size && sizeOf(files.path(s.digest)) === s.size) {
          rmSync(s.path, { force: true });
          continue;
        }
        renameSync(s.path, files.path(s.digest));
        placed.push(s.digest);
        this.tx.upsert('blobs', { digest: s.digest, size: s.size });
      }
      if (placed.length) fsyncPath(files.dir);
    };
    try {
      return await this.write((tx) => fn(tx, place), what);
    } catch (e) {
      if (placed.length) await this.collect(placed, files).catch(() => {});
      throw e;
    }
  }

  /** Re-checked under the write lock: a concurrent import may have committed the same content. */
  async collect(digests: readonly string[], files: BlobFiles): Promise<string[]> {
    if (!digests.length) return [];
    return this.write((tx) => {
      const removed: string[] = [];
      for (const d of digests) {
        if (!tx.get('blobs', d) && unlinkBlob(files, d)) removed.push(d);
      }
      if (removed.length) fsyncPath(files.dir);
      return removed;
    }, 'removing unreferenced blobs');
  }

  /** Liveness is a kernel file lock held in the directory (see WorkDir). */
  startSession(staging: string, command: string): Promise<Session> {
    const dir = WorkDir.create(staging, '', command);
    this.ownStaging = dir.path;
    return Promise.resolve({
      path: dir.path,
      close: () => {
        dir.removeSync();
        return Promise.resolve();
      },
    });
  }

  sweepStaging(staging: string, opts: { remove: boolean; skip?: string }): Promise<StagingSweep> {
    const r = sweepWorkDirs(staging, '', { dryRun: !opts.remove, ...(opts.skip ? { skip: opts.skip } : {}) });
    return Promise.resolve({ dead: r.dead, live: r.live.map(describeOwner) });
  }

  /**
   * SQLite has no change feed: the catalog is polled, and read again only when its data_version
   * says another connection committed. Each read is diffed against the one before.
   */
  async watch(on: (c: CatalogChange) => void, signal: AbortSignal, ready?: () => void): Promise<void> {
    let version = -1;
    let before = new Map<string, { table: Table; key: string; name: string; json: string }>();
    let first = true;
    while (!signal.aborted) {
      const v = this.db.pragma('data_version', { simple: true }) as number;
      if (v !== version) {
        version = v;
        const now = await this.read((tx) => {
          const m = new Map<string, { table: Table; key: string; name: string; json: string }>();
          for (const t of TABLE_ORDER)
            for (const row of tx.all(t)) m.set(`${t}/${keyOf(t, row)}`, { table: t, key: keyOf(t, row), name: nameOf(t, row), json: JSON.stringify(row) });
          return m;
        });
        if (!first) {
          for (const [k, r] of now) {
            const old = before.get(k);
            if (!old) on({ table: r.table, change: 'created', key: r.key, name: r.name });
            else if (old.json !== r.json) on({ table: r.table, change: 'updated', key: r.key, name: r.name });
          }
          for (const [k, r] of before) if (!now.has(k)) on({ table: r.table, change: 'deleted', key: r.key, name: r.name });
        }
        if (first) ready?.();
        first = false;
        before = now;
      }
      await sleep(WATCH_POLL_MS);
    }
  }

  integrity(): Promise<string[]> {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return Promise.resolve(
      rows
        .map((r) => r.integrity_check)
        .filter((m) => m !== 'ok')
        .map((m) => `SQLite integrity check: ${m}`),
    );
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
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
  private lockedError(): BootportError {
    const others = sweepWorkDirs(this.paths.staging, '', { dryRun: true, ...(this.ownStaging ? { skip: this.ownStaging } : {}) }).live;
    const who = others.length
      ? `bootport processes using it: ${others.map(describeOwner).join('; ')}`
      : 'no bootport process is using it, so another program holds the lock (an sqlite3 shell on catalog.sqlite, say)';
    return new BootportError(
      'ERR_STORE_LOCKED',
      `the store ${this.paths.dir} stayed locked for ${Math.round(this.lockTimeoutMs / 1000)} s: ${who}`,
      {},
      'try again when that has finished; BOOTPORT_LOCK_TIMEOUT sets how many seconds to wait',
    );
  }

  private storeError(e: unknown, what: string): BootportError {
    if (e instanceof BootportError) return e;
    if (isBusy(e)) return this.lockedError();
    return storeError(e, what);
  }

  /** Creates the schema in a new catalog, or migrates an older one, in one transaction. */
  private async migrate(): Promise<void> {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    checkSchemaVersion(version, this.paths.dir);
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

/** The rows through prepared SQL. Valid inside a read or write transaction of its catalog. */
class SqliteTx implements CatalogTx {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly columns = new Map<Table, Set<string>>();

  constructor(
    private readonly db: Database.Database,
    readonly schema: number,
  ) {}

  get<T extends Table>(t: T, key: string): Rows[T] | undefined {
    if (!this.has(t)) return undefined;
    return this.sql(`SELECT * FROM ${t} WHERE ${TABLES[t].key} = ?`).get(key) as Rows[T] | undefined;
  }

  byName<T extends NamedTable>(t: T, name: string): Rows[T] | undefined {
    if (!this.has(t)) return undefined;
    return this.sql(`SELECT * FROM ${t} WHERE name = ?`).get(name) as Rows[T] | undefined;
  }

  byKeyPrefix<T extends Table>(t: T, prefix: string, limit: number): Rows[T][] {
    if (!this.has(t)) return [];
    const k = TABLES[t].key;
    return this.sql(`SELECT * FROM ${t} WHERE substr(${k}, 1, length(@p)) = @p ORDER BY ${k} LIMIT @n`).all({ p: prefix, n: limit }) as Rows[T][];
  }

  all<T extends Table>(t: T): Rows[T][] {
    if (!this.has(t)) return [];
    return this.sql(`SELECT * FROM ${t} ORDER BY ${TABLES[t].name ?? TABLES[t].key}`).all() as Rows[T][];
  }

  insert<T extends Table>(t: T, row: Rows[T]): void {
    const cols = this.columnsOf(t);
    this.sql(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`).run(row);
  }

  update<T extends Table>(t: T, row: Rows[T]): void {
    const k = TABLES[t].key;
    const set = this.columnsOf(t).filter((c) => c !== k);
    this.sql(`UPDATE ${t} SET ${set.map((c) => `${c} = @${c}`).join(', ')} WHERE ${k} = @${k}`).run(row);
  }

  upsert<T extends Table>(t: T, row: Rows[T]): void {
    const k = TABLES[t].key;
    const cols = this.columnsOf(t);
    const set = cols.filter((c) => c !== k).map((c) => `${c} = excluded.${c}`);
    this.sql(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')}) ON CONFLICT (${k}) DO UPDATE SET ${set.join(', ')}`).run(
      row,
    );
  }

  remove(t: Table, key: string): void {
    this.sql(`DELETE FROM ${t} WHERE ${TABLES[t].key} = ?`).run(key);
  }

  referrers(target: Referenced, key: string): Referrer[] {
    const out: Referrer[] = [];
    for (const { table, column } of referringColumns(target)) {
      if (!this.has(table) || !this.present(table).has(column)) continue;
      for (const row of this.sql(`SELECT * FROM ${table} WHERE ${column} = ? ORDER BY ${TABLES[table].name ?? TABLES[table].key}`).all(key))
        out.push({ table, row } as Referrer);
    }
    return out;
  }

  private sql(text: string): Database.Statement {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  /** A read-only view of an older catalog may lack a table (trust, before schema 3) or a column. */
  private has(t: Table): boolean {
    return this.present(t).size > 0;
  }

  private present(t: Table): Set<string> {
    let c = this.columns.get(t);
    if (!c) {
      c = new Set((this.db.pragma(`table_info(${t})`) as { name: string }[]).map((r) => r.name));
      this.columns.set(t, c);
    }
    return c;
  }

  private columnsOf(t: Table): string[] {
    const present = this.present(t);
    return TABLES[t].columns.filter((c) => present.has(c));
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
