import { BootportError } from '../../format/errors.js';
import { checkName } from '../../format/names.js';
import { FINGERPRINT_RE, fingerprintOf } from '../../stream/sign/keys.js';
import type { TrustedKey } from '../../stream/sign/signatures.js';
import type { Store } from '../store.js';
import { now } from './common.js';

/** A public key the store trusts to sign the bundles it imports. */
export interface TrustedKeyView {
  name: string;
  fingerprint: string;
  algorithm: 'ed25519';
  added: string;
}

interface KeyRow {
  fingerprint: string;
  name: string;
  algorithm: string;
  key: string;
  added: string;
}

const REQUIRE = 'require_signature';

/** A catalog older than schema 3, read without upgrading it, has no trust tables: it trusts nothing. */
function hasTrust(store: Store): boolean {
  return store.db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'trusted_keys'").get() !== undefined;
}

export function listTrustedKeys(store: Store): TrustedKeyView[] {
  if (!hasTrust(store)) return [];
  return (store.db.prepare('SELECT * FROM trusted_keys ORDER BY name').all() as KeyRow[]).map((r) => ({
    name: r.name,
    fingerprint: r.fingerprint,
    algorithm: 'ed25519',
    added: r.added,
  }));
}

/** The trusted keys, as the signature check takes them. */
export function trustedKeys(store: Store): TrustedKey[] {
  if (!hasTrust(store)) return [];
  return (store.db.prepare('SELECT name, key FROM trusted_keys').all() as KeyRow[]).map((r) => ({
    name: r.name,
    raw: new Uint8Array(Buffer.from(r.key, 'base64')),
  }));
}

export async function addTrustedKey(store: Store, raw: Uint8Array, name: string): Promise<TrustedKeyView> {
  checkName(name, 'key name', 'ERR_INVALID');
  const fingerprint = fingerprintOf(raw);
  return store.write(() => {
    const same = store.db.prepare('SELECT name FROM trusted_keys WHERE fingerprint = ?').get(fingerprint) as { name: string } | undefined;
    if (same) throw new BootportError('ERR_CONFLICT', `the key ${fingerprint} is already trusted, as ${same.name}`);
    if (store.db.prepare('SELECT 1 FROM trusted_keys WHERE name = ?').get(name)) {
      throw new BootportError('ERR_CONFLICT', `a trusted key named ${name} already exists`, {}, 'give this key another name');
    }
    const row: KeyRow = { fingerprint, name, algorithm: 'ed25519', key: Buffer.from(raw).toString('base64'), added: now() };
    store.db.prepare('INSERT INTO trusted_keys (fingerprint, name, algorithm, key, added) VALUES (@fingerprint, @name, @algorithm, @key, @added)').run(row);
    return { name, fingerprint, algorithm: 'ed25519' as const, added: row.added };
  }, 'trusting a key');
}

/** Stops trusting a key, named by its name or its fingerprint. */
export async function removeTrustedKey(store: Store, sel: string): Promise<TrustedKeyView> {
  return store.write(() => {
    const column = FINGERPRINT_RE.test(sel) ? 'fingerprint' : 'name';
    const r = store.db.prepare(`SELECT * FROM trusted_keys WHERE ${column} = ?`).get(sel) as KeyRow | undefined;
    if (!r)
      throw new BootportError('ERR_NOT_FOUND', `no trusted key has the ${column} ${sel}`, {}, 'list the trusted keys to see their names', {
        remedies: ['list-keys'],
      });
    store.db.prepare('DELETE FROM trusted_keys WHERE fingerprint = ?').run(r.fingerprint);
    return { name: r.name, fingerprint: r.fingerprint, algorithm: 'ed25519' as const, added: r.added };
  }, 'removing a trusted key');
}

/** Whether every import must carry a valid signature by a trusted key. */
export function requiresSignature(store: Store): boolean {
  if (!hasTrust(store)) return false;
  return (store.db.prepare('SELECT value FROM settings WHERE key = ?').get(REQUIRE) as { value: string } | undefined)?.value === 'on';
}

export async function setRequireSignature(store: Store, on: boolean): Promise<void> {
  await store.write(() => {
    store.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(REQUIRE, on ? 'on' : 'off');
  }, 'changing the signature policy');
}
