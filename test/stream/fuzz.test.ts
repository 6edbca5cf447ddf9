/** A few hundred fuzz cases in the default suite; `npm run test:fuzz` runs ten thousand. */
import { describe, expect, it } from 'vitest';
import { fuzz } from './fuzz-run.js';

describe('fuzzing every reader', () => {
  it('ends every mutated bundle in a coded error or a correct result', async () => {
    const s = await fuzz(300, 20261129);
    expect(s.cases).toBe(300);
    // The re-forged mutations reach past the digests: some are refused by deeper rules.
    const deeper = new Set(Object.values(s.byKind).flatMap((k) => Object.keys(k.codes)));
    for (const code of ['ERR_BUNDLE_SEQUENCE', 'ERR_BUNDLE_TRAILER', 'ERR_BUNDLE_MANIFEST']) expect(deeper).toContain(code);
    // And some are accepted, so the checks on accepted content run: re-forged payloads (content
    // that changed, with digests to match) and announced extension records.
    expect(s.byKind['reforged payload']!.deepOk).toBeGreaterThan(0);
    expect(s.byKind['reforged extensions']!.deepOk).toBeGreaterThan(0);
  }, 300_000);
});
