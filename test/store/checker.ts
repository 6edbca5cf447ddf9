/**
 * An independent check of a store, written against the README's description of the layout and
 * the catalog's tables, not against src/store/: plain SQL through better-sqlite3, and BLAKE3 from
 * hash-wasm. It judges what the store code leaves behind, so it must not share that code's bugs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { createBLAKE3 } from 'hash-wasm';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof Database;

function openCatalog(store: string): Database.Database {
  return new Sqlite(join(store, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
}

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

/**
 * The catalog's content with everything a rerun changes left out (uids, timestamps), and every
 * reference by uid replaced by the name it points to: two stores that hold the same objects give
 * the same string.
 */
function hasTable(db: { prepare(sql: string): { get(...a: unknown[]): unknown } }, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function trustState(db: Database.Database): { trusted_keys?: unknown[]; settings?: unknown[] } {
  if (!hasTable(db, 'trusted_keys')) return {};
  const trusted_keys = db.prepare('SELECT name, fingerprint, algorithm, key FROM trusted_keys ORDER BY name').all();
  const settings = db.prepare('SELECT key, value FROM settings ORDER BY key').all();
  return trusted_keys.length || settings.length ? { trusted_keys, settings } : {};
}

export function catalogState(store: string): string {
  const db = openCatalog(store);
  try {
    const images = db.prepare('SELECT uid, name, content, size, description, distro, parent, frozen FROM images ORDER BY name').all() as Record<
      string,
      unknown
    >[];
    const imageName = new Map(images.map((i) => [i.uid, i.name]));
    const bcs = db.prepare('SELECT * FROM boot_configs ORDER BY name').all() as Record<string, unknown>[];
    const bcName = new Map(bcs.map((b) => [b.uid, b.name]));
    const v2 = hasColumn(db, 'nodes', 'boot_config');
    const nodes = (db.prepare('SELECT * FROM nodes ORDER BY name').all() as Record<string, unknown>[]).map((n) => {
      const attrs = JSON.parse(String(n.attributes)) as Record<string, string>;
      const boot = v2 ? (n.boot_config ? (bcName.get(n.boot_config) ?? `missing:${n.boot_config as string}`) : null) : (attrs._boot_config ?? null);
      delete attrs._boot_config;
      return { name: n.name, mac: n.mac, boot, attrs };
    });
    return JSON.stringify({
      blobs: db.prepare('SELECT digest, size FROM blobs ORDER BY digest').all(),
      images: images.map(({ uid: _u, ...i }) => i),
      boot_configs: bcs.map(({ uid: _u, created: _c, modified: _m, image, ...b }) => ({
        ...b,
        image: image ? (imageName.get(image) ?? `missing:${image as string}`) : null,
      })),
      nodes,
      // Schema 3: the keys the store trusts and its settings. None at all reads as an older
      // catalog without the tables, so an upgrade alone changes no state.
      ...trustState(db),
    });
  } finally {
    db.close();
  }
}

export interface Violations {
  /** Blob rows whose file is missing, of the wrong size, or does not hash to its digest. */
  badBlobs: string[];
  /** Rows that refer to rows that do not exist. */
  danglingRefs: string[];
  /** Files in blobs/ that no row names. */
  orphans: string[];
  /** Entries left in staging/. */
  staging: string[];
}

export async function checkStore(store: string): Promise<Violations> {
  const db = openCatalog(store);
  const out: Violations = { badBlobs: [], danglingRefs: [], orphans: [], staging: [] };
  try {
    const rows = db.prepare('SELECT digest, size FROM blobs').all() as { digest: string; size: number }[];
    const blobDir = join(store, 'blobs', 'blake3');
    const hasher = await createBLAKE3();
    for (const r of rows) {
      const path = join(blobDir, r.digest.slice('blake3:'.length));
      let bytes: Buffer;
      try {
        if (statSync(path).size !== r.size) {
          out.badBlobs.push(`${r.digest}: wrong size`);
          continue;
        }
        bytes = readFileSync(path);
      } catch {
        out.badBlobs.push(`${r.digest}: missing`);
        continue;
      }
      hasher.init();
      hasher.update(bytes);
      if (`blake3:${hasher.digest('hex')}` !== r.digest) out.badBlobs.push(`${r.digest}: content does not match`);
    }
    const q = (label: string, sql: string) => {
      for (const x of db.prepare(sql).all() as { name: string }[]) out.danglingRefs.push(`${label}: ${x.name}`);
    };
    q('boot config kernel', 'SELECT name FROM boot_configs WHERE kernel NOT IN (SELECT digest FROM blobs)');
    q('boot config initramfs', 'SELECT name FROM boot_configs WHERE initramfs NOT IN (SELECT digest FROM blobs)');
    q('boot config image', 'SELECT name FROM boot_configs WHERE image IS NOT NULL AND image NOT IN (SELECT uid FROM images)');
    q('image content', 'SELECT name FROM images WHERE content NOT IN (SELECT digest FROM blobs)');
    if (hasColumn(db, 'nodes', 'boot_config'))
      q('node boot config', 'SELECT name FROM nodes WHERE boot_config IS NOT NULL AND boot_config NOT IN (SELECT uid FROM boot_configs)');
    const known = new Set(rows.map((r) => r.digest.slice('blake3:'.length)));
    out.orphans = ls(blobDir).filter((f) => !known.has(f));
    out.staging = ls(join(store, 'staging'));
    return out;
  } finally {
    db.close();
  }
}

function ls(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
