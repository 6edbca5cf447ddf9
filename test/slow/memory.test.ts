import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSample } from '../../src/cli/sample-files.js';
import { tempDir } from '../cli/run.js';

/**
 * Opt-in (npm run test:slow): packs a generated multi-GB image read from a pipe, straight into
 * `verify -` in another process, so the bundle never touches the disk, and reports the peak RSS
 * of the packer for a 20 MB and a multi-GB image. BOOTPORT_SLOW_GB sets the size (default 4).
 */
const MAIN = join(import.meta.dirname, '../../dist/bin/main.js');
const GB = Number(process.env.BOOTPORT_SLOW_GB ?? 4);

/** A node script writing `bytes` of a tar-like mix (2/3 text, 1/3 random) to stdout, never to disk. */
const GENERATOR = (bytes: number) => `
    const n = ${bytes}; const block = Buffer.alloc(1 << 20); let sent = 0; let x = 7;
    const text = Buffer.from('kernel module driver config '.repeat(40000)).subarray(0, 1 << 20);
    function more() {
      while (sent < n) {
        for (let i = 0; i < block.length; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; block.writeUInt32LE(x >>> 0, i); }
        const piece = ((sent >> 20) % 3 === 2 ? block : text).subarray(0, Math.min(1 << 20, n - sent));
        sent += piece.length;
        if (!process.stdout.write(piece)) return process.stdout.once('drain', more);
      }
      process.stdout.end();
    }
    more();`;

/** Peak RSS in KiB, read from /proc while the process runs (VmHWM only grows). */
function watchPeak(pid: number): () => number {
  let peak = 0;
  const t = setInterval(() => {
    readFile(`/proc/${pid}/status`, 'utf8').then(
      (status) => {
        const m = /VmHWM:\s+(\d+)/.exec(status);
        if (m) peak = Math.max(peak, Number(m[1]));
      },
      () => {
        /* exited */
      },
    );
  }, 50);
  return () => {
    clearInterval(t);
    return peak;
  };
}

