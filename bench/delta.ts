/**
 * `npm run bench -- --only-delta`: a delta export and import against a full one, on a tar of a
 * real tree and the same tar after an update (bench/delta-data.ts), with `zstd --patch-from` and
 * `rsync --only-write-batch` on the same pair in the same run (issue 13).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDeltaPair, type DeltaPair } from './delta-data.js';
import { have, measure, measureInterleaved, sh, type Measured } from './measure.js';

export interface DeltaRow {
  what: string;
  m?: Measured;
  bytes?: number;
}

export interface DeltaResult {
  pair: DeltaPair;
  oldBytes: number;
  newBytes: number;
  rows: DeltaRow[];
  identical: boolean;
}

export async function deltaBench(opts: { data: string; out: string; cli: string; runs: number; log: (s: string) => void }): Promise<DeltaResult> {
  const pair = makeDeltaPair(join(opts.data, 'delta'), 450e6, opts.log);
  const dir = join(opts.out, 'delta');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bp = (a: string) => `node ${opts.cli} ${a}`;
  const run = (s: string) => sh(s, dir);
  // A small kernel and initramfs: the image is what a delta is about.
  writeFileSync(join(dir, 'vmlinuz'), readFileSync(pair.old).subarray(0, 8 << 20));
  writeFileSync(join(dir, 'initramfs.img'), readFileSync(pair.old).subarray(8 << 20, 40 << 20));
  run(`${bp(`--store S image create name=old content=@${pair.old}`)} >/dev/null`);
  run(`${bp('--store S create name=bc kernel=@vmlinuz initramfs=@initramfs.img image=old')} >/dev/null`);
  run(`${bp(`--store S image create name=new content=@${pair.new}`)} >/dev/null`);
  run(`${bp('--store S create name=bc2 kernel=@vmlinuz initramfs=@initramfs.img image=new')} >/dev/null`);
  writeFileSync(join(dir, 'small.img'), readFileSync(pair.new).subarray(0, 4096));
  run(`${bp('--store S image create name=small content=@small.img')} >/dev/null`);
  run(`${bp('--store S create name=bc3 kernel=@vmlinuz initramfs=@initramfs.img image=small')} >/dev/null`);
  const rows: DeltaRow[] = [];
  const { runs } = opts;
  const full = measure(`${bp('--store S -i bc2 export -o full.export --force --index')} >/dev/null`, runs, { cwd: dir });
  rows.push({ what: 'bootport export (full)', m: full, bytes: statSync(join(dir, 'full.export')).size });
  // The base the target imported: the old image's export.
  run(`${bp('--store S -i bc export -o base.export --force')} >/dev/null`);
  // The least any delta import into the target does: a delta against the same base whose kernel
  // and initramfs are references to what the target holds, as the delta's are, and whose image is
  // one small block. Start-up, the store and the commit, and nothing to rebuild.
  run(`${bp('--store S -i bc3 export -o small.export --force --base base.export')} >/dev/null`);
  const delta = measure(`${bp('--store S -i bc2 export -o delta.export --force --base base.export')} >/dev/null`, runs, { cwd: dir });
  rows.push({ what: 'bootport export --base (delta)', m: delta, bytes: statSync(join(dir, 'delta.export')).size });
  run(`${bp('--store T0 import base.export')} >/dev/null`);
  run(`${bp('--all --store T0 inventory -o have.inv')} >/dev/null`);
  const haveRun = measure(`${bp('--store S -i bc2 export -o have.export --force --have have.inv')} >/dev/null`, runs, { cwd: dir });
  rows.push({ what: 'bootport export --have (delta, from the target inventory)', m: haveRun, bytes: statSync(join(dir, 'have.export')).size });
  rows.push({ what: 'the target inventory (have.inv)', bytes: statSync(join(dir, 'have.inv')).size });
  const fresh = (name: string, from?: string) => () => {
    rmSync(join(dir, name), { recursive: true, force: true });
    if (from) cpSync(join(dir, from), join(dir, name), { recursive: true });
    run('sync');
  };
  // Earlier sections of a full run leave the page cache full and the disk writing back: both
  // imports write the whole image, so that slowed them alike and hid what the delta saves. As
  // root, the cache is emptied first; then what the imports read is read once, so both start warm.
  run('sync');
  if (process.getuid?.() === 0) run('echo 3 > /proc/sys/vm/drop_caches');
  run(`cat full.export delta.export small.export ${pair.new} T0/blobs/blake3/* > /dev/null`);
  // Alternated run by run: their ratio is a target, and this machine drifts from one minute to the
  // next. The last two are what any delta import must spend at least, in the same rounds: a delta
  // import is an import, and it writes and fsyncs the whole new image in staging.
  const [fullImport, smallImport, deltaImport, disk] = measureInterleaved(
    [
      { script: `${bp('--store T import full.export')} >/dev/null`, cwd: dir, before: fresh('T') },
      { script: `${bp('--store T import small.export')} >/dev/null`, cwd: dir, before: fresh('T', 'T0') },
      // Last of the imports: the byte-for-byte check below reads what the delta import left in T.
      { script: `${bp('--store T import delta.export')} >/dev/null`, cwd: dir, before: fresh('T', 'T0') },
      { script: `dd if=${pair.new} of=D/new.img bs=4M oflag=direct conv=fsync status=none`, cwd: dir, before: () => (fresh('D')(), mkdirSync(join(dir, 'D'))) },
    ],
    runs,
  );
  rows.push(
    { what: 'bootport import (full)', m: fullImport! },
    { what: 'bootport import (delta)', m: deltaImport! },
    { what: 'bootport import of a delta rebuilding a 4 KiB image, kernel and initramfs referenced', m: smallImport! },
    { what: 'disk: dd oflag=direct + fsync of the new image', m: disk! },
  );
  const digest = run(`b3sum --no-names ${pair.new}`).trim();
  const identical =
    existsSync(join(dir, 'T', 'blobs', 'blake3', digest)) && run(`cmp ${join(dir, 'T', 'blobs', 'blake3', digest)} ${pair.new} && echo same`).trim() === 'same';
  rows.push({
    what: 'zstd -3 --patch-from',
    m: measure(`zstd -q -f -3 --patch-from=${pair.old} ${pair.new} -o patch.zst`, runs, { cwd: dir }),
    bytes: statSync(join(dir, 'patch.zst')).size,
  });
  rows.push({
    what: 'zstd -3 (whole new tar, 2 threads)',
    m: measure(`zstd -q -f -3 -T2 ${pair.new} -o whole.zst`, runs, { cwd: dir }),
    bytes: statSync(join(dir, 'whole.zst')).size,
  });
  if (have('rsync')) {
    const before = () => {
      rmSync(join(dir, 'rdest'), { recursive: true, force: true });
      mkdirSync(join(dir, 'rdest'));
      cpSync(pair.old, join(dir, 'rdest', 'new.tar'));
      rmSync(join(dir, 'batch.rsync'), { force: true });
    };
    const m = measure(`rsync --no-whole-file --only-write-batch=batch.rsync ${pair.new} rdest/new.tar`, runs, { cwd: dir, before });
    rows.push({ what: 'rsync --only-write-batch', m, bytes: statSync(join(dir, 'batch.rsync')).size });
    rows.push({ what: 'rsync batch, zstd -3', bytes: Number(run('zstd -q -3 -c batch.rsync | wc -c').trim()) });
  }
  return { pair, oldBytes: statSync(pair.old).size, newBytes: statSync(pair.new).size, rows, identical };
}

export function deltaTable(r: DeltaResult): string {
  const get = (w: string) => r.rows.find((x) => x.what.startsWith(w));
  const full = get('bootport export (full)')!;
  const patch = get('zstd -3 --patch-from')!;
  const lines = ['| what | seconds | peak RSS | bytes | vs full bundle | vs zstd --patch-from |', '|---|---|---|---|---|---|'];
  for (const row of r.rows) {
    const b = row.bytes;
    lines.push(
      `| ${row.what} | ${row.m ? row.m.seconds.toFixed(2) : ''} | ${row.m ? `${row.m.rssMiB.toFixed(0)} MiB` : ''} | ${b !== undefined ? b.toLocaleString('en-US') : ''} | ${
        b !== undefined ? `${((b / full.bytes!) * 100).toFixed(2)}%` : ''
      } | ${b !== undefined ? `${(b / patch.bytes!).toFixed(2)}×` : ''} |`,
    );
  }
  const ratio = (a: string, b: string) => (get(a)!.m!.seconds / get(b)!.m!.seconds).toFixed(2);
  const floor = get('bootport import of a delta rebuilding')!.m!.seconds + get('disk: dd')!.m!.seconds;
  return [
    lines.join('\n'),
    '',
    `- Time of the delta export against the full export: ${ratio('bootport export --base', 'bootport export (full)')}× (target 0.35×); of the delta import against the full import: ${ratio(
      'bootport import (delta)',
      'bootport import (full)',
    )}× (target 0.6×).`,
    `- The least a delta import can take here is an import that rebuilds nothing plus writing and fsyncing the new image: ${floor.toFixed(2)} s, ${(
      floor / get('bootport import (full)')!.m!.seconds
    ).toFixed(2)}× the full import.`,
    `- The rebuilt image is ${r.identical ? 'byte-identical to' : 'NOT the same as'} the new tar.`,
  ].join('\n');
}
