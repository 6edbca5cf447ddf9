import { equalBytes, readU64, toHex, view, writeU64 } from './bytes.js';
import { DELTA_CHUNKER } from './cdc.js';
import { DIGEST_SIZE } from './constants.js';
import { BootportError } from './errors.js';

/**
 * Piece lists: a blob cut by the delta chunker, as the store keeps it beside the blob (a *chunk
 * index*, with each piece's whole BLAKE3) and as an inventory carries it to the source cluster
 * (with the first 16 bytes of each: enough to find a match, while the whole digest a delta
 * bundle carries is what the target checks). FORMAT.md, "Chunk indexes and inventories".
 */

export const INDEX_MAGIC = Uint8Array.of(0x89, 0x42, 0x50, 0x49, 0x0d, 0x0a, 0x1a, 0x0a); // \x89 B P I \r \n ^Z \n
export const INVENTORY_MAGIC = Uint8Array.of(0x89, 0x42, 0x50, 0x48, 0x0d, 0x0a, 0x1a, 0x0a); // \x89 B P H \r \n ^Z \n
export const PIECES_VERSION = 1;
export const INVENTORY_KEY = 16;
export const MAX_INVENTORY_BLOBS = 1 << 16;
export const INDEX_HEADER = 64;
const BLOB_HEADER = 48;

type Hash = (parts: readonly Uint8Array[]) => Uint8Array;

/** One blob's pieces in order: each a length and a digest (whole, or its first 16 bytes). */
export class PieceList {
  private offsets: Float64Array | undefined;
  private readonly dv: DataView;

  constructor(
    readonly digest: Uint8Array,
    readonly size: number,
    readonly count: number,
    /** `count` records of a u32 length and `keyBytes` of digest. */
    readonly records: Uint8Array,
    readonly keyBytes: number,
  ) {
    this.dv = view(records);
  }

  private get stride(): number {
    return 4 + this.keyBytes;
  }

  lengthAt(i: number): number {
    return this.dv.getUint32(i * this.stride, true);
  }

  /** The first four bytes of piece `i`'s digest, as a little-endian word: a ready-made hash key. */
  keyWord(i: number): number {
    return this.dv.getUint32(i * this.stride + 4, true);
  }

  /** Whether piece `i`'s digest begins with the bytes this list keeps of the digest at `digests[from]`. */
  sameKey(i: number, digests: Uint8Array, from = 0): boolean {
    const r = this.records;
    const at = i * this.stride + 4;
    for (let k = 0; k < this.keyBytes; k++) if (r[at + k] !== digests[from + k]) return false;
    return true;
  }

  digestAt(i: number): Uint8Array {
    const at = i * this.stride + 4;
    return this.records.subarray(at, at + this.keyBytes);
  }

  offsetAt(i: number): number {
    return this.table()[i]!;
  }

  /** The piece that starts at `offset`, or -1 if no piece does. */
  pieceAt(offset: number): number {
    const t = this.table();
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.count && t[lo] === offset ? lo : -1;
  }

  private table(): Float64Array {
    if (!this.offsets) {
      const t = new Float64Array(this.count + 1);
      for (let i = 0; i < this.count; i++) t[i + 1] = t[i]! + this.lengthAt(i);
      this.offsets = t;
    }
    return this.offsets;
  }
}

/** Builds a piece list as pieces arrive; `keyBytes` of each digest are kept. */
/** Where pieces go as they are cut or copied, one after another: a list in memory, or a file. */
export interface PieceSink {
  add(length: number, digest: Uint8Array): void;
  /** Appends `count` records of another list, from its piece `first`. */
  addFrom(list: PieceList, first: number, count: number): void;
}

/** A sink that keeps nothing: for content that is checked, not kept. */
export const NO_PIECES: PieceSink = { add: () => undefined, addFrom: () => undefined };

export class PieceListBuilder implements PieceSink {
  private buf: Uint8Array;
  private dv: DataView;
  private n = 0;
  private size = 0;

  constructor(private readonly keyBytes: number = DIGEST_SIZE) {
    this.buf = new Uint8Array(1024 * (4 + keyBytes));
    this.dv = view(this.buf);
  }

  add(length: number, digest: Uint8Array): void {
    const stride = 4 + this.keyBytes;
    if ((this.n + 1) * stride > this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
      this.dv = view(grown);
    }
    this.dv.setUint32(this.n * stride, length, true);
    this.buf.set(digest.subarray(0, this.keyBytes), this.n * stride + 4);
    this.n++;
    this.size += length;
  }

  /** Appends `count` records of another list, from its piece `first`. */
  addFrom(list: PieceList, first: number, count: number): void {
    for (let i = first; i < first + count; i++) this.add(list.lengthAt(i), list.digestAt(i));
  }

  finish(digest: Uint8Array): PieceList {
    return new PieceList(digest, this.size, this.n, this.buf.slice(0, this.n * (4 + this.keyBytes)), this.keyBytes);
  }
}

function bad(what: string, msg: string): BootportError {
  return new BootportError('ERR_INVENTORY', `${what}: ${msg}`);
}

function checkList(what: string, size: number, count: number, lengths: (i: number) => number): void {
  if (count > size + 1 || count < Math.ceil(size / DELTA_CHUNKER.max)) throw bad(what, `${count} pieces cannot make ${size} bytes`);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const n = lengths(i);
    if (n < 1 || n > DELTA_CHUNKER.max) throw bad(what, `piece ${i} has ${n} bytes, outside 1..${DELTA_CHUNKER.max}`);
    sum += n;
  }
  if (sum !== size) throw bad(what, `its pieces add up to ${sum} bytes, the blob has ${size}`);
}

