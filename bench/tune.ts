import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDataset } from './dataset.js';
import { measure, sh } from './measure.js';

/**
 * The sweep behind the default chunk size and level: `bootport pack` of a 512 MiB slice of the
 * benchmark data at each setting, with all cores, against `zstd -3` of the same bytes. The
 * reasoning that reads these numbers is in bench/README.md.
 */
export async function tune(o: { root: string; data: string; out: string; runs: number; log: (s: string) => void }): Promise<void> {
  const slice = join(o.data, 'mixed-512m.img');
  await makeDataset(slice, 512 << 20, o.log);
  const dir = join(o.out, 'tune');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cli = join(o.root, 'dist/bin/main.js');
  const kernel = join(o.data, 'boot/vmlinuz');
  const zstd3 = Number(sh(`cat ${kernel} ${kernel} ${slice} | zstd -q -3 -T2 -c | wc -c`, dir).trim());
  sh(`cat ${slice} > /dev/null`, dir);
  const rows: string[] = ['| engine | chunk | level | MB/s | peak RSS MiB | bundle vs zstd -3 |', '|---|---:|---:|---:|---:|---:|'];
  const settings: [string, string, number][] = [
    ...['1M', '2M', '4M', '8M', '16M'].map((c): [string, string, number] => ['native', c, 3]),
    ...[1, 2, 4, 6].map((l): [string, string, number] => ['native', '4M', l]),
    ['fallback', '4M', 3],
    ['fallback', '1M', 3],
  ];
  for (const [engine, chunk, level] of settings) {
    const out = join(dir, `${engine}-${chunk}-${level}.bpb`);
    const m = measure(
      `node ${cli} --engine ${engine} pack --name t --kernel ${kernel} --initramfs ${kernel} --image ${slice} --chunk-size ${chunk} --level ${level} -o ${out} --force > /dev/null`,
      o.runs,
      { cwd: dir },
    );
    const bytes = statSync(out).size;
    const row = `| ${engine} | ${chunk} | ${level} | ${(statSync(slice).size / 1e6 / m.seconds).toFixed(0)} | ${m.rssMiB.toFixed(0)} | ${((bytes / zstd3 - 1) * 100).toFixed(2)}% |`;
    o.log(`tune ${row}`);
    rows.push(row);
    rmSync(out);
  }
  writeFileSync(
    join(o.root, 'bench/TUNING.md'),
    `# Chunk size and level sweep\n\nWritten by \`npm run bench -- --tune\`: \`bootport pack\` of a 512 MiB slice of the benchmark data (same mix), default threads, median of ${o.runs} runs, against \`zstd -3 -T2\` of the same bytes (the kernel twice, as kernel and initramfs, then the slice: ${zstd3} bytes). The reasoning is in bench/README.md.\n\n${rows.join('\n')}\n`,
  );
}
