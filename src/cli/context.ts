import { inspect } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import type { CommandUnknownOpts, OptionValues } from '@commander-js/extra-typings';
import { BootportError, isBootportError } from '../format/errors.js';
import { EXIT, exitCodeFor, isClosedOutput } from './exit.js';
import { errorJson, hintFor } from './hints.js';
import { parseIntOption, usage } from './parse.js';
import { loadEngines, type EngineChoice, type Engines } from '../stream/engine/engines.js';
import { inputSource, ioError } from '../stream/io/files.js';
import type { ByteSource } from '../stream/io/source.js';
import { resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { lineOf, terminalSafe } from './text.js';
import { Progress, progressMode } from './progress.js';
import { defaultThreads, THREADS_PAY_FROM } from '../stream/parallel/runner.js';
import { createInterface } from 'node:readline';
import { findVolumeSet, volumeSetBytes } from '../stream/volumes/read-volumes.js';
import { askForVolume } from './volumes.js';

export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /**
   * stdout is the process's own descriptor: once a write's callback runs its bytes have left
   * the process, so the buffer may be written into again. Not so for a stream in memory, whose
   * reader may still hold what it was given.
   */
  stdoutIsDescriptor?: boolean;
}

export interface GlobalOptions {
  json?: boolean;
  engine?: EngineChoice;
  store?: string;
  ids?: string;
  all?: boolean;
  threads?: string;
  progress?: string | boolean;
}

/** More threads than this only adds memory: each one holds two chunks in flight. */
export const MAX_THREADS = 64;

export class CommandContext {
  exitCode: number = EXIT.OK;
  /** Set while standard output carries a bundle: nothing else may be written there, errors included. */
  stdoutIsData = false;
  /** Set once standard output has failed (its reader closed the pipe): nothing more goes there. */
  stdoutClosed = false;
  /** The progress line being drawn, ended before anything else is written to stderr. */
  private shown: Progress | undefined;
  /** The volumes of a split bundle read so far, so that an error at a bundle offset can name its file. */
  private readonly volumesRead: { index: number; file: string; offset: number }[] = [];

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

  /**
   * Text for a person. Names, command lines and descriptions may come from a hostile bundle, so
   * whatever could move the cursor, clear the screen or reorder a line is shown escaped.
   */
  out(text: string): void {
    this.write(terminalSafe(text));
  }
  err(text: string): void {
    this.shown?.interrupt();
    this.io.stderr.write(lineOf(terminalSafe(text)));
  }

  /** Progress for `command` on stderr, as --progress and the terminal decide. */
  progress(opts: GlobalOptions, command: string, total?: number): Progress {
    const p = new Progress(this, progressMode(this, opts.progress, opts.json === true), command, total);
    this.shown = p;
    return p;
  }
  /** JSON for a program: exactly the values, escaped only as JSON escapes them. */
  json(value: unknown): void {
    this.write(JSON.stringify(value, null, 2));
  }
  private write(text: string): void {
    if (this.stdoutClosed) return;
    this.io.stdout.write(lineOf(text));
  }

