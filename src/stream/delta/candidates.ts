import { DELTA_CHUNKER, cutLength } from '../../format/cdc.js';
import type { HashEngine } from '../engine/hash.js';

/**
 * The delta chunker's pieces of one block, cut as if a piece began at its first byte: what a
 * worker computes beside decompressing the block, so that cutting runs on every core. Only the
 * cuts the block decides alone are made (each needs a whole maximum piece after its start); the
 * rest of the block is left to the stitcher, which also finds where the real cuts, coming from
 * the blocks before, meet these (see PieceCutter).
 */
export interface Candidates {
  /** End offset of each piece in the block; piece 0 starts at 0. */
  cuts: Uint32Array;
  /** The pieces' BLAKE3s, 32 bytes each. */
  digests: Uint8Array;
}

/** With `toEnd`, the block is the end of the content, and is cut to its last byte. */
export function candidatePieces(hash: HashEngine, data: Uint8Array, toEnd = false): Candidates {
  const lookahead = toEnd ? 0 : DELTA_CHUNKER.max;
  const cuts: number[] = [];
  const digests: Uint8Array[] = [];
  let at = 0;
  while (data.length - at > lookahead) {
    const n = cutLength(data, at, data.length, DELTA_CHUNKER);
    digests.push(hash.digestOf([data.subarray(at, at + n)]));
    at += n;
    cuts.push(at);
  }
  const d = new Uint8Array(digests.length * 32);
  digests.forEach((x, i) => d.set(x, i * 32));
  return { cuts: Uint32Array.from(cuts), digests: d };
}

/** The BLAKE3 of each of the pieces `data` holds one after another, of these `lengths`: 32 bytes each. */
export function pieceDigests(hash: HashEngine, data: Uint8Array, lengths: Uint32Array): Uint8Array {
  const out = new Uint8Array(lengths.length * 32);
  let at = 0;
  lengths.forEach((n, i) => {
    out.set(hash.digestOf([data.subarray(at, at + n)]), i * 32);
    at += n;
  });
  return out;
}
