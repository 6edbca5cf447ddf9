import { statfsSync } from 'node:fs';
import { digestString } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import { checkName } from '../format/names.js';
import type { Manifest } from '../format/manifest.js';
import type { Engines } from '../stream/engine/engines.js';
import { removeQuietly } from '../stream/io/files.js';
import { readBundle, type HeaderEvent, type ReadOptions } from '../stream/bundle/reader.js';
import { stageBundle, type Staged } from '../stream/ops/stage.js';
import { isDirect, type ByteSource } from '../stream/io/source.js';
import { readEnds } from '../stream/bundle/inspect.js';
import { checkSignatures, signatureFailure, type SignatureReport, type TrustedKey } from '../stream/sign/signatures.js';
import type { BootConfigRow, CatalogTx, ImageRow } from './backend/tx.js';
import { newUid, now } from './catalog/common.js';
import { newImageRow } from './catalog/images.js';
import { requiresSignature, trustedKeys } from './catalog/trust.js';
import { BLOB_MODE } from './layout.js';
import type { StagedBlob, Store } from './store.js';
import { heldBases } from './chunk-index.js';
import { contentOf } from '../format/manifest.js';
import { baseMissing } from '../stream/delta/rebuild.js';

export interface ImportOptions extends ReadOptions {
  engines: Engines;
  /** Store the embedded image under this name. */
  image?: string;
  /** Create the boot config under this name. */
  bootConfig?: string;
  /** Do not store the embedded image; its bytes are still read and verified. */
  noRecurse?: boolean;
  /** Decide from the manifest and stop: nothing is staged or stored. */
  dryRun?: boolean;
  /** Refuse a bundle without a valid signature by a key this store trusts (as the store's own policy may). */
  requireSignature?: boolean;
  /**
   * The bundle's path, when `input` reads a regular file: its signatures are then read from its
   * end and judged before any payload byte is staged. From a pipe they are judged at its end.
   */
  path?: string;
}

export type EntryAction = 'store' | 'dedup' | 'skip';

export interface ImportPlan {
  boot_config: { name: string; action: 'create' | 'reject' };
  image: { name: string; action: 'create' | 'reuse' | 'skip' | 'reject'; uid?: string } | null;
  entries: { role: string; name: string; size: number | null; digest: string | null; action: EntryAction }[];
  /** Bytes the import adds to the blob store; null if the bundle does not declare every size. */
  bytes_to_store: number | null;
  /** Free bytes on the store's file system when the plan was made. */
  bytes_free: number | null;
  problems: BootportError[];
}

/**
 * Decides everything from the manifest alone: names, conflicts, reuse and space. A blob counts as
 * held (`dedup`) only if its row and its file both exist with the right size; anything else is
 * stored again from the bundle, so importing a good bundle heals a damaged store.
 */
