import { loadAddon } from '../io/addon.js';
import type { Hasher } from './hash.js';

/** BLAKE3's chunk: a subtree's place in the tree is counted in these. */
const CHUNK = 1024;

/**
 * A content's BLAKE3 put together from whole subtrees hashed on any thread (native/pieces.c). One
 * thread hashing a whole image in order was the longest task left in import; the content's aligned
 * blocks (decompressed frames, a delta's output blocks) are whole subtrees of its tree, so workers
 * hash them where the bytes already are, and the hasher only merges their values, in order.
 */
export interface TreeEngine {
  /** The pair of chaining values of `data` as the subtree at content byte `offset`; undefined when it is not a whole, aligned one. */
  subtree(data: Uint8Array, offset: number): Uint8Array | undefined;
  create(): TreeHasher;
}

export interface TreeHasher extends Hasher {
  /**
   * Adds `length` bytes at `offset` by the pair `subtree` gave for them. False, changing nothing,
   * when the content hashed so far does not end at `offset` on a chunk boundary: then the bytes
   * themselves are to be given to `update`.
   */
  push(pair: Uint8Array, offset: number, length: number): boolean;
}

export function nativeTreeEngine(): TreeEngine {
  const mod = loadAddon();
  return {
    subtree(data, offset) {
      const pair = new Uint8Array(64);
      return offset % CHUNK === 0 && mod.subtree(data, offset / CHUNK, pair) ? pair : undefined;
    },
    create() {
      // The state is the C struct itself, kept in a buffer of its own here (it holds no pointers).
      const state = new Uint8Array(mod.treeStateBytes);
      mod.treeInit(state);
      return {
        update: (data) => mod.treeUpdate(state, data),
        push: (pair, offset, length) => offset % CHUNK === 0 && length % CHUNK === 0 && mod.treePush(state, pair, offset / CHUNK, length / CHUNK),
        digest() {
          const out = new Uint8Array(32);
          mod.treeDigest(state, out);
          return out;
        },
      };
    },
  };
}

/** A content's hasher: one that takes subtrees too, where the engines have it. */
export type ContentHasher = Hasher & Partial<Pick<TreeHasher, 'push'>>;
