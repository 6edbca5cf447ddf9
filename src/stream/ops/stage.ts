import { join } from 'node:path';
import { digestString } from '../../format/bytes.js';
import { BootportError } from '../../format/errors.js';
import { BackgroundFlush } from '../io/files.js';
import { DirectFile } from '../io/direct.js';
import { entryLabel } from '../../format/manifest.js';
import { NO_PIECES } from '../../format/pieces.js';
import { readBundle, type EndEvent, type HeaderEvent, type ReadOptions } from '../bundle/reader.js';
import { PieceCutter } from '../delta/cutter.js';
import { IndexSpool } from '../delta/index-spool.js';
import { DeltaRebuild, type BaseLookup } from '../delta/rebuild.js';
import { loadEngines } from '../engine/engines.js';
import { WorkerPool } from '../parallel/pool.js';
import { runnerFor, sumOf, type ChunkRunner } from '../parallel/runner.js';
import type { ByteSource } from '../io/source.js';

export interface StagedEntry {
  index: number;
  path: string;
  rawBytes: number;
  compBytes: number;
  chunks: number;
  digest: string;
  /** The content's chunk index file, beside it, when asked for (`index`). */
  indexFile?: string;
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
  /** Mode of the staged files, set whatever the umask (default 0644). */
  fileMode?: number;
  /** Cut each kept entry into the delta chunker's pieces as it is written: its chunk index. */
  index?: boolean;
  /** Where delta entries find their bases. Without it a kept delta entry is refused. */
  bases?: BaseLookup;
}

/**
 * Streams every entry of a bundle into its own file under `dir`, fsyncing each, and returns only
 * once the footer has verified. The files hold exactly the bytes that were hashed on the way in,
 * so nobody has to re-read them to trust them. On failure the caller removes `dir`.
 */
export async function stageBundle(input: ByteSource, dir: string, opts: StageOptions = {}): Promise<Staged> {
  let header: HeaderEvent | undefined;
  const entries: StagedEntry[] = [];
  let file: EntryFile | undefined;
  let cutter: PieceCutter<IndexSpool> | undefined;
  let spool: IndexSpool | undefined;
  let rebuild: DeltaRebuild | undefined;
  const engines = opts.engines ?? (await loadEngines());
  // One runner for reading and for hashing what a delta copies out of its bases, chosen once the
  // manifest says how much there is: every byte of every entry is inflated or rebuilt, and hashed.
  let chosen: { runner: ChunkRunner; owned: boolean } | undefined;
  let pool: WorkerPool | undefined;
  try {
    // Workers cut what they inflate into candidate pieces, for the chunk index of each kept entry.
    const pieces = (i: number) => opts.index === true && !opts.discard?.(i) && header?.manifest.entries[i]?.delta === undefined;
    const read: ReadOptions = {
      ...opts,
      engines,
      deep: true,
      recycle: true,
      pieces,
      // The reader asks for its runner only after it has handed on the header, which chose it.
      get runner() {
        return chosen?.runner;
      },
    };
    for await (const ev of readBundle(input, read)) {
      switch (ev.type) {
        case 'header': {
          header = ev;
          const work = sumOf(ev.manifest.entries.map((e) => e.delta?.size ?? e.size));
          chosen = runnerFor(engines, { ...opts, threads: opts.threadsFor?.(work) ?? opts.threads });
          pool = chosen.runner instanceof WorkerPool ? chosen.runner : undefined;
          await opts.decide?.(ev);
          break;
        }
        case 'chunk': {
          if (opts.discard?.(ev.entry)) {
            ev.release?.();
            break;
          }
          if (ev.seq === 0) {
            const f = (file = await EntryFile.create(join(dir, String(ev.entry)), opts.fileMode ?? 0o644));
            const e = header!.manifest.entries[ev.entry]!;
            const label = entryLabel(header!.manifest, ev.entry);
            // The chunk index goes to a file as it is cut: a blob's whole index in memory grew with the blob.
            if (opts.index) spool = IndexSpool.create(join(dir, `${ev.entry}.index`), opts.fileMode ?? 0o644);
            if (e.delta) {
              if (!opts.bases) throw new BootportError('ERR_DELTA_BASE_MISSING', `the delta ${label} cannot be rebuilt here: there is no store to copy from`);
              const write = (b: Uint8Array, done?: () => void) => f.write(b, done);
              const on = pool && { span: pool.span.bind(pool), subtree: pool.subtree.bind(pool) };
              rebuild = await DeltaRebuild.start(e.delta, opts.bases, engines, write, label, spool ?? NO_PIECES, on);
            } else if (spool) cutter = new PieceCutter(engines.pieces, spool);
          }
          // The rebuild copies what it keeps of a chunk, so the buffer goes back once it returns.
          if (rebuild) {
            await rebuild.update(ev.data!);
            ev.release?.();
          } else {
            cutter?.update(ev.data!, ev.pieces);
            await file!.write(ev.data!, ev.release);
          }
          break;
        }
        case 'entry-end': {
          const rebuilt = await rebuild?.finish();
          rebuild = undefined;
          await file?.finish();
          file = undefined;
          if (!opts.discard?.(ev.entry)) {
            const digest = rebuilt?.digest ?? ev.contentDigest!;
            const size = rebuilt?.size ?? ev.rawBytes;
            cutter?.end();
            await spool?.finish(digest, size, engines.hash);
            entries.push({
              index: ev.entry,
              path: join(dir, String(ev.entry)),
              rawBytes: rebuilt?.size ?? ev.rawBytes,
              compBytes: ev.compBytes,
              chunks: ev.chunks,
              digest: digestString(digest),
              ...(spool ? { indexFile: spool.path } : {}),
            });
          }
          cutter = undefined;
          spool = undefined;
          break;
        }
        case 'end':
          return { header: header!, entries, end: ev };
      }
    }
  } finally {
    await rebuild?.close();
    await file?.abandon();
    spool?.abandon();
    if (chosen?.owned) await chosen.runner.close();
  }
  throw new BootportError('ERR_BUNDLE_TRUNCATED', 'bundle ended without a footer');
}

