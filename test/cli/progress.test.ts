/**
 * Progress on stderr: a redrawn line on a terminal (a pseudo-terminal from script(1)), nothing on
 * a pipe, line-delimited JSON events with --progress=json, and never a line in --json output.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { bp, MAIN } from '../store/helpers.js';
import { cli, tempDir } from './run.js';

let dir: string;
const PACK = [
  'pack',
  '-o',
  'b.export',
  '--name',
  'demo',
  '--kernel',
  'files/vmlinuz',
  '--initramfs',
  'files/initramfs.img',
  '--image',
  'files/rootfs.tar',
  '--force',
];

/** Runs bootport with a pseudo-terminal as stdin, stdout and stderr; what script captures is both outputs. */
async function onTerminal(args: string[]): Promise<string> {
  const cmd = [process.execPath, MAIN, ...args].map((a) => `'${a}'`).join(' ');
  return promisify(execFile)('script', ['-qec', cmd, '/dev/null'], { cwd: dir, timeout: 60_000, maxBuffer: 1 << 26 }).then(
    (r) => r.stdout,
    (e: { stdout: string }) => e.stdout,
  );
}

beforeAll(async () => {
  dir = await tempDir();
  expect((await cli(['sample', '-C', 'files', '--image-size', '64M'], { cwd: dir })).code).toBe(0);
});

describe('progress', () => {
  it('is a line redrawn on a terminal, with bytes, percent, speed and ratio', async () => {
    const out = await onTerminal(PACK);
    expect(out).toMatch(/\rwriting b\.export {2}[\d.]+ MiB of [\d.]+ MiB {2}100% {2}[\d.]+ MB\/s {2}ratio [\d.]+x/);
    const verify = await onTerminal(['verify', 'b.export']);
    expect(verify).toMatch(/\rverifying b\.export .* 100%/);
    expect(verify).toContain('OK: verified');
  });

  it('is not shown on a pipe, nor on a terminal with --no-progress or --json', async () => {
    const r = await bp(PACK, { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('MB/s');
    expect(await onTerminal([...PACK, '--no-progress'])).not.toContain('MB/s');
    const json = await onTerminal(['verify', 'b.export', '--json']);
    expect(json).not.toContain('MB/s');
    expect(JSON.parse(json).ok).toBe(true);
  });

  it('is line-delimited JSON events with --progress=json, ending with done of the total', async () => {
    const r = await bp(['verify', 'b.export', '--progress=json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; done: number; total: number; command: string });
    expect(events.length).toBeGreaterThanOrEqual(1);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ event: 'done', command: 'verifying b.export' });
    expect(last.done).toBe(last.total);
    for (const e of events.slice(0, -1)) expect(e.event).toBe('progress');
  });

  it('ends its line before an error, so the two never share a line', async () => {
    const whole = await readFile(join(dir, 'b.export'));
    await writeFile(join(dir, 'half.export'), whole.subarray(0, whole.length >> 1));
    const out = await onTerminal(['import', 'half.export', '--store', join(dir, 'store')]);
    expect(out).toMatch(/\rimporting half\.export/);
    expect(out.split(/\r?\n/).find((l) => l.includes('ERR_BUNDLE_TRUNCATED'))).toMatch(/^bootport: ERR_BUNDLE_TRUNCATED/);
  });
});
