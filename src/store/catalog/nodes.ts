import { BootportError } from '../../format/errors.js';
import { checkName } from '../../format/names.js';
import type { CatalogTx, NodeRow } from '../backend/tx.js';
import type { Store } from '../store.js';
import { assertFree, checkText, listRows, newUid, now, resolveOne, rowByUid, type Named, type Selection } from './common.js';

/** The attribute that names the boot config a node boots, as Scyld's `_boot_config`. */
export const BOOT_CONFIG_ATTR = '_boot_config';
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export type { NodeRow };

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

export function nodeView(tx: CatalogTx, r: NodeRow): NodeView {
  const attributes = JSON.parse(r.attributes) as Record<string, string>;
  // A store of schema 1, read without upgrading it, keeps the name in the attributes.
  let bootConfig = tx.schema >= 2 ? null : (attributes[BOOT_CONFIG_ATTR] ?? null);
  if (r.boot_config) bootConfig = tx.get('boot_configs', r.boot_config)?.name ?? null;
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

export function listNodes(store: Store, sel: Selection): Promise<NodeView[]> {
  return store.read((tx) => listRows(tx, 'nodes', sel).map((r) => nodeView(tx, r)));
}

export async function createNodes(store: Store, names: string[], mac?: string): Promise<NodeView[]> {
  if (mac !== undefined && names.length !== 1) throw new BootportError('ERR_USAGE', 'mac= can only be given when creating one node');
  if (mac !== undefined && !MAC_RE.test(mac.toLowerCase())) throw new BootportError('ERR_INVALID', `mac ${mac} is not of the form 00:11:22:33:44:55`);
  return store.write((tx) => {
    return names.map((name) => {
      assertFree(tx, 'nodes', name);
      const t = now();
      const row: NodeRow = { uid: newUid(), name, mac: mac?.toLowerCase() ?? null, attributes: '{}', created: t, modified: t, boot_config: null };
      tx.insert('nodes', row);
      return nodeView(tx, row);
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
  await store.write((tx) => {
    const bc = bootConfig === undefined ? undefined : resolveOne(tx, 'boot_configs', bootConfig).uid;
    for (const t of targets) {
      const cur = rowByUid(tx, 'nodes', t.uid, t.name);
      tx.update('nodes', {
        ...cur,
        attributes: JSON.stringify({ ...(JSON.parse(cur.attributes) as object), ...rest }),
        boot_config: bc === undefined ? cur.boot_config : bc,
        modified: now(),
      });
    }
  }, 'setting node attributes');
}

export async function clearNodeAttributes(store: Store, targets: readonly Named[], keys: string[]): Promise<void> {
  await store.write((tx) => {
    for (const t of targets) {
      const cur = rowByUid(tx, 'nodes', t.uid, t.name);
      const next = JSON.parse(cur.attributes) as Record<string, string>;
      for (const k of keys) delete next[k];
      tx.update('nodes', { ...cur, attributes: JSON.stringify(next), boot_config: keys.includes(BOOT_CONFIG_ATTR) ? null : cur.boot_config, modified: now() });
    }
  }, 'clearing node attributes');
}

export async function deleteNodes(store: Store, targets: readonly Named[]): Promise<string[]> {
  return store.write((tx) => {
    const rows = targets.map((t) => rowByUid(tx, 'nodes', t.uid, t.name));
    for (const r of rows) tx.remove('nodes', r.uid);
    return rows.map((r) => r.name);
  }, 'deleting nodes');
}
