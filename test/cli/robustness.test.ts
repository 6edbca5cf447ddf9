/**
 * Defect 10 (issue 8): inputs that once looped, crashed or misreported. Each runs the real CLI.
 */
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_HEADER_SIZE, TAG_TRAILER, TRAILER_FIXED_SIZE } from '../../src/format/constants.js';
import { encodeFooter } from '../../src/format/footer.js';
import { trailerSize } from '../../src/format/trailer.js';
import { loadEngines } from '../../src/stream/engine/engines.js';
import { forgeBundle } from '../../spec/forge.js';
import { manifestFor } from '../helpers.js';
import { tempDir } from './run.js';
import { bp, MAIN, run, seedStore, tinyFiles } from '../store/helpers.js';
import { readFile } from 'node:fs/promises';

let dir: string;
let store: string;
const BUNDLE = 'boot.export';

beforeAll(async () => {
  dir = await tempDir();
  store = join(dir, 'S');
  await seedStore(dir, store, await tinyFiles(join(dir, 'files')), BUNDLE);
});

describe('import --dry-run', () => {
  it('checks free space, and answers 4 when the store cannot hold the bundle', async () => {
    // Only the header is read in a dry run: a bundle whose manifest declares a 1 PiB image.
    const engines = await loadEngines('native');
    const m = manifestFor({ kernel: new Uint8Array(10), initramfs: new Uint8Array(10), image: new Uint8Array(10) });
    m.entries[2]!.size = 2 ** 50;
    await writeFile(join(dir, 'huge.export'), forgeBundle(engines.hash, m, []));
    const r = await bp(['import', 'huge.export', '--dry-run', '--boot-config', 'huge', '--store', store], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`REJECT ERR_NO_SPACE: the import needs ${2 ** 50 + 20} bytes`);
    const j = await bp(['import', 'huge.export', '--dry-run', '--boot-config', 'huge', '--json', '--store', store], { cwd: dir });
    const plan = JSON.parse(j.stdout);
    expect(plan).toMatchObject({ ok: false, committed: false, dry_run: true, problems: [{ code: 'ERR_NO_SPACE' }] });
    expect(plan.bytes_free).toBeGreaterThan(0);
  });
});

describe('a name range of huge numbers', () => {
  for (const args of [
    ['node', '-i', 'n[9007199254740992-9007199254740992]', 'ls'],
    ['node', 'create', 'name=n[9007199254740990-9007199254740999]'],
    ['node', '-i', 'n[0-99999999]', 'ls'],
  ]) {
    it(`is refused at once: ${args.join(' ')}`, async () => {
      const r = await bp([...args, '--store', store], { cwd: dir, timeoutMs: 10_000 });
      expect(r.signal).toBeNull();
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('ERR_USAGE');
      expect(r.ms).toBeLessThan(5_000);
    });
  }
});

describe('inspect of a file whose trailer claims the most chunks a trailer may', () => {
  it('is refused with a coded error, reading a bounded amount', async () => {
    // A sparse file: the real bundle's header, then a trailer claiming 3 x 2^24 chunks (a 384 MiB
    // seek table), then a footer that points at it. About 12 KB of it are data.
    const good = await readFile(join(dir, BUNDLE));
    const start = 24 + good.readUInt32LE(20);
    const chunkCount = 3 * 2 ** 24;
    const trailerOffset = start + 4096;
    const trailerLength = trailerSize(3, chunkCount);
    const path = join(dir, 'sparse.export');
    const fh = await open(path, 'w');
    await fh.write(good.subarray(0, start), 0, start, 0);
    const fixed = Buffer.alloc(TRAILER_FIXED_SIZE);
    fixed[0] = TAG_TRAILER;
    fixed.writeUInt32LE(3, 4);
    fixed.writeBigUInt64LE(BigInt(chunkCount), 8);
    await fh.write(fixed, 0, fixed.length, trailerOffset);
    await fh.write(encodeFooter({ trailerOffset, trailerLength }), 0, 32, trailerOffset + trailerLength);
    await fh.close();
    expect(chunkCount * (CHUNK_HEADER_SIZE + 1)).toBeGreaterThan(4096);
    const r = await run(['bash', '-c', `ulimit -v 2000000; exec ${process.execPath} ${MAIN} inspect ${path}`], { cwd: dir, timeoutMs: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('ERR_BUNDLE_TRAILER: the trailer claims 50331648 chunks, more than fit');
  });
});

describe('a closed standard output', () => {
  beforeAll(async () => {
    expect((await bp(['node', 'create', 'name=many[0-19999]', '--store', store], { cwd: dir })).code).toBe(0);
  });

  it('ends node ls | head -1 quietly, with the exit code of SIGPIPE', async () => {
    const r = await run(['bash', '-c', `${process.execPath} ${MAIN} node ls --store ${store} | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: dir });
    expect(r.stdout.trim()).toBe('141');
    expect(r.stderr).toBe('');
  });

  it('ends export -o - --json | head -c 100 quietly', async () => {
    const r = await run(
      ['bash', '-c', `${process.execPath} ${MAIN} -i boot export -o - --json --store ${store} | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`],
      { cwd: dir },
    );
    expect(r.stdout.trim()).toBe('141');
    expect(r.stderr).toBe('');
  });
});

describe('errors of a command whose stdout carries a bundle', () => {
  it('go to stderr, with --json too', async () => {
    // The blob files are opened after the output is chosen: a missing kernel fails mid-way.
    const r = await bp(['-i', 'boot', 'export', '-o', '-', '--json', '--level', '99', '--store', store], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toMatchObject({ ok: false, error: { code: 'ERR_USAGE' } });
    const s2 = join(dir, 'S2');
    const f = await tinyFiles(join(dir, 'f2'));
    await seedStore(dir, s2, f);
    const { rm, readdir } = await import('node:fs/promises');
    for (const b of await readdir(join(s2, 'blobs', 'blake3'))) await rm(join(s2, 'blobs', 'blake3', b));
    const e = await bp(['-i', 'boot', 'export', '-o', '-', '--json', '--store', s2], { cwd: dir });
    expect(e.code).toBe(4);
    expect(e.stdout).toBe('');
    expect(JSON.parse(e.stderr)).toMatchObject({ ok: false, error: { code: 'ERR_STORE' } });
  });
});

describe('a text field read from a file', () => {
  it('is capped: cmdline=@/dev/zero is refused at once with a code', async () => {
    const f = await tinyFiles(join(dir, 'f3'));
    const r = await bp(['create', 'name=z', `kernel=@${f.kernel}`, `initramfs=@${f.initramfs}`, 'cmdline=@/dev/zero', '--store', store], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_INVALID: /dev/zero holds more than 16384 bytes, too much for cmdline');
    expect(r.ms).toBeLessThan(5_000);
  });
});
