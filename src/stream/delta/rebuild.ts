import { open, type FileHandle } from 'node:fs/promises';
import { digestString, equalBytes, toHex } from '../../format/bytes.js';
import { DeltaParser, type DeltaClaim, type DeltaOp } from '../../format/delta.js';
import { BootportError } from '../../format/errors.js';
import type { PieceList, PieceSink } from '../../format/pieces.js';
import type { Hasher, HashEngine } from '../engine/hash.js';
import type { Engines } from '../engine/engines.js';
import { ioError } from '../io/io-error.js';
import { alignedBytes } from '../io/direct.js';
import { readAndHashSpan, spanPlans, type HashedSpan } from './spans.js';

/** A blob a delta copies from, as the target holds it: its file and its chunk index. */
export interface HeldBase {
  path: string;
  pieces: PieceList;
}

/** `readAndHashSpan` somewhere (on the worker pool), without the engine it takes. */
export type SpanReader = (fd: number, at: number, bytes: number, lengths: Uint32Array, what: string, into?: Uint8Array) => Promise<HashedSpan>;

/** Finds a base by its content digest; undefined when the target does not hold it. */
export type BaseLookup = (digest: string) => Promise<HeldBase | undefined>;

/**
 * Output is gathered into blocks of this size, aligned in memory, so that every write but the last
 * is whole aligned blocks at an aligned offset, which a staged file sends around the page cache
 * (DirectFile). Runs and carried pieces have any length, and would leave the offsets unaligned.
 */
const BATCH = 4 << 20;

/**
 * How far reading and hashing runs ahead of writing, in bytes and in operations: far enough that
 * every worker has spans to hash while the bytes before them are written, whatever mix of short
 * runs and carried pieces the program is. A run is at most MAX_REF_LENGTH, so this bounds memory.
 */
const AHEAD_BYTES = 32 << 20;
const AHEAD_OPS = 256;

/** What one operation produces, once checked: its chunk index entries, and its bytes in order. */
interface Ready {
  index: () => void;
  bytes: Uint8Array[];
  /** Whether the bytes are spans read into this rebuild's own buffers, to be read into again. */
  spans: boolean;
}

/** Takes bytes to write in order; `done`, once given, says their buffer may be reused. */
export type Write = (bytes: Uint8Array, done?: () => void) => Promise<void>;

/** Reads of a base are gathered into spans of about this many bytes, cut at piece boundaries. */
const SPAN = 1 << 20;

/** Span buffers kept for reuse: enough for everything read ahead. */
const SPARE_SPANS = AHEAD_BYTES / SPAN + 8;

/**
 * Rebuilds a delta entry's content from its program: carried pieces as they come, referenced
 * runs copied out of the bases, each piece of a run hashed as it is copied and the run's digest
 * (over its pieces' digests) checked before any of it is passed on. The content's BLAKE3 and
 * its chunk index come out at the end; `write` gets the bytes in order and may keep them until it
 * calls `done`, after which their buffers are read into again.
 */
export class DeltaRebuild {
  private readonly parser: DeltaParser;
  private readonly bases: (HeldBase & { fh?: FileHandle })[] = [];
  private readonly pending: { ready: Promise<Ready>; bytes: number }[] = [];
  private pendingBytes = 0;
  /** Reads of the bases' descriptors still running: a base is closed only once none is. */
  private readonly reading = new Set<Promise<unknown>>();
  private batch: Uint8Array | undefined;
  private readonly spareBatches: Uint8Array[] = [];
  private readonly spareSpans: SharedArrayBuffer[] = [];
  private fill = 0;
  private size = 0;

  private constructor(
    private readonly claim: DeltaClaim,
    private readonly hash: HashEngine,
    private readonly content: Hasher,
    private readonly write: Write,
    private readonly label: string,
    private readonly readSpan: SpanReader,
    private readonly index: PieceSink,
  ) {
    this.parser = new DeltaParser(claim, { entry: label });
  }