export function planImport(store: Store, tx: CatalogTx, m: Manifest, opts: Pick<ImportOptions, 'image' | 'bootConfig' | 'noRecurse'>): ImportPlan {
  const problems: BootportError[] = [];
  const bcName = opts.bootConfig ?? m.boot_config.name;
  checkName(bcName, 'boot config name', 'ERR_USAGE');
  if (opts.image !== undefined) checkName(opts.image, 'image name', 'ERR_USAGE');
  let bcAction: 'create' | 'reject' = 'create';
  if (tx.byName('boot_configs', bcName)) {
    bcAction = 'reject';
    problems.push(
      new BootportError('ERR_CONFLICT', `boot config ${bcName} already exists in this store`, {}, 'import it under another name', {
        remedies: ['rename-boot-config'],
      }),
    );
  }
  const imgEntry = m.entries.find((e) => e.role === 'image');
  if (opts.image !== undefined && !imgEntry)
    problems.push(
      new BootportError('ERR_USAGE', 'an image name was given but the bundle holds no image (it was exported without one)', {}, undefined, {
        remedies: ['drop-image-name'],
      }),
    );
  let image: ImportPlan['image'] = null;
  if (imgEntry) {
    const name = opts.image ?? imgEntry.name;
    if (opts.noRecurse) image = { name, action: 'skip' };
    else {
      const existing = tx.byName('images', name);
      if (!existing) image = { name, action: 'create' };
      else if (contentOf(imgEntry).digest !== undefined && existing.content === contentOf(imgEntry).digest)
        image = { name, action: 'reuse', uid: existing.uid };
      else {
        image = { name, action: 'reject' };
        const why =
          contentOf(imgEntry).digest === undefined
            ? 'and the bundle does not declare its image digest, so it cannot be shown to be the same'
            : 'with different content';
        problems.push(
          new BootportError('ERR_CONFLICT', `image ${name} already exists ${why}`, {}, 'store the image under another name, or import without it', {
            remedies: ['rename-image', 'skip-image'],
          }),
        );
      }
    }
  }
  let bytes: number | null = 0;
  const seen = new Set<string>();
  const missing = new Set<string>();
  const entries = m.entries.map((entry) => {
    const e = { role: entry.role, name: entry.name, ...contentOf(entry) };
    let action: EntryAction = 'store';
    const held = e.digest !== undefined && (seen.has(e.digest) || store.healthyBlob(tx, e.digest) !== undefined);
    // A reused image whose file is lost or quarantined is stored again: the import heals it.
    if (e.role === 'image' && image?.action !== 'create' && (image?.action !== 'reuse' || held)) action = 'skip';
    else if (held) action = 'dedup';
    if (e.digest !== undefined) seen.add(e.digest);
    if (action === 'store') bytes = e.size === undefined || bytes === null ? null : bytes + e.size;
    // A delta is rebuilt from its bases: each must be here, whole, before a byte is staged.
    if (action === 'store' && entry.delta) for (const b of entry.delta.base) if (store.healthyBlob(tx, b.digest) !== b.size) missing.add(b.digest);
    return { role: e.role, name: e.name, size: e.size ?? null, digest: e.digest ?? null, action };
  });
  if (missing.size) problems.unshift(baseMissing([...missing]));
  const free = freeBytes(store.dir);
  if (bytes !== null && free !== null && bytes > free) {
    problems.push(
      new BootportError(
        'ERR_NO_SPACE',
        `the import needs ${bytes} bytes in ${store.dir}, only ${free} are free`,
        {},
        'free space on the store file system, or import without the image',
        { remedies: ['free-space', 'skip-image'] },
      ),
    );
  }
  return { boot_config: { name: bcName, action: bcAction }, image, entries, bytes_to_store: bytes, bytes_free: free, problems };
}

function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export interface ImportResult {
  plan: ImportPlan;
  committed: boolean;
  /** The signatures and their verdict; on a dry run from a pipe, not known. */
  signatures?: SignatureReport;
  /** Whether a valid signature by a trusted key was required. */
  signature_required: boolean;
  boot_config?: { uid: string; name: string };
  bundle_digest?: string;
}

/**
 * Imports a bundle: plan from the manifest, stream every entry into staging while verifying,
 * and only after the footer verifies, place the blobs and insert the rows in one transaction
 * that checks every decision again. Any failure, including a kill at any moment, leaves the
 * catalog as it was; what a kill leaves on disk is removed by the next command that writes.
 */
export async function importBundle(store: Store, input: ByteSource, opts: ImportOptions): Promise<ImportResult> {
  const { required, trusted } = await store.read((tx) => ({ required: opts.requireSignature === true || requiresSignature(tx), trusted: trustedKeys(tx) }));
  // From a file, the signatures are judged before anything is staged: the trailer's digest is
  // only claimed here, and the end of the stream proves it below. A dry run reports them always.
  const early = opts.path !== undefined && (required || opts.dryRun) ? await signaturesAtEnd(opts.path, trusted, opts) : undefined;
  if (opts.dryRun) {
    const plan = await planFromHeader(store, input, opts);
    const refused = early && signatureFailure(early, required);
    if (refused) plan.problems.unshift(refused);
    return { plan, committed: false, ...(early ? { signatures: early } : {}), signature_required: required };
  }
  if (early) {
    const refused = signatureFailure(early, required);
    if (refused) {
      await closeSource(input);
      throw refused;
    }
  }
  const area = await store.newStagingArea();
  try {
    let plan: ImportPlan | undefined;
    const staged = await stageBundle(input, area, {
      ...opts,
      fileMode: BLOB_MODE,
      decide: async ({ manifest }) => {
        plan = await store.read((tx) => planImport(store, tx, manifest, opts));
        if (plan.problems[0]) throw plan.problems[0];
      },
      discard: (i) => plan!.entries[i]!.action !== 'store',
      index: true,
      bases: heldBases(store, opts.engines),
    });
    const signatures = checkSignatures(staged.end.extensions, staged.end.trailer.bundleDigest, trusted);
    const refused = signatureFailure(signatures, required);
    if (refused) throw refused;
    const created = await commitImport(store, staged, opts);
    return {
      plan: plan!,
      committed: true,
      signatures,
      signature_required: required,
      boot_config: created,
      bundle_digest: digestString(staged.end.trailer.bundleDigest),
    };
  } finally {
    await removeQuietly(area);
  }
}

