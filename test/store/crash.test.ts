/**
 * A sample of the crash harness's points, spread over every mutating command, syscall and fault
 * (SIGKILL, ENOSPC, EIO). `npm run test:crash` runs every point.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { allPoints, buildScenarios, runTrial, samplePoints, type Point, type Scenario } from './crash-harness.js';

const SAMPLE = 30;
let dir: string;
let scenarios: Scenario[];
let sample: Point[];

beforeAll(async () => {
  dir = await tempDir();
  scenarios = await buildScenarios(dir);
  sample = samplePoints(allPoints(scenarios), SAMPLE);
}, 120_000);

describe('the crash harness, sampled', () => {
  it(`holds at ${SAMPLE} sampled crash and fault points across every mutating command`, async () => {
    expect(scenarios.map((s) => s.name)).toEqual([
      'import',
      'import delta',
      'create',
      'image create',
      'update kernel',
      'clone',
      'delete',
      'image delete',
      'trust add',
      'trust require',
      'node set',
      'fsck --repair',
    ]);
    for (const s of scenarios) expect(s.counts.write ?? 0, `${s.name} makes no write`).toBeGreaterThan(0);
    const failures: string[] = [];
    for (const p of sample) {
      const s = scenarios.find((x) => x.name === p.scenario)!;
      const r = await runTrial(dir, s, p);
      if (r.problems.length) failures.push(`${p.scenario} ${p.fault} at ${p.sys} #${p.when} (${r.ended}, ${r.state}): ${r.problems.join('; ')}`);
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
