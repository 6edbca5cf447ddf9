import { BootportError } from '../../format/errors.js';
import { BOOT_STYLES, type BootStyle } from '../../format/manifest.js';
import { checkName } from '../../format/names.js';
import type { StagedBlob, Store } from '../store.js';
import {
  assertFree,
  checkText,
  frozenBlocker,
  listRows,
  newUid,
  now,
  refuseIfBlocked,
  resolveOne,
  rowByUid,
  type Blocker,
  type Named,
  type Selection,
  updateRows,
} from './common.js';
import type { ImageRow } from './images.js';

/** A boot_configs row as SQLite holds it. */
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

export interface BlobRef {
  name: string;
  digest: string;
  size: number;
}

/** A boot config as bootport shows it (`ls --json`) and the library returns it. */
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

/** A staged kernel or initramfs, with the file name it is known by. */
export type StagedFile = StagedBlob & { fileName: string };

export interface BootConfigFields {
  name?: string;
  kernel?: StagedFile & { release?: string };
  initramfs?: StagedFile;
  /** An image selector, or null to leave the boot config without an image. */
  image?: string | null;
  cmdline?: string;
  description?: string;
  boot_style?: string;
  frozen?: boolean;
}

const COLUMNS = [
  'uid',
  'name',
  'kernel',
  'kernel_name',
  'initramfs',
  'initramfs_name',
  'cmdline',
  'image',
  'boot_style',
  'description',
  'frozen',
  'release',
  'attributes',
  'created',
  'modified',
] as const;

export function checkStyle(s: string): BootStyle {
  if (!(BOOT_STYLES as readonly string[]).includes(s)) throw new BootportError('ERR_INVALID', `boot_style must be one of ${BOOT_STYLES.join(', ')}`);
  return s as BootStyle;
}

/** Inserts a complete boot config row whose blobs are already in place. Call inside a write. */
export function insertBootConfig(store: Store, row: BootConfigRow): void {
  store.db.prepare(`INSERT INTO boot_configs (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`).run(row);
}

export function bootConfigView(store: Store, r: BootConfigRow): BootConfigView {
  const size = (d: string) => (store.db.prepare('SELECT size FROM blobs WHERE digest = ?').get(d) as { size: number } | undefined)?.size ?? 0;
  const img = r.image ? (store.db.prepare('SELECT * FROM images WHERE uid = ?').get(r.image) as ImageRow | undefined) : undefined;
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
    attributes: JSON.parse(r.attributes) as Record<string, string>,
    created: r.created,
    modified: r.modified,
  };
}

export function listBootConfigs(store: Store, sel: Selection): BootConfigView[] {
  return store.read(() => listRows<BootConfigRow>(store, 'boot_configs', sel).map((r) => bootConfigView(store, r)));
}

export async function createBootConfig(store: Store, f: BootConfigFields): Promise<BootConfigView> {
  if (!f.name || !f.kernel || !f.initramfs) throw new BootportError('ERR_USAGE', 'create needs name=, kernel=@FILE and initramfs=@FILE');
  const { name, kernel, initramfs } = f;
  return store.commit(
    [kernel, initramfs],
    (place) => {
      // Every field is checked before a blob moves: a refusal leaves nothing behind.
      assertFree(store, 'boot_configs', name);
      const t = now();
      const row: BootConfigRow = {
        uid: newUid(),
        name,
        kernel: kernel.digest,
        kernel_name: checkName(kernel.fileName, 'kernel file name', 'ERR_INVALID'),
        initramfs: initramfs.digest,
        initramfs_name: checkName(initramfs.fileName, 'initramfs file name', 'ERR_INVALID'),
        cmdline: checkText(f.cmdline ?? '', 'cmdline'),
        image: f.image ? resolveOne<ImageRow>(store, 'images', f.image).uid : null,
        boot_style: checkStyle(f.boot_style ?? 'rwram'),
        description: checkText(f.description ?? '', 'description', true),
        frozen: f.frozen ? 1 : 0,
        release: kernel.release ?? null,
        attributes: '{}',
        created: t,
        modified: t,
      };
      place();
      insertBootConfig(store, row);
      return bootConfigView(store, row);
    },
    `creating boot config ${name}`,
  );
}

