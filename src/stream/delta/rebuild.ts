import { open, type FileHandle } from 'node:fs/promises';
import { digestString, equalBytes, toHex } from '../../format/bytes.js';
import { DeltaParser, type DeltaClaim, type DeltaOp } from '../../format/delta.js';
import { BootportError } from '../../format/errors.js';
import { PieceListBuilder, type PieceList } from '../../format/pieces.js';
import type { Hasher, HashEngine } from '../engine/hash.js';
import { ioError } from '../io/io-error.js';
import { pieceDigests } from './candidates.js';
import { pieceSpans } from './spans.js';

/** A blob a delta copies from, as the target holds it: its file and its chunk index. */
export interface HeldBase {
  path: string;
  pieces: PieceList;
}

/** Hashes the pieces of a span somewhere (the worker pool), handing the span back with their digests. */
export type PieceHasher = (data: Uint8Array, lengths: Uint32Array) => Promise<{ data: Uint8Array; digests: Uint8Array }>;

/** Finds a base by its content digest; undefined when the target does not hold it. */
export type BaseLookup = (digest: string) => Promise<HeldBase | undefined>;

/** Output smaller than half this is gathered before it is written. */
const BATCH = 1 << 20;

/** Runs read and hashed ahead of the one being written: each at most RUN_LIMIT when bootport wrote it. */
const RUNS_AHEAD = 4;

/** What one operation produces, once checked: its chunk index entries, and its bytes in order. */
interface Ready {
  index: () => void;
  bytes: Uint8Array[];
}

/** Reads of a base are gathered into spans of about this many bytes, cut at piece boundaries. */
const SPAN = 1 << 20;

/**
 * Rebuilds a delta entry's content from its program: carried pieces as they come, referenced
 * runs copied out of the bases, each piece of a run hashed as it is copied and the run's digest
 * (over its pieces' digests) checked before any of it is passed on. The content's BLAKE3 and
 * its chunk index come out at the end; `write` gets the bytes in order and may keep them.
 */
export class DeltaRebuild {
  private readonly parser: DeltaParser;
  private readonly bases: (HeldBase & { fh?: FileHandle })[] = [];
  private readonly index = new PieceListBuilder();
  private readonly pending: Promise<Ready>[] = [];
  private batch: Uint8Array | undefined;
  private fill = 0;
  private size = 0;

  private constructor(
    private readonly claim: DeltaClaim,
    private readonly hash: HashEngine,
    private readonly content: Hasher,
    private readonly write: (bytes: Uint8Array) => Promise<void>,
    private readonly label: string,
    private readonly digests: PieceHasher,
  ) {
    this.parser = new DeltaParser(claim, { entry: label });
  }

  /**
   * Resolves every base first: a missing one is refused before a byte is rebuilt, naming it.
   * `label` names the entry in messages; `digests` hashes copied pieces (here, without it).
   */
  static async start(
    claim: DeltaClaim,
    lookup: BaseLookup,
    hash: HashEngine,
    write: (bytes: Uint8Array) => Promise<void>,
    label: string,
    digests?: PieceHasher,
  ): Promise<DeltaRebuild> {
    const here: PieceHasher = (data, lengths) => Promise.resolve({ data, digests: pieceDigests(hash, data, lengths) });
    const r = new DeltaRebuild(claim, hash, await hash.create(), write, label, digests ?? here);
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
      this.pending.push(next);
      while (this.pending.length > RUNS_AHEAD) await this.emitNext();
    }
  }

  private async emitNext(): Promise<void> {
    const ready = await this.pending.shift()!;
    ready.index();
    for (const b of ready.bytes) await this.emit(b);
  }

  /** The rebuilt content's digest and chunk index, once its digest is the one the manifest declares. */
  async finish(): Promise<{ digest: Uint8Array; size: number; pieces: PieceList }> {
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
    return { digest, size: this.size, pieces: this.index.finish(digest) };
  }

  async close(): Promise<void> {
    for (const b of this.bases) {
      await b.fh?.close().catch(() => undefined);
      delete b.fh;
    }
  }

  private async emit(bytes: Uint8Array): Promise<void> {
    this.content.update(bytes);
    this.size += bytes.length;
    // Carried pieces and short runs alternate in a delta: they are gathered into one write.
    if (bytes.length >= BATCH / 2) {
      await this.flush();
      await this.write(bytes);
      return;
    }
    if (this.fill + bytes.length > BATCH) await this.flush();
    this.batch ??= new Uint8Array(BATCH);
    this.batch.set(bytes, this.fill);
    this.fill += bytes.length;
  }

  /** Writes what is gathered; the next batch is a new array, since `write` may keep this one. */
  private async flush(): Promise<void> {
    if (!this.batch || this.fill === 0) return;
    const out = this.batch.subarray(0, this.fill);
    this.batch = undefined;
    this.fill = 0;
    await this.write(out);
  }

  /** A carried piece: the reader checked its digest before handing its chunk on. */
  private carried(bytes: Uint8Array, digest: Uint8Array): Ready {
    return { index: () => this.index.add(bytes.length, digest), bytes: [bytes] };
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
    // Each span is hashed piece by piece where the hasher runs (the worker pool, if given) as
    // soon as it is read, all of a run's spans at once; their digests are then checked in order.
    const hashed: Promise<{ data: Uint8Array; digests: Uint8Array; first: number }>[] = [];
    const short = (at: number) => damaged(this.label, `base ${info.digest} at ${base.path} ends at byte ${at}, before ${where} end`);
    for await (const span of pieceSpans(base.fh!, base.pieces, first, count, SPAN, `base ${info.digest} at ${base.path}`, short)) {
      const h = this.digests(span.data, span.lengths).then((r) => ({ ...r, first: span.first }));
      h.catch(() => undefined);
      hashed.push(h);
    }
    // A run is checked as a whole at its end, so its bytes wait here: at most MAX_REF_LENGTH.
    const spans = await Promise.all(hashed);
    const run = new Uint8Array(count * 32);
    for (const span of spans) {
      for (let k = 0; k < span.digests.length / 32; k++) {
        const d = span.digests.subarray(k * 32, k * 32 + 32);
        const piece = span.first + k;
        if (!equalBytes(d, base.pieces.digestAt(piece))) {
          throw damaged(
            this.label,
            `the piece at byte ${base.pieces.offsetAt(piece)} of base ${info.digest} hashes to blake3:${toHex(d)}, its chunk index says blake3:${toHex(base.pieces.digestAt(piece))}`,
            'the stored blob is damaged: run the store check; importing the base again heals it',
          );
        }
        run.set(d, (piece - first) * 32);
      }
    }
    if (!equalBytes(this.hash.digestOf([run]), op.digest)) {
      throw damaged(
        this.label,
        `${where} do not hash to the run digest the bundle gives`,
        'the bundle was written against other content under that digest, or the store is damaged',
      );
    }
    return { index: () => this.index.addFrom(base.pieces, first, count), bytes: spans.map((x) => x.data) };
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
