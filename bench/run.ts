/**
 * `npm run bench`: bootport against the command-line tools admins would otherwise use, on the
 * same data, in the same run. Writes bench/RESULTS.md (and the raw numbers to bench/out/).
 *
 *   npm run bench                  1 GiB image, 3 runs per row (median reported)
 *   npm run bench -- --big         also a 4 GiB image (export, import, verify, inspect)
 *   npm run bench -- --runs 5      more runs per row
 *   npm run bench -- --tune        also sweep chunk size and level (writes bench/TUNING.md)
 *   npm run bench -- --tree DIR    the directory-image rows on a copy of DIR (default /usr/share)
 *   npm run bench -- --only-tree   only those rows, replacing their section of bench/RESULTS.md
 *   npm run bench -- --only-catalog  catalog operations on etcd against SQLite, replacing their section
 *   npm run bench -- --only-cdc    the content-defined chunker against b3sum and pzstd, replacing its section
 *   npm run bench -- --only-delta  delta export and import against full ones, zstd --patch-from and rsync batches
 *   npm run bench -- --only-startup  verify and inspect on a small bundle against node -e 0 plus b3sum
 *   npm run bench -- --only-verify-large  verify of a bundle past 2 GB against b3sum (also in --big)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeDataset, makeDataset } from './dataset.js';
import { firstOutput, have, measure, measureInterleaved, sh as shIn, version, type Measured } from './measure.js';
import { tune } from './tune.js';
import { catalogBench, catalogTable } from './catalog.js';
import { cdcBench, cdcTable } from './cdc.js';
import { deltaBench, deltaTable } from './delta.js';
import { startupBench, startupTable } from './startup.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BENCH = join(ROOT, 'bench');
const DATA = join(BENCH, 'data');
const OUT = join(BENCH, 'out');
const CLI = join(ROOT, 'dist/bin/main.js');
const MiB = 1 << 20;

const args = process.argv.slice(2);
const flag = (f: string) => args.includes(f);
const RUNS = Number(args[args.indexOf('--runs') + 1]) || 3;
const BIG = flag('--big') || process.env.BENCH_BIG === '1';
const log = (s: string) => console.error(`[bench] ${s}`);
const bp = (a: string) => `node ${CLI} ${a}`;
const mbps = (bytes: number, s: number) => bytes / 1e6 / s;

interface Row {
  op: string;
  tool: string;
  what: string;
  bytes: number;
  m: Measured;
  /** What the row's ratio is against (a row's tool name), and the issue's target for it. */
  vs?: string;
  target?: number;
  outBytes?: number;
  /** For inspect: seconds to its first byte of output. */
  firstOutput?: number;
}

const sh = (script: string, cwd = OUT): string => shIn(script, cwd);

const size = (p: string) => statSync(p).size;
const signed = (f: number) => `${Math.abs(f * 100).toFixed(2)}% ${f >= 0 ? 'larger' : 'smaller'}`;

