import { randomBytes } from 'node:crypto';
import { BootportError } from '../../format/errors.js';
import { checkName } from '../../format/names.js';
import { MAX_TEXT, textProblem } from '../../format/text.js';
import { LABEL, type CatalogTx, type Rows } from '../backend/tx.js';
import type { StagedBlob, Store } from '../store.js';

export type Kind = 'boot_configs' | 'images' | 'nodes';
export { LABEL };
export const MIN_UID_PREFIX = 5;
/** The remedy that lists each kind, for a front end to name its own command. */
const LIST_REMEDY: Record<Kind, string> = { boot_configs: 'list-boot-configs', images: 'list-images', nodes: 'list-nodes' };
/** The most names one range may expand to: enough for any cluster, small enough to fail fast. */
export const MAX_RANGE = 100_000;
export const newUid = (): string => randomBytes(16).toString('hex');
export const now = (): string => new Date().toISOString();

/** What every catalog row has. */
export interface Named {
  uid: string;
  name: string;
}

/** `-i` / `-a`: some objects by selector, or all of them. */
export interface Selection {
  ids?: string;
  all?: boolean;
}

/**
 * `n[0-3]` is n0, n1, n2, n3; `n[08-10]` keeps the width: n08, n09, n10. Commas separate names.
 * Bounds are checked before anything is generated, so a range of 2^53 fails at once instead of
 * looping with numbers that no longer count.
 */
export function expandNames(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',').filter((s) => s.length > 0)) {
    const m = /^(.*)\[(\d+)-(\d+)\](.*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    const [, pre, a, b, post] = m as unknown as [string, string, string, string, string];
    const lo = Number(a);
    const hi = Number(b);
    if (a.length > 15 || b.length > 15 || !Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) {
      throw new BootportError('ERR_USAGE', `range [${a}-${b}] in ${part} has numbers too large for a node name`);
    }
    if (hi < lo) throw new BootportError('ERR_USAGE', `bad range [${a}-${b}] in ${part}: the end is before the start`);
    if (hi - lo + 1 + out.length > MAX_RANGE) throw new BootportError('ERR_USAGE', `${spec} names more than ${MAX_RANGE} objects`);
    const width = a.length > 1 && a.startsWith('0') ? a.length : 0;
    for (let i = lo; i <= hi; i++) out.push(`${pre}${String(i).padStart(width, '0')}${post}`);
  }
  return out;
}

/** One selector: an exact name, else a unique uid prefix of at least five characters. */
export function resolveOne<K extends Kind>(tx: CatalogTx, kind: K, sel: string): Rows[K] {
  const byName = tx.byName(kind, sel);
  if (byName) return byName;
  if (sel.length >= MIN_UID_PREFIX && /^[0-9a-f]+$/.test(sel)) {
    const rows = tx.byKeyPrefix(kind, sel, 2);
    if (rows.length === 1) return rows[0]!;
    if (rows.length > 1)
      throw new BootportError('ERR_AMBIGUOUS', `${sel} matches more than one ${LABEL[kind]} uid`, {}, 'give more characters of the uid, or the name');
  }
  throw new BootportError('ERR_NOT_FOUND', `no ${LABEL[kind]} named ${JSON.stringify(sel)}`, {}, `list the ${LABEL[kind]}s to see their names`, {
    remedies: [LIST_REMEDY[kind]],
  });
}

/** The selected objects, by name order of selection, each once. */
export function resolveMany<K extends Kind>(tx: CatalogTx, kind: K, sel: Selection): Rows[K][] {
  if (sel.all) return tx.all(kind);
  if (!sel.ids) throw new BootportError('ERR_USAGE', `select ${LABEL[kind]}s with -i NAME[,NAME...] or -a`);
  const seen = new Set<string>();
  const out: Rows[K][] = [];
  for (const s of expandNames(sel.ids)) {
    const r = resolveOne(tx, kind, s);
    if (!seen.has(r.uid)) {
      seen.add(r.uid);
      out.push(r);
    }
  }
  return out;
}

/** The selected objects, or every one when nothing is selected. */
export function listRows<K extends Kind>(tx: CatalogTx, kind: K, sel: Selection): Rows[K][] {
  if (sel.ids || sel.all) return resolveMany(tx, kind, sel);
  return tx.all(kind);
}

/**
 * A row read again inside a transaction, by the uid a selector resolved to earlier: another
 * process may have deleted it in between, which is a clear ERR_NOT_FOUND and not a crash.
 */
export function rowByUid<K extends Kind>(tx: CatalogTx, kind: K, uid: string, known?: string): Rows[K] {
  const r = tx.get(kind, uid);
  if (!r)
    throw new BootportError('ERR_NOT_FOUND', `${LABEL[kind]} ${known ?? uid} no longer exists: another process deleted it`, {}, 'list them again and retry');
  return r;
}

