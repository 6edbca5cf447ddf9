import type { BootStyle } from '../../format/manifest.js';

/**
 * The catalog as every backend holds it: six tables of rows, each row found by its key, most by
 * a unique name too, and some referring to rows of other tables. The catalog code reads and
 * changes rows only through a `CatalogTx`, so the same rules run on SQLite and on etcd.
 */

export interface BlobRow {
  digest: string;
  size: number;
}

export interface ImageRow {
  uid: string;
  name: string;
  content: string;
  size: number;
  description: string;
  distro: string;
  parent: string;
  frozen: number;
  created: string;
  modified: string;
}

export interface BootConfigRow {
  uid: string;
  name: string;
  kernel: string;
  kernel_name: string;
  initramfs: string;
  initramfs_name: string;
  cmdline: string;
  image: string | null;
  boot_style: BootStyle;
  description: string;
  frozen: number;
  release: string | null;
  attributes: string;
  created: string;
  modified: string;
}

/** A node. Its boot config is a reference, shown as the `_boot_config` attribute. */
export interface NodeRow {
  uid: string;
  name: string;
  mac: string | null;
  attributes: string;
  created: string;
  modified: string;
  boot_config: string | null;
}

export interface KeyRow {
  fingerprint: string;
  name: string;
  algorithm: string;
  key: string;
  added: string;
}

export interface SettingRow {
  key: string;
  value: string;
}

export interface Rows {
  blobs: BlobRow;
  images: ImageRow;
  boot_configs: BootConfigRow;
  nodes: NodeRow;
  trusted_keys: KeyRow;
  settings: SettingRow;
}

export type Table = keyof Rows;
export type NamedTable = 'images' | 'boot_configs' | 'nodes' | 'trusted_keys';
/** The tables whose rows other rows refer to. */
export type Referenced = 'blobs' | 'images' | 'boot_configs';

interface TableSpec {
  /** The column that identifies a row. */
  key: string;
  /** The column that is unique too, and orders listings. */
  name?: string;
  /** Columns that hold the key of a row in another table (or null). */
  refs: Readonly<Record<string, Referenced>>;
  columns: readonly string[];
}

export const TABLES: Readonly<Record<Table, TableSpec>> = {
  blobs: { key: 'digest', refs: {}, columns: ['digest', 'size'] },
  images: {
    key: 'uid',
    name: 'name',
    refs: { content: 'blobs' },
    columns: ['uid', 'name', 'content', 'size', 'description', 'distro', 'parent', 'frozen', 'created', 'modified'],
  },
  boot_configs: {
    key: 'uid',
    name: 'name',
    refs: { kernel: 'blobs', initramfs: 'blobs', image: 'images' },
    columns: [
      'uid',
      'name',
      'kernel',
      'kernel_name',
      'initramfs',
      'initramfs_name',
      'cmdline',
      'image',
      'boot_style',
      'description',
      'frozen',
      'release',
      'attributes',
      'created',
      'modified',
    ],
  },
  nodes: {
    key: 'uid',
    name: 'name',
    refs: { boot_config: 'boot_configs' },
    columns: ['uid', 'name', 'mac', 'attributes', 'created', 'modified', 'boot_config'],
  },
  trusted_keys: { key: 'fingerprint', name: 'name', refs: {}, columns: ['fingerprint', 'name', 'algorithm', 'key', 'added'] },
  settings: { key: 'key', refs: {}, columns: ['key', 'value'] },
};

/** What each table's rows are called, as an admin reads them. */
export const LABEL: Readonly<Record<Table, string>> = {
  blobs: 'blob',
  images: 'image',
  boot_configs: 'boot config',
  nodes: 'node',
  trusted_keys: 'trusted key',
  settings: 'setting',
};

/** Tables in the order that rows must be created so that every reference has its target. */
export const TABLE_ORDER: readonly Table[] = ['blobs', 'images', 'boot_configs', 'nodes', 'trusted_keys', 'settings'];

/** Every (table, column) that refers to rows of `target`. */
export function referringColumns(target: Referenced): { table: Table; column: string }[] {
  const out: { table: Table; column: string }[] = [];
  for (const t of TABLE_ORDER) for (const [column, to] of Object.entries(TABLES[t].refs)) if (to === target) out.push({ table: t, column });
  return out;
}

export function keyOf<T extends Table>(t: T, row: Rows[T]): string {
  return (row as unknown as Record<string, string>)[TABLES[t].key]!;
}

export function nameOf<T extends Table>(t: T, row: Rows[T]): string {
  const col = TABLES[t].name ?? TABLES[t].key;
  return (row as unknown as Record<string, string>)[col]!;
}

/** The tables whose rows refer to others. */
type Referring = 'images' | 'boot_configs' | 'nodes';

/** A row that refers to another, as `referrers` gives it. */
export type Referrer = { [T in Referring]: { table: T; row: Rows[T] } }[Referring];

/**
 * One transaction's view of the catalog. Everything read comes from one snapshot; a write
 * transaction's changes are seen by its own later reads and become visible to others all at
 * once, or not at all. Calls are synchronous: a backend that must fetch over the network loads
 * the snapshot before the transaction's function runs.
 */
export interface CatalogTx {
  /** The catalog's schema version (an older one only on a read-only view of an old store). */
  readonly schema: number;
  get<T extends Table>(t: T, key: string): Rows[T] | undefined;
  byName<T extends NamedTable>(t: T, name: string): Rows[T] | undefined;
  /** Rows whose key starts with `prefix`, at most `limit` of them. */
  byKeyPrefix<T extends Table>(t: T, prefix: string, limit: number): Rows[T][];
  /** Every row, by name (by key in a table without names). */
  all<T extends Table>(t: T): Rows[T][];
  /** Adds a row; its key and name must be free (the catalog code checks that first). */
  insert<T extends Table>(t: T, row: Rows[T]): void;
  /** Replaces the row with the same key. */
  update<T extends Table>(t: T, row: Rows[T]): void;
  /** Adds the row, or replaces the one with the same key. */
  upsert<T extends Table>(t: T, row: Rows[T]): void;
  remove(t: Table, key: string): void;
  /** The rows that refer to this one, by table and then name. */
  referrers(t: Referenced, key: string): Referrer[];
}
