/**
 * Staged files written around the page cache (O_DIRECT), as strace sees the real syscalls: whole
 * aligned blocks through the direct descriptor, everything else through the ordinary one, and a
 * file system that refuses a direct write (EINVAL, injected) costs speed, never bytes.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { addonIfBuilt, loadAddon } from '../../../src/stream/io/addon.js';
import { alignedBytes, DIRECT_ALIGN } from '../../../src/stream/io/direct.js';
import { tempDir } from '../../cli/run.js';

const DIRECT = pathToFileURL(join(import.meta.dirname, '../../../dist/stream/io/direct.js')).href;

/** Writes an aligned 8 KiB block, a 4 KiB block from a buffer one byte off, then a 100-byte tail. */
const SCRIPT = `
import { DirectFile, alignedBytes } from ${JSON.stringify(DIRECT)};
const f = await DirectFile.create(process.argv[2], 0o400);
const fill = (b, v) => (b.fill(v), b);
try {
  await f.write(fill(alignedBytes(8192), 1), 0);
  await f.write(fill(alignedBytes(4097).subarray(1), 2), 8192);
  await f.write(fill(alignedBytes(8192), 3), 12288);
  await f.write(fill(new Uint8Array(100), 4), 20480);
  await f.handle.sync();
} catch (e) {
  console.log(e.code);
} finally {
  await f.close();
}
`;

/** Two aligned blocks written at once, as staging keeps writes in flight. */
const CONCURRENT = `
import { DirectFile, alignedBytes } from ${JSON.stringify(DIRECT)};
const f = await DirectFile.create(process.argv[2], 0o400);
try {
  await Promise.all([f.write(alignedBytes(8192).fill(1), 0), f.write(alignedBytes(8192).fill(2), 8192)]);
  await f.handle.sync();
} catch (e) {
  console.log(e.code ?? e.message);
} finally {
  await f.close();
}
`;

const expected = Buffer.concat([Buffer.alloc(8192, 1), Buffer.alloc(4096, 2), Buffer.alloc(8192, 3), Buffer.alloc(100, 4)]);

interface Traced {
  stdout: string;
  /** pwrite64 calls as [fd, length, offset, result]. */
  writes: [number, number, number, string][];
  directFds: Set<number>;
}

async function run(dir: string, name: string, inject?: string, source = SCRIPT): Promise<Traced> {
  const script = join(dir, `${name}.mjs`);
  await writeFile(script, source);
  const file = join(dir, name);
  const log = join(dir, `${name}.strace`);
  const args = ['-f', '-qq', '-o', log, '-e', 'trace=openat,pwrite64', ...(inject ? ['-e', inject] : []), process.execPath, script, file];
  // One thread for file system calls: strace counts `when=` per thread, and libuv spreads writes over its pool.
  const { stdout } = await promisify(execFile)('strace', args, { env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
  const writes: Traced['writes'] = [];
  const directFds = new Set<number>();
  for (const line of (await readFile(log, 'utf8')).split('\n')) {
    const open = /openat\(AT_FDCWD, "([^"]+)", ([^,)]+).*= (\d+)$/.exec(line);
    if (open && open[1] === file && open[2]!.includes('O_DIRECT')) directFds.add(Number(open[3]));
    const w = /pwrite64\((\d+), .*, (\d+), (\d+)\) = (.+)$/.exec(line);
    if (w) writes.push([Number(w[1]), Number(w[2]), Number(w[3]), w[4]!]);
  }
  return { stdout, writes, directFds };
}

describe('direct writes', () => {
  it('come from buffers that start on a block boundary', () => {
    const addon = loadAddon();
    for (const n of [1, 4096, 4 << 20]) expect(addon.alignment(alignedBytes(n))).toBe(0);
    expect(addon.alignment(alignedBytes(DIRECT_ALIGN + 1).subarray(1))).toBe(1);
  });

  it('send whole aligned blocks around the page cache and the rest through it, with the bytes and mode asked for', async () => {
    const dir = await tempDir();
    const t = await run(dir, 'f');
    expect(t.stdout).toBe('');
    expect(await readFile(join(dir, 'f'))).toEqual(expected);
    expect((await stat(join(dir, 'f'))).mode & 0o777).toBe(0o400);
    expect(t.directFds.size).toBe(1);
    const direct = ([fd]: [number, ...unknown[]]) => t.directFds.has(fd);
    expect(t.writes.filter(direct).map(([, n, at]) => [n, at])).toEqual([
      [8192, 0],
      [8192, 12288],
    ]);
    expect(t.writes.filter((w) => !direct(w)).map(([, n, at]) => [n, at])).toEqual([
      [4096, 8192],
      [100, 20480],
    ]);
  });

  it('are made again the ordinary way when the file system refuses one, and so is every later one', async () => {
    const dir = await tempDir();
    const t = await run(dir, 'g', 'inject=pwrite64:error=EINVAL:when=1');
    expect(t.stdout).toBe('');
    expect(await readFile(join(dir, 'g'))).toEqual(expected);
    expect(t.writes[0]!.slice(1)).toEqual([8192, 0, expect.stringContaining('EINVAL')]);
    expect(t.directFds.has(t.writes[0]![0])).toBe(true);
    expect(t.writes.slice(1).filter(([fd]) => t.directFds.has(fd))).toEqual([]);
  });

  it('are all made again the ordinary way when several in flight are refused at once', async () => {
    const dir = await tempDir();
    const t = await run(dir, 'c', 'inject=pwrite64:error=EINVAL:when=1..2', CONCURRENT);
    expect(t.stdout).toBe('');
    expect(await readFile(join(dir, 'c'))).toEqual(Buffer.concat([Buffer.alloc(8192, 1), Buffer.alloc(8192, 2)]));
    expect(t.writes.filter(([, , , r]) => r.includes('EINVAL')).length).toBe(2);
  });

  it('fail with the error of any other refusal, such as a full disk', async () => {
    const dir = await tempDir();
    const t = await run(dir, 'h', 'inject=pwrite64:error=ENOSPC:when=1');
    expect(t.stdout.trim()).toBe('ENOSPC');
  });
});

describe.runIf(process.platform === 'linux' && addonIfBuilt() !== undefined)('buffers made resident at once', () => {
  const rssAnon = () => Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

  it('brings a new buffer’s pages in before anything is written, and leaves its bytes as they were', () => {
    const before = rssAnon();
    const plain = new Uint8Array(32 << 20);
    // A new buffer's pages are not there until written: that is what populate saves a fault each for.
    expect(rssAnon() - before).toBeLessThan(8 << 20);
    const at = rssAnon();
    const bytes = alignedBytes(32 << 20);
    expect(rssAnon() - at).toBeGreaterThan(30 << 20);
    expect(bytes.every((b) => b === 0)).toBe(true);
    bytes.set([1, 2, 3], 5000);
    expect(addonIfBuilt()!.populate(bytes)).toBe(true);
    expect([...bytes.subarray(5000, 5003)]).toEqual([1, 2, 3]);
    expect(plain.length).toBe(32 << 20);
  });

  it('populates no page a view only partly covers', () => {
    const bytes = alignedBytes(3 * 4096);
    // Less than a page, however it lies: nothing whole to populate.
    expect(addonIfBuilt()!.populate(bytes.subarray(1, 4096))).toBe(false);
    expect(addonIfBuilt()!.populate(bytes.subarray(0, 4096))).toBe(true);
    expect(() => addonIfBuilt()!.populate(new Uint16Array(8) as unknown as Uint8Array)).toThrow(/populate\(view: Uint8Array\)/);
  });
});