export function assertFree(tx: CatalogTx, kind: Kind, name: string, hint?: string): void {
  checkName(name, `${LABEL[kind]} name`, 'ERR_INVALID');
  if (tx.byName(kind, name)) {
    throw new BootportError('ERR_CONFLICT', `a ${LABEL[kind]} named ${name} already exists`, {}, hint);
  }
}

/** The blobs a row refers to: candidates for collection once it changes or goes. */
export function blobsOf(kind: Kind, row: object): string[] {
  const r = row as Record<string, unknown>;
  const cols = kind === 'images' ? ['content'] : kind === 'boot_configs' ? ['kernel', 'initramfs'] : [];
  return cols.map((c) => r[c]).filter((v): v is string => typeof v === 'string');
}

/** The manifest's text rule, so whatever the store holds can be exported and whatever imports can be kept. */
export function checkText(v: string, what: string, multiline = false): string {
  const why = textProblem(v, { multiline });
  if (why !== undefined) {
    throw new BootportError(
      'ERR_INVALID',
      `${what} ${why}: it must be at most ${MAX_TEXT} characters with no control characters${multiline ? ' (tabs and newlines are allowed)' : ''}`,
    );
  }
  return v;
}

/** One object that blocks a change to several, and why. */
export interface Blocker {
  code: 'ERR_FROZEN' | 'ERR_IN_USE';
  reason: string;
}

/**
 * A change to several objects happens to all or to none: every object that blocks it is named,
 * in one error, and nothing has been changed.
 */
export function refuseIfBlocked(blockers: Blocker[], action: string, hint: string, opts: { remedies?: readonly string[] } = {}): void {
  if (!blockers.length) return;
  const code = blockers.some((b) => b.code === 'ERR_IN_USE') ? 'ERR_IN_USE' : 'ERR_FROZEN';
  const what = blockers.length === 1 ? blockers[0]!.reason : `${blockers.length} objects block it: ${blockers.map((b) => b.reason).join('; ')}`;
  throw new BootportError(code, `nothing was ${action}: ${what}`, {}, hint, opts);
}

export function frozenBlocker(kind: Kind, row: { name: string; frozen: number }, action: string): Blocker | undefined {
  return row.frozen ? { code: 'ERR_FROZEN', reason: `${LABEL[kind]} ${row.name} is frozen and cannot be ${action}` } : undefined;
}

/** Unfreezing is the one change a frozen object accepts. */
export function onlyUnfreezes(f: object & { frozen?: boolean }): boolean {
  return Object.keys(f).filter((k) => (f as Record<string, unknown>)[k] !== undefined).length === 1 && f.frozen === false;
}

/** What every object that can be frozen and renamed has. */
interface Mutable extends Named {
  frozen: number;
  modified: string;
}

/**
 * Changes every target the same way in one transaction, all of them or none: each row is read
 * again under the write lock, every frozen one is named in one refusal (unless the change only
 * unfreezes), a new name must be free, `apply` sets the other fields (checking them), and only
 * then are `staged` blobs placed and the rows written. Blobs no row needs any more are collected.
 */
export async function updateRows<K extends 'images' | 'boot_configs', V>(
  store: Store,
  kind: K,
  targets: readonly Named[],
  f: { name?: string; frozen?: boolean },
  staged: readonly StagedBlob[],
  spec: { apply: (tx: CatalogTx, next: Rows[K]) => void; view: (tx: CatalogTx, row: Rows[K]) => V; hint: string; remedies: readonly string[] },
): Promise<V[]> {
  if (f.name !== undefined && targets.length > 1) throw new BootportError('ERR_USAGE', `name= can only be changed on one ${LABEL[kind]} at a time`);
  const { views, dead } = await store.commit(
    staged,
    (tx, place) => {
      const blockers: Blocker[] = [];
      const before: string[] = [];
      const next = targets.map((t) => {
        const cur: Mutable = rowByUid(tx, kind, t.uid, t.name);
        before.push(...blobsOf(kind, cur));
        const frozen = onlyUnfreezes(f) ? undefined : frozenBlocker(kind, cur, 'changed');
        if (frozen) blockers.push(frozen);
        const n = { ...cur, modified: now() } as Rows[K];
        if (f.name !== undefined && f.name !== cur.name) {
          assertFree(tx, kind, f.name);
          n.name = f.name;
        }
        spec.apply(tx, n);
        if (f.frozen !== undefined) n.frozen = f.frozen ? 1 : 0;
        return n;
      });
      refuseIfBlocked(blockers, 'changed', spec.hint, spec);
      place();
      for (const n of next) tx.update(kind, n);
      return { views: next.map((n) => spec.view(tx, n)), dead: store.dropUnreferencedBlobs(tx, before) };
    },
    `updating ${LABEL[kind]}s`,
  );
  await store.unlinkOrphans(dead);
  return views;
}