async function caseFor(label: string, imageBytes: number, rows: Row[], notes: string[]): Promise<void> {
  const dir = join(OUT, label.replace(' ', ''));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const image = join(DATA, `mixed-${imageBytes / MiB}m.img`);
  await makeDataset(image, imageBytes, log);
  // Kernel and initramfs as bootport sample makes them (a bzImage-headed kernel, a compressible initramfs).
  const boot = join(DATA, 'boot');
  if (!existsSync(join(boot, 'vmlinuz'))) sh(`${bp(`sample -C ${boot} --image-size 64K`)} >/dev/null`, ROOT);
  // One directory holding exactly the three files, for the tar baselines.
  const files = join(dir, 'files');
  mkdirSync(files);
  symlinkSync(join(boot, 'vmlinuz'), join(files, 'vmlinuz'));
  symlinkSync(join(boot, 'initramfs.img'), join(files, 'initramfs.img'));
  symlinkSync(image, join(files, 'image'));
  const raw = size(image) + size(join(boot, 'vmlinuz')) + size(join(boot, 'initramfs.img'));

  log(`${label}: building the source store`);
  const src = join(dir, 'store-src');
  sh(
    `${bp(`--store ${src} image create name=img content=@${image}`)} >/dev/null && ${bp(`--store ${src} create name=bc kernel=@${boot}/vmlinuz initramfs=@${boot}/initramfs.img image=img`)} >/dev/null`,
    dir,
  );
  const bundle = join(dir, 'bc.export');
  const zst = join(dir, 'files.tar.zst');
  const row = (r: Row) => {
    rows.push(r);
    log(`${label} ${r.op} ${r.tool}: ${r.m.seconds.toFixed(2)} s, ${mbps(r.bytes, r.m.seconds).toFixed(0)} MB/s, ${r.m.rssMiB.toFixed(0)} MiB`);
  };
  const warm = () => sh(`cat ${image} ${boot}/* > /dev/null`);
  const opts = { cwd: dir };

  // ---- export ----
  warm();
  row({
    op: 'export',
    tool: 'bootport export',
    what: 'raw input',
    bytes: raw,
    m: measure(`${bp(`--store ${src} -i bc export -o ${bundle} --force`)} >/dev/null`, RUNS, opts),
    vs: 'tar | pzstd -p 2 -3',
    target: 0.9,
  });
  rows.at(-1)!.outBytes = size(bundle);
  row({
    op: 'export',
    tool: 'tar | pzstd -p 2 -3',
    what: 'raw input',
    bytes: raw,
    m: measure(`tar chf - -C files vmlinuz initramfs.img image | pzstd -q -p 2 -3 -c > ${zst}`, RUNS, opts),
  });
  rows.at(-1)!.outBytes = size(zst);
  if (!BIG || imageBytes <= 1 << 30) {
    row({
      op: 'export',
      tool: 'tar czf (xCAT imgexport)',
      what: 'raw input',
      bytes: raw,
      m: measure(`tar czhf files.tgz -C files vmlinuz initramfs.img image`, RUNS, opts),
    });
    rows.at(-1)!.outBytes = size(join(dir, 'files.tgz'));
    const [b, g] = [rows.find((r) => r.tool === 'bootport export')!, rows.at(-1)!];
    notes.push(
      `${label}: export against \`tar czf\` (xCAT's imgexport): ${(g.m.seconds / b.m.seconds).toFixed(1)}× its throughput (target: at least 8×), with a ${((1 - b.outBytes! / g.outBytes!) * 100).toFixed(0)}% smaller file.`,
    );
  } else notes.push(`${label}: \`tar czf\` is left out at this size (minutes per run); its ratio is the 1 GiB case's.`);
  row({
    op: 'export',
    tool: 'bootport export --engine fallback',
    what: 'raw input',
    bytes: raw,
    m: measure(`${bp(`--engine fallback --store ${src} -i bc export -o fallback.export --force`)} >/dev/null`, RUNS, opts),
    vs: 'bootport export',
    target: 0.5,
  });
  rows.at(-1)!.outBytes = size(join(dir, 'fallback.export'));
  // The progress line, drawn at every update to a discarded stderr, must cost nothing measurable.
  // Both rows write the bundle to a pipe, so the disk's fsync does not blur the comparison; the
  // first is also the pipe's peak RSS (issue 13: at most 160 MiB, flat in the image's size).
  row({
    op: 'export',
    tool: 'bootport export -o -',
    what: 'raw input',
    bytes: raw,
    m: measure(`${bp(`--no-progress --store ${src} -i bc export -o -`)} | cat >/dev/null`, RUNS, opts),
  });
  row({
    op: 'export',
    tool: 'bootport export -o - --progress',
    what: 'raw input',
    bytes: raw,
    m: measure(`${bp(`--progress --store ${src} -i bc export -o -`)} 2>/dev/null | cat >/dev/null`, RUNS, opts),
    vs: 'bootport export -o -',
    target: 0.97,
  });
  // The size target: zstd -3 of the same content, as one stream (the best zstd -3 can do).
  const zstd3 = Number(sh(`cat files/vmlinuz files/initramfs.img files/image | zstd -q -3 -T2 -c | wc -c`, dir).trim());
  notes.push(
    `${label}: \`zstd -3\` of the three files concatenated is ${zstd3} bytes; the bundle is ${size(bundle)} bytes: ${signed(size(bundle) / zstd3 - 1)} (target: at most 2% larger).`,
  );

  // ---- import ----
  const dst = join(dir, 'store-dst');
  const fresh = () => rmSync(dst, { recursive: true, force: true });
  sh(`cat ${bundle} ${zst} > /dev/null`);
  const pipeTail = have('b3sum') ? 'b3sum --no-mmap' : 'cat';
  const freshCopy = () => (rmSync(join(dir, 'copy'), { recursive: true, force: true }), mkdirSync(join(dir, 'copy')), sh('sync'));
  // Import, its pipeline baseline and the disk alone, alternated run by run: import writes and
  // fsyncs every byte, the pipeline writes nothing, and this machine's disk changes pace from one
  // minute to the next, so the three are only comparable measured in the same rounds. The dd row
  // writes the image as import's staged files do: whole aligned blocks around the page cache.
  const [imp, pipe, dd] = measureInterleaved(
    [
      { script: `${bp(`--store ${dst} import ${bundle}`)} >/dev/null`, ...opts, before: () => (fresh(), sh('sync')) },
      { script: `zstd -q -d -c ${zst} | ${pipeTail} > /dev/null`, ...opts },
      { script: `dd if=files/image of=copy/image bs=4M oflag=direct conv=fsync status=none`, ...opts, before: freshCopy },
    ],
    RUNS,
  );
  row({ op: 'import', tool: 'bootport import', what: 'raw output', bytes: raw, m: imp!, vs: 'zstd -d -c | b3sum', target: 1.0 });
  if (have('b3sum')) row({ op: 'import', tool: 'zstd -d -c | b3sum', what: 'raw output', bytes: raw, m: pipe! });
  row({
    op: 'import',
    tool: 'disk: cp + fsync of the raw files',
    what: 'raw output',
    bytes: raw,
    m: measure(`cp -L files/* copy/ && sync -f copy/image`, RUNS, { ...opts, before: freshCopy }),
  });
  row({ op: 'import', tool: 'disk: dd oflag=direct + fsync of the image', what: 'raw output', bytes: size(join(dir, 'files/image')), m: dd! });
  notes.push(
    `${label}: in the same rounds, writing and fsyncing the image alone (dd) took ${dd!.seconds.toFixed(2)} s, ${(dd!.seconds / pipe!.seconds).toFixed(2)}× the time of \`zstd -d -c | ${pipeTail}\`, which writes nothing; import took ${imp!.seconds.toFixed(2)} s, ${(imp!.seconds / dd!.seconds).toFixed(2)}× the disk's time.`,
  );
  rmSync(join(dir, 'copy'), { recursive: true, force: true });

  // ---- fsck ----
  // The store the last import left holds the three blobs: fsck hashes every one (on the worker
  // pool, a file per worker) against what b3sum does with the same files.
  const blobs = join(dst, 'blobs', 'blake3');
  sh(`cat ${blobs}/* > /dev/null`);
  row({
    op: 'fsck',
    tool: 'bootport fsck',
    what: 'blobs',
    bytes: raw,
    m: measure(`${bp(`--store ${dst} fsck`)} >/dev/null`, RUNS, opts),
    vs: 'b3sum (blob files)',
  });
  if (have('b3sum')) {
    row({ op: 'fsck', tool: 'b3sum (blob files)', what: 'blobs', bytes: raw, m: measure(`b3sum ${blobs}/* > /dev/null`, RUNS, opts) });
    row({ op: 'fsck', tool: 'b3sum --no-mmap (blob files)', what: 'blobs', bytes: raw, m: measure(`b3sum --no-mmap ${blobs}/* > /dev/null`, RUNS, opts) });
  }
  row({ op: 'fsck', tool: 'bootport fsck --quick', what: 'blobs', bytes: raw, m: measure(`${bp(`--store ${dst} fsck --quick`)} >/dev/null`, RUNS, opts) });

  // ---- verify ----
  sh(`cat ${bundle} > /dev/null`);
  const bsize = size(bundle);
  row({
    op: 'verify',
    tool: 'bootport verify',
    what: 'bundle',
    bytes: bsize,
    m: measure(`${bp(`verify ${bundle}`)} >/dev/null`, RUNS, opts),
    vs: 'b3sum --no-mmap',
    target: 0.7,
  });
  if (have('b3sum'))
    row({ op: 'verify', tool: 'b3sum --no-mmap', what: 'bundle', bytes: bsize, m: measure(`b3sum --no-mmap ${bundle} > /dev/null`, RUNS, opts) });
  row({
    op: 'verify',
    tool: 'bootport verify --deep',
    what: 'raw output',
    bytes: raw,
    m: measure(`${bp(`verify --deep ${bundle}`)} >/dev/null`, RUNS, opts),
    vs: 'zstd -d -c | b3sum',
  });

  // ---- inspect ----
  const ins = await firstOutput('node', [CLI, 'inspect', bundle], RUNS, dir);
  notes.push(
    `${label}: \`bootport inspect\` on the ${(bsize / MiB).toFixed(0)} MiB bundle: first output after ${(ins.first * 1000).toFixed(0)} ms, done after ${(ins.total * 1000).toFixed(0)} ms (median of ${RUNS}); it reads only the two ends of the file.`,
  );
  rows.push({
    op: 'inspect',
    tool: 'bootport inspect',
    what: 'bundle',
    bytes: bsize,
    m: { runs: [], seconds: ins.total, rssMiB: NaN, cpuSeconds: NaN },
    firstOutput: ins.first,
  });
}

