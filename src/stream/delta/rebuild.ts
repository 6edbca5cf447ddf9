import { open, type FileHandle } from 'node:fs/promises';
import { digestString, equalBytes, toHex } from '../../format/bytes.js';
import { DeltaParser, type DeltaClaim, type DeltaOp } from '../../format/delta.js';
import { BootportError } from '../../format/errors.js';
import { PieceListBuilder, type PieceList } from '../../format/pieces.js';
import type { Hasher, HashEngine } from '../engine/hash.js';
import { ioError } from '../io/io-error.js';

/** A blob a delta copies from, as the target holds it: its file and its chunk index. */
export interface HeldBase {
  path: string;
  pieces: PieceList;
}

/** Finds a base by its content digest; undefined when the target does not hold it. */
export type BaseLookup = (digest: string) => Promise<HeldBase | undefined>;

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
  private size = 0;

  private constructor(
    private readonly claim: DeltaClaim,
    private readonly hash: HashEngine,
    private readonly content: Hasher,
    private readonly write: (bytes: Uint8Array) => Promise<void>,
    private readonly label: string,
  ) {
    this.parser = new DeltaParser(claim, { entry: label });
  }

  /**
   * Resolves every base first: a missing one is refused before a byte is rebuilt, naming it.
   * `label` names the entry in messages.
   */
  static async start(
    claim: DeltaClaim,
    lookup: BaseLookup,
    hash: HashEngine,
    write: (bytes: Uint8Array) => Promise<void>,
    label: string,
  ): Promise<DeltaRebuild> {
    const r = new DeltaRebuild(claim, hash, await hash.create(), write, label);
    const missing = await missingBases(claim, lookup);
    if (missing.length) throw baseMissing(missing, label);
    for (const b of claim.base) r.bases.push((await lookup(b.digest))!);
    return r;
  }

  async update(data: Uint8Array): Promise<void> {
    for (const op of this.parser.feed(data)) await this.apply(op);
  }

  /** The rebuilt content's digest and chunk index, once its digest is the one the manifest declares. */
  async finish(): Promise<{ digest: Uint8Array; size: number; pieces: PieceList }> {
    this.parser.finish();
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
    await this.write(bytes);
  }

  private async apply(op: DeltaOp): Promise<void> {
    if (op.kind === 'data') {
      // The reader checked this piece's digest before handing its chunk on.
      this.index.add(op.bytes.length, op.digest);
      await this.emit(op.bytes);
      return;
    }
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
    base.fh ??= await open(base.path, 'r').catch((e: unknown) => {
      throw ioError(`cannot open base ${info.digest} at ${base.path}`, e);
    });
    // The pieces' digests, hashed in one call at the end of the run.
    const run = new Uint8Array(count * 32);
    const spans: Uint8Array[] = [];
    let i = first;
    while (i < first + count) {
      let j = i;
      let bytes = 0;
      while (j < first + count && (bytes === 0 || bytes + base.pieces.lengthAt(j) <= SPAN)) bytes += base.pieces.lengthAt(j++);
      const buf = new Uint8Array(bytes);
      const at = base.pieces.offsetAt(i);
      let got = 0;
      while (got < bytes) {
        const { bytesRead } = await base.fh.read(buf, got, bytes - got, at + got).catch((e: unknown) => {
          throw ioError(`cannot read base ${info.digest} at ${base.path}`, e);
        });
        if (bytesRead === 0) throw damaged(this.label, `base ${info.digest} at ${base.path} ends at byte ${at + got}, before ${where} end`);
        got += bytesRead;
      }
      let p = 0;
      for (let k = i; k < j; k++) {
        const n = base.pieces.lengthAt(k);
        const d = this.hash.digestOf([buf.subarray(p, p + n)]);
        if (!equalBytes(d, base.pieces.digestAt(k))) {
          throw damaged(
            this.label,
            `the piece at byte ${base.pieces.offsetAt(k)} of base ${info.digest} hashes to blake3:${toHex(d)}, its chunk index says blake3:${toHex(base.pieces.digestAt(k))}`,
            'the stored blob is damaged: run the store check; importing the base again heals it',
          );
        }
        run.set(d, (k - first) * 32);
        p += n;
      }
      // A run is checked as a whole at its end, so its bytes wait here: at most MAX_REF_LENGTH.
      spans.push(buf);
      i = j;
    }
    if (!equalBytes(this.hash.digestOf([run]), op.digest)) {
      throw damaged(
        this.label,
        `${where} do not hash to the run digest the bundle gives`,
        'the bundle was written against other content under that digest, or the store is damaged',
      );
    }
    this.index.addFrom(base.pieces, first, count);
    for (const s of spans) await this.emit(s);
  }
}

/** The bases of `claim` that `lookup` does not find. */
export async function missingBases(claim: DeltaClaim, lookup: BaseLookup): Promise<string[]> {
  const out: string[] = [];
  for (const b of claim.base) if (!(await lookup(b.digest))) out.push(b.digest);
  return out;
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
