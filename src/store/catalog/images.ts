import { closeSync, openSync, readSync } from 'node:fs';
import { imageKind, KIND_HEAD_BYTES, type ImageKind } from '../../stream/tree/tar-records.js';
import { BootportError } from '../../format/errors.js';
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
  type Blocker,
  type Named,
  type Selection,
  updateRows,
} from './common.js';

/** An images row as SQLite holds it. */
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

const COLUMNS = ['uid', 'name', 'content', 'size', 'description', 'distro', 'parent', 'frozen', 'created', 'modified'] as const;

export function imageView(r: ImageRow): ImageView {
  return { ...r, frozen: r.frozen === 1 };
}

export function listImages(store: Store, sel: Selection): ImageView[] {
  return store.read(() => listRows<ImageRow>(store, 'images', sel).map(imageView));
}

function insertRow(store: Store, row: ImageRow): void {
  store.db.prepare(`INSERT INTO images (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`).run(row);
}

/** A new image row, its fields checked; nothing is written. Call inside a write. */
export function newImageRow(store: Store, f: Omit<ImageFields, 'content'> & { name: string; content: Omit<StagedBlob, 'path'> }): ImageRow {
  assertFree(store, 'images', f.name);
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

/** Inserts an image whose content blob is already in place. Call inside a write. */
export function insertImage(store: Store, row: ImageRow): ImageRow {
  insertRow(store, row);
  return row;
}

export async function createImage(store: Store, f: ImageFields): Promise<ImageView> {
  if (!f.name || !f.content) throw new BootportError('ERR_USAGE', 'image create needs name= and content=@FILE');
  const { name, content } = f;
  return store.commit(
    [content],
    (place) => {
      // Every field is checked before the blob moves: a refusal leaves nothing behind.
      const row = newImageRow(store, { ...f, name, content });
      place();
      return imageView(insertImage(store, row));
    },
    `creating image ${name}`,
  );
}

/** Changes every target the same way, in one transaction: all of them, or none. */
export async function updateImages(store: Store, targets: readonly Named[], f: ImageFields): Promise<ImageView[]> {
  return updateRows<ImageRow, ImageView>(store, 'images', targets, f, f.content ? [f.content] : [], {
    columns: COLUMNS,
    hint: 'unfreeze it first: set frozen to false',
    remedies: ['unfreeze-image'],
    view: imageView,
    apply: (n) => {
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
  return store.write(() => {
    const cur = rowByUid<ImageRow>(store, 'images', src.uid, src.name);
    assertFree(store, 'images', newName);
    const t = now();
    return imageView(insertImage(store, { ...cur, uid: newUid(), name: newName, parent: cur.name, frozen: 0, created: t, modified: t }));
  }, `cloning image ${src.name}`);
}

/** Deletes every target in one transaction, or none of them, naming every one that blocks it. */
export async function deleteImages(store: Store, targets: readonly Named[]): Promise<string[]> {
  const { names, dead } = await store.write(() => {
    const blockers: Blocker[] = [];
    const rows = targets.map((t) => rowByUid<ImageRow>(store, 'images', t.uid, t.name));
    const deleting = new Set(rows.map((r) => r.uid));
    for (const cur of rows) {
      const frozen = frozenBlocker('images', cur, 'deleted');
      if (frozen) blockers.push(frozen);
      const users = (store.db.prepare('SELECT name FROM boot_configs WHERE image = ? ORDER BY name').all(cur.uid) as { name: string }[]).map((r) => r.name);
      if (users.length) blockers.push({ code: 'ERR_IN_USE', reason: `image ${cur.name} is used by boot config(s) ${users.join(', ')}` });
    }
    refuseIfBlocked(blockers, 'deleted', 'unfreeze the frozen ones, and point the boot configs that use them at another image', {
      remedies: ['release-images'],
    });
    const del = store.db.prepare('DELETE FROM images WHERE uid = ?');
    for (const uid of deleting) del.run(uid);
    return { names: rows.map((r) => r.name), dead: store.dropUnreferencedBlobs() };
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
