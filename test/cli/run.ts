import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { run } from '../../src/cli/program.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Buffer;
}

/** Runs the CLI in-process with captured streams; `stdin` feeds standard input. */
export async function cli(argv: string[], opts: { cwd: string; stdin?: Uint8Array | Readable; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (d: Buffer) => out.push(d));
  stderr.on('data', (d: Buffer) => err.push(d));
  const stdin = opts.stdin instanceof Readable ? opts.stdin : Readable.from(opts.stdin ? [Buffer.from(opts.stdin)] : []);
  const code = await run(argv, { stdout, stderr, stdin, cwd: opts.cwd, env: opts.env ?? {} });
  const bytes = Buffer.concat(out);
  return { code, stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), bytes };
}

export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bootport-test-'));
}
