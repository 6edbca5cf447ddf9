import { BootportError } from '../format/errors.js';
import type { Engines } from '../stream/engine/engines.js';
import { SCHEMA_VERSION } from './backend/sqlite-schema.js';
import { keyOf, LABEL, nameOf, TABLE_ORDER, TABLES, type CatalogTx, type Rows, type Table } from './backend/tx.js';
import type { Store } from './store.js';

/** What one table or the blobs came to: copied now, or found there already (an earlier run). */
export interface MigrateCount {
  copied: number;
  present: number;
}

export interface MigrateReport {
  from: string;
  to: string;
  blobs: MigrateCount & { bytes: number };
  rows: Record<Exclude<Table, 'blobs'>, MigrateCount>;
  /** The check after the copy: every row of the source is in the target, the same, and every blob is whole. */
  verified: true;
}

/** Rows are copied this many to a transaction: well under etcd's default of 128 operations. */
const BATCH = 20;

/**
 * Copies every row and blob of `from` into `to`, keeping uids, names and times, then checks the
 * result. What the target already holds the same is left as it is, so a second run copies
 * nothing and a run that was stopped picks up where it was; what it holds differently is a
 * conflict, and nothing of it is changed. Blobs are copied through staging and hashed on the
 * way: a damaged source blob stops the copy, named, before any row refers to it.
 */
export async function migrateStore(from: Store, to: Store, engines: Engines, onBlob?: (digest: string, size: number) => void): Promise<MigrateReport> {
  if (from.schema < SCHEMA_VERSION)
    throw new BootportError(
      'ERR_STORE',
      `the source store ${from.where} has an older catalog schema`,
      {},
      'upgrade it first: any change to it, or a repair by fsck, upgrades it',
    );
  const source = await from.read((tx) => Object.fromEntries(TABLE_ORDER.map((t) => [t, tx.all(t)])) as { [T in Table]: Rows[T][] });
  const report: MigrateReport = {
    from: from.where,
    to: to.where,
    blobs: { copied: 0, present: 0, bytes: 0 },
    rows: { images: zero(), boot_configs: zero(), nodes: zero(), trusted_keys: zero(), settings: zero() },
    verified: true,
  };
  // Refused before anything is copied: a target that holds other objects under these names.
  await to.read((tx) => {
    for (const t of TABLE_ORDER)
      for (const row of source[t] as Rows[Table][]) if (standing(tx, t, row) === 'clash') throw differs(t, nameOf(t, row as never), to.where);
  });
  for (const b of source.blobs) {
    if ((await to.read((tx) => to.healthyBlob(tx, b.digest))) === b.size) {
      report.blobs.present++;
      continue;
    }
    const staged = await to.stageFile(from.blobPath(b.digest), engines);
    if (staged.digest !== b.digest || staged.size !== b.size)
      throw new BootportError(
        'ERR_STORE',
        `blob ${b.digest} in ${from.where} is damaged: it hashes to ${staged.digest}`,
        {},
        'run bootport fsck on the source store',
      );
    await to.commit([staged], (_tx, place) => place(), `copying blob ${b.digest}`);
    report.blobs.copied++;
    report.blobs.bytes += b.size;
    onBlob?.(b.digest, b.size);
  }
  for (const t of TABLE_ORDER) {
    if (t === 'blobs') continue;
    const rows = source[t] as Rows[Table][];
    for (let i = 0; i < rows.length; i += BATCH) {
      const batch = rows.slice(i, i + BATCH);
      const counts = await to.write((tx) => {
        const c = zero();
        for (const row of batch) {
          const st = standing(tx, t, row);
          if (st === 'clash') throw differs(t, nameOf(t, row as never), to.where);
          if (st === 'same') c.present++;
          else {
            tx.insert(t, row as never);
            c.copied++;
          }
        }
        return c;
      }, `copying ${t}`);
      report.rows[t].copied += counts.copied;
      report.rows[t].present += counts.present;
    }
  }
  await verify(from, to, source);
  return report;
}

/** Every source row is in the target with the same columns, and every blob is there and whole in size. */
async function verify(from: Store, to: Store, source: { [T in Table]: Rows[T][] }): Promise<void> {
  const problems = await to.read((tx) => {
    const out: string[] = [];
    for (const t of TABLE_ORDER) {
      for (const row of source[t] as Rows[Table][]) {
        const st = standing(tx, t, row);
        if (st !== 'same') out.push(`${LABEL[t]} ${nameOf(t, row as never)} is ${st === 'clash' ? 'different' : 'missing'}`);
      }
    }
    for (const b of source.blobs) if (to.healthyBlob(tx, b.digest) !== b.size) out.push(`blob ${b.digest} is missing or short`);
    return out;
  });
  if (problems.length)
    throw new BootportError(
      'ERR_STORE',
      `the copy from ${from.where} to ${to.where} does not match: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`,
      {},
      'run the migration again; run bootport fsck on the target',
    );
}

/**
 * How the target stands to a source row: it holds the same row, none under its key or name, or
 * something else there (another row under the key, or the name taken by another key).
 */
function standing(tx: CatalogTx, t: Table, row: Rows[Table]): 'same' | 'missing' | 'clash' {
  const k = keyOf(t, row as never);
  const have = tx.get(t, k);
  if (have) return same(t, have, row) ? 'same' : 'clash';
  const named = TABLES[t].name ? tx.byName(t as 'images', nameOf(t, row as never)) : undefined;
  return named ? 'clash' : 'missing';
}

function same(t: Table, a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return TABLES[t].columns.every((c) => (x[c] ?? null) === (y[c] ?? null));
}

function differs(t: Table, name: string, where: string): BootportError {
  return new BootportError(
    'ERR_CONFLICT',
    `${where} already holds a different ${LABEL[t]} ${name}`,
    {},
    'migrate into an empty catalog, or rename or delete it there first',
  );
}

function zero(): MigrateCount {
  return { copied: 0, present: 0 };
}
