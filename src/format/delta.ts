import { DIGEST_RE, copyOf, readU64, view, writeU64 } from './bytes.js';
import { DELTA_CHUNKER } from './cdc.js';
import { DIGEST_SIZE } from './constants.js';
import { bundleError, type ErrorLocation } from './errors.js';

/**
 * Delta entries (FORMAT.md, "Delta entries"): an entry whose content is a *program* that rebuilds
 * a blob from pieces carried in the bundle and runs of pieces the target already holds. The
 * records, digests, trailer and volumes are those of any entry; only what the content means
 * changes, which is why it is a required feature.
 */

export const MAX_DELTA_BASES = 16;
export const OP_DATA = 0x44; // 'D'
export const OP_REF = 0x52; // 'R'
export const DATA_OP_HEADER = 40;
export const REF_OP_SIZE = 56;
/** A run is checked whole before any of it is used, so a reader holds one: this bounds it. */
export const MAX_REF_LENGTH = 1 << 24;

export interface DeltaBase {
  digest: string;
  size: number;
}

/** The manifest's `delta` object: what the program rebuilds, and from what. */
export interface DeltaClaim {
  chunker: string;
  base: DeltaBase[];
  /** Size and digest of the content the program rebuilds. */
  size: number;
  digest: string;
  /** Bytes the program carries, and bytes it copies from bases; they add up to `size`. */
  carried: number;
  referenced: number;
}

export type DeltaOp =
  | { kind: 'data'; digest: Uint8Array; bytes: Uint8Array; at: number }
  | { kind: 'ref'; base: number; offset: number; length: number; pieces: number; digest: Uint8Array; at: number };

