import { once } from 'node:events';
import { inspect } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../format/constants.js';
import { BootportError, isBootportError } from '../format/errors.js';
import { loadEngines, type EngineChoice, type Engines } from '../stream/engine/engines.js';
import { ioError } from '../stream/io/files.js';
import { defaultThreads } from '../stream/parallel/runner.js';

/**
 * Exit codes, documented in the README. PROBLEMS is fsck's "the store is not consistent". INTERNAL
 * is a bug (EX_SOFTWARE in sysexits.h), never a verdict on the input. CLOSED_OUTPUT is what a command killed by SIGPIPE gives
 * (128 + 13): the reader of its standard output went away before it had written everything.
 */
export const EXIT = { OK: 0, BAD_BUNDLE: 1, PROBLEMS: 1, USAGE: 2, REFUSED: 3, FAILED: 4, INTERNAL: 70, CLOSED_OUTPUT: 141 } as const;

export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface GlobalOptions {
  json?: boolean;
  engine?: EngineChoice;
  store?: string;
  ids?: string;
  all?: boolean;
  threads?: string;
}

/** What commander gives a command's action: every option bootport defines is a string or a switch. */
export type CommandOptions = GlobalOptions & Record<string, string | boolean | undefined>;

/** More threads than this only adds memory: each one holds two chunks in flight. */
export const MAX_THREADS = 64;

export class Ctx {
  exitCode: number = EXIT.OK;
  /** Set while standard output carries a bundle: nothing else may be written there, errors included. */
  stdoutIsData = false;
  /** Set once standard output has failed (its reader closed the pipe): nothing more goes there. */
  stdoutClosed = false;

  constructor(
    readonly io: CliIO,
    /** The command line, to say who holds the store when another process has to wait. */
    readonly argv: readonly string[] = [],
  ) {
    // Without a listener, a write to a closed pipe is an uncaught 'error' event: a crash.
    io.stdout.on('error', () => {
      this.stdoutClosed = true;
    });
  }