  /** The size of a bundle to read, for progress: a regular file's, else unknown. */
  async inputSize(path: string): Promise<number | undefined> {
    if (path === '-') return undefined;
    try {
      const st = await stat(resolve(this.io.cwd, path));
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A bundle to read: a file, or `-` for standard input. A terminal on standard input is refused at
   * once: a bundle never comes from a keyboard, and waiting on one would look like a hang.
   */
  input(path: string): ByteSource {
    if (path !== '-') return inputSource(resolve(this.io.cwd, path));
    if ((this.io.stdin as { isTTY?: boolean }).isTTY) {
      throw usage('standard input is a terminal, not a bundle', 'pipe a bundle in (… | bootport CMD -), or name the bundle file');
    }
    return inputSource('-', this.io.stdin);
  }

  /**
   * A bundle to read that may be a set of volumes: `NAME.export.001` (the rest found beside it),
   * `NAME.export` when only its volumes exist, or several volumes listed. Volumes are checked
   * as they are read, and a missing one is asked for on a terminal.
   */
  async bundleInput(path: string, more: readonly string[], opts: GlobalOptions, progress?: Progress): Promise<{ source: ByteSource; volumes?: string[] }> {
    if (path === '-') {
      if (more.length) throw usage('volumes are read from files, not from standard input');
      return { source: this.input(path) };
    }
    const paths = [path, ...more].map((p) => resolve(this.io.cwd, p));
    const set = await findVolumeSet(paths);
    if (!set) {
      if (more.length) throw usage(`${more[0]} given after ${path}, which is not a volume: only volumes of a split bundle may be listed`);
      return { source: this.input(path) };
    }
    const engines = await this.engines(opts);
    const source = volumeSetBytes(set, {
      hash: engines.hash,
      askFor: askForVolume(this),
      onVolume: (index, file, offset) => {
        this.volumesRead.push({ index, file, offset });
        progress?.relabel(`reading volume ${index} of ${path}`);
      },
    });
    return { source, volumes: set };
  }

  /**
   * Asks the person at the terminal, on stderr, and returns the line typed; undefined when standard
   * input is not a terminal (nobody to ask: the caller fails instead) or ends.
   */
  async ask(question: string): Promise<string | undefined> {
    const stdin = this.io.stdin as Readable & { isTTY?: boolean };
    if (!stdin.isTTY) return undefined;
    this.shown?.interrupt();
    this.io.stderr.write(question);
    const rl = createInterface({ input: stdin, terminal: false });
    try {
      return await new Promise<string | undefined>((res) => {
        rl.once('line', (l) => res(l));
        rl.once('close', () => res(undefined));
      });
    } finally {
      rl.close();
    }
  }

  engines(opts: GlobalOptions): Promise<Engines> {
    // BOOTPORT_ENGINE=fallback forces the pure-wasm path, as --engine fallback does.
    const env = this.io.env.BOOTPORT_ENGINE;
    return loadEngines(opts.engine ?? (env === 'native' || env === 'fallback' ? env : 'auto'));
  }

  /**
   * Engines and thread count for chunk work: --threads, else $BOOTPORT_THREADS, else one per core.
   * An admin is told once, on stderr, when a native module failed and a slower path runs.
   */
  async runOptions(opts: GlobalOptions): Promise<RunInfo> {
    const given = opts.threads ?? this.io.env.BOOTPORT_THREADS;
    const threads =
      given === undefined || given === '' ? defaultThreads() : parseIntOption(String(given), opts.threads ? '--threads' : 'BOOTPORT_THREADS', 1, MAX_THREADS);
    const engines = await this.engines(opts);
    for (const r of engines.fallbackReasons ?? []) this.err(`bootport: ${r}`);
    // Workers take longer to start than work under THREADS_PAY_FROM takes on this thread; a
    // thread count asked for is used whatever the work.
    const asked = given !== undefined && given !== '';
    return { engines, threads, threadsFor: (bytes) => (!asked && bytes !== undefined && bytes < THREADS_PAY_FROM ? 1 : threads) };
  }

  /**
   * Wraps a command action: it returns an exit code instead of exiting, and every failure is
   * reported once, with its code, as text or as JSON on stdout when --json was given.
   */
  action<Args extends unknown[], Opts extends OptionValues>(
    fn: (opts: Opts & GlobalOptions, cmd: CommandUnknownOpts, ...args: Args) => Promise<number>,
  ): (...raw: [...Args, Opts, CommandUnknownOpts]) => Promise<void> {
    return async (...raw): Promise<void> => {
      const cmd = raw[raw.length - 1] as CommandUnknownOpts;
      // The command's own options are typed from its declaration; the program's and its parent's come with them.
      const opts = cmd.optsWithGlobals() as Opts & GlobalOptions;
      const args = raw.slice(0, -2) as Args;
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
    const err = this.inVolume(isBootportError(e) ? e : wrapUnknown(e));
    // With a bundle on stdout, the report goes to stderr, so it cannot corrupt the stream.
    const hint = hintFor(err);
    if (json && !this.stdoutIsData) this.json({ ok: false, error: errorJson(err) });
    else if (json) this.err(JSON.stringify({ ok: false, error: errorJson(err) }, null, 2));
    else this.err(`bootport: ${err.code}: ${err.message}${hint ? `\n  hint: ${hint}` : ''}`);
    if (this.debug()) this.err(stackOf(e));
    return exitCodeFor(err);
  }

  /** A bundle error at an offset inside a volume also names the volume's file: that is what an admin copies again. */
  private inVolume(e: BootportError): BootportError {
    const at = e.location.offset;
    const v = at === undefined ? undefined : this.volumesRead.filter((r) => r.offset <= at).at(-1);
    if (!v || !e.code.startsWith('ERR_BUNDLE')) return e;
    return new BootportError(e.code, `${e.detail}, in volume ${v.index} (${v.file})`, e.location, e.hint, { cause: e, remedies: e.remedies });
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

export interface RunInfo {
  engines: Engines;
  threads: number;
  /** The threads for work of `bytes` (undefined when not known): one for little work, unless threads were asked for. */
  threadsFor: (bytes: number | undefined) => number;
}

/** What ran the chunk work, for --json output. */
export function engineReport(run: RunInfo): { engine: { codec: string; hash: string; pieces: string; threads: number } } {
  return { engine: { codec: run.engines.codec.name, hash: run.engines.hash.name, pieces: run.engines.pieces.name, threads: run.threads } };
}

/**
 * An error that is not a BootportError: a system error (errno) is an I/O failure, anything else
 * (a TypeError, say) is a bug and says so, never a verdict on the input.
 */
function wrapUnknown(e: unknown): BootportError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return ioError((e as Error).message.split(':')[0] ?? 'a system call failed', e);
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new BootportError('ERR_INTERNAL', `internal error: ${what}`, {}, 'this is a bug in bootport: report it with the stack of the failure', {
    cause: e,
    remedies: ['report-bug'],
  });
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
