/**
 * The whole crash harness (`npm run test:crash`): every mutating command killed at every call of
 * every mutating syscall, and failed with ENOSPC and EIO at every write and fsync. Long: run it
 * before a change to the store lands. BOOTPORT_CRASH_ONLY=import,delete limits the commands.
 */
import { describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { allPoints, buildScenarios, runTrial } from '../store/crash-harness.js';

describe('the crash harness, every point', () => {
  it(
    'holds at every crash and fault point',
    async () => {
      const dir = await tempDir();
      const only = process.env.BOOTPORT_CRASH_ONLY?.split(',');
      const scenarios = await buildScenarios(dir, only);
      const points = allPoints(scenarios);
      const tally = new Map<string, number>();
      const failures: string[] = [];
      const t0 = Date.now();
      for (const [i, p] of points.entries()) {
        const r = await runTrial(
          dir,
          scenarios.find((s) => s.name === p.scenario)!,
          p,
        );
        const k = `${p.fault} → ${r.ended}, ${r.state}`;
        tally.set(k, (tally.get(k) ?? 0) + 1);
        if (r.problems.length) failures.push(`${p.scenario} ${p.fault} at ${p.sys} #${p.when} (${r.ended}): ${r.problems.join('; ')}`);
        if (i % 100 === 99) console.log(`${i + 1}/${points.length} points, ${failures.length} failing, ${Math.round((Date.now() - t0) / 1000)} s`);
      }
      console.log(`crash harness: ${points.length} points over ${scenarios.length} commands in ${Math.round((Date.now() - t0) / 1000)} s`);
      for (const s of scenarios) console.log(`  ${s.name}: ${JSON.stringify(s.counts)}`);
      for (const [k, v] of [...tally].sort()) console.log(`  ${k}: ${v}`);
      expect(failures).toEqual([]);
    },
    24 * 3600_000,
  );
});