/**
 * Directory images on a real tree (a copy of /usr/share by default, tens of thousands of files):
 * `image create content=@DIR` against tar piped to pzstd, and `image extract` against `tar xf`.
 * Then the cost of writing volumes: the same export, split and not.
 */
async function treeCase(rows: Row[], notes: string[]): Promise<void> {
  const from = args.includes('--tree') ? resolve(args[args.indexOf('--tree') + 1]!) : '/usr/share';
  const tree = join(DATA, 'tree');
  if (!existsSync(join(tree, '.complete'))) {
    log(`copying ${from} to ${tree}`);
    rmSync(tree, { recursive: true, force: true });
    sh(`mkdir -p ${tree} && cp -a ${from}/. ${tree}/ && touch ${tree}/.complete`, ROOT);
  }
  const dir = join(OUT, 'tree');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const bytes = Number(sh(`du -sb --apparent-size ${tree} | cut -f1`, ROOT).trim());
  const files = Number(sh(`find ${tree} | wc -l`, ROOT).trim());
  const store = join(dir, 'store');
  const opts = { cwd: dir };
  const row = (r: Row) => {
    rows.push(r);
    log(`tree ${r.tool}: ${r.m.seconds.toFixed(2)} s, ${mbps(r.bytes, r.m.seconds).toFixed(0)} MB/s, ${r.m.rssMiB.toFixed(0)} MiB`);
  };
  sh(`tar cf - -C ${tree} . > /dev/null`, dir);
  row({
    op: 'image create (directory)',
    tool: 'bootport image create content=@DIR',
    what: 'tree bytes',
    bytes,
    m: measure(`${bp(`--store ${store} image create name=tree content=@${tree}`)} >/dev/null 2>&1`, RUNS, {
      ...opts,
      before: () => rmSync(store, { recursive: true, force: true }),
    }),
    vs: 'tar cf - DIR | pzstd -p 2 -3',
  });
  row({
    op: 'image create (directory)',
    tool: 'tar cf - DIR | pzstd -p 2 -3',
    what: 'tree bytes',
    bytes,
    m: measure(`tar cf - -C ${tree} . | pzstd -q -p 2 -3 -c > tree.tar.zst`, RUNS, opts),
  });
  row({
    op: 'image create (directory)',
    tool: 'tar cf DIR.tar DIR',
    what: 'tree bytes',
    bytes,
    m: measure(`tar cf tree.tar -C ${tree} . && sync -f tree.tar`, RUNS, opts),
  });
  const out = join(dir, 'extracted');
  row({
    op: 'image extract',
    tool: 'bootport image extract',
    what: 'tree bytes',
    bytes,
    m: measure(`${bp(`--store ${store} image -i tree extract -C ${out}`)} >/dev/null 2>&1`, RUNS, {
      ...opts,
      before: () => rmSync(out, { recursive: true, force: true }),
    }),
    vs: 'tar xf DIR.tar',
  });
  row({
    op: 'image extract',
    tool: 'tar xf DIR.tar',
    what: 'tree bytes',
    bytes,
    m: measure(`mkdir x && tar xf tree.tar -C x && sync -f x`, RUNS, { ...opts, before: () => rmSync(join(dir, 'x'), { recursive: true, force: true }) }),
  });
  // Volumes: the same export of the tree image, whole and in volumes of 64 MiB.
  const boot = join(DATA, 'boot');
  if (!existsSync(join(boot, 'vmlinuz'))) sh(`${bp(`sample -C ${boot} --image-size 64K`)} >/dev/null`, ROOT);
  sh(`${bp(`--store ${store} create name=bc kernel=@${boot}/vmlinuz initramfs=@${boot}/initramfs.img image=tree`)} >/dev/null`, dir);
  row({
    op: 'export (volumes)',
    tool: 'bootport export (one file)',
    what: 'raw input',
    bytes,
    m: measure(`${bp(`--store ${store} -i bc export -o whole.export --force`)} >/dev/null`, RUNS, opts),
  });
  row({
    op: 'export (volumes)',
    tool: 'bootport export --split-size 64M',
    what: 'raw input',
    bytes,
    m: measure(`${bp(`--store ${store} -i bc export -o vol.export --split-size 64M --force`)} >/dev/null`, RUNS, opts),
    vs: 'bootport export (one file)',
    target: 0.9,
  });
  notes.push(
    `Directory images: a copy of ${from}, ${files} entries, ${(bytes / 1e6).toFixed(0)} MB of content. \`image create\` writes an uncompressed tar into the store (hashed and fsynced); \`tar | pzstd\` compresses it and writes nothing durable; \`tar cf\` + \`sync\` is the same work as bootport's.`,
  );
}

