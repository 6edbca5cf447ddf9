import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BootportError } from '../format/errors.js';
import { fsyncPath, ioError } from '../stream/io/files.js';

/**
 * The store's directory layout. A store exists once its layout file does, and the layout file is
 * written last when a store is created: so a layout file with no catalog beside it means the
 * catalog was lost, never that the store is new.
 *
 * ```
 * STORE/                       0700
 *   bootport-store.json        0600  {"layout": 2, ...}
 *   catalog.sqlite(-wal,-shm)  0600  absent when the catalog is in etcd ({"catalog": "etcd:<id>"})
 *   blobs/blake3/<64 hex>      0400  content, named by its BLAKE3
 *   staging/<id>/              0700  one per living bootport process that may change the store
 *   quarantine/                0700  blobs fsck found damaged
 *   index/blake3/<64 hex>      0400  each blob's chunk index (derived: rebuilt by fsck --repair)
 * ```
 */
export const LAYOUT_FILE = 'bootport-store.json';
export const CATALOG_FILE = 'catalog.sqlite';
/** 2: private modes, quarantine/, lock-owned staging, nodes.boot_config as a foreign key. */
export const LAYOUT_VERSION = 2;
export const SUPPORTED_LAYOUTS = [1, 2] as const;

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
export const BLOB_MODE = 0o400;

export interface StorePaths {
  dir: string;
  layout: string;
  catalog: string;
  blobs: string;
  staging: string;
  quarantine: string;
  index: string;
}

export function storePaths(dir: string): StorePaths {
  return {
    dir,
    layout: join(dir, LAYOUT_FILE),
    catalog: join(dir, CATALOG_FILE),
    blobs: join(dir, 'blobs', 'blake3'),
    staging: join(dir, 'staging'),
    quarantine: join(dir, 'quarantine'),
    index: join(dir, 'index', 'blake3'),
  };
}

/** What is at a store path: nothing yet, a directory a store may be created in, or a store. */
export type StoreState = { kind: 'absent' } | { kind: 'empty' } | { kind: 'store'; layout: number; catalog?: string };

/** What a store directory holds besides its layout file (and the layout file's temporaries). */
export const STORE_ENTRIES = [
  CATALOG_FILE,
  `${CATALOG_FILE}-wal`,
  `${CATALOG_FILE}-shm`,
  `${CATALOG_FILE}-journal`,
  'blobs',
  'staging',
  'quarantine',
  'index',
] as const;

/** Names an interrupted store creation may have left; a directory holding only these is still "empty". */
const CREATION_LEFTOVERS = new Set<string>(STORE_ENTRIES);

/**
 * Looks at `dir` without changing anything, and refuses what must not be opened as a store: a
 * store whose catalog is gone (recreating it would orphan, then collect, every blob), a newer
 * layout, and a directory that holds anything but a store. `again` is for the second look.
 */
export function probeStore(dir: string, again = true): StoreState {
  const p = storePaths(dir);
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw new BootportError('ERR_STORE', `cannot read the store ${dir}: ${(e as Error).message}`, {}, undefined, { cause: e });
  }
  if (!st.isDirectory())
    throw new BootportError('ERR_STORE', `${dir} is not a directory, so it cannot be a store`, {}, 'choose another store directory', {
      remedies: ['choose-store'],
    });
  const found = readLayout(p.layout);
  if (found !== undefined) {
    const { layout, catalog } = found;
    // The blobs of an etcd catalog: the catalog is elsewhere, and its id is checked on opening.
    if (catalog !== undefined) return { kind: 'store', layout, catalog };
    const cat = sizeOf(p.catalog);
    if (!cat) {
      const blobs = countEntries(p.blobs);
      throw new BootportError(
        'ERR_STORE',
        `the catalog ${p.catalog} is ${cat === 0 ? 'empty' : 'missing'}, though ${LAYOUT_FILE} shows a store was here ` +
          `(blobs/ holds ${blobs} file(s)); bootport will not create a new catalog over it`,
        {},
        'restore catalog.sqlite from a backup (see the README on backups), then run bootport fsck; to start afresh, move the store directory away',
      );
    }
    return { kind: 'store', layout };
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new BootportError('ERR_STORE', `cannot read the store ${dir}: ${(e as Error).message}`, {}, undefined, { cause: e });
  }
  // A layout file listed here was not there when it was looked for above: another process has
  // just finished creating a store in this directory, so this one looks again and opens it.
  if (names.includes(LAYOUT_FILE) && again) return probeStore(dir, false);
  const foreign = names.filter((n) => !CREATION_LEFTOVERS.has(n) && n !== LAYOUT_FILE && !n.startsWith(`${LAYOUT_FILE}.`));
  if (foreign.length) {
    const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? ', …' : '');
    throw new BootportError(
      'ERR_STORE',
      `${dir} is not a bootport store: it holds ${shown} and no ${LAYOUT_FILE}`,
      {},
      'use a new or empty directory, or the directory of an existing store',
      { remedies: ['choose-store'] },
    );
  }
  if (countEntries(p.blobs) > 0) {
    throw new BootportError(
      'ERR_STORE',
      `${dir} holds blobs but no ${LAYOUT_FILE}: the store's layout file was lost`,
      {},
      'restore bootport-store.json from a backup; bootport will not treat a store with content as new',
    );
  }
  return { kind: 'empty' };
}

