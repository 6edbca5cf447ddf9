/** The tree engine: a content's BLAKE3 from subtrees hashed apart is the BLAKE3 of the whole. */
import { describe, expect, it } from 'vitest';
import { hashWasmEngine } from '../../../src/stream/engine/hash.js';
import { nativeTreeEngine } from '../../../src/stream/engine/tree.js';
import { loadAddon, type Addon } from '../../../src/stream/io/addon.js';
import { noiseBytes } from '../../helpers.js';

const tree = nativeTreeEngine();
// The reference is hash-wasm: another implementation than the one the addon vendors.
const reference = await hashWasmEngine();

/** The digest of `data` with every whole `block` pushed as a subtree, hashed out of order, and the rest updated. */
function byBlocks(data: Uint8Array, block: number): { digest: Uint8Array; pushed: number } {
  const h = tree.create();
  const whole = Math.floor(data.length / block);
  // Pairs are computed in any order (as workers finish them) and merged in order.
  const pairs = Array.from({ length: whole }, (_, k) => whole - 1 - k).map(
    (k) => [k, tree.subtree(data.subarray(k * block, (k + 1) * block), k * block)] as const,
  );
  pairs.sort((a, b) => a[0] - b[0]);
  let pushed = 0;
  for (const [k, pair] of pairs) {
    const at = k * block;
    if (pair && h.push(pair, at, block)) pushed++;
    else h.update(data.subarray(at, at + block));
  }
  h.update(data.subarray(whole * block));
  return { digest: h.digest(), pushed };
}

describe('the tree engine', () => {
  it('gives the BLAKE3 of the whole, whatever the content length and the block size', () => {
    for (const block of [2048, 4096, 1 << 16, 1 << 20]) {
      for (const n of [0, 1, 1024, block - 1, block, block + 1, 2 * block, 3 * block + 1000, 7 * block + 1023, 8 * block, 16 * block + 5]) {
        if (n > 20 << 20) continue;
        const data = noiseBytes(n, n + block);
        const { digest, pushed } = byBlocks(data, block);
        expect(digest, `${n} bytes in blocks of ${block}`).toEqual(reference.digestOf([data]));
        expect(pushed).toBe(Math.floor(n / block));
      }
    }
  });

  it('gives no pair for bytes that are not a whole aligned subtree', () => {
    const data = noiseBytes(1 << 16, 1);
    expect(tree.subtree(data, 0)).toBeInstanceOf(Uint8Array);
    expect(tree.subtree(data, 1 << 16)).toBeInstanceOf(Uint8Array);
    // Not at a multiple of its own size, not a power of two of chunks, one chunk, or not on a chunk.
    expect(tree.subtree(data, 1 << 15)).toBeUndefined();
    expect(tree.subtree(data.subarray(0, 3072), 0)).toBeUndefined();
    expect(tree.subtree(data.subarray(0, 1024), 0)).toBeUndefined();
    expect(tree.subtree(data.subarray(0, 2000), 0)).toBeUndefined();
    expect(tree.subtree(data, 100)).toBeUndefined();
  });

  it('refuses a subtree anywhere but where the content hashed so far ends, and stays right', () => {
    const data = noiseBytes(3 << 16, 2);
    const block = 1 << 16;
    const pair = (k: number) => tree.subtree(data.subarray(k * block, (k + 1) * block), k * block)!;
    const h = tree.create();
    expect(h.push(pair(1), block, block)).toBe(false);
    h.update(data.subarray(0, 100));
    // Mid-chunk: even the right offset of a later chunk is refused.
    expect(h.push(pair(1), block, block)).toBe(false);
    h.update(data.subarray(100, block));
    expect(h.push(pair(1), block, block - 1024)).toBe(false);
    expect(h.push(pair(1), block, block)).toBe(true);
    expect(h.push(pair(1), block, block)).toBe(false);
    h.update(data.subarray(2 * block));
    expect(h.digest()).toEqual(reference.digestOf([data]));
  });

  it('refuses a call with an argument missing or of the wrong kind, naming it, rather than doing nothing', () => {
    // Called from JS as anything could call it, past the types.
    const addon = loadAddon() as unknown as Record<keyof Addon, (...a: unknown[]) => unknown>;
    expect(() => addon.treeInit()).toThrow(/state must be a Uint8Array/);
    expect(() => addon.treePush(new Uint8Array(loadAddon().treeStateBytes))).toThrow(/pair must be a Uint8Array/);
    expect(() => addon.treeDigest(new Uint8Array(8), new Uint8Array(32))).toThrow(/too small or misaligned/);
    expect(() => addon.subtree(new Uint8Array(2048), 0.5, new Uint8Array(64))).toThrow(/whole number/);
    expect(() => addon.configure(new Uint32Array(256))).toThrow(/number was expected/);
  });
});