/** The machine, the tools and the data; `how` says how figures were taken, where not as most are. */
function machine(
  how = `Every figure is the median of ${RUNS} runs, timed with /usr/bin/time (elapsed and max RSS); caches were warmed before each group.`,
): string {
  const cpu = cpus();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  return [
    `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores; memory ${(totalmem() / 2 ** 30).toFixed(0)} GiB (${(freemem() / 2 ** 30).toFixed(0)} GiB free at start); Linux ${release()}`,
    `- Node ${process.version}; ${version('zstd --version')}; pzstd from the same package; ${version('b3sum --version')}; ${version('tar --version')}; ${version('gzip --version')}`,
    `- bootport at commit ${commit}; engines: zstd-napi ${version(`node -e "console.log(require('${ROOT}/node_modules/zstd-napi/binding').versionString())"`)} with @napi-rs/blake-hash and bootport's piece engine (native/pieces.c), fallback zstd-codec with hash-wasm and the JS chunker`,
    `- Data: ${describeDataset()}`,
    `- ${how} Date: ${new Date().toISOString().slice(0, 10)}.`,
  ].join('\n');
}

function table(rows: Row[]): string {
  const lines = [
    '| operation | tool | MB/s | of | median s | peak RSS MiB | output MB | ratio | target | met |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---|',
  ];
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  for (const r of rows) {
    if (r.op === 'inspect') {
      lines.push(`| inspect | ${r.tool} | | first output after ${(r.firstOutput! * 1000).toFixed(0)} ms | ${r.m.seconds.toFixed(2)} | | | | | |`);
      continue;
    }
    const base = r.vs ? rows.find((x) => x.tool === r.vs) : undefined;
    const ratio = base ? mbps(r.bytes, r.m.seconds) / mbps(base.bytes, base.m.seconds) : undefined;
    const met = ratio !== undefined && r.target !== undefined ? (ratio >= r.target ? 'yes' : '**no**') : '';
    lines.push(
      `| ${r.op} | ${cell(r.tool)} | ${mbps(r.bytes, r.m.seconds).toFixed(0)} | ${r.what} | ${r.m.seconds.toFixed(2)} | ${Number.isNaN(r.m.rssMiB) ? '' : r.m.rssMiB.toFixed(0)} | ${r.outBytes ? (r.outBytes / 1e6).toFixed(1) : ''} | ${ratio !== undefined ? `${ratio.toFixed(2)}× ${cell(r.vs!)}` : ''} | ${r.target !== undefined ? `≥ ${r.target}×` : ''} | ${met} |`,
    );
  }
  return lines.join('\n');
}

