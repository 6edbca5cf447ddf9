import { randomBytes } from 'node:crypto';
import { BootportError } from '../format/errors.js';
import { BOOT_STYLES, type BootStyle } from '../format/manifest.js';
import { checkName } from '../format/names.js';
import type { StagedBlob, Store } from './store.js';

export type Kind = 'boot_configs' | 'images' | 'nodes';
const LABEL: Record<Kind, string> = { boot_configs: 'boot config', images: 'image', nodes: 'node' };
export const MIN_UID_PREFIX = 5;

export interface BootConfigRow {
  uid: string;
  name: string;
  kernel: string;
  kernel_name: string;
  initramfs: string;
  initramfs_name: string;
  cmdline: string;
  image: string | null;
  boot_style: BootStyle;
  description: string;
  frozen: number;
  release: string | null;
  attributes: string;
  created: string;
  modified: string;
}
export interface ImageRow {
  uid: string;
  name: string;
  content: string;
  size: number;
  description: string;
  distro: string;
  parent: string;
  frozen: number;
  created: string;
  modified: string;
}
export interface NodeRow {
  uid: string;
  name: string;
  mac: string | null;
  attributes: string;
  created: string;
  modified: string;
}

export const newUid = (): string => randomBytes(16).toString('hex');
const now = (): string => new Date().toISOString();

/** `n[0-3]` is n0, n1, n2, n3; `n[08-10]` keeps the width: n08, n09, n10. Commas separate names. */
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
    if (hi < lo || hi - lo > 100_000) throw new BootportError('ERR_USAGE', `bad range [${a}-${b}] in ${part}`);
    const width = a.length > 1 && a.startsWith('0') ? a.length : 0;
    for (let i = lo; i <= hi; i++) out.push(`${pre}${String(i).padStart(width, '0')}${post}`);
  }
  return out;
}

/** One selector: an exact name, else a unique uid prefix of at least five characters. */
export function resolveOne<T extends { uid: string; name: string }>(store: Store, kind: Kind, sel: string): T {
  const byName = store.db.prepare(`SELECT * FROM ${kind} WHERE name = ?`).get(sel) as T | undefined;
  if (byName) return byName;
  if (sel.length >= MIN_UID_PREFIX && /^[0-9a-f]+$/.test(sel)) {
    const rows = store.db.prepare(`SELECT * FROM ${kind} WHERE uid LIKE ? || '%' LIMIT 2`).all(sel) as T[];
    if (rows.length === 1) return rows[0]!;
    if (rows.length > 1) throw new BootportError('ERR_AMBIGUOUS', `${sel} matches more than one ${LABEL[kind]} uid`, {}, 'give more characters of the uid, or the name');
  }
  throw new BootportError('ERR_NOT_FOUND', `no ${LABEL[kind]} named ${JSON.stringify(sel)}`, {}, `list them with: bootport ${kind === 'boot_configs' ? '' : `${LABEL[kind]} `}ls`);
}

/** The selected objects (-i / -a), or every one when nothing is selected; by name. */
export function listObjects<T extends { uid: string; name: string }>(store: Store, kind: Kind, sel: { ids?: string; all?: boolean }): T[] {
  if (sel.ids || sel.all) return resolveMany<T>(store, kind, sel.ids, sel.all);
  return store.db.prepare(`SELECT * FROM ${kind} ORDER BY name`).all() as T[];
}

export function resolveMany<T extends { uid: string; name: string }>(store: Store, kind: Kind, ids: string | undefined, all: boolean | undefined): T[] {
  if (all) return store.db.prepare(`SELECT * FROM ${kind} ORDER BY name`).all() as T[];
  if (!ids) throw new BootportError('ERR_USAGE', `select ${LABEL[kind]}s with -i NAME[,NAME...] or -a`);
  const seen = new Set<string>();
  const out: T[] = [];
  for (const sel of expandNames(ids)) {
    const r = resolveOne<T>(store, kind, sel);
    if (!seen.has(r.uid)) {
      seen.add(r.uid);
      out.push(r);
    }
  }
  return out;
}