  /**
   * Resolves every base first: a missing one is refused before a byte is rebuilt, naming it.
   * `label` names the entry in messages; the rebuilt content's chunk index goes to `index`, piece
   * by piece; `readSpan` reads and hashes copied pieces (here, without it).
   */
  static async start(
    claim: DeltaClaim,
    lookup: BaseLookup,
    engines: Pick<Engines, 'hash' | 'pieces'>,
    write: Write,
    label: string,
    index: PieceSink,
    readSpan?: SpanReader,
  ): Promise<DeltaRebuild> {
    const here: SpanReader = (fd, at, bytes, lengths, what, into) => Promise.resolve(readAndHashSpan(engines.pieces, fd, at, bytes, lengths, what, into));
    const r = new DeltaRebuild(claim, engines.hash, await engines.hash.create(), write, label, readSpan ?? here, index);
    // Each base is looked up once (a store reads its chunk index for it); any missing, none is opened.
    const held: HeldBase[] = [];
    const missing: string[] = [];
    for (const b of claim.base) {
      const h = await lookup(b.digest);
      if (h) held.push(h);
      else missing.push(b.digest);
    }
    if (missing.length) throw baseMissing(missing, label);
    try {
      for (const [i, h] of held.entries()) {
        // Opened once, up front: runs read ahead, several at once, at their own offsets.
        const fh = await open(h.path, 'r').catch((e: unknown) => {
          throw ioError(`cannot open base ${claim.base[i]!.digest} at ${h.path}`, e);
        });
        r.bases.push({ ...h, fh });
      }
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  /**
   * Runs are read and hashed ahead, a few at once, while the ones before them are written: the
   * bytes still go out strictly in program order, each run only once it is checked.
   */
  async update(data: Uint8Array): Promise<void> {
    for (const op of this.parser.feed(data)) {
      // A carried piece may be a view of the chunk, whose buffer is reused once this returns.
      const next = op.kind === 'data' ? Promise.resolve(this.carried(op.bytes.slice(), op.digest)) : this.run(op);
      next.catch(() => undefined);
      const bytes = op.kind === 'data' ? op.bytes.length : op.length;
      this.pending.push({ ready: next, bytes });
      this.pendingBytes += bytes;
      while (this.pendingBytes > AHEAD_BYTES || this.pending.length > AHEAD_OPS) await this.emitNext();
    }
  }

  private async emitNext(): Promise<void> {
    const next = this.pending.shift()!;
    this.pendingBytes -= next.bytes;
    const ready = await next.ready;
    ready.index();
    for (const b of ready.bytes) await this.emit(b, ready.spans ? () => this.spare(b) : undefined);
  }

  /** The rebuilt content's digest and size, once they are the ones the manifest declares; its pieces are all in the index sink. */
  async finish(): Promise<{ digest: Uint8Array; size: number }> {
    this.parser.finish();
    while (this.pending.length) await this.emitNext();
    await this.flush();
    await this.close();
    const digest = this.content.digest();
    if (digestString(digest) !== this.claim.digest || this.size !== this.claim.size) {
      throw new BootportError(
        'ERR_BUNDLE_DIGEST_MISMATCH',
        `the rebuilt content is ${digestString(digest)} (${this.size} bytes), the manifest declares ${this.claim.digest} (${this.claim.size} bytes)`,
        { entry: this.label },
      );
    }
    return { digest, size: this.size };
  }

  async close(): Promise<void> {
    // A worker may still be reading a base by its descriptor, whose number a new file could take.
    await Promise.allSettled([...this.reading]);
    for (const b of this.bases) {
      await b.fh?.close().catch(() => undefined);
      delete b.fh;
    }
  }

  private async emit(bytes: Uint8Array, done?: () => void): Promise<void> {
    this.content.update(bytes);
    this.size += bytes.length;
    for (let at = 0; at < bytes.length;) {
      this.batch ??= this.spareBatches.pop() ?? alignedBytes(BATCH);
      const n = Math.min(bytes.length - at, BATCH - this.fill);
      this.batch.set(bytes.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === BATCH) await this.flush();
    }
    done?.();
  }

  /** Writes what is gathered into a batch, which comes back for another once written. */
  private async flush(): Promise<void> {
    const batch = this.batch;
    if (!batch || this.fill === 0) return;
    const out = batch.subarray(0, this.fill);
    this.batch = undefined;
    this.fill = 0;
    await this.write(out, () => this.spareBatches.push(batch));
  }

  /**
   * A span buffer to read into: one given back, or a new one. Spans are read into a few buffers
   * used over and over, shared with the workers rather than moved to them and back: a fresh or
   * moved buffer per span counted as new memory, and the garbage collector ran for it.
   */
  private spanBuffer(bytes: number): Uint8Array | undefined {
    if (bytes > SPAN) return undefined;
    return new Uint8Array(this.spareSpans.pop() ?? new SharedArrayBuffer(SPAN));
  }

  private spare(span: Uint8Array): void {
    if (span.buffer instanceof SharedArrayBuffer && span.buffer.byteLength === SPAN && this.spareSpans.length < SPARE_SPANS) this.spareSpans.push(span.buffer);
  }

  /** A carried piece: the reader checked its digest before handing its chunk on. */
  private carried(bytes: Uint8Array, digest: Uint8Array): Ready {
    return { index: () => this.index.add(bytes.length, digest), bytes: [bytes], spans: false };
  }

  /** A run copied out of its base: read, each piece hashed, the run's digest checked. */
  private async run(op: Extract<DeltaOp, { kind: 'ref' }>): Promise<Ready> {
    const base = this.bases[op.base]!;
    const info = this.claim.base[op.base]!;
    const where = `bytes ${op.offset}..${op.offset + op.length} of base ${info.digest}`;
    const first = base.pieces.pieceAt(op.offset);
    const last = base.pieces.pieceAt(op.offset + op.length);
    const endOk = last >= 0 || op.offset + op.length === base.pieces.size;
    const count = (last >= 0 ? last : base.pieces.count) - first;
    if (first < 0 || !endOk || count !== op.pieces) {
      throw damaged(this.label, `${where} are not ${op.pieces} whole pieces of its chunk index`, 'repair the store, which computes the chunk index again', {
        remedies: ['repair-index'],
      });
    }
    // Each span is read and hashed piece by piece where the reader runs (a worker, if given), all
    // of a run's spans at once; their digests are then checked in order.
    const what = `base ${info.digest} at ${base.path}`;
    const hashed: Promise<HashedSpan & { first: number }>[] = [];
    for (const plan of spanPlans(base.pieces, first, count, SPAN)) {
      const read = this.readSpan(base.fh!.fd, plan.at, plan.bytes, plan.lengths, what, this.spanBuffer(plan.bytes));
      this.reading.add(read);
      void read.finally(() => this.reading.delete(read)).catch(() => undefined);
      const h = read.then((r) => {
        if (r.got < plan.bytes) throw damaged(this.label, `${what} ends at byte ${plan.at + r.got}, before ${where} end`);
        return { ...r, first: plan.first };
      });
      h.catch(() => undefined);
      hashed.push(h);
    }
    // A run is checked as a whole at its end, so its bytes wait here: at most MAX_REF_LENGTH.
    const spans = await Promise.all(hashed);
    const run = new Uint8Array(count * 32);
    for (const span of spans) {
      for (let k = 0; k < span.digests.length / 32; k++) {
        const piece = span.first + k;
        if (!base.pieces.sameKey(piece, span.digests, k * 32)) {
          const d = span.digests.subarray(k * 32, k * 32 + 32);
          throw damaged(
            this.label,
            `the piece at byte ${base.pieces.offsetAt(piece)} of base ${info.digest} hashes to blake3:${toHex(d)}, its chunk index says blake3:${toHex(base.pieces.digestAt(piece))}`,
            'the stored blob is damaged: run the store check; importing the base again heals it',
          );
        }
      }
      run.set(span.digests, (span.first - first) * 32);
    }
    if (!equalBytes(this.hash.digestOf([run]), op.digest)) {
      throw damaged(
        this.label,
        `${where} do not hash to the run digest the bundle gives`,
        'the bundle was written against other content under that digest, or the store is damaged',
      );
    }
    return { index: () => this.index.addFrom(base.pieces, first, count), bytes: spans.map((x) => x.data), spans: true };
  }
}

/** `entry` names the delta entry, when one is meant; without it, the bundle is. */
export function baseMissing(missing: readonly string[], entry?: string): BootportError {
  return new BootportError(
    'ERR_DELTA_BASE_MISSING',
    `the delta ${entry ?? 'bundle'} copies from ${missing.length === 1 ? 'a blob' : `${missing.length} blobs`} this store does not hold: ${missing.join(', ')}`,
    entry ? { entry } : {},
    'import the bundle this delta was written against (its base) first, or ask the source for a full export',
    { remedies: ['import-base'] },
  );
}

function damaged(label: string, msg: string, hint?: string, opts?: { remedies: readonly string[] }): BootportError {
  return new BootportError('ERR_DELTA_BASE_DAMAGED', msg, { entry: label }, hint, opts);
}