const caseOf = new WeakMap<Row, string>();

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('build first: npm run build');
  const missing = ['zstd', 'pzstd', 'tar', 'gzip', '/usr/bin/time'].filter((t) => !have(t));
  if (missing.length) throw new Error(`missing tools: ${missing.join(', ')}`);
  if (!have('b3sum')) log('b3sum is not installed (apt-get install b3sum): its rows are skipped');
  // Both are git-ignored, so a fresh checkout has neither.
  mkdirSync(OUT, { recursive: true });
  mkdirSync(DATA, { recursive: true });
  if (flag('--only-tree')) {
    const rows: Row[] = [];
    const notes: string[] = [];
    await treeCase(rows, notes);
    replaceSection(
      '## Directory images and volumes',
      `Written by \`npm run bench -- --only-tree\`.\n\n${machine()}\n\n${table(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}`,
    );
    return;
  }
  if (flag('--only-cdc')) {
    replaceSection(CDC_HEADING, `Written by \`npm run bench -- --only-cdc\`.\n\n${machine()}\n\n${await cdcSection()}`);
    return;
  }
  if (flag('--only-startup')) {
    replaceSection(
      STARTUP_HEADING,
      `Written by \`npm run bench -- --only-startup\`.\n\n${machine('Timed as the note under the table says.')}\n\n${startupSection()}`,
    );
    return;
  }
  if (flag('--only-delta')) {
    replaceSection(DELTA_HEADING, `Written by \`npm run bench -- --only-delta\`.\n\n${machine()}\n\n${await deltaSection()}`);
    return;
  }
  if (flag('--only-verify-large')) {
    replaceSection(LARGE_VERIFY_HEADING, `Written by \`npm run bench -- --only-verify-large\`.\n\n${machine()}\n\n${await largeVerifySection()}`);
    return;
  }
  if (flag('--only-catalog')) {
    replaceSection(CATALOG_HEADING, `Written by \`npm run bench -- --only-catalog\`.\n\n${machine()}\n\n${await catalogSection()}`);
    return;
  }
  const sections: string[] = [];
  const allRows: Row[] = [];
  const cases: [string, number][] = [['1 GiB', 1 << 30], ...(BIG ? ([['4 GiB', 4 * 2 ** 30]] as [string, number][]) : [])];
  const rssBy: Record<string, { exp: number; imp: number; pipe: number }> = {};
  for (const [label, bytes] of cases) {
    const rows: Row[] = [];
    const notes: string[] = [];
    await caseFor(label, bytes, rows, notes);
    for (const r of rows) caseOf.set(r, label);
    allRows.push(...rows);
    const rss = (tool: string) => rows.find((r) => r.tool === tool)!.m.rssMiB;
    rssBy[label] = { exp: rss('bootport export'), imp: rss('bootport import'), pipe: rss('bootport export -o -') };
    sections.push(`## ${label} image\n\n${table(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}`);
  }
  {
    const rows: Row[] = [];
    const notes: string[] = [];
    await treeCase(rows, notes);
    for (const r of rows) caseOf.set(r, 'tree');
    allRows.push(...rows);
    sections.push(`## Directory images and volumes\n\n${table(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}`);
  }
  sections.push(`${CATALOG_HEADING}\n\n${await catalogSection()}`);
  sections.push(`${CDC_HEADING}\n\n${await cdcSection()}`);
  sections.push(`${STARTUP_HEADING}\n\n${startupSection()}`);
  if (BIG) sections.push(`${LARGE_VERIFY_HEADING}\n\n${await largeVerifySection()}`);
  sections.push(`${DELTA_HEADING}\n\n${await deltaSection()}`);
  if (rssBy['4 GiB'] && rssBy['1 GiB']) {
    const d = (a: number, b: number) => `${((b / a - 1) * 100).toFixed(1)}%`;
    sections.push(
      `## Memory: 1 GiB against 4 GiB\n\n` +
        `Peak RSS of export ${rssBy['1 GiB'].exp.toFixed(0)} → ${rssBy['4 GiB'].exp.toFixed(0)} MiB (${d(rssBy['1 GiB'].exp, rssBy['4 GiB'].exp)}), ` +
        `of export to a pipe ${rssBy['1 GiB'].pipe.toFixed(0)} → ${rssBy['4 GiB'].pipe.toFixed(0)} MiB (${d(rssBy['1 GiB'].pipe, rssBy['4 GiB'].pipe)}), ` +
        `of import ${rssBy['1 GiB'].imp.toFixed(0)} → ${rssBy['4 GiB'].imp.toFixed(0)} MiB (${d(rssBy['1 GiB'].imp, rssBy['4 GiB'].imp)}). ` +
        `Targets: at most 256 MiB, at most 160 MiB to a pipe, and at most 10% apart. ` +
        `\`BOOTPORT_SLOW_GB=8 npm run test:slow\` checks pack to a pipe at 20 MB, 1 GiB and 8 GiB against the same limits.`,
    );
  }
  const doc = `# Benchmark results\n\nWritten by \`npm run bench${BIG ? ' -- --big' : ''}\`; see bench/README.md for what each row runs and how to read it.\n\n${machine()}\n\n${sections.join('\n\n')}\n`;
  writeFileSync(join(BENCH, 'RESULTS.md'), doc);
  writeFileSync(
    join(OUT, 'results.json'),
    JSON.stringify(
      allRows.map((r) => ({ case: caseOf.get(r), ...r })),
      null,
      2,
    ),
  );
  log(`wrote bench/RESULTS.md`);
  if (flag('--tune')) await tune({ root: ROOT, data: DATA, out: OUT, runs: RUNS, log });
}