async function packThroughPipe(dir: string, bytes: number): Promise<{ rssKiB: number; verifyOut: string; seconds: number }> {
  const t0 = performance.now();
  // The generator: a tar-like mix (2/3 text, 1/3 random) written to a pipe, never to disk.
  const gen = spawn(process.execPath, ['-e', GENERATOR(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pack = spawn(
    process.execPath,
    [MAIN, 'pack', '-o', '-', '--name', 'big', '--kernel', 'vmlinuz', '--initramfs', 'initramfs.img', '--image', '-', '--image-name', 'bigImage'],
    { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const verify = spawn(process.execPath, [MAIN, 'verify', '-', '--json'], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] });
  gen.stdout.pipe(pack.stdin);
  pack.stdout.pipe(verify.stdin);
  const peak = watchPeak(pack.pid!);
  let verifyOut = '';
  verify.stdout.on('data', (d: Buffer) => (verifyOut += d.toString()));
  // If any stage dies, stop the others instead of leaving them blocked on a dead pipe.
  for (const p of [gen, pack, verify]) p.on('close', (c) => c !== 0 && [gen, pack, verify].forEach((q) => q.kill()));
  const codes = await Promise.all([gen, pack, verify].map((p) => new Promise<number>((res) => p.on('close', (c) => res(c ?? -1)))));
  expect(codes).toEqual([0, 0, 0]);
  return { rssKiB: peak(), verifyOut, seconds: (performance.now() - t0) / 1000 };
}

/** Packs a generated image of `bytes` into a bundle file, then imports it into a fresh store, watching the import's peak RSS. */
async function importPeak(dir: string, bytes: number, n: number): Promise<number> {
  const bundle = join(dir, `import-${n}.export`);
  const made = await new Promise<number>((res) => {
    const gen = spawn(process.execPath, ['-e', GENERATOR(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pack = spawn(
      process.execPath,
      [
        MAIN,
        'pack',
        '-o',
        bundle,
        '--force',
        '--name',
        'big',
        '--kernel',
        'vmlinuz',
        '--initramfs',
        'initramfs.img',
        '--image',
        '-',
        '--image-name',
        'bigImage',
      ],
      { cwd: dir, stdio: ['pipe', 'ignore', 'inherit'] },
    );
    gen.stdout.pipe(pack.stdin);
    pack.on('close', (c) => res(c ?? -1));
  });
  expect(made).toBe(0);
  const peaks: number[] = [];
  for (let i = 0; i < 3; i++) {
    const imp = spawn(process.execPath, [MAIN, 'import', bundle, '--store', join(dir, `store-${n}-${i}`)], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const peak = watchPeak(imp.pid!);
    expect(await new Promise<number>((res) => imp.on('close', (c) => res(c ?? -1)))).toBe(0);
    peaks.push(peak());
    await rm(join(dir, `store-${n}-${i}`), { recursive: true, force: true });
  }
  await rm(bundle, { force: true });
  return peaks.sort((a, b) => a - b)[1]!;
}

describe.runIf(process.env.BOOTPORT_SLOW)('memory is flat in payload size', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    await writeSample({ dir, imageSize: 1 << 20 });
  }, 600_000);

  it(`packs a ${GB} GiB image from a pipe in the same memory as a 20 MB and a 1 GiB one`, async () => {
    // Peak RSS is a maximum, so one run of a long export is noisy (a late GC can add 10+ MiB);
    // each size is measured three times and the medians compared.
    const median = async (bytes: number) => {
      const runs = [];
      for (let i = 0; i < 3; i++) runs.push(await packThroughPipe(dir, bytes));
      runs.sort((a, b) => a.rssKiB - b.rssKiB);
      return runs[1]!;
    };
    const small = await median(20 << 20);
    const mid = await median(2 ** 30);
    const big = await median(GB * 2 ** 30);
    const view = JSON.parse(big.verifyOut);
    expect(view.entries[2].size).toBe(GB * 2 ** 30);
    const mb = (k: number) => (k / 1024).toFixed(1);
    console.log(
      `median peak RSS of pack (3 runs each): 20 MB image ${mb(small.rssKiB)} MiB; 1 GiB ${mb(mid.rssKiB)} MiB; ${GB} GiB ${mb(big.rssKiB)} MiB ` +
        `(${((GB * 1024) / big.seconds).toFixed(0)} MB/s through pack and verify on one pipe)`,
    );
    // The limits: at most 160 MiB on a pipe (issue 13), and at most 10% between 1 GiB and the big one.
    expect(big.rssKiB).toBeLessThan(160 * 1024);
    expect(mid.rssKiB).toBeLessThan(160 * 1024);
    expect(big.rssKiB).toBeLessThan(mid.rssKiB * 1.1);
    // A 20 MB export ends before the pool's buffers and garbage reach their steady state (two
    // worker isolates, chunks in flight, and on stdout payloads that cannot be recycled because a
    // pipe may still hold them): it bounds the big run from below only loosely.
    expect(big.rssKiB).toBeLessThan(small.rssKiB + 24 * 4 * 1024);
  }, 3_600_000);

  it(`imports a ${GB} GiB image within 256 MiB, as a 1 GiB one: the chunk index is written as it is cut, not held`, async () => {
    const mid = await importPeak(dir, 2 ** 30, 1);
    const big = await importPeak(dir, GB * 2 ** 30, GB);
    const mb = (k: number) => (k / 1024).toFixed(1);
    console.log(`median peak RSS of import (3 runs each): 1 GiB ${mb(mid)} MiB; ${GB} GiB ${mb(big)} MiB`);
    // With the index held in memory, the 4 GiB import of bench/RESULTS.md peaked at 353 MiB. With
    // a new pair of arrays per block for the native piece engine's cuts, the garbage piled up on
    // workers that allocate little else, and the peak grew by a third from 1 to 4 GiB.
    expect(mid).toBeLessThan(256 * 1024);
    expect(big).toBeLessThan(256 * 1024);
    expect(big / mid).toBeLessThan(1.2);
  }, 3_600_000);
});
