import { open, type FileHandle } from 'node:fs/promises';
import { digestString, equalBytes, toHex } from '../../format/bytes.js';
import { DeltaParser, type DeltaClaim, type DeltaOp } from '../../format/delta.js';
import { BootportError } from '../../format/errors.js';
import type { PieceList, PieceSink } from '../../format/pieces.js';
import type { HashEngine } from '../engine/hash.js';
import type { Engines } from '../engine/engines.js';
import { ioError } from '../io/io-error.js';
import { placedParts, PlacedOutput, type SubtreeHasher, type Write } from './placed.js';
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
 * How far reading and hashing runs ahead of writing, in bytes and in operations: far enough that
 * every worker has spans to hash while the bytes before them are written, whatever mix of short
 * runs and carried pieces the program is. A run is at most MAX_REF_LENGTH, so this bounds memory.
 */
const AHEAD_BYTES = 32 << 20;
const AHEAD_OPS = 256;

/** What one operation adds once checked: its chunk index entries; its bytes are already in place. */
interface Ready {
  index: () => void;
}

/** Reads of a base are gathered into spans of about this many bytes, cut at piece boundaries. */
const SPAN = 1 << 20;

/**
 * Rebuilds a delta entry's content from its program: carried pieces as they come, referenced
 * runs copied out of the bases, each piece of a run hashed as it is copied and the run's digest
 * (over its pieces' digests) checked before any of it is passed on. The content's BLAKE3 and
 * its chunk index come out at the end; `write` gets the bytes in order, in aligned blocks it may
 * keep until it calls `done`.
 */
export class DeltaRebuild {
  private readonly parser: DeltaParser;
  private readonly bases: (HeldBase & { fh?: FileHandle })[] = [];
  private readonly pending: { ready: Promise<Ready>; at: number; bytes: number }[] = [];
  private pendingBytes = 0;
  /** Reads of the bases' descriptors still running: a base is closed only once none is. */
  private readonly reading = new Set<Promise<unknown>>();
  private readonly out: PlacedOutput;
  /** Output bytes given a place so far, and checked and hashed so far. */
  private placed = 0;
  private size = 0;

  private constructor(
    private readonly claim: DeltaClaim,
    private readonly hash: HashEngine,
    private readonly label: string,
    private readonly readSpan: SpanReader,
    private readonly index: PieceSink,
    out: PlacedOutput,
  ) {
    this.parser = new DeltaParser(claim, { entry: label });
    this.out = out;
  }

  /**
   * Resolves every base first: a missing one is refused before a byte is rebuilt, naming it.
   * `label` names the entry in messages; the rebuilt content's chunk index goes to `index`, piece
   * by piece. `on` reads and hashes copied pieces and the content's blocks elsewhere (on the
   * worker pool); without it, they are done here.
   */
  static async start(
    claim: DeltaClaim,
    lookup: BaseLookup,
    engines: Pick<Engines, 'hash' | 'pieces' | 'tree'>,
    write: Write,
    label: string,
    index: PieceSink,
    on?: { span: SpanReader; subtree: SubtreeHasher },
  ): Promise<DeltaRebuild> {
    const here: SpanReader = (fd, at, bytes, lengths, what, into) => Promise.resolve(readAndHashSpan(engines.pieces, fd, at, bytes, lengths, what, into));
    // Here, a block's subtree would cost what hashing its bytes in order does: only workers take them.
    const out = new PlacedOutput(write, engines.tree?.create() ?? (await engines.hash.create()), on?.subtree);
    const r = new DeltaRebuild(claim, engines.hash, label, on?.span ?? here, index, out);
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
   * Runs are read and hashed ahead, a few at once, into their places in the output, while the
   * bytes before them are written: the output still goes out strictly in order, each run only
   * once it is checked.
   */
  async update(data: Uint8Array): Promise<void> {
    for (const op of this.parser.feed(data)) {
      const at = this.placed;
      const bytes = op.kind === 'data' ? op.bytes.length : op.length;
      this.placed += bytes;
      // A carried piece may be a view of the chunk, whose buffer is reused once this returns.
      const next = op.kind === 'data' ? Promise.resolve(this.carried(op.bytes, op.digest, at)) : this.run(op, at);
      next.catch(() => undefined);
      this.pending.push({ ready: next, at, bytes });
      this.pendingBytes += bytes;
      while (this.pendingBytes > AHEAD_BYTES || this.pending.length > AHEAD_OPS) await this.emitNext();
    }
  }

  private async emitNext(): Promise<void> {
    const next = this.pending.shift()!;
    this.pendingBytes -= next.bytes;
    const ready = await next.ready;
    ready.index();
    this.size += next.bytes;
    await this.out.writeUpTo(this.size);
  }

  /** The rebuilt content's digest and size, once they are the ones the manifest declares; its pieces are all in the index sink. */
  async finish(): Promise<{ digest: Uint8Array; size: number }> {
    this.parser.finish();
    while (this.pending.length) await this.emitNext();
    await this.out.finish(this.size);
    await this.close();
    const digest = await this.out.digest();
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

  /** A carried piece: the reader checked its digest before handing its chunk on. */
  private carried(bytes: Uint8Array, digest: Uint8Array, at: number): Ready {
    this.out.put(bytes, at);
    const length = bytes.length;
    return { index: () => this.index.add(length, digest) };
  }

  /** A run copied out of its base: read, each piece hashed, the run's digest checked. */
  private async run(op: Extract<DeltaOp, { kind: 'ref' }>, at: number): Promise<Ready> {
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
    // Each span is read straight into its place in the output and hashed piece by piece where the
    // reader runs (a worker, if given), all of a run's spans at once; their digests are then
    // checked in order. A piece across two output blocks is read on its own and copied into both.
    const what = `base ${info.digest} at ${base.path}`;
    const hashed: Promise<HashedSpan & { first: number }>[] = [];
    for (const plan of spanPlans(base.pieces, first, count, SPAN)) {
      for (const part of placedParts(plan, at + plan.at - op.offset)) {
        const into = part.straddles ? undefined : this.out.views(part.out, part.bytes)[0];
        const read = this.readSpan(base.fh!.fd, part.at, part.bytes, part.lengths, what, into);
        this.reading.add(read);
        void read.finally(() => this.reading.delete(read)).catch(() => undefined);
        const h = read.then((r) => {
          if (r.got < part.bytes) throw damaged(this.label, `${what} ends at byte ${part.at + r.got}, before ${where} end`);
          if (part.straddles) this.out.put(r.data, part.out);
          return { ...r, first: part.first };
        });
        h.catch(() => undefined);
        hashed.push(h);
      }
    }
    // A run is checked as a whole at its end, so its bytes wait in place: at most MAX_REF_LENGTH.
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
    return { index: () => this.index.addFrom(base.pieces, first, count) };
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