/** Checks the shape of a `delta` object; `bad` makes the manifest error for a message. */
export function validateDelta(v: unknown, path: string, bad: (msg: string) => Error): DeltaClaim {
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const int = (x: unknown, p: string) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw bad(`${p} must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
    return x;
  };
  const digest = (x: unknown, p: string) => {
    if (typeof x !== 'string' || !DIGEST_RE.test(x)) throw bad(`${p} must be "blake3:" and 64 lowercase hex digits`);
    return x;
  };
  if (!obj(v)) throw bad(`${path} must be an object`);
  if (!Array.isArray(v.base) || v.base.length < 1 || v.base.length > MAX_DELTA_BASES)
    throw bad(`${path}.base must be an array of 1 to ${MAX_DELTA_BASES} bases`);
  v.base.forEach((b: unknown, i: number) => {
    if (!obj(b)) throw bad(`${path}.base[${i}] must be an object`);
    digest(b.digest, `${path}.base[${i}].digest`);
    int(b.size, `${path}.base[${i}].size`);
  });
  if (v.chunker !== DELTA_CHUNKER.name) throw bad(`${path}.chunker must be ${DELTA_CHUNKER.name}`);
  const size = int(v.size, `${path}.size`);
  digest(v.digest, `${path}.digest`);
  const carried = int(v.carried, `${path}.carried`);
  const referenced = int(v.referenced, `${path}.referenced`);
  if (carried + referenced !== size) throw bad(`${path}: carried ${carried} and referenced ${referenced} bytes do not add up to its size ${size}`);
  return v as unknown as DeltaClaim;
}

export function encodeDataOpHeader(digest: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(DATA_OP_HEADER);
  out[0] = OP_DATA;
  view(out).setUint32(4, length, true);
  out.set(digest, 8);
  return out;
}

export function encodeRefOp(op: { base: number; offset: number; length: number; pieces: number; digest: Uint8Array }): Uint8Array {
  const out = new Uint8Array(REF_OP_SIZE);
  const dv = view(out);
  out[0] = OP_REF;
  out[1] = op.base;
  dv.setUint32(4, op.pieces, true);
  writeU64(dv, 8, op.offset);
  writeU64(dv, 16, op.length);
  out.set(op.digest, 24);
  return out;
}

/**
 * Parses a delta entry's program as its bytes arrive, in any pieces, holding at most one
 * operation's header and one carried piece. It checks every rule that needs no store and no
 * hashing; the caller checks carried pieces' digests (it has the hash engine) and, when it
 * rebuilds, the runs' digests.
 */
export class DeltaParser {
  private pending = new Uint8Array(REF_OP_SIZE);
  private have = 0;
  private need = 1;
  private dataHeader: { digest: Uint8Array; length: number; at: number } | undefined;
  private dataBuf: Uint8Array | undefined;
  private opStart = 0;
  /** Bytes of the program consumed so far. */
  position = 0;
  carried = 0;
  referenced = 0;

  constructor(
    private readonly claim: DeltaClaim,
    private readonly loc: ErrorLocation = {},
  ) {}

  private fail(code: 'ERR_BUNDLE_DELTA' | 'ERR_BUNDLE_SIZE_MISMATCH', msg: string): Error {
    return bundleError(code, `delta program at byte ${this.opStart}: ${msg}`, this.loc);
  }

  /** The operations completed by `data`. A carried piece's `bytes` may be a view of `data`. */
  *feed(data: Uint8Array): Generator<DeltaOp> {
    let i = 0;
    while (i < data.length) {
      if (this.dataHeader) {
        const h = this.dataHeader;
        const want = h.length - this.have;
        if (!this.dataBuf && data.length - i >= want && this.have === 0) {
          const bytes = data.subarray(i, i + want);
          i += want;
          this.position += want;
          yield this.endData(bytes);
          continue;
        }
        this.dataBuf ??= new Uint8Array(h.length);
        const n = Math.min(want, data.length - i);
        this.dataBuf.set(data.subarray(i, i + n), this.have);
        this.have += n;
        i += n;
        this.position += n;
        if (this.have === h.length) yield this.endData(this.dataBuf);
        continue;
      }
      const n = Math.min(this.need - this.have, data.length - i);
      this.pending.set(data.subarray(i, i + n), this.have);
      if (this.have === 0) this.opStart = this.position;
      this.have += n;
      i += n;
      this.position += n;
      if (this.have < this.need) continue;
      const op = this.header();
      if (op) yield op;
    }
  }

  private endData(bytes: Uint8Array): DeltaOp {
    const h = this.dataHeader!;
    this.dataHeader = undefined;
    this.dataBuf = undefined;
    this.have = 0;
    this.need = 1;
    return { kind: 'data', digest: h.digest, bytes, at: h.at };
  }

  /** A whole operation header is in `pending` (or its tag, which says how long the header is). */
  private header(): DeltaOp | undefined {
    const b = this.pending;
    const tag = b[0]!;
    if (this.need === 1) {
      if (tag !== OP_DATA && tag !== OP_REF) throw this.fail('ERR_BUNDLE_DELTA', `unknown operation tag 0x${tag.toString(16)}`);
      this.need = tag === OP_DATA ? DATA_OP_HEADER : REF_OP_SIZE;
      return undefined;
    }
    const dv = view(b);
    if (tag === OP_DATA) {
      if (b[1] !== 0 || b[2] !== 0 || b[3] !== 0) throw this.fail('ERR_BUNDLE_DELTA', 'non-zero reserved bytes in a data operation');
      const length = dv.getUint32(4, true);
      if (length < 1 || length > DELTA_CHUNKER.max)
        throw this.fail('ERR_BUNDLE_DELTA', `a carried piece of ${length} bytes is outside 1..${DELTA_CHUNKER.max}`);
      this.carried += length;
      if (this.carried > this.claim.carried)
        throw this.fail('ERR_BUNDLE_SIZE_MISMATCH', `carries more than the ${this.claim.carried} bytes the manifest declares`);
      this.dataHeader = { digest: copyOf(b, 8, 8 + DIGEST_SIZE), length, at: this.opStart };
      this.have = 0;
      return undefined;
    }
    const base = b[1]!;
    if (b[2] !== 0 || b[3] !== 0) throw this.fail('ERR_BUNDLE_DELTA', 'non-zero reserved bytes in a reference');
    const at = { offset: this.loc.offset };
    const pieces = dv.getUint32(4, true);
    const offset = readU64(dv, 8, 'reference offset', at);
    const length = readU64(dv, 16, 'reference length', at);
    const digest = copyOf(b, 24, 24 + DIGEST_SIZE);
    const from = this.claim.base[base];
    if (!from) throw this.fail('ERR_BUNDLE_DELTA', `a reference to base ${base}, of ${this.claim.base.length}`);
    if (length < 1 || length > MAX_REF_LENGTH) throw this.fail('ERR_BUNDLE_DELTA', `a reference of ${length} bytes is outside 1..${MAX_REF_LENGTH}`);
    if (offset + length > from.size) throw this.fail('ERR_BUNDLE_DELTA', `a reference to bytes ${offset}..${offset + length} of a base of ${from.size} bytes`);
    if (pieces < Math.ceil(length / DELTA_CHUNKER.max) || pieces > length)
      throw this.fail('ERR_BUNDLE_DELTA', `a reference of ${length} bytes cannot hold ${pieces} pieces`);
    this.referenced += length;
    if (this.referenced > this.claim.referenced)
      throw this.fail('ERR_BUNDLE_SIZE_MISMATCH', `references more than the ${this.claim.referenced} bytes the manifest declares`);
    this.have = 0;
    this.need = 1;
    return { kind: 'ref', base, offset, length, pieces, digest, at: this.opStart };
  }

  /** At the end of the entry: no operation left open, and the totals the manifest declares. */
  finish(): void {
    this.opStart = this.position;
    if (this.have > 0 || this.dataHeader) throw this.fail('ERR_BUNDLE_DELTA', 'the program ends inside an operation');
    if (this.carried !== this.claim.carried || this.referenced !== this.claim.referenced) {
      throw this.fail(
        'ERR_BUNDLE_SIZE_MISMATCH',
        `carries ${this.carried} and references ${this.referenced} bytes, the manifest declares ${this.claim.carried} and ${this.claim.referenced}`,
      );
    }
  }
}