const CATALOG_HEADING = '## The catalog: etcd against SQLite';
const CDC_HEADING = '## Content-defined chunking';
const DELTA_HEADING = '## Delta export';
const STARTUP_HEADING = '## Start-up: verify on a small bundle';
const LARGE_VERIFY_HEADING = '## Verify: a bundle of 2 GB or more';

async function cdcSection(): Promise<string> {
  const image = join(DATA, 'mixed-1024m.img');
  await makeDataset(image, 1 << 30, log);
  const lib = (await import(pathToFileURL(join(ROOT, 'dist/stream/io/cdc.js')).href)) as Parameters<typeof cdcBench>[0];
  const rows = await cdcBench(lib, image, RUNS);
  return `${cdcTable(rows)}\n\n- The 1 GiB image, read from the page cache; the chunker in process on one thread (each chunk copied out, as a consumer gets it), medians of ${RUNS} runs; b3sum and pzstd timed with /usr/bin/time in the same run. The sizes here are this section's own; delta export cuts with bootport-cdc-1 (1/4/16 KiB, see "Delta export").`;
}

function startupSection(): string {
  const bundle = join(ROOT, 'fixtures/vectors/ok-image-exact-multiple.bpb');
  return startupTable(startupBench(CLI, bundle, Math.max(RUNS, 15), ROOT));
}

