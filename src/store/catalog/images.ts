import { closeSync, openSync, readSync } from 'node:fs';
import { imageKind, KIND_HEAD_BYTES, type ImageKind } from '../../stream/tree/tar-records.js';
import { BootportError } from '../../format/errors.js';
import type { CatalogTx, ImageRow } from '../backend/tx.js';
import type { StagedBlob, Store } from '../store.js';
import {
  assertFree,
  checkText,
  frozenBlocker,
  listRows,
  newUid,
  now,
  refuseIfBlocked,
  rowByUid,
  blobsOf,
  type Blocker,
  type Named,
  type Selection,
  updateRows,
} from './common.js';

export type { ImageRow };

/** An image as bootport shows it (`image ls --json`) and the library returns it. */
export type ImageView = Omit<ImageRow, 'frozen'> & { frozen: boolean };

export interface ImageFields {
  name?: string;
  content?: StagedBlob;
  description?: string;
  distro?: string;
  parent?: string;
  frozen?: boolean;
}

export function imageView(r: ImageRow): ImageView {
  return { ...r, frozen: r.frozen === 1 };
}

export function listImages(store: Store, sel: Selection): Promise<ImageView[]> {
  return store.read((tx) => listRows(tx, 'images', sel).map(imageView));
}

/** A new image row, its fields checked; nothing is written. Call inside a write. */
export function newImageRow(tx: CatalogTx, f: Omit<ImageFields, 'content'> & { name: string; content: Omit<StagedBlob, 'path'> }): ImageRow {
  assertFree(tx, 'images', f.name);
  const t = now();
  return {
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
}

export async function createImage(store: Store, f: ImageFields): Promise<ImageView> {
  if (!f.name || !f.content) throw new BootportError('ERR_USAGE', 'image create needs name= and content=@FILE');
  const { name, content } = f;
  return store.commit(
    [content],
    (tx, place) => {
      // Every field is checked before the blob moves: a refusal leaves nothing behind.
      const row = newImageRow(tx, { ...f, name, content });
      place();
      tx.insert('images', row);
      return imageView(row);
    },
    `creating image ${name}`,
  );
}

/** Changes every target the same way, in one transaction: all of them, or none. */
export async function updateImages(store: Store, targets: readonly Named[], f: ImageFields): Promise<ImageView[]> {
  return updateRows(store, 'images', targets, f, f.content ? [f.content] : [], {
    hint: 'unfreeze it first: set frozen to false',
    remedies: ['unfreeze-image'],
    view: (_tx, n) => imageView(n),
    apply: (_tx, n) => {
      if (f.content) {
        n.content = f.content.digest;
        n.size = f.content.size;
      }
      if (f.description !== undefined) n.description = checkText(f.description, 'description', true);
      if (f.distro !== undefined) n.distro = checkText(f.distro, 'distro');
      if (f.parent !== undefined) n.parent = checkText(f.parent, 'parent');
    },
  });
}

export async function cloneImage(store: Store, src: Named, newName: string): Promise<ImageView> {
  return store.write((tx) => {
    const cur = rowByUid(tx, 'images', src.uid, src.name);
    assertFree(tx, 'images', newName);
    const t = now();
    const row = { ...cur, uid: newUid(), name: newName, parent: cur.name, frozen: 0, created: t, modified: t };
    tx.insert('images', row);
    return imageView(row);
  }, `cloning image ${src.name}`);
}

/** Deletes every target in one transaction, or none of them, naming every one that blocks it. */
export async function deleteImages(store: Store, targets: readonly Named[]): Promise<string[]> {
  const { names, dead } = await store.write((tx) => {
    const blockers: Blocker[] = [];
    const rows = targets.map((t) => rowByUid(tx, 'images', t.uid, t.name));
    const deleting = new Set(rows.map((r) => r.uid));
    for (const cur of rows) {
      const frozen = frozenBlocker('images', cur, 'deleted');
      if (frozen) blockers.push(frozen);
      const users = tx.referrers('images', cur.uid).map((r) => r.row.name);
      if (users.length) blockers.push({ code: 'ERR_IN_USE', reason: `image ${cur.name} is used by boot config(s) ${users.join(', ')}` });
    }
    refuseIfBlocked(blockers, 'deleted', 'unfreeze the frozen ones, and point the boot configs that use them at another image', {
      remedies: ['release-images'],
    });
    for (const uid of deleting) tx.remove('images', uid);
    return {
      names: rows.map((r) => r.name),
      dead: store.dropUnreferencedBlobs(
        tx,
        rows.flatMap((r) => blobsOf('images', r)),
      ),
    };
  }, 'deleting images');
  await store.unlinkOrphans(dead);
  return names;
}

/**
 * What an image's content is, from its first bytes: a tar (which `image extract` unpacks), a
 * squashfs, a disk image, …, or `missing` when its blob cannot be read (fsck says why).
 */
export function imageKindOf(store: Store, digest: string): ImageKind | 'missing' {
  let fd: number | undefined;
  try {
    fd = openSync(store.blobPath(digest), 'r');
    const head = new Uint8Array(KIND_HEAD_BYTES);
    const n = readSync(fd, head, 0, head.length, 0);
    return imageKind(head.subarray(0, n));
  } catch {
    return 'missing';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
