import { BootportError } from '../../../format/errors.js';
import { SCHEMA_VERSION } from '../sqlite-schema.js';
import { keyOf, nameOf, TABLE_ORDER, TABLES, type CatalogTx, type NamedTable, type Referenced, type Referrer, type Rows, type Table } from '../tx.js';
import { familyOf, key } from './keys.js';

/** One value and the revision that last changed it. */
export interface Entry {
  value: string;
  mod: number;
}

/**
 * The catalog's keys (rows, names, refs, generations and meta) at one revision of the etcd
 * cluster; sessions, pins, claims and fences are not the catalog and are left out.
 */
export interface Snapshot {
  rev: number;
  kv: Map<string, Entry>;
  /** Each table's row keys, sorted, so that listings need not scan every key. */
  rowKeys: Map<Table, string[]>;
}

export function snapshotOf(prefix: string, rev: number, kvs: Iterable<[string, Entry]>): Snapshot {
  const kv = new Map<string, Entry>();
  const rowKeys = new Map<Table, string[]>(TABLE_ORDER.map((t) => [t, []]));
  for (const [k, e] of kvs) {
    const f = familyOf(prefix, k);
    if (!f && k !== key.meta(prefix)) continue;
    kv.set(k, e);
    if (f?.family === 'rows') rowKeys.get(f.table)!.push(f.rest);
  }
  for (const list of rowKeys.values()) list.sort();
  return { rev, kv, rowKeys };
}

/**
 * `snap` with one transaction's writes, as of the revision `rev` that transaction made: valid
 * only when it was the one change after `snap` (rev = snap.rev + 1), so nothing else moved.
 */
export function advanced(prefix: string, snap: Snapshot, rev: number, puts: ReadonlyMap<string, string | null>): Snapshot | undefined {
  if (rev !== snap.rev + 1) return undefined;
  const kv = new Map(snap.kv);
  for (const [k, v] of puts) {
    if (v === null) kv.delete(k);
    else kv.set(k, { value: v, mod: rev });
  }
  return snapshotOf(prefix, rev, kv);
}

/** A compare of the transaction: the key still has this mod revision (0: still absent). */
export interface Read {
  key: string;
  mod: number;
}

/** Where reads beyond this many in one table are checked as one compare of its generation key. */
const MAX_COMPARES = 96;

/**
 * A transaction on a snapshot, with optimistic concurrency: every key read is remembered with
 * its mod revision, every change is buffered, and the commit is one etcd transaction that
 * applies the changes only if none of those keys changed since. A listing or a uid-prefix search
 * reads the table's generation key, which every change to the table rewrites, so a row another
 * head node added meanwhile fails the commit too. Indexes are kept here, beside the rows they
 * index: the name index and each row's list of referrers, which make uniqueness and "in use"
 * checks single-key reads.
 */
export class EtcdTx implements CatalogTx {
  readonly schema = SCHEMA_VERSION;
  private readonly reads = new Map<string, number>();
  private readonly writes = new Map<string, string | null>();
  private readonly touched = new Set<Table>();

  constructor(
    private readonly snap: Snapshot,
    private readonly p: string,
    private readonly writable: boolean,
  ) {}

  get<T extends Table>(t: T, k: string): Rows[T] | undefined {
    const v = this.read(key.row(this.p, t, k));
    return v === undefined ? undefined : (JSON.parse(v) as Rows[T]);
  }

  byName<T extends NamedTable>(t: T, name: string): Rows[T] | undefined {
    const k = this.read(key.name(this.p, t, name));
    return k === undefined ? undefined : this.get(t, k);
  }

  byKeyPrefix<T extends Table>(t: T, prefix: string, limit: number): Rows[T][] {
    return this.keysOf(t)
      .filter((k) => k.startsWith(prefix))
      .slice(0, limit)
      .map((k) => this.get(t, k)!);
  }

  all<T extends Table>(t: T): Rows[T][] {
    const rows = this.keysOf(t).map((k) => this.get(t, k)!);
    if (TABLES[t].name) rows.sort((a, b) => compare(nameOf(t, a), nameOf(t, b)));
    return rows;
  }

  insert<T extends Table>(t: T, row: Rows[T]): void {
    const k = keyOf(t, row);
    if (this.get(t, k)) throw constraint(`${t} already has a row ${k}`);
    if (TABLES[t].name) {
      const n = nameOf(t, row);
      if (this.read(key.name(this.p, t, n)) !== undefined) throw constraint(`${t} already has a row named ${n}`);
      this.write(t, key.name(this.p, t, n), k);
    }
    this.linkRefs(t, k, undefined, row);
    this.write(t, key.row(this.p, t, k), JSON.stringify(row));
  }

  update<T extends Table>(t: T, row: Rows[T]): void {
    const k = keyOf(t, row);
    const old = this.get(t, k);
    if (!old) throw constraint(`${t} has no row ${k} to update`);
    if (TABLES[t].name) {
      const [was, now] = [nameOf(t, old), nameOf(t, row)];
      if (was !== now) {
        if (this.read(key.name(this.p, t, now)) !== undefined) throw constraint(`${t} already has a row named ${now}`);
        this.write(t, key.name(this.p, t, was), null);
        this.write(t, key.name(this.p, t, now), k);
      }
    }
    this.linkRefs(t, k, old, row);
    this.write(t, key.row(this.p, t, k), JSON.stringify(row));
  }

  upsert<T extends Table>(t: T, row: Rows[T]): void {
    if (this.get(t, keyOf(t, row))) this.update(t, row);
    else this.insert(t, row);
  }

