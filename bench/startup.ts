/**
 * `npm run bench -- --only-startup`: verify on a small bundle, as a whole process, against
 * `node -e 0` plus `b3sum` on the same file, in the same run (issue 13: within 100 ms).
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { median } from './measure.js';

export interface StartupRow {
  what: string;
  seconds: number;
}

/**
 * Each command timed here, from spawn to exit, in rounds of one run of each, so that a machine
 * drifting slows them alike: /usr/bin/time counts in 10 ms steps, as coarse as the margin this
 * section is about. Every command is started through bash alike, so what that costs cancels out
 * of the differences the table shows.
 */
export function startupBench(cli: string, bundle: string, runs: number, cwd: string): { rows: StartupRow[]; bytes: number } {
  const cmds = [
    ['node -e 0', 'node -e 0'],
    ['b3sum --no-mmap', `b3sum --no-mmap ${bundle} > /dev/null`],
    ['bootport verify', `node ${cli} verify ${bundle} > /dev/null`],
    ['bootport inspect', `node ${cli} inspect ${bundle} > /dev/null`],
    ['bootport verify --deep', `node ${cli} verify --deep ${bundle} > /dev/null`],
  ] as const;
  const times = cmds.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    cmds.forEach(([, cmd], k) => {
      const t0 = performance.now();
      const r = spawnSync('bash', ['-c', `set -eo pipefail; ${cmd}`], { cwd, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${cmd}`);
      times[k]!.push((performance.now() - t0) / 1000);
    });
  }
  return { rows: cmds.map(([what], k) => ({ what, seconds: median(times[k]!) })), bytes: statSync(bundle).size };
}

export function startupTable(r: { rows: StartupRow[]; bytes: number }): string {
  const t = (w: string) => r.rows.find((x) => x.what === w)!.seconds;
  const floor = t('node -e 0') + t('b3sum --no-mmap');
  const lines = ['| what | seconds | over node -e 0 + b3sum |', '|---|---|---|'];
  for (const row of r.rows)
    lines.push(`| ${row.what} | ${row.seconds.toFixed(3)} | ${row.what.startsWith('bootport') ? `${((row.seconds - floor) * 1000).toFixed(0)} ms` : ''} |`);
  return `${lines.join('\n')}\n\n- On a bundle of ${r.bytes.toLocaleString('en-US')} bytes; medians of runs taken in rounds, each timed from spawn to exit. Target for verify: within 100 ms of node -e 0 plus b3sum.`;
}
