/**
 * A hostile bundle may carry text that a terminal would act on: bidi overrides that reorder a
 * line, newlines that fake lines of output, C1 and escape sequences. Text output shows them
 * escaped; JSON keeps the values exactly. A terminal on standard input is refused at once.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { oneLine, terminalSafe } from '../../src/cli/text.js';
import { bundleBytes } from '../../src/stream/bundle/writer.js';
import { engines, fromBytes, manifestFor, sampleBytes } from '../helpers.js';
import { MAIN } from '../store/helpers.js';
import { cli, tempDir } from './run.js';

let dir: string;
const DESCRIPTION = 'line one\nOK: fake verdict\tend \u202eevil\u2066';
const CMDLINE = 'console=ttyS0 \u202equiet';

beforeAll(async () => {
  dir = await tempDir();
  const [k, i] = [sampleBytes(100), sampleBytes(100, 2)];
  const m = manifestFor({ kernel: k, initramfs: i }, { name: 'hostile' });
  m.boot_config.description = DESCRIPTION;
  m.boot_config.cmdline = CMDLINE;
  const parts: Uint8Array[] = [];
  for await (const p of bundleBytes(m, [fromBytes(k), fromBytes(i)], { engines: await engines() })) parts.push(p.slice());
  await writeFile(join(dir, 'hostile.export'), Buffer.concat(parts));
});

const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('text output of what a bundle says', () => {
  it('escapes bidi overrides and controls, and keeps a description on one line', async () => {
    for (const argv of [
      ['inspect', 'hostile.export'],
      ['verify', 'hostile.export'],
    ]) {
      const r = await cli(argv, { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, argv[0]).not.toMatch(UNSAFE);
      expect(r.stdout).toContain('description  line one\\nOK: fake verdict\\x09end \\u202eevil\\u2066');
      expect(r.stdout).toContain('console=ttyS0 \\u202equiet');
      expect(r.stdout.split('\n').filter((l) => l.startsWith('OK: fake'))).toEqual([]);
    }
    const store = join(dir, 'store');
    expect((await cli(['import', 'hostile.export', '--store', store], { cwd: dir })).code).toBe(0);
    const ls = await cli(['-i', 'hostile', 'ls', '-l', '--store', store], { cwd: dir });
    expect(ls.stdout).not.toMatch(UNSAFE);
    expect(ls.stdout).toContain('description: line one\\nOK: fake verdict');
  });

  it('keeps the exact values in JSON', async () => {
    const r = await cli(['inspect', 'hostile.export', '--json'], { cwd: dir });
    const j = JSON.parse(r.stdout);
    expect(j.boot_config.description).toBe(DESCRIPTION);
    expect(j.boot_config.cmdline).toBe(CMDLINE);
  });

  it('escapes an error message too', async () => {
    const r = await cli(['verify', 'no\u001b[2Jsuch.export'], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stderr).not.toMatch(UNSAFE);
    expect(r.stderr).toContain('no\\x1b[2Jsuch.export');
  });

  it('is what terminalSafe and oneLine make of each character', () => {
    expect(terminalSafe('a\u001bb\u009bc\u202ed\u2067e\u200ff\u007fg\th\ni')).toBe('a\\x1bb\\x9bc\\u202ed\\u2067e\\u200ff\\x7fg\\x09h\ni');
    expect(terminalSafe('naïve ⛄ text')).toBe('naïve ⛄ text');
    expect(oneLine('a\nb\r\nc')).toBe('a\\nb\\nc');
  });
});

describe('a terminal on standard input', () => {
  it.each([
    ['verify', '-'],
    ['import', '-'],
    ['inspect', '-'],
    ['unpack', '-', '-C', 'out'],
  ])('is refused at once by %s -', async (...argv) => {
    // script(1) gives the command a pseudo-terminal as its standard input, as an admin's shell would.
    const cmd = [process.execPath, MAIN, ...argv, '--store', join(dir, 'store2')].map((a) => `'${a}'`).join(' ');
    const t0 = Date.now();
    const r = await promisify(execFile)('script', ['-qec', cmd, '/dev/null'], { cwd: dir, timeout: 20_000 }).then(
      (x) => ({ code: 0, out: x.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain('ERR_USAGE: standard input is a terminal, not a bundle');
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