async function deltaSection(): Promise<string> {
  const r = await deltaBench({ data: DATA, out: OUT, cli: CLI, runs: RUNS, log });
  return (
    `The old image: a tar (fixed owners and times) of ${r.pair.files.toLocaleString('en-US')} files sampled from /usr/lib and /usr/share, ${(r.oldBytes / 1e6).toFixed(0)} MB. ` +
    `The new one: ${r.pair.rewritten} of those files rewritten, spread through the tree (half with local edits, half changed throughout like a rebuilt binary), ` +
    `and ${r.pair.added} new files added: ${(r.pair.changedBytes / 1e6).toFixed(1)} MB changed, ${((r.pair.changedBytes / r.oldBytes) * 100).toFixed(2)}% of the bytes. ` +
    `The boot config also holds a kernel and an initramfs, unchanged. Medians of ${RUNS} runs, each a whole process; an import's target store is fresh for each run, and the full and delta imports alternate run by run. Before the imports, the page cache is emptied (as root) and the bundles and the base store are read once.\n\n${deltaTable(r)}`
  );
}

/**
 * verify against `b3sum --no-mmap` on a bundle past 2 GB, the size its target names: the 4 GiB
 * image's bundle is under 2 GB. The image is the 4 GiB data set twice; verify hashes compressed
 * bytes, for which a repeat costs the same as anything else.
 */