function assertFree(store: Store, kind: Kind, name: string, hint?: string): void {
  checkName(name, `${LABEL[kind]} name`, 'ERR_INVALID');
  if (store.db.prepare(`SELECT 1 FROM ${kind} WHERE name = ?`).get(name)) {
    throw new BootportError('ERR_CONFLICT', `a ${LABEL[kind]} named ${name} already exists`, {}, hint);
  }
}

function assertNotFrozen(kind: Kind, row: { name: string; frozen?: number }, action: string): void {
  if (row.frozen) throw new BootportError('ERR_FROZEN', `${LABEL[kind]} ${row.name} is frozen and cannot be ${action}`, {}, `unfreeze it first: frozen=false`);
}

// ---- boot configs ----------------------------------------------------------------------------

export interface BootConfigFields {
  name?: string;
  kernel?: StagedBlob & { fileName: string; release?: string };
  initramfs?: StagedBlob & { fileName: string };
  /** An image selector, or null to leave the boot config without an image. */
  image?: string | null;
  cmdline?: string;
  description?: string;
  boot_style?: string;
  frozen?: boolean;
  attributes?: Record<string, string>;
}

function checkStyle(s: string): BootStyle {
  if (!(BOOT_STYLES as readonly string[]).includes(s)) throw new BootportError('ERR_INVALID', `boot_style must be one of ${BOOT_STYLES.join(', ')}`);
  return s as BootStyle;
}

