import { BootportError } from '../../format/errors.js';
import { checkName } from '../../format/names.js';
import { FINGERPRINT_RE, fingerprintOf } from '../../stream/sign/keys.js';
import type { TrustedKey } from '../../stream/sign/signatures.js';
import type { CatalogTx, KeyRow } from '../backend/tx.js';
import type { Store } from '../store.js';
import { now } from './common.js';

/** A public key the store trusts to sign the bundles it imports. */
export interface TrustedKeyView {
  name: string;
  fingerprint: string;
  algorithm: 'ed25519';
  added: string;
}

const REQUIRE = 'require_signature';

// A catalog older than schema 3, read without upgrading it, has no trust tables: it trusts nothing.

export function listTrustedKeys(tx: CatalogTx): TrustedKeyView[] {
  return tx.all('trusted_keys').map((r) => ({ name: r.name, fingerprint: r.fingerprint, algorithm: 'ed25519', added: r.added }));
}

/** The trusted keys, as the signature check takes them. */
export function trustedKeys(tx: CatalogTx): TrustedKey[] {
  return tx.all('trusted_keys').map((r) => ({ name: r.name, raw: new Uint8Array(Buffer.from(r.key, 'base64')) }));
}

export async function addTrustedKey(store: Store, raw: Uint8Array, name: string): Promise<TrustedKeyView> {
  checkName(name, 'key name', 'ERR_INVALID');
  const fingerprint = fingerprintOf(raw);
  return store.write((tx) => {
    const same = tx.get('trusted_keys', fingerprint);
    if (same) throw new BootportError('ERR_CONFLICT', `the key ${fingerprint} is already trusted, as ${same.name}`);
    if (tx.byName('trusted_keys', name)) {
      throw new BootportError('ERR_CONFLICT', `a trusted key named ${name} already exists`, {}, 'give this key another name');
    }
    const row: KeyRow = { fingerprint, name, algorithm: 'ed25519', key: Buffer.from(raw).toString('base64'), added: now() };
    tx.insert('trusted_keys', row);
    return { name, fingerprint, algorithm: 'ed25519' as const, added: row.added };
  }, 'trusting a key');
}

/** Stops trusting a key, named by its name or its fingerprint. */
export async function removeTrustedKey(store: Store, sel: string): Promise<TrustedKeyView> {
  return store.write((tx) => {
    const column = FINGERPRINT_RE.test(sel) ? 'fingerprint' : 'name';
    const r = column === 'fingerprint' ? tx.get('trusted_keys', sel) : tx.byName('trusted_keys', sel);
    if (!r)
      throw new BootportError('ERR_NOT_FOUND', `no trusted key has the ${column} ${sel}`, {}, 'list the trusted keys to see their names', {
        remedies: ['list-keys'],
      });
    tx.remove('trusted_keys', r.fingerprint);
    return { name: r.name, fingerprint: r.fingerprint, algorithm: 'ed25519' as const, added: r.added };
  }, 'removing a trusted key');
}

/** Whether every import must carry a valid signature by a trusted key. */
export function requiresSignature(tx: CatalogTx): boolean {
  return tx.get('settings', REQUIRE)?.value === 'on';
}

export async function setRequireSignature(store: Store, on: boolean): Promise<void> {
  await store.write((tx) => {
    tx.upsert('settings', { key: REQUIRE, value: on ? 'on' : 'off' });
  }, 'changing the signature policy');
}
