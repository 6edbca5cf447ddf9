import { DELTA_CHUNKER, GEAR, cutLength } from '../../format/cdc.js';
import type { HashEngine } from './hash.js';
import { loadAddon } from '../io/addon.js';

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

/** Where the pieces of a chunk index are cut and hashed. Every engine cuts and hashes the same. */
export interface PieceEngine {
  readonly name: string;
  /** The block's candidate pieces; with `toEnd`, the block is the end of the content, and is cut to its last byte. */
  candidates(data: Uint8Array, toEnd?: boolean): Candidates;
  /** The BLAKE3 of each of the pieces `data` holds one after another, of these `lengths`: 32 bytes each. */
  digests(data: Uint8Array, lengths: Uint32Array): Uint8Array;
}

/** Every piece but a last one has at least the minimum length: the most a block can hold. */
const mostPieces = (data: Uint8Array) => Math.floor(data.length / DELTA_CHUNKER.min) + 1;

/** Room for the cuts and digests of the most pieces a block can hold. */
function room(data: Uint8Array): { cuts: Uint32Array; digests: Uint8Array } {
  const most = mostPieces(data);
  return { cuts: new Uint32Array(most), digests: new Uint8Array(most * 32) };
}

/** The chunker of format/cdc.ts run in JS, each piece hashed by one call to `hash`. */
export function jsPieceEngine(hash: HashEngine): PieceEngine {
  return {
    name: `js+${hash.name}`,
    candidates(data, toEnd = false) {
      const lookahead = toEnd ? 0 : DELTA_CHUNKER.max;
      // The digests go straight into one array: kept as an array of small ones until the block
      // was done, they outlived the young generation, and the heaps grew with the blob.
      const { cuts, digests } = room(data);
      let n = 0;
      let at = 0;
      while (data.length - at > lookahead) {
        const len = cutLength(data, at, data.length, DELTA_CHUNKER);
        digests.set(hash.digestOf([data.subarray(at, at + len)]), n * 32);
        at += len;
        cuts[n++] = at;
      }
      return { cuts: cuts.slice(0, n), digests: digests.slice(0, n * 32) };
    },
    digests(data, lengths) {
      const out = new Uint8Array(lengths.length * 32);
      let at = 0;
      lengths.forEach((n, i) => {
        out.set(hash.digestOf([data.subarray(at, at + n)]), i * 32);
        at += n;
      });
      return out;
    },
  };
}

/** The name of the native engine, as workers are told it. */
export const NATIVE_PIECES = 'bootport-pieces';

/**
 * native/pieces.c, built by `npm ci` (binding.gyp): the same cuts in C, and the pieces of a block
 * hashed together through BLAKE3's SIMD kernel. Throws if it was not built or cannot load.
 */
export function nativePieceEngine(): PieceEngine {
  const mod = loadAddon();
  mod.configure(GEAR, DELTA_CHUNKER.min, DELTA_CHUNKER.avg, DELTA_CHUNKER.max);
  // Cut into once per thread and copied out at the size found. A new pair per block was garbage
  // that nothing else here prompted the collector for: the workers allocate almost nothing on
  // their heaps now, and import's peak grew with the bundle.
  let scratch = room(new Uint8Array(0));
  return {
    name: NATIVE_PIECES,
    candidates(data, toEnd = false) {
      if (scratch.cuts.length < mostPieces(data)) scratch = room(data);
      const { cuts, digests } = scratch;
      const n = mod.candidates(data, toEnd ? 0 : DELTA_CHUNKER.max, cuts, digests);
      return { cuts: cuts.slice(0, n), digests: digests.slice(0, n * 32) };
    },
    digests(data, lengths) {
      const out = new Uint8Array(lengths.length * 32);
      mod.digests(data, lengths, out);
      return out;
    },
  };
}
