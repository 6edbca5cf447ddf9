import { DELTA_CHUNKER, cutLength } from '../../format/cdc.js';
import { PieceListBuilder, type PieceList, type PieceSink } from '../../format/pieces.js';
import type { Candidates, PieceEngine } from '../engine/pieces.js';

/**
 * Cuts content into the delta chunker's pieces as it streams past, and keeps each piece's length
 * and BLAKE3: a blob's chunk index, built while the blob is written. It holds back at most one
 * maximum piece between calls, because a cut looks that far ahead.
 */
export class PieceCutter<S extends PieceSink = PieceListBuilder> {
  private carry: Uint8Array = new Uint8Array(0);

  /** The pieces go to `sink` as they are cut: a list in memory unless another is given. */
  constructor(
    private readonly pieces: PieceEngine,
    readonly sink: S = new PieceListBuilder() as PieceSink as S,
  ) {}

  /**
   * The next block of content. With `candidates` (its pieces as a worker cut them from the
   * block's first byte), only the cuts from the held-back bytes up to where the real cuts meet
   * the candidates are made here: from that cut on, each candidate is a real piece, because
   * where a piece ends depends on its own bytes alone.
   */
  update(data: Uint8Array, candidates?: Candidates): void {
    if (candidates && candidates.cuts.length && this.stitch(data, candidates)) return;
    const buf = this.carry.length ? joined(this.carry, data) : data;
    this.carry = this.cut(buf, false);
  }

  /** Cuts from the held-back bytes into `data` until a cut meets a candidate; false if none does nearby. */
  private stitch(data: Uint8Array, c: Candidates): boolean {
    const max = DELTA_CHUNKER.max;
    const off = this.carry.length;
    const window = off ? joined(this.carry, data.subarray(0, Math.min(data.length, STITCH_WINDOW))) : data.subarray(0, 0);
    const mine: number[] = [];
    let met = off === 0 ? 0 : -1;
    let at = 0;
    let k = 0;
    while (met < 0 && window.length - at > max) {
      const n = cutLength(window, at, window.length, DELTA_CHUNKER);
      mine.push(n);
      at += n;
      const pos = at - off;
      if (pos === 0) met = 0;
      else if (pos > 0) {
        while (k < c.cuts.length && c.cuts[k]! < pos) k++;
        if (k < c.cuts.length && c.cuts[k] === pos) met = pos;
      }
    }
    if (met < 0) return false;
    const digests = this.pieces.digests(window, Uint32Array.from(mine));
    mine.forEach((n, i) => this.sink.add(n, digests.subarray(i * 32, i * 32 + 32)));
    this.carry = data.slice(this.take(c, met));
    return true;
  }

  /** Adds the candidates that end after `from`, which is where one begins; returns where the last ends. */
  private take(c: Candidates, from: number): number {
    let end = from;
    for (let i = 0; i < c.cuts.length; i++) {
      const cut = c.cuts[i]!;
      if (cut <= from) continue;
      this.sink.add(cut - (i === 0 ? 0 : c.cuts[i - 1]!), c.digests.subarray(i * 32, i * 32 + 32));
      end = cut;
    }
    return end;
  }

  /** Cuts what is held back: every piece of what was given is then in the sink. */
  end(): S {
    this.cut(this.carry, true);
    this.carry = new Uint8Array(0);
    return this.sink;
  }

  /** The pieces of everything given, in memory, with `digest` the whole content's BLAKE3. */
  finish(this: PieceCutter<PieceListBuilder>, digest: Uint8Array): PieceList {
    return this.end().finish(digest);
  }

  /** Cuts `buf` while a whole lookahead remains (or to its end when `last`); returns what is left. */
  private cut(buf: Uint8Array, last: boolean): Uint8Array {
    return buf.slice(this.take(this.pieces.candidates(buf, last), 0));
  }
}

/** How far into a block the stitcher looks for the meeting cut before cutting the block itself. */
const STITCH_WINDOW = 1 << 17;

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
