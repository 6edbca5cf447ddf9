import { BootportError } from '../../format/errors.js';
import { checkName } from '../../format/names.js';
import type { Store } from '../store.js';
import type { BootConfigRow } from './boot-configs.js';
import { assertFree, checkText, listRows, newUid, now, resolveOne, rowByUid, type Named, type Selection } from './common.js';

/** The attribute that names the boot config a node boots, as Scyld's `_boot_config`. */
export const BOOT_CONFIG_ATTR = '_boot_config';
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A nodes row as SQLite holds it. The boot config is a foreign key, shown as `_boot_config`. */
export interface NodeRow {
  uid: string;
  name: string;
  mac: string | null;
  attributes: string;
  created: string;
  modified: string;
  boot_config: string | null;
}

/** A node as bootport shows it (`node ls --json`): `_boot_config` is among its attributes, by name. */
export interface NodeView {
  uid: string;
  name: string;
  mac: string | null;
  boot_config: string | null;
  attributes: Record<string, string>;
  created: string;
  modified: string;
}

const COLUMNS = ['uid', 'name', 'mac', 'attributes', 'created', 'modified', 'boot_config'] as const;

export function nodeView(store: Store, r: NodeRow): NodeView {
  const attributes = JSON.parse(r.attributes) as Record<string, string>;
  // A store of schema 1, read without upgrading it, keeps the name in the attributes.
  let bootConfig = store.schema >= 2 ? null : (attributes[BOOT_CONFIG_ATTR] ?? null);
  if (r.boot_config) {
    bootConfig = (store.db.prepare('SELECT name FROM boot_configs WHERE uid = ?').get(r.boot_config) as { name: string } | undefined)?.name ?? null;
  }
  const { [BOOT_CONFIG_ATTR]: _ignored, ...rest } = attributes;
  return {
    uid: r.uid,
    name: r.name,
    mac: r.mac,
    boot_config: bootConfig,
    attributes: bootConfig ? { [BOOT_CONFIG_ATTR]: bootConfig, ...rest } : rest,
    created: r.created,
    modified: r.modified,
  };
}

export function listNodes(store: Store, sel: Selection): NodeView[] {
  return store.read(() => listRows<NodeRow>(store, 'nodes', sel).map((r) => nodeView(store, r)));
}

export async function createNodes(store: Store, names: string[], mac?: string): Promise<NodeView[]> {
  if (mac !== undefined && names.length !== 1) throw new BootportError('ERR_USAGE', 'mac= can only be given when creating one node');
  if (mac !== undefined && !MAC_RE.test(mac.toLowerCase())) throw new BootportError('ERR_INVALID', `mac ${mac} is not of the form 00:11:22:33:44:55`);
  return store.write(() => {
    const insert = store.db.prepare(`INSERT INTO nodes (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`);
    return names.map((name) => {
      assertFree(store, 'nodes', name);
      const t = now();
      const row: NodeRow = { uid: newUid(), name, mac: mac?.toLowerCase() ?? null, attributes: '{}', created: t, modified: t, boot_config: null };
      insert.run(row);
      return nodeView(store, row);
    });
  }, 'creating nodes');
}

/** Sets attributes on every target in one transaction. `_boot_config` must name an existing boot config. */
export async function setNodeAttributes(store: Store, targets: readonly Named[], attrs: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(attrs)) {
    checkName(k, 'attribute name', 'ERR_INVALID');
    checkText(v, `attribute ${k}`);
  }
  const { [BOOT_CONFIG_ATTR]: bootConfig, ...rest } = attrs;
  await store.write(() => {
    const bc = bootConfig === undefined ? undefined : resolveOne<BootConfigRow>(store, 'boot_configs', bootConfig).uid;
    const update = store.db.prepare('UPDATE nodes SET attributes = ?, boot_config = ?, modified = ? WHERE uid = ?');
    for (const t of targets) {
      const cur = rowByUid<NodeRow>(store, 'nodes', t.uid, t.name);
      update.run(JSON.stringify({ ...(JSON.parse(cur.attributes) as object), ...rest }), bc === undefined ? cur.boot_config : bc, now(), cur.uid);
    }
  }, 'setting node attributes');
}

export async function clearNodeAttributes(store: Store, targets: readonly Named[], keys: string[]): Promise<void> {
  await store.write(() => {
    const update = store.db.prepare('UPDATE nodes SET attributes = ?, boot_config = ?, modified = ? WHERE uid = ?');
    for (const t of targets) {
      const cur = rowByUid<NodeRow>(store, 'nodes', t.uid, t.name);
      const next = JSON.parse(cur.attributes) as Record<string, string>;
      for (const k of keys) delete next[k];
      update.run(JSON.stringify(next), keys.includes(BOOT_CONFIG_ATTR) ? null : cur.boot_config, now(), cur.uid);
    }
  }, 'clearing node attributes');
}

export async function deleteNodes(store: Store, targets: readonly Named[]): Promise<string[]> {
  return store.write(() => {
    const rows = targets.map((t) => rowByUid<NodeRow>(store, 'nodes', t.uid, t.name));
    const del = store.db.prepare('DELETE FROM nodes WHERE uid = ?');
    for (const r of rows) del.run(r.uid);
    return rows.map((r) => r.name);
  }, 'deleting nodes');
}