/** Changes every target the same way, in one transaction: all of them, or none. */
export async function updateBootConfigs(store: Store, targets: readonly Named[], f: BootConfigFields): Promise<BootConfigView[]> {
  const staged = [f.kernel, f.initramfs].filter((b): b is StagedFile => b !== undefined);
  // Nodes refer to a boot config by uid, so a rename needs nothing more.
  return updateRows<BootConfigRow, BootConfigView>(store, 'boot_configs', targets, f, staged, {
    columns: COLUMNS,
    hint: 'unfreeze it first: set frozen to false',
    remedies: ['unfreeze-boot-config'],
    view: (n) => bootConfigView(store, n),
    apply: (n) => {
      if (f.kernel) {
        n.kernel = f.kernel.digest;
        n.kernel_name = checkName(f.kernel.fileName, 'kernel file name', 'ERR_INVALID');
        n.release = f.kernel.release ?? null;
      }
      if (f.initramfs) {
        n.initramfs = f.initramfs.digest;
        n.initramfs_name = checkName(f.initramfs.fileName, 'initramfs file name', 'ERR_INVALID');
      }
      if (f.image !== undefined) n.image = f.image === null || f.image === '' ? null : resolveOne<ImageRow>(store, 'images', f.image).uid;
      if (f.cmdline !== undefined) n.cmdline = checkText(f.cmdline, 'cmdline');
      if (f.description !== undefined) n.description = checkText(f.description, 'description', true);
      if (f.boot_style !== undefined) n.boot_style = checkStyle(f.boot_style);
    },
  });
}

export async function cloneBootConfig(store: Store, src: Named, newName: string): Promise<BootConfigView> {
  return store.write(() => {
    const cur = rowByUid<BootConfigRow>(store, 'boot_configs', src.uid, src.name);
    assertFree(store, 'boot_configs', newName);
    const t = now();
    const row = { ...cur, uid: newUid(), name: newName, frozen: 0, created: t, modified: t };
    insertBootConfig(store, row);
    return bootConfigView(store, row);
  }, `cloning boot config ${src.name}`);
}

/** Deletes every target in one transaction, or none of them, naming every one that blocks it. */
export async function deleteBootConfigs(store: Store, targets: readonly Named[]): Promise<string[]> {
  const { names, dead } = await store.write(() => {
    const blockers: Blocker[] = [];
    const rows = targets.map((t) => rowByUid<BootConfigRow>(store, 'boot_configs', t.uid, t.name));
    for (const cur of rows) {
      const frozen = frozenBlocker('boot_configs', cur, 'deleted');
      if (frozen) blockers.push(frozen);
      const users = (store.db.prepare('SELECT name FROM nodes WHERE boot_config = ? ORDER BY name').all(cur.uid) as { name: string }[]).map((r) => r.name);
      if (users.length)
        blockers.push({
          code: 'ERR_IN_USE',
          reason: `boot config ${cur.name} is set on ${users.length} node(s): ${users.slice(0, 5).join(', ')}${users.length > 5 ? ', …' : ''}`,
        });
    }
    refuseIfBlocked(blockers, 'deleted', 'unfreeze the frozen ones, and clear the boot config of the nodes that boot them', {
      remedies: ['release-boot-configs'],
    });
    const del = store.db.prepare('DELETE FROM boot_configs WHERE uid = ?');
    for (const r of rows) del.run(r.uid);
    return { names: rows.map((r) => r.name), dead: store.dropUnreferencedBlobs() };
  }, 'deleting boot configs');
  await store.unlinkOrphans(dead);
  return names;
}
