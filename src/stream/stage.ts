import type { ByteSource } from './source.js';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { digestString } from '../format/bytes.js';
import { BootportError } from '../format/errors.js';
import { writeAll } from './files.js';
import { readBundle, type EndEvent, type HeaderEvent, type ReadOptions } from './reader.js';

export interface StagedEntry {
  index: number;
  path: string;
  rawBytes: number;
  compBytes: number;
  chunks: number;
  digest: string;
}

export interface Staged {
  header: HeaderEvent;
  entries: StagedEntry[];
  end: EndEvent;
}

export interface StageOptions extends ReadOptions {
  /** Called with the manifest before any payload byte is written; throw to refuse the bundle. */
  decide?: (header: HeaderEvent) => void | Promise<void>;
  /** Entries whose bytes are read and verified but not kept (import --no-recurse). */
  discard?: (index: number) => boolean;
}

/**
 * Streams every entry of a bundle into its own file under `dir`, fsyncing each, and returns only
 * once the footer has verified. The files hold exactly the bytes that were hashed on the way in,
 * so nobody has to re-read them to trust them. On failure the caller removes `dir`.
 */
export async function stageBundle(input: ByteSource, dir: string, opts: StageOptions = {}): Promise<Staged> {
  let header: HeaderEvent | undefined;
  const entries: StagedEntry[] = [];
  let fh: FileHandle | undefined;
  let flush: Flusher | undefined;
  try {
    // Each chunk is written before the next is asked for, so the reader may reuse its buffers.
    for await (const ev of readBundle(input, { ...opts, inflate: true, recycle: true })) {
      switch (ev.type) {
        case 'header':
          header = ev;
          await opts.decide?.(ev);
          break;
        case 'chunk': {
          if (opts.discard?.(ev.entry)) break;
          if (ev.seq === 0) {
            fh = await open(join(dir, String(ev.entry)), 'wx', 0o644);
            flush = new Flusher(fh);
          }
          await writeAll(fh!, ev.data!);
          flush!.wrote(ev.data!.length);
          break;
        }
        case 'entry-end': {
          if (fh) {
            await flush!.settle();
            await fh.sync();
            await fh.close();
            fh = undefined;
          }
          if (!opts.discard?.(ev.entry)) {
            entries.push({ index: ev.entry, path: join(dir, String(ev.entry)), rawBytes: ev.rawBytes, compBytes: ev.compBytes, chunks: ev.chunks, digest: digestString(ev.contentDigest!) });
          }
          break;
        }
        case 'end':
          return { header: header!, entries, end: ev };
      }
    }
  } finally {
    await flush?.settle().catch(() => {});
    await fh?.close().catch(() => {});
  }
  throw new BootportError('ERR_BUNDLE_TRUNCATED', 'bundle ended without a footer');
}

/**
 * Starts writing dirty pages back every FLUSH_EVERY bytes, in the background, so the disk works
 * while later chunks are decompressed. Left to the final fsync, a whole image's worth of dirty
 * pages was flushed only after the last chunk, and the import waited for all of it.
 */
const FLUSH_EVERY = 64 << 20;

class Flusher {
  private since = 0;
  private pending: Promise<void> | undefined;
  private failed: unknown;

  constructor(private readonly fh: FileHandle) {}

  wrote(n: number): void {
    this.since += n;
    if (this.since < FLUSH_EVERY || this.pending) return;
    this.since = 0;
    this.pending = this.fh.datasync().then(
      () => void (this.pending = undefined),
      (e: unknown) => void ((this.failed = e), (this.pending = undefined)),
    );
  }

  /** Waits for a flush in progress; a failed one is reported here, before the file is trusted. */
  async settle(): Promise<void> {
    await this.pending;
    if (this.failed) throw this.failed;
  }
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => {});
}
