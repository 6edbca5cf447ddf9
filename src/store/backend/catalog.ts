import { unlinkSync } from 'node:fs';
import type { CatalogTx, Table } from './tx.js';

/** Where a catalog lives, for messages: a directory, or an etcd URL without its secrets. */
export type CatalogKind = 'sqlite' | 'etcd';

/** A staging directory that belongs to this process for as long as it lives. */
export interface Session {
  readonly path: string;
  /** Removes the directory; safe to call twice. */
  close(): Promise<void>;
}

/** One change to a row of the catalog, as `watch` reports it. */
export interface CatalogChange {
  table: Table;
  change: 'created' | 'updated' | 'deleted';
  key: string;
  /** The row's name (its key, in a table without names). */
  name: string;
}

/** What a sweep of the staging directories found: the dead ones, and who owns the live ones. */
export interface StagingSweep {
  dead: string[];
  live: string[];
}

/**
 * The files side of the blob protocol, which the catalog drives: where a digest's file is, and
 * the directory to fsync after a rename into it or an unlink from it.
 */
export interface BlobFiles {
  readonly dir: string;
  path(digest: string): string;
  /** The blob's chunk index: derived from its content, so it goes with it. */
  index(digest: string): string;
}

/**
 * Unlinks a blob's file, then its chunk index: true if this removed the blob, false if it was
 * gone already. An index left by a crash between the two still describes that content, so
 * it is right again if the blob comes back; fsck removes it otherwise.
 */
export function unlinkBlob(files: BlobFiles, digest: string): boolean {
  const gone = (path: string) => {
    try {
      unlinkSync(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return false;
    }
  };
  const removed = gone(files.path(digest));
  gone(files.index(digest));
  return removed;
}

export interface Placement {
  path: string;
  digest: string;
  size: number;
}

/**
 * A catalog backend. Both keep the same rows (see tx.ts) and the same promises: a write happens
 * all at once or not at all; a blob row only ever names a file that exists; garbage collection
 * never removes a file that a living importer is about to commit; and what a dead process left
 * becomes collectable.
 */
export interface Catalog {
  readonly kind: CatalogKind;
  /** The catalog's place, for messages. */
  readonly where: string;
  readonly schema: number;
  readonly writable: boolean;
  /** Runs `fn` on one consistent, up-to-date snapshot. */
  read<T>(fn: (tx: CatalogTx) => T): Promise<T>;
  /** Runs `fn` as one atomic transaction; `fn` may be run again if another writer interfered. */
  write<T>(fn: (tx: CatalogTx) => T, what: string): Promise<T>;
  /**
   * A write that also moves `staged` files into blobs/: `place` is called by `fn` once nothing is
   * left to refuse, and records the rows. Staged files not placed stay where they are.
   */
  commit<T>(staged: readonly Placement[], files: BlobFiles, fn: (tx: CatalogTx, place: () => void) => T, what: string): Promise<T>;
  /**
   * Unlinks the files of these digests that have no row, safely against importers placing the
   * same content at the same moment. Returns the digests whose files were removed.
   */
  collect(digests: readonly string[], files: BlobFiles): Promise<string[]>;
  /** A staging directory in `staging` that marks this process alive while it runs. */
  startSession(staging: string, command: string): Promise<Session>;
  /** Staging directories whose owners are gone; with `remove`, they are removed. */
  sweepStaging(staging: string, opts: { remove: boolean; skip?: string }): Promise<StagingSweep>;
  /**
   * Calls `on` for every change committed from now until `signal` aborts, in commit order: by
   * any process, on any head node. `ready` is called once every later commit will be seen.
   */
  watch(on: (c: CatalogChange) => void, signal: AbortSignal, ready?: () => void): Promise<void>;
  /** Problems in the catalog's own structure (SQLite's integrity check, etcd's indexes). */
  integrity(): Promise<string[]>;
  close(): Promise<void>;
}
