import { open, readFile } from 'node:fs/promises';
import { digestString, equalBytes } from '../format/bytes.js';
import { DELTA_CHUNKER } from '../format/cdc.js';
import { contentOf } from '../format/manifest.js';
import { BootportError } from '../format/errors.js';
import type { Manifest } from '../format/manifest.js';
import { decodeInventory, encodeInventory, INVENTORY_MAGIC, type PieceList } from '../format/pieces.js';
import { readEnds } from '../stream/bundle/inspect.js';
import { HaveTable, planDelta } from '../stream/delta/plan.js';
import { deltaProgram } from '../stream/delta/program.js';
import type { Engines } from '../stream/engine/engines.js';
import { ioError } from '../stream/io/files.js';
import { isDirect, type ByteSource } from '../stream/io/source.js';
import { chunkIndexOf } from './chunk-index.js';
import type { Store } from './store.js';

/** The inventory of `digests` in this store: each blob's pieces, from its chunk index. */
export async function inventoryOf(store: Store, digests: readonly string[], engines: Engines): Promise<Uint8Array> {
  const lists: PieceList[] = [];
  for (const d of [...new Set(digests)]) lists.push(await chunkIndexOf(store, d, engines));
  return encodeInventory(lists, (p) => engines.hash.digestOf(p));
}

/**
 * What the target holds, from `path`: an inventory (written by `inventory` on the target, or by
 * `export --index` beside a bundle), or a bundle the target imported, whose blobs this store
 * must still hold to know their pieces.
 */
export async function holdingsFrom(store: Store, path: string, engines: Engines): Promise<PieceList[]> {
  let head: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      head = new Uint8Array(8);
      await fh.read(head, 0, 8, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw ioError(`cannot read ${path}`, e);
  }
  if (equalBytes(head, INVENTORY_MAGIC)) {
    const bytes = await readFile(path).catch((e: unknown) => {
      throw ioError(`cannot read ${path}`, e);
    });
    return decodeInventory(bytes, (p) => engines.hash.digestOf(p), path);
  }
  const ends = await readEnds(path, engines);
  const lists: PieceList[] = [];
  for (const [i, e] of ends.manifest.entries.entries()) {
    const digest = contentOf(e).digest ?? digestString(ends.trailer.entries[i]!.contentDigest);
    const held = await store.read((tx) => store.healthyBlob(tx, digest) !== undefined);
    if (!held) {
      throw new BootportError(
        'ERR_NOT_FOUND',
        `the ${e.role} ${e.name} of base ${path} (${digest}) is not in this store, so its pieces are not known here`,
        {},
        `give the inventory written beside that bundle when it was exported (${path}.inv), or an inventory made on the target`,
      );
    }
    lists.push(await chunkIndexOf(store, digest, engines));
  }
  return lists;
}

export interface DeltaSummary {
  role: string;
  name: string;
  carried: number;
  referenced: number;
}

/**
 * Turns the entries of an export whose pieces the target partly holds into delta entries: the
 * manifest says what each rebuilds and from which held blobs, and the entry's source becomes its
 * program, which reads only the carried pieces from the blob. An entry the target holds none
 * of stays whole, and readable by any bootport.
 */
export async function deltaSources(
  store: Store,
  manifest: Manifest,
  sources: ByteSource[],
  holdings: readonly PieceList[],
  engines: Engines,
): Promise<{ manifest: Manifest; sources: ByteSource[]; summary: DeltaSummary[] }> {
  const have = new HaveTable(holdings);
  const entries = [...manifest.entries];
  const out = [...sources];
  const summary: DeltaSummary[] = [];
  for (const [i, e] of manifest.entries.entries()) {
    const blob = await chunkIndexOf(store, e.digest!, engines);
    const plan = planDelta(blob, have);
    summary.push({ role: e.role, name: e.name, carried: plan.carried, referenced: plan.referenced });
    if (plan.referenced === 0) continue;
    const { size: _s, digest: _d, ...rest } = e;
    entries[i] = {
      ...rest,
      delta: {
        chunker: DELTA_CHUNKER.name,
        base: plan.bases.map((l) => ({ digest: digestString(have.lists[l]!.digest), size: have.lists[l]!.size })),
        size: e.size!,
        digest: e.digest!,
        carried: plan.carried,
        referenced: plan.referenced,
      },
    };
    const src = sources[i]!;
    if (isDirect(src)) await src.close();
    const fh = await open(store.blobPath(e.digest!), 'r').catch((err: unknown) => {
      throw ioError(`cannot read blob ${e.digest}`, err);
    });
    out[i] = closing(deltaProgram(plan, blob, fh, engines, `the ${e.role} ${e.name} (${e.digest})`), () => fh.close());
  }
  return { manifest: { ...manifest, entries }, sources: out, summary };
}

async function* closing(gen: AsyncGenerator<Uint8Array>, close: () => Promise<void>): AsyncGenerator<Uint8Array> {
  try {
    yield* gen;
  } finally {
    await close();
  }
}
