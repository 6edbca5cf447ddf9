import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { KERNEL_HEADER_BYTES, kernelRelease } from '../format/kernel-release.js';
import { BootportError } from '../format/errors.js';
import { defaultStoreDir } from '../store/paths.js';
import { liveStaging, Store, type StagedBlob } from '../store/store.js';
import { removeQuietly } from '../stream/stage.js';
import type { Engines } from '../stream/engines.js';
import { readHead } from './pack.js';
import { usage, type Ctx, type GlobalOptions } from './context.js';

/** Opens the store for one command and always closes it. */
export async function withStore<T>(ctx: Ctx, opts: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = Store.open(defaultStoreDir(ctx.io.env, ctx.io.cwd, opts.store));
  try {
    return await fn(store);
  } finally {
    store.close();
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

/** A text field: its value, or the contents of the file for key=@PATH (one trailing newline dropped). */
export async function textField(f: Field | undefined): Promise<string | undefined> {
  if (!f) return undefined;
  if (!f.file) return f.value;
  return (await readFile(f.file, 'utf8')).replace(/\r?\n$/, '');
}

export function boolField(f: Field | undefined): boolean | undefined {
  if (!f) return undefined;
  if (['true', 'yes', '1'].includes(f.value)) return true;
  if (['false', 'no', '0'].includes(f.value)) return false;
  throw new BootportError('ERR_INVALID', `${f.key} must be true or false`);
}

/** Files given as key=@PATH are copied into staging (hashed on the way) before any transaction. */
export class FileIngest {
  private staging: string | undefined;
  constructor(
    private readonly store: Store,
    private readonly engines: Engines,
  ) {}

  async blob(f: Field | undefined): Promise<(StagedBlob & { fileName: string }) | undefined> {
    if (!f) return undefined;
    if (!f.file) throw usage(`${f.key} needs a file: ${f.key}=@PATH`);
    this.staging ??= this.store.newStaging();
    return { ...(await this.store.stageFile(f.file, this.staging, this.engines)), fileName: basename(f.file) };
  }

  async kernel(f: Field | undefined): Promise<(StagedBlob & { fileName: string; release?: string }) | undefined> {
    const b = await this.blob(f);
    if (!b || !f?.file) return b;
    const release = kernelRelease(await readHead(f.file, KERNEL_HEADER_BYTES));
    return release ? { ...b, release } : b;
  }

  async done(): Promise<void> {
    if (this.staging) {
      await removeQuietly(this.staging);
      liveStaging.delete(this.staging);
    }
  }
}

export function selection(opts: GlobalOptions & Record<string, unknown>): { ids?: string; all?: boolean } {
  return { ...(opts.ids ? { ids: String(opts.ids) } : {}), ...(opts.all ? { all: true } : {}) };
}

export type { Command };
