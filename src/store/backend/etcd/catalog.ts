import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { BootportError } from '../../../format/errors.js';
import { fsyncPath } from '../../../stream/io/files.js';
import { describeOwner, removeOnSignal, type WorkDirOwner } from '../../../stream/io/workdir.js';
import type { EtcdLocation } from '../../location.js';
import { unlinkBlob, type BlobFiles, type Catalog, type CatalogChange, type Placement, type Session, type StagingSweep } from '../catalog.js';
import { SCHEMA_VERSION } from '../sqlite-schema.js';
import { keyOf, nameOf, TABLE_ORDER, TABLES, type CatalogTx, type Table } from '../tx.js';
import { etcdError } from './client.js';
import { advanced, EtcdTx, snapshotOf, type Entry, type Read, type Snapshot } from './etcd-tx.js';
import { key, prefixEnd } from './keys.js';

const b = (s: string) => Buffer.from(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a commit's transaction answered: applied at `rev` (unknown after an ambiguous failure that did commit). */
type Outcome = { committed: true; rev?: number } | { committed: false; sessionLost: boolean };

/**
 * The catalog in etcd v3, shared by several head nodes. Every transaction runs on a snapshot
 * read linearizably and commits as one etcd transaction that compares the mod revision of every
 * key it read (EtcdTx), so concurrent head nodes never lose or duplicate a row: one commits, the
 * other runs again on the new snapshot and decides again.
 *
 * Blobs live on a shared file system. Nobody holds a lock across hosts, so the blob protocol uses
 * leases: a process that may write holds a lease with its session key; an importer pins each
 * digest (a key held by its lease) before it places the file and deletes the pins in its
 * commit; garbage collection claims a digest only when it has no row and no pin, and only then
 * unlinks the file. An importer that dies stops renewing its lease: its pins and session vanish,
 * and its staging and placed files become collectable.
 */
export class EtcdCatalog implements Catalog {
  readonly kind = 'etcd' as const;
  readonly schema = SCHEMA_VERSION;
  readonly where: string;
  private readonly p: string;
  private snap: Snapshot | undefined;
  private leaseHex: string | undefined;

  constructor(
    readonly client: Etcd3,
    readonly loc: EtcdLocation,
    readonly writable: boolean,
    private readonly timeoutMs: number,
  ) {
    this.p = loc.prefix;
    this.where = loc.display;
  }

  // ---- reading --------------------------------------------------------------------------------

  /** The snapshot as of now: the cached one if the cluster's revision has not moved, else a new one. */
  async fresh(): Promise<Snapshot> {
    const probe = await this.call('reading the catalog', () => this.client.kv.range({ key: b(key.meta(this.p)) }));
    const rev = Number(probe.header.revision);
    if (this.snap?.rev === rev) return this.snap;
    const all = await this.call('reading the catalog', () => this.client.kv.range({ key: b(this.p), range_end: prefixEnd(this.p) }));
    this.snap = snapshotOf(
      this.p,
      Number(all.header.revision),
      all.kvs.map((kv): [string, Entry] => [kv.key.toString(), { value: kv.value.toString(), mod: Number(kv.mod_revision) }]),
    );
    return this.snap;
  }

  async read<T>(fn: (tx: CatalogTx) => T): Promise<T> {
    return fn(new EtcdTx(await this.fresh(), this.p, false));
  }

  /** The catalog's meta record, or undefined if this prefix holds no catalog. */
  async meta(): Promise<{ format: number; id: string } | undefined> {
    const r = await this.call('reading the catalog', () => this.client.kv.range({ key: b(key.meta(this.p)) }));
    const v = r.kvs[0]?.value.toString();
    return v === undefined ? undefined : (JSON.parse(v) as { format: number; id: string });
  }

  // ---- writing --------------------------------------------------------------------------------

  async write<T>(fn: (tx: CatalogTx) => T, what: string): Promise<T> {
    return this.transact(fn, what, []);
  }

  /**
   * Runs `fn` on a fresh snapshot and commits its changes with `extra` operations, again and
   * again while other writers change what it read, until it commits or the deadline passes.
   */
  private async transact<T>(fn: (tx: CatalogTx) => T, what: string, extra: IRequestOp[]): Promise<T> {
    if (!this.writable || !this.leaseHex) throw new Error('the store was opened read-only');
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const snap = await this.fresh();
      const tx = new EtcdTx(snap, this.p, true);
      const result = fn(tx);
      if (!tx.changed && !extra.length) return result;
      const nonce = randomBytes(12).toString('hex');
      const { compares, puts } = tx.commitPlan(nonce);
      const outcome = await this.commitOnce(compares, puts, extra, nonce, what);
      if (outcome.committed) {
        this.advance(snap, outcome.rev, puts);
        return result;
      }
      if (outcome.sessionLost) throw this.sessionLost(what);
      if (Date.now() >= deadline)
        throw new BootportError(
          'ERR_STORE_LOCKED',
          `${what} failed: other head nodes kept changing the same objects for ${Math.round(this.timeoutMs / 1000)} s`,
          {},
          'try again; BOOTPORT_LOCK_TIMEOUT sets how many seconds to keep trying',
        );
      await sleep(Math.min(200, 2 + Math.random() * 10 * 2 ** Math.min(attempt, 5)));
    }
  }

  /**
   * One etcd transaction: if every compare holds and this process's session is alive, apply the
   * puts and write the fence `txns/<nonce>`. When the call fails without an answer, the commit
   * may or may not have happened: the fence decides. Writing it ourselves succeeds only if the
   * commit did not, and then the commit never can (it requires the fence to be absent).
   */
  private async commitOnce(reads: Read[], puts: Map<string, string | null>, extra: IRequestOp[], nonce: string, what: string): Promise<Outcome> {
    const session = key.session(this.p, this.leaseHex!);
    const fence = key.txn(this.p, nonce);
    const compare: ICompare[] = [
      ...reads.map((r): ICompare => ({ key: b(r.key), target: 'Mod', result: 'Equal', mod_revision: r.mod })),
      { key: b(session), target: 'Version', result: 'Greater', version: 0 },
      { key: b(fence), target: 'Version', result: 'Equal', version: 0 },
    ];
    const success: IRequestOp[] = [
      ...[...puts].map(([k, v]): IRequestOp => (v === null ? { request_delete_range: { key: b(k) } } : { request_put: { key: b(k), value: b(v) } })),
      ...extra,
      { request_put: { key: b(fence), value: b('committed'), lease: this.leaseId() } },
    ];
    try {
      const r = await this.client.kv.txn({ compare, success, failure: [{ request_range: { key: b(session) } }] });
      if (r.succeeded) return { committed: true, rev: Number(r.header.revision) };
      return { committed: false, sessionLost: (r.responses[0]?.response_range?.kvs.length ?? 0) === 0 };
    } catch (e) {
      const err = etcdError(e, `${what} failed (${success.length} writes and ${compare.length} checks in one etcd transaction)`, this.loc);
      if (err.code !== 'ERR_STORE_UNAVAILABLE') throw err;
      if (await this.settleFence(fence)) return { committed: true };
      throw err;
    }
  }

  /** After a commit whose answer was lost: true if it committed, false if it now never can. */
  private async settleFence(fence: string): Promise<boolean> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      try {
        const r = await this.client.kv.txn({
          compare: [{ key: b(fence), target: 'Version', result: 'Equal', version: 0 }],
          success: [{ request_put: { key: b(fence), value: b('abandoned'), lease: this.leaseId() } }],
          failure: [{ request_range: { key: b(fence) } }],
        });
        if (r.succeeded) return false;
        return r.responses[0]?.response_range?.kvs[0]?.value.toString() === 'committed';
      } catch (e) {
        // Still no quorum: the outcome cannot be known yet. Past the deadline, the fence is left
        // to the lease; a commit that lands later is whole, and its pins are its own.
        if (Date.now() >= deadline) throw etcdError(e, 'finding out whether a commit happened', this.loc);
        await sleep(250);
      }
    }
  }

  // ---- the blob protocol ----------------------------------------------------------------------

  async commit<T>(staged: readonly Placement[], files: BlobFiles, fn: (tx: CatalogTx, place: () => void) => T, what: string): Promise<T> {
    const digests = [...new Set(staged.map((s) => s.digest))];
    await this.pin(digests, what);
    let placed = false;
    const place = (tx: CatalogTx) => () => {
      if (!placed) {
        // Pinned, so no collector can claim these digests while the files go in. The bytes were
        // hashed on the way into staging, so they replace whatever is at the name.
        for (const s of staged) renameSync(s.path, files.path(s.digest));
        if (staged.length) fsyncPath(files.dir);
        placed = true;
      }
      for (const s of staged) if (tx.get('blobs', s.digest)?.size !== s.size) tx.upsert('blobs', { digest: s.digest, size: s.size });
    };
    const unpin = digests.map((d): IRequestOp => ({ request_delete_range: { key: b(key.pin(this.p, d, this.leaseHex!)) } }));
    try {
      return await this.transact((tx) => fn(tx, place(tx)), what, unpin);
    } catch (e) {
      await this.unpin(digests).catch(() => {});
      if (placed) await this.collect(digests, files).catch(() => {});
      throw e;
    }
  }

  /** Pins each digest for this session, once no collector holds a claim on it. */
  private async pin(digests: readonly string[], what: string): Promise<void> {
    if (!digests.length) return;
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const r = await this.call(`${what} failed`, () =>
        this.client.kv.txn({
          compare: [
            ...digests.map((d): ICompare => ({ key: b(key.claim(this.p, d)), target: 'Version', result: 'Equal', version: 0 })),
            { key: b(key.session(this.p, this.leaseHex!)), target: 'Version', result: 'Greater', version: 0 },
          ],
          success: digests.map((d) => ({ request_put: { key: b(key.pin(this.p, d, this.leaseHex!)), value: b(''), lease: this.leaseId() } })),
          failure: [{ request_range: { key: b(key.session(this.p, this.leaseHex!)) } }],
        }),
      );
      if (r.succeeded) {
        // The pins are this process's own change: the cached catalog stays good past them.
        if (this.snap) this.advance(this.snap, Number(r.header.revision), new Map(digests.map((d) => [key.pin(this.p, d, this.leaseHex!), ''])));
        return;
      }
      if ((r.responses[0]?.response_range?.kvs.length ?? 0) === 0) throw this.sessionLost(what);
      // A collector is removing one of these files right now; it will be done in a moment.
      if (Date.now() >= deadline)
        throw new BootportError(
          'ERR_STORE_LOCKED',
          `${what} failed: garbage collection held a blob it needs for ${Math.round(this.timeoutMs / 1000)} s`,
          {},
          'try again',
        );
      await sleep(20 + Math.random() * 50);
    }
  }

  private async unpin(digests: readonly string[]): Promise<void> {
    if (!digests.length) return;
    await this.call('releasing blob pins', () =>
      this.client.kv.txn({ compare: [], success: digests.map((d) => ({ request_delete_range: { key: b(key.pin(this.p, d, this.leaseHex!)) } })), failure: [] }),
    );
  }

  /**
   * Claims each digest that has no row, no pin and no other claim, unlinks its file, and drops
   * the claim. A claim is a key held by this session's lease, so one left by a dead collector
   * expires with it.
   */
  async collect(digests: readonly string[], files: BlobFiles): Promise<string[]> {
    const removed: string[] = [];
    const claimed: string[] = [];
    try {
      for (const d of digests) {
        const claim = key.claim(this.p, d);
        const r = await this.call('removing unreferenced blobs', () =>
          this.client.kv.txn({
            compare: [
              { key: b(key.row(this.p, 'blobs', d)), target: 'Version', result: 'Equal', version: 0 },
              { key: b(key.pins(this.p, d)), range_end: prefixEnd(key.pins(this.p, d)), target: 'Version', result: 'Equal', version: 0 },
              { key: b(claim), target: 'Version', result: 'Equal', version: 0 },
            ],
            success: [{ request_put: { key: b(claim), value: b(this.leaseHex!), lease: this.leaseId() } }],
            failure: [],
          }),
        );
        if (!r.succeeded) continue;
        claimed.push(d);
        if (unlinkBlob(files, d)) removed.push(d);
      }
      if (removed.length) fsyncPath(files.dir);
    } finally {
      if (claimed.length) {
        await this.call('removing unreferenced blobs', () =>
          this.client.kv.txn({ compare: [], success: claimed.map((d) => ({ request_delete_range: { key: b(key.claim(this.p, d)) } })), failure: [] }),
        ).catch(() => {});
      }
    }
    return removed;
  }

  // ---- sessions -------------------------------------------------------------------------------

  /**
   * Grants this process's lease, records who holds it, and makes `staging/<lease>`: the
   * directory is alive exactly as long as the lease, whichever host looks.
   */
  async startSession(staging: string, command: string): Promise<Session> {
    const lease = this.client.lease(this.loc.leaseTtl, { autoKeepAlive: true });
    const id = await this.call('starting a session', () => lease.grant());
    this.leaseHex = BigInt(id).toString(16);
    const owner = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() };
    await this.call('starting a session', () =>
      this.client.kv.put({ key: b(key.session(this.p, this.leaseHex!)), value: b(JSON.stringify(owner)), lease: id }),
    );
    const path = join(staging, this.leaseHex);
    mkdirSync(path, { mode: 0o700 });
    const unregister = removeOnSignal(path);
    let closed = false;
    return {
      path,
      close: async () => {
        if (closed) return;
        closed = true;
        rmSync(path, { recursive: true, force: true });
        unregister();
        // Revoking drops the session, and any pin or fence, at once; if etcd cannot be
        // reached, the lease simply expires.
        await lease.revoke({ deadline: Date.now() + 2_000 }).catch(() => lease.release());
      },
    };
  }

  async sweepStaging(staging: string, opts: { remove: boolean; skip?: string }): Promise<StagingSweep> {
    let names: string[];
    try {
      names = readdirSync(staging);
    } catch {
      return { dead: [], live: [] };
    }
    // Listed before the sessions are read: a directory is made after its session key, so one
    // listed here without a key has lost its lease, never not yet got one.
    const r = await this.call('reading sessions', () => this.client.kv.range({ key: b(key.sessions(this.p)), range_end: prefixEnd(key.sessions(this.p)) }));
    const live = new Map(r.kvs.map((kv) => [kv.key.toString().slice(key.sessions(this.p).length), kv.value.toString()]));
    const out: StagingSweep = { dead: [], live: [] };
    for (const n of names) {
      const path = join(staging, n);
      if (path === opts.skip) continue;
      const owner = live.get(n);
      if (owner !== undefined) {
        out.live.push(describeOwner({ ...(JSON.parse(owner) as Omit<WorkDirOwner, 'locked'>), locked: true }));
        continue;
      }
      out.dead.push(path);
      if (opts.remove) rmSync(path, { recursive: true, force: true });
    }
    return out;
  }

  // ---- watching -------------------------------------------------------------------------------

  /** etcd's own watch on the rows: every commit, on every head node, in revision order. */
  async watch(on: (c: CatalogChange) => void, signal: AbortSignal, ready?: () => void): Promise<void> {
    const rows = key.rows(this.p);
    const w = await this.call('watching the catalog', () => this.client.watch().prefix(rows).withPreviousKV().create());
    const emit = (kind: 'put' | 'delete', kv: { key: Buffer; value: Buffer; version: string }, prev?: { value: Buffer }) => {
      const [table, k] = kv.key.toString().slice(rows.length).split('/') as [Table, string];
      if (!TABLE_ORDER.includes(table) || k === undefined) return;
      const json = kind === 'put' ? kv.value : prev?.value;
      const row = json?.length ? (JSON.parse(json.toString()) as Record<string, unknown>) : undefined;
      const name = row ? nameOf(table, row as never) : k;
      on({ table, change: kind === 'delete' ? 'deleted' : kv.version === '1' ? 'created' : 'updated', key: k, name });
    };
    w.on('put', (kv, prev) => emit('put', kv, prev));
    w.on('delete', (kv, prev) => emit('delete', kv, prev));
    ready?.();
    try {
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
        w.on('error', (e) => reject(etcdError(e, 'watching the catalog', this.loc)));
      });
    } finally {
      await w.cancel().catch(() => {});
    }
  }

  // ---- checking -------------------------------------------------------------------------------

  /** The indexes against the rows: every name key, every row's name key, and every referrers list. */
  async integrity(): Promise<string[]> {
    const snap = await this.fresh();
    const out: string[] = [];
    const rows = new Map<Table, Map<string, Record<string, unknown>>>();
    for (const t of TABLE_ORDER) {
      const m = new Map<string, Record<string, unknown>>();
      for (const k of snap.rowKeys.get(t) ?? []) {
        const v = snap.kv.get(key.row(this.p, t, k))!.value;
        try {
          const row = JSON.parse(v) as Record<string, unknown>;
          if (keyOf(t, row as never) !== k) out.push(`row ${t}/${k} holds the key ${String(keyOf(t, row as never))}`);
          m.set(k, row);
        } catch {
          out.push(`row ${t}/${k} is not JSON`);
        }
      }
      rows.set(t, m);
    }
    const expectRefs = new Map<string, string[]>();
    for (const t of TABLE_ORDER) {
      const spec = TABLES[t];
      for (const [k, row] of rows.get(t)!) {
        if (spec.name) {
          const n = nameOf(t, row as never);
          const idx = snap.kv.get(key.name(this.p, t, n))?.value;
          if (idx !== k) out.push(`${t} ${n}: its name index ${idx === undefined ? 'is missing' : `points at ${idx}`}`);
        }
        for (const [col, target] of Object.entries(spec.refs)) {
          const v = row[col];
          if (typeof v !== 'string') continue;
          const rk = key.refs(this.p, target, v);
          const l = expectRefs.get(rk) ?? [];
          if (!l.includes(`${t}/${k}`)) l.push(`${t}/${k}`);
          expectRefs.set(rk, l);
        }
      }
    }
    for (const [k, e] of snap.kv) {
      const rel = k.slice(this.p.length);
      if (rel.startsWith('names/')) {
        const [, t, n] = rel.split('/') as [string, Table, string];
        const row = rows.get(t)?.get(e.value);
        if (!row || nameOf(t, row as never) !== n) out.push(`the name index ${t}/${n} points at ${e.value}, which is not named so`);
      } else if (rel.startsWith('refs/')) {
        const want = (expectRefs.get(k) ?? []).sort();
        if (JSON.stringify(want) !== JSON.stringify((JSON.parse(e.value) as string[]).slice().sort()))
          out.push(`the referrers of ${rel.slice(5)} are recorded as ${e.value}, not ${JSON.stringify(want)}`);
        expectRefs.delete(k);
      }
    }
    for (const [k, l] of expectRefs) out.push(`the referrers of ${k.slice(this.p.length + 5)} are not recorded (${l.join(', ')})`);
    return out.map((m) => `etcd index check: ${m}`);
  }

  async close(): Promise<void> {
    this.client.close();
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Keeps the cached snapshot past a change of this process's own, when nothing else moved. */
  private advance(snap: Snapshot, rev: number | undefined, puts: ReadonlyMap<string, string | null>): void {
    this.snap = rev === undefined ? undefined : advanced(this.p, snap, rev, puts);
  }

  private leaseId(): string {
    return BigInt(`0x${this.leaseHex!}`).toString();
  }

  private sessionLost(what: string): BootportError {
    return new BootportError(
      'ERR_STORE_UNAVAILABLE',
      `${what} failed: this process lost its etcd lease (the cluster was out of reach for longer than its ${this.loc.leaseTtl} s TTL), so nothing was committed`,
      {},
      'run the command again once the cluster answers',
    );
  }

  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw etcdError(e, what, this.loc);
    }
  }
}
