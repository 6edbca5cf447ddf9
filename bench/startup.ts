/**
 * `npm run bench -- --only-startup`: verify on a small bundle, as a whole process, against
 * `node -e 0` plus `b3sum` on the same file, in the same run (issue 13: within 100 ms).
 */
import { statSync } from 'node:fs';
import { measure } from './measure.js';

export interface StartupRow {
  what: string;
  seconds: number;
}

export function startupBench(cli: string, bundle: string, runs: number, cwd: string): { rows: StartupRow[]; bytes: number } {
  const rows: StartupRow[] = [];
  for (const [what, cmd] of [
    ['node -e 0', 'node -e 0'],
    ['b3sum --no-mmap', `b3sum --no-mmap ${bundle} > /dev/null`],
    ['bootport verify', `node ${cli} verify ${bundle} > /dev/null`],
    ['bootport inspect', `node ${cli} inspect ${bundle} > /dev/null`],
    ['bootport verify --deep', `node ${cli} verify --deep ${bundle} > /dev/null`],
  ] as const)
    rows.push({ what, seconds: measure(cmd, runs, { cwd }).seconds });
  return { rows, bytes: statSync(bundle).size };
}

export function startupTable(r: { rows: StartupRow[]; bytes: number }): string {
  const t = (w: string) => r.rows.find((x) => x.what === w)!.seconds;
  const floor = t('node -e 0') + t('b3sum --no-mmap');
  const lines = ['| what | seconds | over node -e 0 + b3sum |', '|---|---|---|'];
  for (const row of r.rows)
    lines.push(`| ${row.what} | ${row.seconds.toFixed(3)} | ${row.what.startsWith('bootport') ? `${((row.seconds - floor) * 1000).toFixed(0)} ms` : ''} |`);
  return `${lines.join('\n')}\n\n- On a bundle of ${r.bytes.toLocaleString('en-US')} bytes. Target for verify: within 100 ms of node -e 0 plus b3sum.`;
}
