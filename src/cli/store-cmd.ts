import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { KERNEL_HEADER_BYTES, kernelRelease } from '../format/kernel-release.js';
import { BootportError } from '../format/errors.js';
import type { Selection } from '../store/catalog/common.js';
import { MAX_TEXT } from '../format/text.js';
import type { StagedFile } from '../store/catalog/boot-configs.js';
import { storeLocation } from '../store/location.js';
import { Store, type StoreMode } from '../store/store.js';
import { ioError, readHead } from '../stream/io/files.js';
import type { Engines } from '../stream/engine/engines.js';
import { packTree, type TreeStats } from '../stream/tree/pack-tree.js';
import { WorkerPool } from '../stream/parallel/pool.js';
import { defaultThreads, THREADS_PAY_FROM } from '../stream/parallel/runner.js';
import type { Progress } from './progress.js';
import { type CommandContext, type GlobalOptions } from './context.js';
import { usage } from './parse.js';
import { warningText } from './hints.js';

/**
 * Opens the store for one command and always closes it. `read` commands change nothing on disk;
 * `write` commands hold a staging directory of their own until they close the store.
 */
export async function withStore<T>(ctx: CommandContext, opts: GlobalOptions, mode: StoreMode, fn: (store: Store) => Promise<T>): Promise<T> {
  const lockTimeoutMs = ctx.lockTimeoutMs();
  const store = await Store.open(storeLocation(ctx.io.env, ctx.io.cwd, opts.store), mode, {
    command: ctx.commandLine(),
    ...(lockTimeoutMs !== undefined ? { lockTimeoutMs } : {}),
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export interface Field {
  key: string;
  value: string;
  /** Set for key=@PATH: the resolved path. */
  file?: string;
}

/** `key=value` and `key=@PATH` arguments, in order; a key may appear once. */
export function parseFields(args: string[], cwd: string, allowed?: readonly string[]): Map<string, Field> {
  const out = new Map<string, Field>();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw usage(`${JSON.stringify(a)} is not key=value`, 'fields are given as key=value, or key=@FILE to read a file');
    const key = a.slice(0, eq);
    const value = a.slice(eq + 1);
    if (allowed && !allowed.includes(key)) throw usage(`unknown field ${key}`, `valid fields: ${allowed.join(', ')}`);
    if (out.has(key)) throw usage(`field ${key} given twice`);
    out.set(key, value.startsWith('@') ? { key, value, file: resolve(cwd, value.slice(1)) } : { key, value });
  }
  return out;
}

/** The most bytes a text field read with @FILE may hold: MAX_TEXT characters of up to four UTF-8 bytes. */
export const MAX_TEXT_FILE = MAX_TEXT * 4;

/**
 * A text field: its value, or the contents of the file for key=@PATH (one trailing newline
 * dropped). At most MAX_TEXT_FILE bytes are read: `cmdline=@/dev/zero` is refused at once.
 */
export async function textField(f: Field | undefined): Promise<string | undefined> {
  if (!f) return undefined;
  if (!f.file) return f.value;
  const fh = await open(f.file, 'r').catch((e: unknown) => {
    throw ioError(`cannot read ${f.file} for ${f.key}`, e);
  });
  try {
    const buf = new Uint8Array(MAX_TEXT_FILE + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_TEXT_FILE)
        throw new BootportError('ERR_INVALID', `${f.file} holds more than ${MAX_TEXT_FILE} bytes, too much for ${f.key} (at most ${MAX_TEXT} characters)`);
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(0, n));
    return text.replace(/\r?\n$/, '');
  } catch (e) {
    throw e instanceof BootportError ? e : ioError(`cannot read ${f.file} for ${f.key}`, e);
  } finally {
    await fh.close();
  }
}

export function boolField(f: Field | undefined): boolean | undefined {
  if (!f) return undefined;
  if (['true', 'yes', '1'].includes(f.value)) return true;
  if (['false', 'no', '0'].includes(f.value)) return false;
  throw new BootportError('ERR_INVALID', `${f.key} must be true or false`);
}

/**
 * Files given as key=@PATH are copied into the store's staging (hashed on the way) before any
 * transaction; whatever is not placed goes with the staging when the store closes.
 */
export class FileIngest {
  constructor(
    private readonly store: Store,
    private readonly engines: Engines,
    private readonly ctx?: CommandContext,
    private readonly opts?: GlobalOptions,
  ) {}

  async blob(f: Field | undefined): Promise<StagedFile | undefined> {
    if (!f) return undefined;
    if (!f.file) throw usage(`${f.key} needs a file: ${f.key}=@PATH`);
    return { ...(await this.store.stageFile(f.file, this.engines)), fileName: basename(f.file) };
  }

  /**
   * An image's content: a file as it is, or a root file system directory packed as a tar, with
   * progress and a warning for each thing the tar leaves out.
   */
  async image(f: Field | undefined): Promise<(StagedFile & { tree?: TreeStats }) | undefined> {
    if (!f) return undefined;
    if (!f.file) throw usage(`${f.key} needs a file or directory: ${f.key}=@PATH`);
    const st = await stat(f.file).catch((e: unknown) => {
      throw ioError(`cannot read ${f.file}`, e);
    });
    const progress = this.ctx && this.opts ? this.ctx.progress(this.opts, `reading ${f.file}`, st.isFile() ? st.size : undefined) : undefined;
    let staged;
    let tree: TreeStats | undefined;
    // The chunk index is cut on the worker pool as the image streams in (see BlockIndexer).
    const threads = this.ctx && this.opts ? (await this.ctx.runOptions(this.opts)).threads : defaultThreads();
    const pool = threads > 1 && (st.isDirectory() || st.size >= THREADS_PAY_FROM) ? new WorkerPool(this.engines, threads) : undefined;
    try {
      if (st.isDirectory()) {
        const packed = packTree(f.file, { onWarning: (w) => this.ctx?.err(warningText(w, f.file)) });
        tree = packed.stats;
        staged = await this.store.stageStream(counted(packed.stream, progress), this.engines, f.file, pool);
      } else {
        staged = await this.store.stageFile(f.file, this.engines, (n) => progress?.advance(n), pool);
      }
    } finally {
      await pool?.close();
    }
    progress?.finish();
    return { ...staged, fileName: basename(f.file), ...(tree ? { tree } : {}) };
  }

  async kernel(f: Field | undefined): Promise<(StagedFile & { release?: string }) | undefined> {
    const b = await this.blob(f);
    if (!b || !f?.file) return b;
    const release = kernelRelease(await readHead(f.file, KERNEL_HEADER_BYTES));
    return release ? { ...b, release } : b;
  }
}

export function selection(opts: GlobalOptions): Selection {
  return { ...(opts.ids ? { ids: opts.ids } : {}), ...(opts.all ? { all: true } : {}) };
}

/** A stream's pieces, counted toward progress as they pass. */
export async function* counted(data: AsyncIterable<Uint8Array>, progress: Progress | undefined): AsyncGenerator<Uint8Array> {
  for await (const piece of data) {
    progress?.advance(piece.length);
    yield piece;
  }
}
