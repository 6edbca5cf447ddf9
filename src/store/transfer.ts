import { openSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { digestString } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import { checkName } from '../format/names.js';
import type { Manifest, ManifestEntry } from '../format/manifest.js';
import type { Engines } from '../stream/engines.js';
import { newManifest } from '../stream/pack.js';
import type { ReadOptions } from '../stream/reader.js';
import { removeQuietly, stageBundle, type Staged } from '../stream/stage.js';
import { fileSource, type ByteSource } from '../stream/source.js';
import { insertBootConfig, insertImage, newUid, type BootConfigRow, type ImageRow } from './catalog.js';
import { liveStaging, type Store } from './store.js';

// ---- export ----------------------------------------------------------------------------------

export interface ExportOptions {
  noRecurse?: boolean;
  chunkSize?: number;
  level?: number;
  source?: string;
}

/**
 * The manifest and byte sources for one boot config. The store knows every size and digest in
 * advance, so the manifest carries them and the importer can decide everything before the
 * payload arrives. Blob files are opened here, up front: an open descriptor keeps the bytes
 * readable even if another process deletes the object while the export streams.
 */
export function exportSources(store: Store, bc: BootConfigRow, opts: ExportOptions = {}): { manifest: Manifest; sources: ByteSource[] } {
  const blob = (digest: string) => {
    const row = store.db.prepare('SELECT size FROM blobs WHERE digest = ?').get(digest) as { size: number } | undefined;
    if (!row) throw new BootportError('ERR_STORE', `blob ${digest} is missing from the catalog`);
    return { size: row.size, digest };
  };
  const image = !opts.noRecurse && bc.image ? (store.db.prepare('SELECT * FROM images WHERE uid = ?').get(bc.image) as ImageRow) : undefined;
  const entries: Omit<ManifestEntry, 'chunk_size' | 'codec' | 'level'>[] = [
    { role: 'kernel', name: bc.kernel_name, ...blob(bc.kernel) },
    { role: 'initramfs', name: bc.initramfs_name, ...blob(bc.initramfs) },
  ];
  if (image) {
    const meta: Record<string, string> = {};
    for (const k of ['description', 'distro', 'parent'] as const) if (image[k]) meta[k] = image[k];
    entries.push({ role: 'image', name: image.name, ...blob(image.content), ...(Object.keys(meta).length ? { meta } : {}) });
  }
  const manifest = newManifest({
    bootConfig: {
      name: bc.name,
      cmdline: bc.cmdline,
      description: bc.description,
      boot_style: bc.boot_style,
      ...(bc.release ? { release: bc.release } : {}),
      attributes: JSON.parse(bc.attributes),
    },
    entries,
    ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
    ...(opts.level ? { level: opts.level } : {}),
    ...(opts.source ? { source: opts.source } : {}),
  });
  const fds = manifest.entries.map((e) => openSync(store.blobPath(e.digest!), 'r'));
  return { manifest, sources: fds.map((fd) => fileSource(fd)) };
}

// ---- import ----------------------------------------------------------------------------------

export interface ImportOptions extends ReadOptions {
  engines: Engines;
  /** Store the embedded image under this name. */
  image?: string;
  /** Create the boot config under this name. */
  bootConfig?: string;
  /** Do not store the embedded image; its bytes are still read and verified. */
  noRecurse?: boolean;
  dryRun?: boolean;
  /** Test hook: runs inside the commit transaction, just before anything is written. */
  beforeCommit?: () => void;
}

export type EntryAction = 'store' | 'dedup' | 'skip';

export interface ImportPlan {
  boot_config: { name: string; action: 'create' | 'reject' };
  image: { name: string; action: 'create' | 'reuse' | 'skip' | 'reject'; uid?: string } | null;
  entries: { role: string; name: string; size: number | null; digest: string | null; action: EntryAction }[];
  /** Bytes the import adds to the blob store; null if the bundle does not declare every size. */
  bytes_to_store: number | null;
  problems: BootportError[];
}

/** Decides everything from the manifest alone: names, conflicts, reuse and space. */
export function planImport(store: Store, m: Manifest, opts: Pick<ImportOptions, 'image' | 'bootConfig' | 'noRecurse'>): ImportPlan {
  const problems: BootportError[] = [];
  const bcName = opts.bootConfig ?? m.boot_config.name;
  checkName(bcName, 'boot config name', 'ERR_USAGE');
  if (opts.image !== undefined) checkName(opts.image, 'image name', 'ERR_USAGE');
  let bcAction: 'create' | 'reject' = 'create';
  if (store.db.prepare('SELECT 1 FROM boot_configs WHERE name = ?').get(bcName)) {
    bcAction = 'reject';
    problems.push(new BootportError('ERR_CONFLICT', `boot config ${bcName} already exists in this store`, {}, `import it under another name with --boot-config NEW`));
  }
  const imgEntry = m.entries.find((e) => e.role === 'image');
  if (opts.image !== undefined && !imgEntry) problems.push(new BootportError('ERR_USAGE', '--image was given but the bundle holds no image (it was exported with --no-recurse)'));
  let image: ImportPlan['image'] = null;
  if (imgEntry) {
    const name = opts.image ?? imgEntry.name;
    if (opts.noRecurse) image = { name, action: 'skip' };
    else {
      const existing = store.db.prepare('SELECT * FROM images WHERE name = ?').get(name) as ImageRow | undefined;
      if (!existing) image = { name, action: 'create' };
      else if (imgEntry.digest !== undefined && existing.content === imgEntry.digest) image = { name, action: 'reuse', uid: existing.uid };
      else {
        image = { name, action: 'reject' };
        const why = imgEntry.digest === undefined ? 'and the bundle does not declare its image digest, so it cannot be shown to be the same' : 'with different content';
        problems.push(new BootportError('ERR_CONFLICT', `image ${name} already exists ${why}`, {}, 'store the image under another name with --image NEW, or skip it with --no-recurse'));
      }
    }
  }
  let bytes: number | null = 0;
  const seen = new Set<string>();
  const entries = m.entries.map((e) => {
    let action: EntryAction = 'store';
    if (e.role === 'image' && image?.action !== 'create') action = 'skip';
    else if (e.digest !== undefined && (store.hasBlob(e.digest) || seen.has(e.digest))) action = 'dedup';
    if (e.digest !== undefined) seen.add(e.digest);
    if (action === 'store') bytes = e.size === undefined || bytes === null ? null : bytes + e.size;
    return { role: e.role, name: e.name, size: e.size ?? null, digest: e.digest ?? null, action };
  });
  return { boot_config: { name: bcName, action: bcAction }, image, entries, bytes_to_store: bytes, problems };
}

export interface ImportResult {
  plan: ImportPlan;
  committed: boolean;
  boot_config?: { uid: string; name: string };
  bundle_digest?: string;
}

class DryRun extends Error {}

/**
 * Imports a bundle: plan from the manifest, stream every entry into staging while verifying,
 * and only after the footer verifies, move blobs into place and insert the rows in one
 * transaction. Any failure, including a kill at any moment, leaves the catalog as it was.
 */
export async function importBundle(store: Store, input: ByteSource, opts: ImportOptions): Promise<ImportResult> {
  const staging = store.newStaging();
  let plan: ImportPlan | undefined;
  try {
    let staged: Staged;
    try {
      staged = await stageBundle(input, staging, {
        ...opts,
        decide: async ({ manifest }) => {
          plan = planImport(store, manifest, opts);
          if (opts.dryRun) throw new DryRun();
          if (plan.problems[0]) throw plan.problems[0];
          if (plan.bytes_to_store) await checkSpace(store.dir, plan.bytes_to_store);
        },
        discard: (i) => plan!.entries[i]!.action !== 'store',
      });
    } catch (e) {
      if (e instanceof DryRun) return { plan: plan!, committed: false };
      throw e;
    }
    const m = staged.header.manifest;
    const digests = staged.end.trailer.entries.map((t) => digestString(t.contentDigest));
    const digestOf = (role: string) => digests[m.entries.findIndex((e) => e.role === role)]!;
    const uid = newUid();
    const bcName = plan!.boot_config.name;
    store.tx(() => {
      // Another process may have taken a name, or collected a blob, while this one streamed.
      const again = planImport(store, m, opts);
      if (again.problems[0]) throw again.problems[0];
      for (const [i, e] of again.entries.entries()) {
        if (e.action === 'dedup' && !store.hasBlob(digests[i]!) && !staged.entries.some((s) => s.digest === digests[i])) {
          throw new BootportError('ERR_CONFLICT', `blob ${digests[i]} was removed while importing`, {}, 'run the import again');
        }
      }
      opts.beforeCommit?.();
      store.placeBlobs(staged.entries.map((s) => ({ path: s.path, digest: s.digest, size: s.rawBytes })));
      let imageUid: string | null = null;
      if (again.image?.action === 'reuse') imageUid = again.image.uid!;
      else if (again.image?.action === 'create') {
        const ie = m.entries.find((e) => e.role === 'image')!;
        const size = staged.end.trailer.entries[m.entries.indexOf(ie)]!.rawBytes;
        imageUid = insertImage(store, { name: again.image.name, content: { digest: digestOf('image'), size }, ...ie.meta }).uid;
      }
      const t = new Date().toISOString();
      const kernel = m.entries.find((e) => e.role === 'kernel')!;
      const initramfs = m.entries.find((e) => e.role === 'initramfs')!;
      const bc = m.boot_config;
      insertBootConfig(store, {
        uid,
        name: bcName,
        kernel: digestOf('kernel'),
        kernel_name: kernel.name,
        initramfs: digestOf('initramfs'),
        initramfs_name: initramfs.name,
        cmdline: bc.cmdline,
        image: imageUid,
        boot_style: bc.boot_style,
        description: bc.description,
        frozen: 0,
        release: bc.release ?? null,
        attributes: JSON.stringify(bc.attributes),
        created: t,
        modified: t,
      });
    });
    return { plan: plan!, committed: true, boot_config: { uid, name: bcName }, bundle_digest: digestString(staged.end.trailer.bundleDigest) };
  } finally {
    await removeQuietly(staging);
    liveStaging.delete(staging);
  }
}

async function checkSpace(dir: string, need: number): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (need > free) {
    throw new BootportError('ERR_IO', `the import needs ${need} bytes in ${dir}, only ${free} are free`, {}, 'free space on the store file system, or import with --no-recurse');
  }
}

