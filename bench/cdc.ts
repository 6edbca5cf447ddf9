/**
 * `npm run bench -- --only-cdc`: the content-defined chunker's throughput on the benchmark's
 * image, in process on one thread, against b3sum and pzstd on the same file in the same run: the
 * chunker must not be what limits an export (issue 13).
 */
import { createReadStream, statSync } from 'node:fs';
import { median, measure } from './measure.js';

type Lib = { cdcChunks: (s: AsyncIterable<Uint8Array>, p: { min: number; avg: number; max: number }) => AsyncGenerator<Uint8Array> };

export interface CdcRow {
  what: string;
  mbps: number;
  mean?: number;
}

export async function cdcBench(lib: Lib, image: string, runs: number): Promise<CdcRow[]> {
  const bytes = statSync(image).size;
  const rows: CdcRow[] = [];
  for (const p of [
    { min: 4096, avg: 16384, max: 65536 },
    { min: 16384, avg: 65536, max: 262144 },
  ]) {
    const rates: number[] = [];
    let chunks = 0;
    for (let r = 0; r < runs; r++) {
      chunks = 0;
      const t0 = performance.now();
      for await (const c of lib.cdcChunks(createReadStream(image, { highWaterMark: 1 << 20 }), p)) chunks += c.length > 0 ? 1 : 0;
      rates.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
    }
    rows.push({ what: `bootport cdcChunks ${p.min / 1024}/${p.avg / 1024}/${p.max / 1024} KiB (one thread)`, mbps: median(rates), mean: bytes / chunks });
  }
  const cwd = process.cwd();
  for (const [what, cmd] of [
    ['b3sum --no-mmap', `b3sum --no-mmap ${image} > /dev/null`],
    ['pzstd -p 2 -3', `pzstd -q -p 2 -3 -c ${image} > /dev/null`],
  ] as const)
    rows.push({ what, mbps: bytes / 1e6 / measure(cmd, runs, { cwd }).seconds });
  return rows;
}

export function cdcTable(rows: CdcRow[]): string {
  const base = rows.find((r) => r.what === 'pzstd -p 2 -3')!;
  const lines = ['| what | MB/s | mean chunk | vs pzstd -p 2 -3 |', '|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| ${r.what} | ${r.mbps.toFixed(0)} | ${r.mean ? `${(r.mean / 1024).toFixed(1)} KiB` : ''} | ${(r.mbps / base.mbps).toFixed(2)}× |`);
  return lines.join('\n');
}
