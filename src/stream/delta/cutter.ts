import { DELTA_CHUNKER, cutLength } from '../../format/cdc.js';
import { PieceListBuilder, type PieceList } from '../../format/pieces.js';
import type { HashEngine } from '../engine/hash.js';

/**
 * Cuts content into the delta chunker's pieces as it streams past, and keeps each piece's length
 * and BLAKE3: a blob's chunk index, built while the blob is written. It holds back at most one
 * maximum piece between calls, because a cut looks that far ahead.
 */
export class PieceCutter {
  private carry: Uint8Array = new Uint8Array(0);
  private readonly list = new PieceListBuilder();

  constructor(private readonly hash: HashEngine) {}

  update(data: Uint8Array): void {
    const buf = this.carry.length ? joined(this.carry, data) : data;
    this.carry = this.cut(buf, false);
  }

  /** The pieces of everything given, with `digest` the whole content's BLAKE3. */
  finish(digest: Uint8Array): PieceList {
    this.cut(this.carry, true);
    this.carry = new Uint8Array(0);
    return this.list.finish(digest);
  }

  /** Cuts `buf` while a whole lookahead remains (or to its end when `last`); returns what is left. */
  private cut(buf: Uint8Array, last: boolean): Uint8Array {
    const max = DELTA_CHUNKER.max;
    let at = 0;
    while (buf.length - at > (last ? 0 : max)) {
      const n = cutLength(buf, at, buf.length, DELTA_CHUNKER);
      const piece = buf.subarray(at, at + n);
      this.list.add(n, this.hash.digestOf([piece]));
      at += n;
    }
    return buf.slice(at);
  }
}

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