function checkText(v: string, what: string, multiline = false): string {
  const bad = multiline ? /[\u0000-\u0008\u000b-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/;
  if (bad.test(v) || v.length > 4096) throw new BootportError('ERR_INVALID', `${what} must be at most 4096 characters with no control characters`);
  return v;
}

/** Inserts a complete boot config row whose blobs are already in place. Call inside `tx`. */
export function insertBootConfig(store: Store, row: BootConfigRow): void {
  store.db
    .prepare(
      `INSERT INTO boot_configs VALUES (@uid, @name, @kernel, @kernel_name, @initramfs, @initramfs_name, @cmdline, @image, @boot_style, @description, @frozen, @release, @attributes, @created, @modified)`,
    )
    .run(row);
}

export function createBootConfig(store: Store, f: BootConfigFields): BootConfigRow {
  if (!f.name || !f.kernel || !f.initramfs) throw new BootportError('ERR_USAGE', 'create needs name=, kernel=@FILE and initramfs=@FILE');
  const { name, kernel, initramfs } = f;
  return store.tx(() => {
    assertFree(store, 'boot_configs', name);
    const image = f.image ? resolveOne<ImageRow>(store, 'images', f.image).uid : null;
    store.placeBlobs([kernel, initramfs]);
    const t = now();
    const row: BootConfigRow = {
      uid: newUid(),
      name,
      kernel: kernel.digest,
      kernel_name: checkName(kernel.fileName, 'kernel file name', 'ERR_INVALID'),
      initramfs: initramfs.digest,
      initramfs_name: checkName(initramfs.fileName, 'initramfs file name', 'ERR_INVALID'),
      cmdline: checkText(f.cmdline ?? '', 'cmdline'),
      image,
      boot_style: checkStyle(f.boot_style ?? 'rwram'),
      description: checkText(f.description ?? '', 'description', true),
      frozen: f.frozen ? 1 : 0,
      release: kernel.release ?? null,
      attributes: JSON.stringify(f.attributes ?? {}),
      created: t,
      modified: t,
    };
    insertBootConfig(store, row);
    return row;
  });
}

export function updateBootConfig(store: Store, uid: string, f: BootConfigFields): BootConfigRow {
  const r = store.tx(() => {
    const cur = store.db.prepare('SELECT * FROM boot_configs WHERE uid = ?').get(uid) as BootConfigRow;
    // Unfreezing is the one change a frozen object accepts.
    const onlyUnfreeze = Object.keys(f).length === 1 && f.frozen === false;
    if (!onlyUnfreeze) assertNotFrozen('boot_configs', cur, 'changed');
    const next: BootConfigRow = { ...cur, modified: now() };
    if (f.name !== undefined && f.name !== cur.name) {
      assertFree(store, 'boot_configs', f.name);
      next.name = f.name;
    }
    const blobs: StagedBlob[] = [];
    if (f.kernel) {
      blobs.push(f.kernel);
      next.kernel = f.kernel.digest;
      next.kernel_name = checkName(f.kernel.fileName, 'kernel file name', 'ERR_INVALID');
      next.release = f.kernel.release ?? null;
    }
    if (f.initramfs) {
      blobs.push(f.initramfs);
      next.initramfs = f.initramfs.digest;
      next.initramfs_name = checkName(f.initramfs.fileName, 'initramfs file name', 'ERR_INVALID');
    }
    if (f.image !== undefined) next.image = f.image === null || f.image === '' ? null : resolveOne<ImageRow>(store, 'images', f.image).uid;
    if (f.cmdline !== undefined) next.cmdline = checkText(f.cmdline, 'cmdline');
    if (f.description !== undefined) next.description = checkText(f.description, 'description', true);
    if (f.boot_style !== undefined) next.boot_style = checkStyle(f.boot_style);
    if (f.frozen !== undefined) next.frozen = f.frozen ? 1 : 0;
    if (f.attributes) next.attributes = JSON.stringify({ ...JSON.parse(cur.attributes), ...f.attributes });
    store.placeBlobs(blobs);
    store.db
      .prepare(
        `UPDATE boot_configs SET name=@name, kernel=@kernel, kernel_name=@kernel_name, initramfs=@initramfs, initramfs_name=@initramfs_name, cmdline=@cmdline,
         image=@image, boot_style=@boot_style, description=@description, frozen=@frozen, release=@release, attributes=@attributes, modified=@modified WHERE uid=@uid`,
      )
      .run(next);
    // Nodes name their boot config, so a rename follows through to them.
    if (next.name !== cur.name) renameNodeReferences(store, cur.name, next.name);
    return next;
  });
  if (f.kernel || f.initramfs) store.collectGarbage();
  return r;
}

export function cloneBootConfig(store: Store, uid: string, newName: string): BootConfigRow {
  return store.tx(() => {
    const cur = store.db.prepare('SELECT * FROM boot_configs WHERE uid = ?').get(uid) as BootConfigRow;
    assertFree(store, 'boot_configs', newName);
    const t = now();
    const row = { ...cur, uid: newUid(), name: newName, frozen: 0, created: t, modified: t };
    insertBootConfig(store, row);
    return row;
  });
}

export function deleteBootConfig(store: Store, uid: string): void {
  store.tx(() => {
    const cur = store.db.prepare('SELECT * FROM boot_configs WHERE uid = ?').get(uid) as BootConfigRow;
    assertNotFrozen('boot_configs', cur, 'deleted');
    const users = nodesBooting(store, cur.name);
    if (users.length) throw new BootportError('ERR_IN_USE', `boot config ${cur.name} is set on ${users.length} node(s): ${users.slice(0, 5).join(', ')}`, {}, 'clear _boot_config on those nodes first');
    store.db.prepare('DELETE FROM boot_configs WHERE uid = ?').run(uid);
  });
  store.collectGarbage();
}

// ---- images ----------------------------------------------------------------------------------

export interface ImageFields {
  name?: string;
  content?: StagedBlob;
  description?: string;
  distro?: string;
  parent?: string;
  frozen?: boolean;
}

/** Inserts an image row whose content blob is already in place. Call inside `tx`. */
export function insertImage(store: Store, f: Omit<ImageFields, 'content'> & { name: string; content: Omit<StagedBlob, 'path'> }): ImageRow {
  assertFree(store, 'images', f.name);
  const t = now();
  const row: ImageRow = {
    uid: newUid(),
    name: f.name,
    content: f.content.digest,
    size: f.content.size,
    description: checkText(f.description ?? '', 'description', true),
    distro: checkText(f.distro ?? '', 'distro'),
    parent: checkText(f.parent ?? '', 'parent'),
    frozen: f.frozen ? 1 : 0,
    created: t,
    modified: t,
  };
  store.db.prepare('INSERT INTO images VALUES (@uid, @name, @content, @size, @description, @distro, @parent, @frozen, @created, @modified)').run(row);
  return row;
}

export function createImage(store: Store, f: ImageFields): ImageRow {
  if (!f.name || !f.content) throw new BootportError('ERR_USAGE', 'image create needs name= and content=@FILE');
  const { name, content } = f;
  return store.tx(() => {
    // Names first: a blob rename cannot be rolled back with the transaction.
    assertFree(store, 'images', name);
    store.placeBlobs([content]);
    return insertImage(store, { ...f, name, content });
  });
}

export function updateImage(store: Store, uid: string, f: ImageFields): ImageRow {
  const r = store.tx(() => {
    const cur = store.db.prepare('SELECT * FROM images WHERE uid = ?').get(uid) as ImageRow;
    if (!(Object.keys(f).length === 1 && f.frozen === false)) assertNotFrozen('images', cur, 'changed');
    const next: ImageRow = { ...cur, modified: now() };
    if (f.name !== undefined && f.name !== cur.name) {
      assertFree(store, 'images', f.name);
      next.name = f.name;
    }
    if (f.content) {
      store.placeBlobs([f.content]);
      next.content = f.content.digest;
      next.size = f.content.size;
    }
    if (f.description !== undefined) next.description = checkText(f.description, 'description', true);
    if (f.distro !== undefined) next.distro = checkText(f.distro, 'distro');
    if (f.parent !== undefined) next.parent = checkText(f.parent, 'parent');
    if (f.frozen !== undefined) next.frozen = f.frozen ? 1 : 0;
    store.db.prepare('UPDATE images SET name=@name, content=@content, size=@size, description=@description, distro=@distro, parent=@parent, frozen=@frozen, modified=@modified WHERE uid=@uid').run(next);
    return next;
  });
  if (f.content) store.collectGarbage();
  return r;
}

export function cloneImage(store: Store, uid: string, newName: string): ImageRow {
  return store.tx(() => {
    const cur = store.db.prepare('SELECT * FROM images WHERE uid = ?').get(uid) as ImageRow;
    assertFree(store, 'images', newName);
    const t = now();
    const row = { ...cur, uid: newUid(), name: newName, parent: cur.name, frozen: 0, created: t, modified: t };
    store.db.prepare('INSERT INTO images VALUES (@uid, @name, @content, @size, @description, @distro, @parent, @frozen, @created, @modified)').run(row);
    return row;
  });
}

export function deleteImage(store: Store, uid: string): void {
  store.tx(() => {
    const cur = store.db.prepare('SELECT * FROM images WHERE uid = ?').get(uid) as ImageRow;
    assertNotFrozen('images', cur, 'deleted');
    const users = (store.db.prepare('SELECT name FROM boot_configs WHERE image = ? ORDER BY name').all(uid) as { name: string }[]).map((r) => r.name);
    if (users.length) throw new BootportError('ERR_IN_USE', `image ${cur.name} is used by boot config(s) ${users.join(', ')}`, {}, 'point those boot configs at another image first (update image=X)');
    store.db.prepare('DELETE FROM images WHERE uid = ?').run(uid);
  });
  store.collectGarbage();
}

// ---- nodes -----------------------------------------------------------------------------------

export const BOOT_CONFIG_ATTR = '_boot_config';
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function nodesBooting(store: Store, bootConfig: string): string[] {
  return (store.db.prepare(`SELECT name FROM nodes WHERE json_extract(attributes, '$._boot_config') = ? ORDER BY name`).all(bootConfig) as { name: string }[]).map((r) => r.name);
}

function renameNodeReferences(store: Store, from: string, to: string): void {
  store.db.prepare(`UPDATE nodes SET attributes = json_set(attributes, '$._boot_config', ?), modified = ? WHERE json_extract(attributes, '$._boot_config') = ?`).run(to, now(), from);
}

export function createNodes(store: Store, names: string[], mac?: string): NodeRow[] {
  if (mac !== undefined && names.length !== 1) throw new BootportError('ERR_USAGE', 'mac= can only be given when creating one node');
  if (mac !== undefined && !MAC_RE.test(mac.toLowerCase())) throw new BootportError('ERR_INVALID', `mac ${mac} is not of the form 00:11:22:33:44:55`);
  return store.tx(() =>
    names.map((name) => {
      assertFree(store, 'nodes', name);
      const t = now();
      const row: NodeRow = { uid: newUid(), name, mac: mac?.toLowerCase() ?? null, attributes: '{}', created: t, modified: t };
      store.db.prepare('INSERT INTO nodes VALUES (@uid, @name, @mac, @attributes, @created, @modified)').run(row);
      return row;
    }),
  );
}

export function setNodeAttributes(store: Store, uids: string[], attrs: Record<string, string>): void {
  store.tx(() => {
    for (const [k, v] of Object.entries(attrs)) {
      checkName(k, 'attribute name', 'ERR_INVALID');
      checkText(v, `attribute ${k}`);
      if (k === BOOT_CONFIG_ATTR) resolveOne<BootConfigRow>(store, 'boot_configs', v);
    }
    const bootConfig = attrs[BOOT_CONFIG_ATTR];
    for (const uid of uids) {
      const cur = store.db.prepare('SELECT * FROM nodes WHERE uid = ?').get(uid) as NodeRow;
      const next = { ...JSON.parse(cur.attributes), ...attrs };
      // Store the canonical name even when the boot config was selected by uid prefix.
      if (bootConfig !== undefined) next[BOOT_CONFIG_ATTR] = resolveOne<BootConfigRow>(store, 'boot_configs', bootConfig).name;
      store.db.prepare('UPDATE nodes SET attributes = ?, modified = ? WHERE uid = ?').run(JSON.stringify(next), now(), uid);
    }
  });
}

export function clearNodeAttributes(store: Store, uids: string[], keys: string[]): void {
  store.tx(() => {
    for (const uid of uids) {
      const cur = store.db.prepare('SELECT * FROM nodes WHERE uid = ?').get(uid) as NodeRow;
      const next = JSON.parse(cur.attributes) as Record<string, string>;
      for (const k of keys) delete next[k];
      store.db.prepare('UPDATE nodes SET attributes = ?, modified = ? WHERE uid = ?').run(JSON.stringify(next), now(), uid);
    }
  });
}

export function deleteNodes(store: Store, uids: string[]): void {
  store.tx(() => {
    for (const uid of uids) store.db.prepare('DELETE FROM nodes WHERE uid = ?').run(uid);
  });
}

// ---- views -----------------------------------------------------------------------------------

export interface BlobRef {
  name: string;
  digest: string;
  size: number;
}

export interface BootConfigView {
  uid: string;
  name: string;
  kernel: BlobRef;
  initramfs: BlobRef;
  image: { uid: string; name: string; size: number; digest: string } | null;
  cmdline: string;
  boot_style: BootStyle;
  description: string;
  frozen: boolean;
  release: string | null;
  attributes: Record<string, string>;
  created: string;
  modified: string;
}

export function bootConfigView(store: Store, r: BootConfigRow): BootConfigView {
  const size = (d: string) => (store.db.prepare('SELECT size FROM blobs WHERE digest = ?').get(d) as { size: number } | undefined)?.size ?? 0;
  const img = r.image ? (store.db.prepare('SELECT * FROM images WHERE uid = ?').get(r.image) as ImageRow) : undefined;
  return {
    uid: r.uid,
    name: r.name,
    kernel: { name: r.kernel_name, digest: r.kernel, size: size(r.kernel) },
    initramfs: { name: r.initramfs_name, digest: r.initramfs, size: size(r.initramfs) },
    image: img ? { uid: img.uid, name: img.name, size: img.size, digest: img.content } : null,
    cmdline: r.cmdline,
    boot_style: r.boot_style,
    description: r.description,
    frozen: r.frozen === 1,
    release: r.release,
    attributes: JSON.parse(r.attributes),
    created: r.created,
    modified: r.modified,
  };
}

export function imageView(r: ImageRow): Omit<ImageRow, 'frozen'> & { frozen: boolean } {
  return { ...r, frozen: r.frozen === 1 };
}

export function nodeView(r: NodeRow): Omit<NodeRow, 'attributes'> & { attributes: Record<string, string> } {
  return { ...r, attributes: JSON.parse(r.attributes) };
}
