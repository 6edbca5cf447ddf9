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
  // Every piece but a last one has at least the minimum length. The digests go straight into
  // one array: kept as an array of small ones until the block was done, they outlived the young
  // generation, and the heaps grew with the blob.
  const most = Math.floor(data.length / DELTA_CHUNKER.min) + 1;
  const cuts = new Uint32Array(most);
  const digests = new Uint8Array(most * 32);
  let n = 0;
  let at = 0;
  while (data.length - at > lookahead) {
    const len = cutLength(data, at, data.length, DELTA_CHUNKER);
    digests.set(hash.digestOf([data.subarray(at, at + len)]), n * 32);
    at += len;
    cuts[n++] = at;
  }
  return { cuts: cuts.slice(0, n), digests: digests.slice(0, n * 32) };
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