function readLayout(path: string): { layout: number; catalog?: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BootportError('ERR_STORE', `cannot read ${path}: ${(e as Error).message}`, {}, undefined, { cause: e });
  }
  let v: unknown;
  let catalog: unknown;
  try {
    ({ layout: v, catalog } = JSON.parse(text) as { layout?: unknown; catalog?: unknown });
  } catch {
    throw new BootportError('ERR_STORE', `${path} is not valid JSON`, {}, 'restore it from a backup');
  }
  if (typeof v !== 'number' || !(SUPPORTED_LAYOUTS as readonly number[]).includes(v)) {
    const newer = typeof v === 'number' && v > LAYOUT_VERSION;
    throw new BootportError(
      'ERR_STORE',
      `store layout ${String(v)} is not supported (this bootport reads layouts ${SUPPORTED_LAYOUTS.join(' and ')})`,
      {},
      newer ? 'use a newer bootport' : 'restore bootport-store.json from a backup',
    );
  }
  if (catalog !== undefined && (typeof catalog !== 'string' || !catalog.startsWith('etcd:')))
    throw new BootportError('ERR_STORE', `${path} names a catalog this bootport does not know: ${JSON.stringify(catalog)}`, {}, 'use a newer bootport');
  return catalog === undefined ? { layout: v } : { layout: v, catalog };
}

/** The size of a file, or undefined if it cannot be seen. */
export function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** How long ago a file was last changed, in ms (0 if it cannot be seen). */
export function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** The names in a directory, sorted; none if it cannot be read. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function countEntries(dir: string): number {
  return listDir(dir).length;
}

/** Creates `path` (and missing parents) as a private directory, whatever the umask. */
export function makePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: DIR_MODE });
  chmodSync(path, DIR_MODE);
}

/**
 * Writes the layout file all at once or not at all: written under a private name, fsynced, then
 * linked into place, which fails if another process got there first (whose file is as good) or
 * renamed over an older one when `replace` is set. The directory is fsynced after.
 */
export function writeLayout(path: string, replace: boolean, catalog?: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(tmp, 'wx', FILE_MODE);
    try {
      writeSync(fd, JSON.stringify({ layout: LAYOUT_VERSION, created: new Date().toISOString(), ...(catalog ? { catalog } : {}) }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, FILE_MODE);
    if (replace) renameSync(tmp, path);
    else linkSync(tmp, path);
    fsyncPath(dirname(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot write ${path}`, e);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Makes every directory 0700 and every file 0600 (blobs 0400), for a store made before the store
 * was private. Root file system images hold host keys and secrets.
 */
export function makePrivate(p: StorePaths): void {
  const walk = (path: string, blob: boolean): void => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      chmodSync(path, DIR_MODE);
      for (const n of readdirSync(path)) walk(join(path, n), blob || path === p.blobs);
    } else chmodSync(path, blob ? BLOB_MODE : FILE_MODE);
  };
  walk(p.dir, false);
}

/** The directories of a store (or of an etcd catalog's blobs), private from the start. */
export function createDirs(p: StorePaths): void {
  try {
    makePrivateDir(p.dir);
    for (const d of [p.blobs, p.staging, p.quarantine, dirname(p.index), p.index]) makePrivateDir(d);
  } catch (e) {
    throw ioError(`cannot create the store ${p.dir}`, e);
  }
}
