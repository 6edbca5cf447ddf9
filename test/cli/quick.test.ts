/**
 * The quick path: verify and inspect run with only their own command loaded, and say exactly
 * what the whole program says.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { baseProgram, commandWord } from '../../src/cli/program-base.js';
import { runQuick } from '../../src/cli/quick.js';

const VEC = join(import.meta.dirname, '../../fixtures/vectors');
const MAIN = join(import.meta.dirname, '../../dist/bin/main.js');

async function capture(fn: (io: Parameters<typeof run>[1]) => Promise<number | undefined>) {
  const out: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (d: Buffer) => out.push(d));
  stderr.on('data', (d: Buffer) => out.push(d));
  const code = await fn({ stdout, stderr, stdin: Readable.from([]), cwd: VEC, env: {} });
  return { code, text: Buffer.concat(out).toString('utf8') };
}

describe('the quick path for verify and inspect', () => {
  it('finds the command word past global options and their values, as the program declares them', () => {
    const { program } = baseProgram({ stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]), cwd: VEC, env: {} });
    expect(commandWord(program, ['--store', 'verify', '--json', 'inspect', 'x'])).toBe('inspect');
    expect(commandWord(program, ['-i', 'b', 'export'])).toBe('export');
    expect(commandWord(program, ['--engine=native', 'verify'])).toBe('verify');
    expect(commandWord(program, ['--progress', 'json', 'verify'])).toBe('verify');
    expect(commandWord(program, ['--progress', '--json', 'verify'])).toBe('verify');
    expect(commandWord(program, ['--json'])).toBeUndefined();
  });

  it('gives the whole program’s output and exit code, good bundle or bad', async () => {
    for (const argv of [
      ['verify', 'ok-delta.bpb', '--deep'],
      ['verify', 'payload-bit-flip.bpb', '--json'],
      ['--json', 'inspect', 'signed-good.bpb'],
      ['verify', 'delta-unknown-operation.bpb', '--deep'],
      ['verify', '--no-such-flag', 'x'],
    ]) {
      const quick = await capture((io) => runQuick(argv, io));
      const whole = await capture((io) => run(argv, io));
      expect(quick.code, argv.join(' ')).toBe(whole.code);
      expect(quick.text.replace(/"(engine|threads)":[^,}]*/g, ''), argv.join(' ')).toBe(whole.text.replace(/"(engine|threads)":[^,}]*/g, ''));
    }
  });

  it('leaves every other command to the whole program', async () => {
    expect(await capture((io) => runQuick(['ls'], io))).toEqual({ code: undefined, text: '' });
    expect(await capture((io) => runQuick(['--help'], io))).toEqual({ code: undefined, text: '' });
  });

  it('loads neither node:crypto nor process.report to verify an unsigned bundle', async () => {
    // Node's own list of the built-in modules a process loaded, printed as it exits.
    const hook = "process.on('exit', () => process.stderr.write(process.moduleLoadList.join('\\n')))";
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, MAIN, 'verify', 'ok-delta.bpb'],
      { cwd: VEC },
    );
    expect(stdout).toMatch(/^OK: /m);
    const loaded = stderr.split('\n');
    expect(loaded).toContain('NativeModule fs');
    expect(loaded.filter((m) => /^NativeModule (crypto|internal\/crypto\/|internal\/process\/report)/.test(m))).toEqual([]);
  });
});