  remove(t: Table, k: string): void {
    const old = this.get(t, k);
    if (!old) return;
    if (t === 'blobs' || t === 'images' || t === 'boot_configs') {
      const users = this.refList(t, k);
      if (users.length) throw constraint(`${t} ${k} is still referred to by ${users.join(', ')}`);
    }
    if (TABLES[t].name) this.write(t, key.name(this.p, t, nameOf(t, old)), null);
    this.linkRefs(t, k, old, undefined);
    this.write(t, key.row(this.p, t, k), null);
  }

  referrers(target: Referenced, k: string): Referrer[] {
    const out: Referrer[] = [];
    for (const who of this.refList(target, k)) {
      const slash = who.indexOf('/');
      const table = who.slice(0, slash) as Referrer['table'];
      const row = this.get(table, who.slice(slash + 1));
      if (row) out.push({ table, row } as Referrer);
    }
    return out.sort((a, b) => TABLE_ORDER.indexOf(a.table) - TABLE_ORDER.indexOf(b.table) || compare(a.row.name, b.row.name));
  }

  /** Whether the transaction changes anything. */
  get changed(): boolean {
    return this.writes.size > 0;
  }

  /**
   * The commit: what must still hold, and what to write. Tables with more reads than one
   * transaction should compare are checked by their generation key instead, which any change to
   * them rewrites: coarser (an unrelated change to the table fails the commit, which then runs
   * again), never weaker.
   */
  commitPlan(nonce: string): { compares: Read[]; puts: Map<string, string | null> } {
    let reads = [...this.reads].map(([k, mod]) => ({ key: k, mod }));
    if (reads.length > MAX_COMPARES) {
      const byTable = new Map<Table, Read[]>();
      const rest: Read[] = [];
      for (const r of reads) {
        const f = familyOf(this.p, r.key);
        if (f && f.family !== 'gen') byTable.set(f.table, [...(byTable.get(f.table) ?? []), r]);
        else rest.push(r);
      }
      for (const [t, rs] of byTable) {
        if (rs.length > 4) rest.push({ key: key.gen(this.p, t), mod: this.snap.kv.get(key.gen(this.p, t))?.mod ?? 0 });
        else rest.push(...rs);
      }
      reads = [...new Map(rest.map((r) => [r.key, r])).values()];
    }
    const puts = new Map(this.writes);
    for (const t of this.touched) puts.set(key.gen(this.p, t), nonce);
    return { compares: reads, puts };
  }

  private read(k: string): string | undefined {
    if (this.writes.has(k)) return this.writes.get(k) ?? undefined;
    const e = this.snap.kv.get(k);
    if (!this.reads.has(k)) this.reads.set(k, e?.mod ?? 0);
    return e?.value;
  }

  private write(t: Table, k: string, v: string | null): void {
    if (!this.writable) throw new Error('the store was opened read-only');
    this.read(k);
    this.writes.set(k, v);
    this.touched.add(t);
  }

  /** The table's row keys, as this transaction sees them; the generation read makes it a range read. */
  private keysOf(t: Table): string[] {
    this.read(key.gen(this.p, t));
    const base = this.snap.rowKeys.get(t) ?? [];
    const prefix = key.row(this.p, t, '');
    const added: string[] = [];
    const removed = new Set<string>();
    for (const [k, v] of this.writes) {
      if (!k.startsWith(prefix)) continue;
      const rk = k.slice(prefix.length);
      if (v === null) removed.add(rk);
      else if (!this.snap.kv.has(k)) added.push(rk);
    }
    if (!added.length && !removed.size) return base;
    return [...base.filter((k) => !removed.has(k)), ...added].sort();
  }

  private refList(t: Table, k: string): string[] {
    const v = this.read(key.refs(this.p, t, k));
    return v === undefined ? [] : (JSON.parse(v) as string[]);
  }

  /** Keeps the referrers lists of the rows `row` refers to right, from `old` to `next`. */
  private linkRefs<T extends Table>(t: T, k: string, old: Rows[T] | undefined, next: Rows[T] | undefined): void {
    const me = `${t}/${k}`;
    for (const [col, target] of Object.entries(TABLES[t].refs)) {
      const was = (old as Record<string, unknown> | undefined)?.[col];
      const now = (next as Record<string, unknown> | undefined)?.[col];
      if (was === now) continue;
      if (typeof was === 'string') this.editRefs(target, was, (l) => l.filter((x) => x !== me || stillRefers(t, next, target, was)));
      if (typeof now === 'string') {
        if (!this.get(target, now)) throw constraint(`${t} ${k} refers to ${target} ${now}, which does not exist`);
        this.editRefs(target, now, (l) => (l.includes(me) ? l : [...l, me].sort()));
      }
    }
  }

  private editRefs(target: Table, k: string, edit: (l: string[]) => string[]): void {
    const next = edit(this.refList(target, k));
    this.write(target, key.refs(this.p, target, k), next.length ? JSON.stringify(next) : null);
  }
}

/** Whether another column of `row` still refers to `target` `k` (a kernel that is also the initramfs). */
function stillRefers<T extends Table>(t: T, row: Rows[T] | undefined, target: Table, k: string): boolean {
  if (!row) return false;
  return Object.entries(TABLES[t].refs).some(([col, to]) => to === target && (row as unknown as Record<string, unknown>)[col] === k);
}

/** Code order, as SQLite's BINARY collation sorts. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A broken invariant of the catalog: the catalog code checks first, so this is a bug or damage. */
function constraint(what: string): BootportError {
  return new BootportError('ERR_STORE', `catalog constraint failed: ${what}`, {}, 'run bootport fsck');
}
