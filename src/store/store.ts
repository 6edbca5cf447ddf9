import { existsSync, rmSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { digestString, DIGEST_RE } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import { BlockIndexer, type CutRunner } from '../stream/delta/block-indexer.js';
import { IndexSpool } from '../stream/delta/index-spool.js';
import { placeIndexFile, writeIndexFile } from './index-file.js';
import type { Engines } from '../stream/engine/engines.js';
import { fileChunks, ioError, writeAll } from '../stream/io/files.js';
import type { BlobFiles, Catalog, CatalogChange, Session } from './backend/catalog.js';
import { SqliteCatalog } from './backend/sqlite.js';
import type { CatalogTx } from './backend/tx.js';
import {
  ageMs,
  BLOB_MODE,
  LAYOUT_FILE,
  LAYOUT_VERSION,
  createDirs,
  listDir,
  makePrivate,
  probeStore,
  sizeOf,
  storePaths,
  writeLayout,
  type StorePaths,
} from './layout.js';
import type { StoreLocation } from './location.js';

/** A file in staging whose digest was computed from the very bytes written to it. */
export interface StagedBlob {
  path: string;
  digest: string;
  size: number;
  /** Its chunk index, a finished file beside it, cut as it was written: kept once the blob is committed. */
  indexFile?: string;
}

/** `read` commands write nothing and work on read-only media and full disks; `write` commands may change the store. */
export type StoreMode = 'read' | 'write';

export interface StoreOptions {
  /** How long to wait for another process's write transaction (or an unreachable etcd) before failing. */
  lockTimeoutMs?: number;
  /** What this process is doing, recorded so that a process waiting on it can name it. */
  command?: string;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/** Store-root temporary files older than this belong to no living write. */
const STALE_TEMP_MS = 60_000;

/**
 * One store: a catalog (SQLite beside the blobs, or etcd shared by several head nodes) plus
 * content-addressed blobs in a directory.
 *
 * The blob protocol (README, "The store"): a blob is written to this process's staging directory,
 * fsynced, and placed in blobs/ by the transaction that records its row; so a row only ever names
 * a file that exists. The catalog decides how placing is made safe against garbage collection
 * (SQLite's write lock, or etcd pins held under a lease). A transaction that fails removes the
 * blobs it placed that no row refers to. Garbage collection deletes rows and commits first, and
 * only then unlinks files, each re-checked. Whatever a crash still leaves is an orphan file,
 * removed by the next process that opens the store to write.
 */
export class Store {
  readonly paths: StorePaths;
  readonly dir: string;
  private session: Session | undefined;
  private readonly files: BlobFiles;

  private constructor(
    dir: string,
    readonly catalog: Catalog,
  ) {
    this.dir = dir;
    this.paths = storePaths(dir);
    this.files = { dir: this.paths.blobs, path: (d) => this.blobPath(d), index: (d) => this.indexPath(d) };
  }

  get blobDir(): string {
    return this.paths.blobs;
  }

  get writable(): boolean {
    return this.catalog.writable;
  }

  /** The catalog's schema version: the current one, except on a read-only view of an older store. */
  get schema(): number {
    return this.catalog.schema;
  }

  /** Where the catalog is, for messages: the store directory, or the etcd URL. */
  get where(): string {
    return this.catalog.where;
  }

  /**
   * Opens the store. For `write`, a store is created if there is none (only in a new or empty
   * directory), an older layout is upgraded, and what dead processes left is cleaned up. For
   * `read`, nothing on disk is changed, and a missing store reads as an empty one.
   */
  static async open(location: string | StoreLocation, mode: StoreMode, opts: StoreOptions = {}): Promise<Store> {
    const loc: StoreLocation = typeof location === 'string' ? { kind: 'sqlite', dir: location } : location;
    const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    if (loc.kind === 'etcd') {
      const { openEtcdStore } = await import('./backend/etcd/open.js');
      const { dir, catalog } = await openEtcdStore(loc, mode, lockTimeoutMs);
      return Store.finishOpen(dir, catalog, mode, opts);
    }
    const dir = loc.dir;
    const state = probeStore(dir);
    const p = storePaths(dir);
    if (state.kind === 'store' && state.catalog !== undefined)
      throw new BootportError(
        'ERR_STORE',
        `${dir} holds the blobs of a catalog in etcd, not a store of its own`,
        {},
        'open the store by its etcd URL, with blobs= set to this directory',
      );
    if (mode === 'read') {
      if (state.kind !== 'store') return new Store(dir, SqliteCatalog.empty(p, lockTimeoutMs));
      return new Store(dir, await SqliteCatalog.open(p, 'read', false, lockTimeoutMs));
    }
    if (state.kind !== 'store') createDirs(p);
    else if (state.layout < LAYOUT_VERSION) {
      // Written first, so a bootport that predates this layout refuses the store from here on.
      createDirs(p);
      makePrivate(p);
      writeLayout(p.layout, true);
    }
    const catalog = await SqliteCatalog.open(p, 'write', state.kind !== 'store', lockTimeoutMs);
    try {
      if (state.kind !== 'store') writeLayout(p.layout, false);
    } catch (e) {
      await catalog.close();
      throw e;
    }
    return Store.finishOpen(dir, catalog, mode, opts);
  }

  private static async finishOpen(dir: string, catalog: Catalog, mode: StoreMode, opts: StoreOptions): Promise<Store> {
    const store = new Store(dir, catalog);
    if (mode === 'read') return store;
    try {
      store.session = await catalog.startSession(store.paths.staging, opts.command ?? 'bootport');
      await store.recover();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.close();
    await this.catalog.close();
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

  /** Runs `fn` on one consistent snapshot of the catalog. */
  read<T>(fn: (tx: CatalogTx) => T): Promise<T> {
    return this.catalog.read(fn);
  }

  /** Runs `fn` as one transaction: all of it happens, or none of it. `fn` must not await. */
  write<T>(fn: (tx: CatalogTx) => T, what = 'the catalog update'): Promise<T> {
    if (!this.writable) throw new Error('the store was opened read-only');
    return this.catalog.write(fn, what);
  }

  /**
   * Runs `fn` in a write transaction with `place`, which moves `staged` blobs into blobs/ and
   * records them. `fn` validates everything first and calls `place` only when nothing is left to
   * refuse. If the transaction fails, the blobs it placed that no row refers to are removed.
   */
  async commit<T>(staged: readonly StagedBlob[], fn: (tx: CatalogTx, place: () => void) => T, what = 'the catalog update'): Promise<T> {
    if (!this.writable) throw new Error('the store was opened read-only');
    const out = await this.catalog.commit(staged, this.files, fn, what);
    await this.keepIndexes(staged);
    return out;
  }

  /**
   * The chunk indexes of blobs just committed. They are derived data: one that cannot be written
   * leaves its blob without, which fsck reports and `fsck --repair` or the next delta export
   * computes again, so the commit still stands.
   */
  private async keepIndexes(staged: readonly StagedBlob[]): Promise<void> {
    for (const b of staged) {
      if (!b.indexFile || existsSync(this.indexPath(b.digest)) || !existsSync(this.blobPath(b.digest))) continue;
      await placeIndexFile(b.indexFile, this.indexPath(b.digest), b.digest).catch(() => undefined);
    }
  }

  /** Writes a blob's chunk index file (see index-file.ts). */
  saveIndex(digest: string, bytes: Uint8Array): Promise<void> {
    return writeIndexFile(this.indexPath(digest), this.stagingDir(), digest, bytes);
  }

  // ---- blobs ----------------------------------------------------------------------------------

  blobPath(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw new BootportError('ERR_STORE', `not a digest: ${digest}`);
    return join(this.paths.blobs, digest.slice('blake3:'.length));
  }

  /** Where the blob's chunk index is kept. */
  indexPath(digest: string): string {
    return join(this.paths.index, this.blobPath(digest).slice(this.paths.blobs.length + 1));
  }

  /** The blob's size if its row and its file both exist and agree, which is all dedup trusts. */
  healthyBlob(tx: CatalogTx, digest: string): number | undefined {
    const row = tx.get('blobs', digest);
    return row && sizeOf(this.blobPath(digest)) === row.size ? row.size : undefined;
  }

  /** Copies a file into staging, hashing the bytes as they are written, and fsyncs it. */
  async stageFile(source: string, engines: Engines, onBytes?: (n: number) => void, cuts?: CutRunner): Promise<StagedBlob> {
    const src = await open(source, 'r').catch((e: unknown) => {
      throw ioError(`cannot read ${source}`, e);
    });
    try {
      if (!(await src.stat()).isFile()) throw new BootportError('ERR_INVALID', `${source} is not a regular file`);
      return await this.stageStream(fileChunks(src, source, 1 << 20, onBytes), engines, source, cuts);
    } finally {
      await src.close();
    }
  }

  /**
   * Copies a stream into this store's staging, hashed on the way and fsynced, ready for `commit`.
   * `what` names the source in errors.
   */
  async stageStream(data: AsyncIterable<Uint8Array>, engines: Engines, what: string, cuts?: CutRunner): Promise<StagedBlob> {
    const path = join(this.stagingDir(), `file-${randomBytes(8).toString('hex')}`);
    const hasher = await engines.hash.create();
    // The chunk index goes to a file beside the blob as it is cut, not into memory.
    const spool = IndexSpool.create(`${path}.index`, BLOB_MODE);
    const cutter = new BlockIndexer(engines.pieces, cuts, spool);
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
          await cutter.add(batch.subarray(0, fill));
          await writeAll(dst, batch.subarray(0, fill));
          fill = 0;
        };
        for await (const piece of data) {
          size += piece.length;
          if (piece.length >= STAGE_BATCH / 2) {
            await flush();
            hasher.update(piece);
            await cutter.add(piece);
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
      await cutter.end();
    } catch (e) {
      spool.abandon();
      throw e instanceof BootportError ? e : ioError(`cannot stage ${what} in ${this.dir}`, e);
    }
    const digest = hasher.digest();
    await spool.finish(digest, size, engines.hash);
    return { path, digest: digestString(digest), size, indexFile: spool.path };
  }

  /**
   * GC, first phase: deletes the rows of blobs nothing refers to. Call inside `write`, after
   * deleting objects; pass what it returns to `unlinkOrphans` once the transaction has committed.
   */
  dropUnreferencedBlobs(tx: CatalogTx, candidates?: readonly string[]): string[] {
    const dead: string[] = [];
    for (const d of candidates ?? tx.all('blobs').map((b) => b.digest)) {
      if (!tx.get('blobs', d) || tx.referrers('blobs', d).length) continue;
      tx.remove('blobs', d);
      dead.push(d);
    }
    return dead;
  }

  /**
   * GC, second phase: unlinks blob files that no row refers to, each re-checked against
   * importers placing the same content meanwhile. With no argument, every file in blobs/ is
   * considered: the sweep for orphans a crash left. Returns the digests whose files were removed.
   */
  async unlinkOrphans(digests?: readonly string[]): Promise<string[]> {
    const candidates = digests ?? (await this.orphanCandidates());
    if (!candidates.length) return [];
    return this.catalog.collect(candidates, this.files);
  }

  /** Files in blobs/ with no row, seen from outside a transaction (re-checked by unlinkOrphans). */
  async orphanCandidates(): Promise<string[]> {
    const files = listDir(this.paths.blobs)
      .map((f) => `blake3:${f}`)
      .filter((d) => DIGEST_RE.test(d));
    if (!files.length) return [];
    return this.read((tx) => files.filter((d) => !tx.get('blobs', d)));
  }

  /** Reports every change to the catalog, by any process, until `signal` aborts. */
  watch(on: (c: CatalogChange) => void, signal: AbortSignal, ready?: () => void): Promise<void> {
    return this.catalog.watch(on, signal, ready);
  }

  /** Staging directories whose owners are gone; with `remove`, they are removed. */
  sweepStaging(remove: boolean): Promise<string[]> {
    return this.catalog.sweepStaging(this.paths.staging, { remove, ...(this.session ? { skip: this.session.path } : {}) }).then((r) => r.dead);
  }

  /** What dead processes left: their staging, stray layout temporaries, and orphan blobs. */
  private async recover(): Promise<void> {
    await this.sweepStaging(true);
    for (const f of listDir(this.dir)) {
      if (f.startsWith(`${LAYOUT_FILE}.`) && ageMs(join(this.dir, f)) > STALE_TEMP_MS) rmSync(join(this.dir, f), { force: true });
    }
    await this.unlinkOrphans();
  }
}

/** Pieces smaller than half this are gathered before they are written to staging. */
const STAGE_BATCH = 1 << 20;
