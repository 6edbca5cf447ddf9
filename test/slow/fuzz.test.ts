/** Ten thousand fuzz cases (`npm run test:fuzz`); BOOTPORT_FUZZ_CASES and BOOTPORT_FUZZ_SEED change the run. */
import { describe, expect, it } from 'vitest';
import { fuzz } from '../stream/fuzz-run.js';

describe('fuzzing every reader, at length', () => {
  it(
    'ends every mutated bundle in a coded error or a correct result',
    async () => {
      const n = Number(process.env.BOOTPORT_FUZZ_CASES ?? 10_000);
      const s = await fuzz(n, Number(process.env.BOOTPORT_FUZZ_SEED ?? 1));
      console.log(`fuzz: ${s.cases} cases in ${Math.round(s.ms / 1000)} s, peak RSS ${s.peakRssMiB} MiB`);
      for (const [kind, k] of Object.entries(s.byKind).sort())
        console.log(`  ${kind}: ${k.cases} cases, ${k.deepOk} accepted by verify --deep, refused: ${JSON.stringify(k.codes)}`);
      expect(s.cases).toBe(n);
    },
    24 * 3600_000,
  );
});