/** A blob's chunk index file: header, records, and a BLAKE3 over both. */
export function encodeChunkIndex(list: PieceList, hash: Hash): Uint8Array {
  if (list.keyBytes !== DIGEST_SIZE) throw new RangeError('a chunk index keeps whole digests');
  const head = encodeIndexHeader(list.digest, list.size, list.count);
  const out = new Uint8Array(INDEX_HEADER + list.records.length + DIGEST_SIZE);
  out.set(head);
  out.set(list.records, INDEX_HEADER);
  out.set(hash([out.subarray(0, INDEX_HEADER + list.records.length)]), INDEX_HEADER + list.records.length);
  return out;
}

/** The header of a chunk index file; its records follow, `INDEX_RECORD` bytes each, then the check. */
export function encodeIndexHeader(digest: Uint8Array, size: number, count: number): Uint8Array {
  const head = new Uint8Array(INDEX_HEADER);
  head.set(INDEX_MAGIC);
  const dv = view(head);
  dv.setUint16(8, PIECES_VERSION, true);
  head.set(digest, 16);
  writeU64(dv, 48, size);
  writeU64(dv, 56, count);
  return head;
}

/** One piece in a chunk index file: its length (u32) and its whole BLAKE3. */
export const INDEX_RECORD = 4 + DIGEST_SIZE;

export function decodeChunkIndex(b: Uint8Array, hash: Hash, what = 'chunk index'): PieceList {
  if (b.length < INDEX_HEADER + DIGEST_SIZE || !equalBytes(b.subarray(0, 8), INDEX_MAGIC)) throw bad(what, 'not a chunk index');
  const dv = view(b);
  if (dv.getUint16(8, true) !== PIECES_VERSION) throw bad(what, `version ${dv.getUint16(8, true)} is not supported`);
  const size = readU64(dv, 48, 'blob size');
  const count = readU64(dv, 56, 'piece count');
  const stride = 4 + DIGEST_SIZE;
  if (b.length !== INDEX_HEADER + count * stride + DIGEST_SIZE)
    throw bad(what, `holds ${b.length} bytes, ${count} pieces need ${INDEX_HEADER + count * stride + DIGEST_SIZE}`);
  const end = b.length - DIGEST_SIZE;
  if (!equalBytes(hash([b.subarray(0, end)]), b.subarray(end))) throw bad(what, 'its check digest does not match: the file is damaged');
  const records = b.subarray(INDEX_HEADER, end);
  const rv = view(records);
  checkList(what, size, count, (i) => rv.getUint32(i * stride, true));
  return new PieceList(b.slice(16, 48), size, count, records, DIGEST_SIZE);
}

/** An inventory: what a store holds, blob by blob, for a source cluster to write a delta against. */
export function encodeInventory(lists: readonly PieceList[], hash: Hash): Uint8Array {
  if (lists.length > MAX_INVENTORY_BLOBS) throw new RangeError(`an inventory holds at most ${MAX_INVENTORY_BLOBS} blobs`);
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(16);
  head.set(INVENTORY_MAGIC);
  view(head).setUint16(8, PIECES_VERSION, true);
  view(head).setUint32(12, lists.length, true);
  parts.push(head);
  for (const l of lists) {
    const bh = new Uint8Array(BLOB_HEADER);
    bh.set(l.digest);
    writeU64(view(bh), 32, l.size);
    writeU64(view(bh), 40, l.count);
    parts.push(bh);
    if (l.keyBytes === INVENTORY_KEY) parts.push(l.records);
    else {
      const b = new PieceListBuilder(INVENTORY_KEY);
      b.addFrom(l, 0, l.count);
      parts.push(b.finish(l.digest).records);
    }
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total + DIGEST_SIZE);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  out.set(hash([out.subarray(0, total)]), total);
  return out;
}

export function decodeInventory(b: Uint8Array, hash: Hash, what = 'inventory'): PieceList[] {
  if (b.length < 16 + DIGEST_SIZE || !equalBytes(b.subarray(0, 8), INVENTORY_MAGIC)) throw bad(what, 'not a bootport inventory');
  const dv = view(b);
  if (dv.getUint16(8, true) !== PIECES_VERSION) throw bad(what, `version ${dv.getUint16(8, true)} is not supported`);
  const end = b.length - DIGEST_SIZE;
  if (!equalBytes(hash([b.subarray(0, end)]), b.subarray(end))) throw bad(what, 'its check digest does not match: the file is damaged or cut short');
  const n = dv.getUint32(12, true);
  if (n > MAX_INVENTORY_BLOBS) throw bad(what, `it lists ${n} blobs, more than ${MAX_INVENTORY_BLOBS}`);
  const stride = 4 + INVENTORY_KEY;
  const lists: PieceList[] = [];
  let at = 16;
  for (let i = 0; i < n; i++) {
    if (at + BLOB_HEADER > end) throw bad(what, `it ends inside blob ${i}`);
    const size = readU64(dv, at + 32, 'blob size');
    const count = readU64(dv, at + 40, 'piece count');
    if (at + BLOB_HEADER + count * stride > end) throw bad(what, `it ends inside the pieces of blob ${i}`);
    const records = b.subarray(at + BLOB_HEADER, at + BLOB_HEADER + count * stride);
    const digest = b.slice(at, at + DIGEST_SIZE);
    const rv = view(records);
    checkList(`${what}, blob blake3:${toHex(digest)}`, size, count, (k) => rv.getUint32(k * stride, true));
    lists.push(new PieceList(digest, size, count, records, INVENTORY_KEY));
    at += BLOB_HEADER + count * stride;
  }
  if (at !== end) throw bad(what, `${end - at} bytes follow the last blob`);
  return lists;
}