/** Writes in flight per staged file: the next chunks are hashed while earlier ones are copied out. */
const WRITES_IN_FLIGHT = 3;

/**
 * One staged file: positional writes with a few in flight (awaiting each one before hashing the
 * next chunk put every write on the critical path), background flushes, and an fsync at the end.
 */
class EntryFile {
  private at = 0;
  private writes: Promise<void>[] = [];
  private readonly flusher: BackgroundFlush;

  private constructor(private readonly file: DirectFile) {
    this.flusher = new BackgroundFlush(file.handle);
  }

  static async create(path: string, mode: number): Promise<EntryFile> {
    return new EntryFile(await DirectFile.create(path, mode));
  }

  /** Queues `data` at the end of the file; `done` runs once it is written (the buffer may then be reused). */
  async write(data: Uint8Array, done?: () => void): Promise<void> {
    const len = data.length;
    const p = this.file.write(data, this.at).then(() => {
      done?.();
      this.flusher.wrote(len);
    });
    // Failures are rethrown in order by the await below or by finish(); this only keeps an
    // early rejection from being reported as unhandled.
    p.catch(() => {});
    this.at += len;
    this.writes.push(p);
    if (this.writes.length >= WRITES_IN_FLIGHT) await this.writes.shift();
  }

  /** Every write done, flushed and fsynced, and the file closed; any write or flush failure is thrown here. */
  async finish(): Promise<void> {
    try {
      for (const w of this.writes.splice(0)) await w;
      await this.flusher.settle();
      await this.file.handle.sync();
    } finally {
      await this.file.close();
    }
  }

  /** After a failure elsewhere: let writes in flight end, then close. Idempotent with finish. */
  async abandon(): Promise<void> {
    await Promise.allSettled([...this.writes.splice(0), this.flusher.abandon()]);
    await this.file.close().catch(() => {});
  }
}
