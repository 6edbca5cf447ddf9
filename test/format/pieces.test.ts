/** Chunk index and inventory files: exact round trips, and damage refused with ERR_INVENTORY. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBootportError } from '../../src/format/errors.js';
import { decodeChunkIndex, decodeInventory, encodeChunkIndex, encodeInventory, PieceListBuilder, type PieceList } from '../../src/format/pieces.js';

// Not BLAKE3, and need not be: these files carry whatever digest their callers give them.
const hash = (parts: readonly Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

function list(lengths: number[], seed: number): PieceList {
  const b = new PieceListBuilder();
  lengths.forEach((n, i) => b.add(n, hash([Uint8Array.of(seed, i)])));
  return b.finish(hash([Uint8Array.of(seed)]));
}

const code = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return isBootportError(e) ? e.code : String(e);
  }
};

describe('piece files', () => {
  it('a chunk index round-trips, with offsets and lookups by offset', () => {
    const l = list([1024, 5000, 16384, 7], 1);
    const back = decodeChunkIndex(encodeChunkIndex(l, hash), hash);
    expect([back.size, back.count]).toEqual([22415, 4]);
    expect([0, 1, 2, 3].map((i) => [back.lengthAt(i), back.offsetAt(i)])).toEqual([
      [1024, 0],
      [5000, 1024],
      [16384, 6024],
      [7, 22408],
    ]);
    expect(back.digestAt(2)).toEqual(l.digestAt(2));
    expect([back.pieceAt(6024), back.pieceAt(6025), back.pieceAt(22415)]).toEqual([2, -1, -1]);
  });

  it('an inventory keeps 16 bytes of each digest, and round-trips', () => {
    const inv = decodeInventory(encodeInventory([list([2000, 3000], 1), list([], 2)], hash), hash);
    expect(inv.map((l) => [l.size, l.count, l.keyBytes])).toEqual([
      [5000, 2, 16],
      [0, 0, 16],
    ]);
    expect(inv[0]!.digestAt(1)).toEqual(list([2000, 3000], 1).digestAt(1).subarray(0, 16));
  });

  it('refuses a flipped byte, a cut, a piece out of bounds and another file', () => {
    const good = encodeChunkIndex(list([1024, 5000], 1), hash);
    const flipped = good.slice();
    flipped[70] = flipped[70]! ^ 1;
    expect(code(() => decodeChunkIndex(flipped, hash))).toBe('ERR_INVENTORY');
    expect(code(() => decodeChunkIndex(good.subarray(0, good.length - 1), hash))).toBe('ERR_INVENTORY');
    expect(code(() => decodeChunkIndex(encodeChunkIndex(list([16385], 1), hash), hash))).toBe('ERR_INVENTORY');
    expect(code(() => decodeInventory(good, hash))).toBe('ERR_INVENTORY');
    const inv = encodeInventory([list([1024], 1)], hash);
    expect(code(() => decodeInventory(inv.subarray(0, inv.length - 5), hash))).toBe('ERR_INVENTORY');
  });
});
