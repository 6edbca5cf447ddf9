import { join } from 'node:path';
import { MIN_CHUNK_SIZE } from '../../src/format/constants.js';
import { loadEngines } from '../../src/stream/engine/engines.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../cli/run.js';
import { makeBundle, sampleBytes } from '../helpers.js';
import { contentsOf, mutate, Rng, runCase } from './fuzz-harness.js';

export interface FuzzSummary {
  cases: number;
  /** How many cases of each mutation kind each reader accepted, and refused with which codes. */
  byKind: Record<string, { cases: number; deepOk: number; codes: Record<string, number> }>;
  peakRssMiB: number;
  ms: number;
}

/** Memory the fuzzing process may reach: the bundles are small, so anything near this is a leak or a bomb. */
export const RSS_CAP_MIB = 768;

/** Runs `n` mutated bundles through every reader; throws at the first violation. */
export async function fuzz(n: number, seed: number): Promise<FuzzSummary> {
  const t0 = Date.now();
  const engines = await loadEngines('native');
  const dir = await tempDir();
  // Two bundles: entries of one, two and three chunks; the second without declared sizes.
  const a = await makeBundle(
    { kernel: sampleBytes(300, 1), initramfs: sampleBytes(MIN_CHUNK_SIZE + 17, 2), image: sampleBytes(2 * MIN_CHUNK_SIZE + 5, 3) },
    { engines },
  );
  const b = await makeBundle(
    { kernel: sampleBytes(700, 4), initramfs: sampleBytes(1000, 5), image: sampleBytes(MIN_CHUNK_SIZE, 6) },
    { engines, declareSizes: false, name: 'other' },
  );
  // What each base holds, to compare accepted content with.
  const originals = new Map([a, b].map((x) => [x, undefined as Map<string, Uint8Array> | undefined]));
  for (const x of [a, b]) originals.set(x, await contentsOf(x, engines, dir));
  const store = await Store.open(join(dir, 'store'), 'write');
  const r = new Rng(seed);
  const summary: FuzzSummary = { cases: 0, byKind: {}, peakRssMiB: 0, ms: 0 };
  try {
    for (let i = 0; i < n; i++) {
      const [base, other] = r.int(4) === 0 ? [b, a] : [a, b];
      const m = mutate(r, engines, base, other);
      const c = await runCase(m, { engines, dir, store, original: originals.get(base)!, n: i });
      const k = (summary.byKind[m.kind] ??= { cases: 0, deepOk: 0, codes: {} });
      k.cases++;
      if (c.deep === 'ok') k.deepOk++;
      else k.codes[c.deep] = (k.codes[c.deep] ?? 0) + 1;
      summary.cases++;
      const rss = process.memoryUsage().rss / 2 ** 20;
      summary.peakRssMiB = Math.max(summary.peakRssMiB, Math.round(rss));
      if (rss > RSS_CAP_MIB) throw new Error(`case ${i} (${m.kind}): RSS ${Math.round(rss)} MiB is past the ${RSS_CAP_MIB} MiB cap`);
    }
  } finally {
    await store.close();
  }
  summary.ms = Date.now() - t0;
  return summary;
}