  out(text: string): void {
    if (this.stdoutClosed) return;
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  engines(opts: GlobalOptions): Promise<Engines> {
    return loadEngines(opts.engine ?? (this.io.env.BOOTPORT_ENGINE as EngineChoice | undefined) ?? 'auto');
  }

  /**
   * Engines and thread count for chunk work: --threads, else $BOOTPORT_THREADS, else one per core.
   * An admin is told once, on stderr, when a native module failed and the slower wasm path runs.
   */
  async runOptions(opts: GlobalOptions): Promise<RunInfo> {
    const given = opts.threads ?? this.io.env.BOOTPORT_THREADS;
    const threads =
      given === undefined || given === '' ? defaultThreads() : parseIntOption(String(given), opts.threads ? '--threads' : 'BOOTPORT_THREADS', 1, MAX_THREADS);
    const engines = await this.engines(opts);
    for (const r of engines.fallbackReasons ?? []) this.err(`bootport: ${r}; using the wasm fallback, which is slower`);
    return { engines, threads };
  }

  /**
   * Wraps a command action: it returns an exit code instead of exiting, and every failure is
   * reported once, with its code, as text or as JSON on stdout when --json was given.
   */
  action<A extends unknown[]>(fn: (opts: CommandOptions, cmd: Command, ...args: A) => Promise<number>) {
    return async (...raw: unknown[]): Promise<void> => {
      const cmd = raw[raw.length - 1] as Command;
      const opts = cmd.optsWithGlobals<CommandOptions>();
      const args = raw.slice(0, -2) as A;
      try {
        this.exitCode = await fn(opts, cmd, ...args);
      } catch (e) {
        this.exitCode = this.report(e, opts.json === true);
      }
    };
  }

  report(e: unknown, json: boolean): number {
    // A reader that closed the pipe asked for no more output; there is nobody to tell.
    if (this.stdoutClosed || isClosedOutput(e)) {
      this.stdoutClosed = true;
      return EXIT.CLOSED_OUTPUT;
    }
    const err = isBootportError(e) ? e : wrapUnknown(e);
    // With a bundle on stdout, the report goes to stderr, so it cannot corrupt the stream.
    if (json && !this.stdoutIsData) this.json({ ok: false, error: err.toJSON() });
    else if (json) this.err(JSON.stringify({ ok: false, error: err.toJSON() }, null, 2));
    else this.err(`bootport: ${err.code}: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ''}`);
    if (this.debug()) this.err(stackOf(e));
    return exitCodeFor(err);
  }

  /** --debug or BOOTPORT_DEBUG=1: a failure's stack, and its causes', go to stderr. */
  debug(): boolean {
    return this.argv.includes('--debug') || this.io.env.BOOTPORT_DEBUG === '1';
  }

  /** `command` as an admin would recognise it, for the owner record of the store's staging. */
  commandLine(): string {
    return ['bootport', ...this.argv].join(' ').slice(0, 200);
  }

  /** How long store commands wait for another writer: $BOOTPORT_LOCK_TIMEOUT seconds, else the default. */
  lockTimeoutMs(): number | undefined {
    const v = this.io.env.BOOTPORT_LOCK_TIMEOUT;
    if (v === undefined || v === '') return undefined;
    if (!/^\d+(\.\d+)?$/.test(v)) throw usage(`BOOTPORT_LOCK_TIMEOUT must be a number of seconds, got ${JSON.stringify(v)}`);
    return Math.round(Number(v) * 1000);
  }
}

/** A write to a reader that has gone: EPIPE, or a write after the stream was destroyed by it. */
export function isClosedOutput(e: unknown): boolean {
  const code = (e as { code?: string } | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

export interface RunInfo {
  engines: Engines;
  threads: number;
}

/** What ran the chunk work, for --json output. */
export function engineReport(run: RunInfo): { engine: { codec: string; hash: string; threads: number } } {
  return { engine: { codec: run.engines.codec.name, hash: run.engines.hash.name, threads: run.threads } };
}

/**
 * An error that is not a BootportError: a system error (errno) is an I/O failure, anything else
 * (a TypeError, say) is a bug and says so, never a verdict on the input.
 */
function wrapUnknown(e: unknown): BootportError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return ioError((e as Error).message.split(':')[0] ?? 'a system call failed', e);
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new BootportError(
    'ERR_INTERNAL',
    `internal error: ${what}`,
    {},
    'this is a bug in bootport: run again with --debug (or BOOTPORT_DEBUG=1) and report the stack it prints',
    { cause: e },
  );
}

/** The stack of `e` and of every cause under it. */
function stackOf(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e, depth = 0; x !== undefined && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    const text = x instanceof Error ? (x.stack ?? x.message) : inspect(x);
    parts.push(depth ? `caused by: ${text}` : text);
  }
  return parts.join('\n');
}

export function exitCodeFor(e: BootportError): number {
  if (e.code === 'ERR_INTERNAL') return EXIT.INTERNAL;
  if (e.code.startsWith('ERR_BUNDLE')) return EXIT.BAD_BUNDLE;
  if (e.code === 'ERR_USAGE') return EXIT.USAGE;
  if (['ERR_EXISTS', 'ERR_CONFLICT', 'ERR_FROZEN', 'ERR_IN_USE', 'ERR_NOT_FOUND', 'ERR_AMBIGUOUS', 'ERR_INVALID', 'ERR_STORE_LOCKED'].includes(e.code))
    return EXIT.REFUSED;
  return EXIT.FAILED;
}

export function usage(message: string, hint?: string): BootportError {
  return new BootportError('ERR_USAGE', message, {}, hint);
}

/**
 * Copies a byte stream into `dest` honouring its backpressure, without ending it (stdout stays
 * open). A destination that fails or closes (a reader gone from the pipe) ends the copy with
 * that error instead of waiting forever for a 'drain' that will not come.
 */
export async function copyTo(src: AsyncIterable<Uint8Array>, dest: Writable): Promise<void> {
  const gone = () => Object.assign(new Error('standard output was closed'), { code: 'EPIPE' });
  for await (const chunk of src) {
    if (dest.destroyed || dest.writableEnded) throw dest.errored ?? gone();
    if (!dest.write(chunk)) {
      const ac = new AbortController();
      try {
        await Promise.race([
          once(dest, 'drain', { signal: ac.signal }),
          once(dest, 'close', { signal: ac.signal }).then(() => Promise.reject(dest.errored ?? gone())),
        ]);
      } finally {
        ac.abort();
      }
    }
  }
  if (dest.destroyed) throw dest.errored ?? gone();
}

const UNITS: Record<string, number> = { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 };

/** "4M", "4MiB", "65536": binary units, because chunk sizes are powers of two. */
export function parseSize(v: string): number {
  const m = /^(\d+)\s*([KMG]?)(?:i?B)?$/i.exec(v.trim());
  if (!m) throw usage(`${JSON.stringify(v)} is not a size`, 'write it as 4M, 64K or a number of bytes');
  const n = Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1);
  if (!Number.isSafeInteger(n)) throw usage(`${v} is too large`);
  return n;
}

/** A chunk size the format accepts, checked here so a bad flag is a usage error, not a bad bundle. */
export function parseChunkSize(v: string): number {
  const n = parseSize(v);
  if (n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE || (n & (n - 1)) !== 0) {
    throw usage(`--chunk-size ${v} must be a power of two from 64K to 16M`);
  }
  return n;
}

export function parseIntOption(v: string, what: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw usage(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