async function largeVerifySection(): Promise<string> {
  const dir = join(OUT, 'verify-large');
  const bundle = join(dir, 'bc.export');
  if (!existsSync(bundle)) {
    const half = join(DATA, `mixed-${4096}m.img`);
    await makeDataset(half, 4 * 2 ** 30, log);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    log('verify of a large bundle: building it');
    const boot = join(DATA, 'boot');
    if (!existsSync(join(boot, 'vmlinuz'))) sh(`${bp(`sample -C ${boot} --image-size 64K`)} >/dev/null`, ROOT);
    sh(
      `cat ${half} ${half} > image.img && ${bp('--store S image create name=img content=@image.img')} >/dev/null && rm image.img && ` +
        `${bp(`--store S create name=bc kernel=@${boot}/vmlinuz initramfs=@${boot}/initramfs.img image=img`)} >/dev/null && ` +
        `${bp('--store S -i bc export -o bc.export')} >/dev/null && rm -rf S`,
      dir,
    );
  }
  sh(`cat ${bundle} > /dev/null`);
  const bytes = size(bundle);
  // Alternated run by run, as the delta imports are: the ratio is the target.
  const [v, b] = measureInterleaved(
    [
      { script: `${bp(`verify ${bundle}`)} >/dev/null`, cwd: dir },
      { script: `b3sum --no-mmap ${bundle} > /dev/null`, cwd: dir },
    ],
    Math.max(RUNS, 5),
  ) as [Measured, Measured];
  log(`verify of ${bytes} bytes: ${v.seconds.toFixed(2)} s; b3sum --no-mmap ${b.seconds.toFixed(2)} s`);
  return [
    '| what | seconds | MB/s | peak RSS |',
    '|---|---|---|---|',
    `| bootport verify | ${v.seconds.toFixed(2)} | ${mbps(bytes, v.seconds).toFixed(0)} | ${v.rssMiB.toFixed(0)} MiB |`,
    `| b3sum --no-mmap | ${b.seconds.toFixed(2)} | ${mbps(bytes, b.seconds).toFixed(0)} | ${b.rssMiB.toFixed(0)} MiB |`,
    '',
    `- A bundle of ${bytes.toLocaleString('en-US')} bytes (an 8 GiB image: the 4 GiB data set twice), read from the page cache. verify runs at ${(b.seconds / v.seconds).toFixed(2)}× b3sum's throughput (target: at least 1.0× on bundles of 2 GB or more). Medians of ${v.runs.length} runs of each, alternated.`,
  ].join('\n');
}

async function catalogSection(): Promise<string> {
  const lib = (await import(pathToFileURL(join(ROOT, 'dist/index.js')).href)) as typeof import('../src/index.js');
  const { rows, notes } = await catalogBench(lib, join(OUT, 'catalog'), RUNS, log);
  return `${catalogTable(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}`;
}

/** Replaces one section of bench/RESULTS.md (or adds it), keeping the others as they were. */
function replaceSection(heading: string, body: string): void {
  const path = join(BENCH, 'RESULTS.md');
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const at = old.indexOf(heading);
  const next = at < 0 ? -1 : old.indexOf('\n## ', at + 1);
  // In its old place, so that one section run alone does not reorder the file.
  const before = (at < 0 ? old : old.slice(0, at)).trimEnd();
  const after = at < 0 || next < 0 ? '' : `\n${old.slice(next + 1).trimEnd()}\n`;
  writeFileSync(path, `${before}\n\n${heading}\n\n${body}\n${after}`);
  log(`wrote "${heading}" in bench/RESULTS.md`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