/** The plan from the bundle's header alone; nothing of the payload is read. */
async function planFromHeader(store: Store, input: ByteSource, opts: ImportOptions): Promise<ImportPlan> {
  const events = readBundle(input, opts);
  try {
    const first = (await events.next()).value as HeaderEvent;
    return await store.read((tx) => planImport(store, tx, first.manifest, opts));
  } finally {
    await events.return(undefined);
  }
}

async function commitImport(store: Store, staged: Staged, opts: ImportOptions): Promise<{ uid: string; name: string }> {
  const m = staged.header.manifest;
  const trailer = staged.end.trailer.entries;
  // A delta entry's content is what its program rebuilt, which staging proved against its claim.
  const digests = m.entries.map((e, i) => e.delta?.digest ?? digestString(trailer[i]!.contentDigest));
  const sizes = m.entries.map((e, i) => e.delta?.size ?? trailer[i]!.rawBytes);
  const roleIndex = (role: string) => m.entries.findIndex((e) => e.role === role);
  const blobs: StagedBlob[] = staged.entries.map((s) => ({
    path: s.path,
    digest: s.digest,
    size: s.rawBytes,
    ...(s.indexFile ? { indexFile: s.indexFile } : {}),
  }));
  return store.commit(
    blobs,
    (tx, place) => {
      // Another process may have taken a name, deleted an image or collected a blob meanwhile.
      const again = planImport(store, tx, m, opts);
      const conflict = again.problems.find((p) => p.code !== 'ERR_NO_SPACE');
      if (conflict) throw conflict;
      const needed = [roleIndex('kernel'), roleIndex('initramfs'), ...(again.image?.action === 'create' ? [roleIndex('image')] : [])];
      for (const i of needed) {
        const d = digests[i]!;
        if (!blobs.some((b) => b.digest === d) && store.healthyBlob(tx, d) === undefined) {
          throw new BootportError(
            'ERR_CONFLICT',
            `the ${m.entries[i]!.role} ${m.entries[i]!.name} (${d}) was removed from the store while this import ran`,
            {},
            'run the import again',
          );
        }
      }
      let image: ImageRow | undefined;
      if (again.image?.action === 'create') {
        const ie = m.entries[roleIndex('image')]!;
        image = newImageRow(tx, {
          name: again.image.name,
          content: { digest: digests[roleIndex('image')]!, size: sizes[roleIndex('image')]! },
          ...ie.meta,
        });
      }
      place();
      if (image) tx.insert('images', image);
      const t = now();
      const bc = m.boot_config;
      const row: BootConfigRow = {
        uid: newUid(),
        name: again.boot_config.name,
        kernel: digests[roleIndex('kernel')]!,
        kernel_name: m.entries[roleIndex('kernel')]!.name,
        initramfs: digests[roleIndex('initramfs')]!,
        initramfs_name: m.entries[roleIndex('initramfs')]!.name,
        cmdline: bc.cmdline,
        image: image?.uid ?? (again.image?.action === 'reuse' ? again.image.uid! : null),
        boot_style: bc.boot_style,
        description: bc.description,
        frozen: 0,
        release: bc.release ?? null,
        attributes: JSON.stringify(bc.attributes),
        created: t,
        modified: t,
      };
      tx.insert('boot_configs', row);
      return { uid: row.uid, name: row.name };
    },
    `importing boot config ${m.boot_config.name}`,
  );
}

/**
 * The signatures at the end of a bundle file, checked against the digest its trailer claims. A
 * file whose ends are damaged gives none here: reading it in order then reports the first
 * failure where it is, as for any bundle.
 */
async function signaturesAtEnd(path: string, trusted: readonly TrustedKey[], opts: ImportOptions): Promise<SignatureReport | undefined> {
  try {
    const ends = await readEnds(path, opts.engines);
    return checkSignatures(ends.extensions, ends.trailer.bundleDigest, trusted);
  } catch (e) {
    if (e instanceof BootportError && e.code.startsWith('ERR_BUNDLE_')) return undefined;
    throw e;
  }
}

async function closeSource(input: ByteSource): Promise<void> {
  if (isDirect(input)) await input.close();
  else await (input as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
}
