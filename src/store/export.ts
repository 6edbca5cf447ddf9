import { closeSync, openSync } from 'node:fs';
import { hostname } from 'node:os';
import { BootportError } from '../format/errors.js';
import type { Manifest, ManifestEntry } from '../format/manifest.js';
import { newManifest } from '../format/new-manifest.js';
import { fileSource, type ByteSource } from '../stream/io/source.js';
import { rowByUid, type Named } from './catalog/common.js';
import type { Store } from './store.js';

export interface ExportOptions {
  noRecurse?: boolean;
  chunkSize?: number;
  level?: number;
  source?: string;
}

/**
 * The manifest and byte sources for one boot config. The store knows every size and digest in
 * advance, so the manifest carries them and the importer can decide everything before the
 * payload arrives. Everything is read from one catalog snapshot, and the blob files are opened
 * here, up front: an open descriptor keeps the bytes readable even if another process deletes
 * the object while the export streams. The writer checks every byte against its digest.
 */
export async function exportSources(store: Store, target: Named, opts: ExportOptions = {}): Promise<{ manifest: Manifest; sources: ByteSource[] }> {
  const { bc, entries } = await store.read((tx) => {
    const bc = rowByUid(tx, 'boot_configs', target.uid, target.name);
    const blob = (digest: string, what: string) => {
      const row = tx.get('blobs', digest);
      if (!row)
        throw new BootportError('ERR_STORE', `the ${what} of boot config ${bc.name} (${digest}) has no blob row in the catalog`, {}, 'run bootport fsck');
      return { size: row.size, digest };
    };
    const image = !opts.noRecurse && bc.image ? rowByUid(tx, 'images', bc.image) : undefined;
    const entries: Omit<ManifestEntry, 'chunk_size' | 'codec' | 'level'>[] = [
      { role: 'kernel', name: bc.kernel_name, ...blob(bc.kernel, 'kernel') },
      { role: 'initramfs', name: bc.initramfs_name, ...blob(bc.initramfs, 'initramfs') },
    ];
    if (image) {
      const meta: Record<string, string> = {};
      for (const k of ['description', 'distro', 'parent'] as const) if (image[k]) meta[k] = image[k];
      entries.push({ role: 'image', name: image.name, ...blob(image.content, `image ${image.name}`), ...(Object.keys(meta).length ? { meta } : {}) });
    }
    return { bc, entries };
  });
  const manifest = newManifest({
    bootConfig: {
      name: bc.name,
      cmdline: bc.cmdline,
      description: bc.description,
      boot_style: bc.boot_style,
      ...(bc.release ? { release: bc.release } : {}),
      attributes: JSON.parse(bc.attributes) as Record<string, string>,
    },
    entries,
    ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
    ...(opts.level ? { level: opts.level } : {}),
    source: opts.source ?? hostname().slice(0, 256),
  });
  const fds: number[] = [];
  try {
    for (const e of manifest.entries) {
      try {
        fds.push(openSync(store.blobPath(e.digest!), 'r'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new BootportError(
          'ERR_STORE',
          `the ${e.role} ${e.name} of boot config ${bc.name} is ${code === 'ENOENT' ? 'missing from' : 'unreadable in'} the store (${e.digest})`,
          {},
          'run bootport fsck; importing a bundle that holds it stores it again',
          { cause: err },
        );
      }
    }
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
  return { manifest, sources: fds.map((fd) => fileSource(fd)) };
}
