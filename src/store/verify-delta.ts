import { NO_PIECES } from '../format/pieces.js';
import { entryLabel } from '../format/manifest.js';
import { verifyBundle, type VerifyOptions, type VerifyResult } from '../stream/bundle/reader.js';
import { DeltaRebuild } from '../stream/delta/rebuild.js';
import type { Engines } from '../stream/engine/engines.js';
import type { ByteSource } from '../stream/io/source.js';
import { heldBases } from './chunk-index.js';
import type { Store } from './store.js';

/** What a rebuild checked and is not kept: its blocks go back to be filled again at once. */
const discard = (_bytes: Uint8Array, done?: () => void): Promise<void> => {
  done?.();
  return Promise.resolve();
};

/**
 * `verify --deep --against-store`: everything a deep verify proves, and that each delta entry
 * rebuilds, from the bases this store holds, to the content its manifest declares. Nothing is
 * written: the rebuilt bytes are hashed and dropped.
 */
export async function verifyAgainstStore(
  store: Store,
  input: ByteSource,
  opts: VerifyOptions & { engines: Engines },
): Promise<VerifyResult & { rebuilt: string[] }> {
  const bases = heldBases(store, opts.engines);
  const rebuilt: string[] = [];
  let current: { entry: number; rebuild: DeltaRebuild } | undefined;
  try {
    const r = await verifyBundle(input, {
      ...opts,
      deep: true,
      onData: async (header, entry, data) => {
        const e = header.manifest.entries[entry]!;
        if (!e.delta) return;
        current ??= {
          entry,
          rebuild: await DeltaRebuild.start(e.delta, bases, opts.engines, discard, entryLabel(header.manifest, entry), NO_PIECES),
        };
        await current.rebuild.update(data);
      },
      onEntryEnd: async (header, entry) => {
        if (current?.entry !== entry) return;
        await current.rebuild.finish();
        current = undefined;
        rebuilt.push(entryLabel(header.manifest, entry));
      },
    });
    return { ...r, rebuilt };
  } finally {
    await current?.rebuild.close();
  }
}
