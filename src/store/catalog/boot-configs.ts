import { BootportError } from '../../format/errors.js';
import { BOOT_STYLES, type BootStyle } from '../../format/manifest.js';
import { checkName } from '../../format/names.js';
import type { BootConfigRow, CatalogTx } from '../backend/tx.js';
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
  blobsOf,
  type Blocker,
  type Named,
  type Selection,
  updateRows,
} from './common.js';

export type { BootConfigRow };

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

export function checkStyle(s: string): BootStyle {
  if (!(BOOT_STYLES as readonly string[]).includes(s)) throw new BootportError('ERR_INVALID', `boot_style must be one of ${BOOT_STYLES.join(', ')}`);
  return s as BootStyle;
}

export function bootConfigView(tx: CatalogTx, r: BootConfigRow): BootConfigView {
  const size = (d: string) => tx.get('blobs', d)?.size ?? 0;
  const img = r.image ? tx.get('images', r.image) : undefined;
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

export function listBootConfigs(store: Store, sel: Selection): Promise<BootConfigView[]> {
  return store.read((tx) => listRows(tx, 'boot_configs', sel).map((r) => bootConfigView(tx, r)));
}

export async function createBootConfig(store: Store, f: BootConfigFields): Promise<BootConfigView> {
  if (!f.name || !f.kernel || !f.initramfs) throw new BootportError('ERR_USAGE', 'create needs name=, kernel=@FILE and initramfs=@FILE');
  const { name, kernel, initramfs } = f;
  return store.commit(
    [kernel, initramfs],
    (tx, place) => {
      // Every field is checked before a blob moves: a refusal leaves nothing behind.
      assertFree(tx, 'boot_configs', name);
      const t = now();
      const row: BootConfigRow = {
        uid: newUid(),
        name,
        kernel: kernel.digest,
        kernel_name: checkName(kernel.fileName, 'kernel file name', 'ERR_INVALID'),
        initramfs: initramfs.digest,
        initramfs_name: checkName(initramfs.fileName, 'initramfs file name', 'ERR_INVALID'),
        cmdline: checkText(f.cmdline ?? '', 'cmdline'),
        image: f.image ? resolveOne(tx, 'images', f.image).uid : null,
        boot_style: checkStyle(f.boot_style ?? 'rwram'),
        description: checkText(f.description ?? '', 'description', true),
        frozen: f.frozen ? 1 : 0,
        release: kernel.release ?? null,
        attributes: '{}',
        created: t,
        modified: t,
      };
      place();
      tx.insert('boot_configs', row);
      return bootConfigView(tx, row);
    },
    `creating boot config ${name}`,
  );
}

/** Changes every target the same way, in one transaction: all of them, or none. */
export async function updateBootConfigs(store: Store, targets: readonly Named[], f: BootConfigFields): Promise<BootConfigView[]> {
  const staged = [f.kernel, f.initramfs].filter((b): b is StagedFile => b !== undefined);
  // Nodes refer to a boot config by uid, so a rename needs nothing more.
  return updateRows(store, 'boot_configs', targets, f, staged, {
    hint: 'unfreeze it first: set frozen to false',
    remedies: ['unfreeze-boot-config'],
    view: bootConfigView,
    apply: (tx, n) => {
      if (f.kernel) {
        n.kernel = f.kernel.digest;
        n.kernel_name = checkName(f.kernel.fileName, 'kernel file name', 'ERR_INVALID');
        n.release = f.kernel.release ?? null;
      }
      if (f.initramfs) {
        n.initramfs = f.initramfs.digest;
        n.initramfs_name = checkName(f.initramfs.fileName, 'initramfs file name', 'ERR_INVALID');
      }
      if (f.image !== undefined) n.image = f.image === null || f.image === '' ? null : resolveOne(tx, 'images', f.image).uid;
      if (f.cmdline !== undefined) n.cmdline = checkText(f.cmdline, 'cmdline');
      if (f.description !== undefined) n.description = checkText(f.description, 'description', true);
      if (f.boot_style !== undefined) n.boot_style = checkStyle(f.boot_style);
    },
  });
}

export async function cloneBootConfig(store: Store, src: Named, newName: string): Promise<BootConfigView> {
  return store.write((tx) => {
    const cur = rowByUid(tx, 'boot_configs', src.uid, src.name);
    assertFree(tx, 'boot_configs', newName);
    const t = now();
    const row = { ...cur, uid: newUid(), name: newName, frozen: 0, created: t, modified: t };
    tx.insert('boot_configs', row);
    return bootConfigView(tx, row);
  }, `cloning boot config ${src.name}`);
}

/** Deletes every target in one transaction, or none of them, naming every one that blocks it. */
export async function deleteBootConfigs(store: Store, targets: readonly Named[]): Promise<string[]> {
  const { names, dead } = await store.write((tx) => {
    const blockers: Blocker[] = [];
    const rows = targets.map((t) => rowByUid(tx, 'boot_configs', t.uid, t.name));
    for (const cur of rows) {
      const frozen = frozenBlocker('boot_configs', cur, 'deleted');
      if (frozen) blockers.push(frozen);
      const users = tx.referrers('boot_configs', cur.uid).map((r) => r.row.name);
      if (users.length)
        blockers.push({
          code: 'ERR_IN_USE',
          reason: `boot config ${cur.name} is set on ${users.length} node(s): ${users.slice(0, 5).join(', ')}${users.length > 5 ? ', …' : ''}`,
        });
    }
    refuseIfBlocked(blockers, 'deleted', 'unfreeze the frozen ones, and clear the boot config of the nodes that boot them', {
      remedies: ['release-boot-configs'],
    });
    for (const r of rows) tx.remove('boot_configs', r.uid);
    return {
      names: rows.map((r) => r.name),
      dead: store.dropUnreferencedBlobs(
        tx,
        rows.flatMap((r) => blobsOf('boot_configs', r)),
      ),
    };
  }, 'deleting boot configs');
  await store.unlinkOrphans(dead);
  return names;
}
