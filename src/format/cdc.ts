/**
 * Content-defined chunking (FastCDC with normalized chunking, Xia et al., USENIX ATC 2016): cut
 * points come from the content itself, a rolling gear hash over the bytes since the last cut,
 * so an insertion or a deletion moves only the cuts near it and every later chunk keeps its
 * bytes, and its digest. What delta export matches chunks by (issue 13).
 *
 * The gear table and the masks are fixed here for good: the chunk indexes of two stores match
 * only if both cut the same way, so any change to them is a new chunking, under a new name.
 */
export interface CdcParams {
  min: number;
  avg: number;
  max: number;
}

/**
 * The chunking of store chunk indexes, inventories and delta bundles, by the name FORMAT.md gives
 * it. Small pieces, because an update touches hundreds of small files spread through an image
 * and each touched piece travels whole: bench/RESULTS.md ("Delta export") has the sweep.
 */
export const DELTA_CHUNKER = { name: 'bootport-cdc-1', min: 1024, avg: 4096, max: 16384 } as const;

/**
 * The gear table: 256 words from SplitMix64 seeded with the ASCII bytes of "bootport" as a
 * big-endian number, each the high 32 bits of one output.
 */
export const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256);
  let x = 0x626f6f74706f7274n;
  const M = (1n << 64n) - 1n;
  for (let i = 0; i < 256; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & M;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    z ^= z >> 31n;
    t[i] = Number(z >> 32n);
  }
  return t;
})();

/**
 * A mask of `bits` one-bits at the top of a 32-bit word: the top bits of the gear hash depend on
 * the last 32 bytes, the window the cut is decided on.
 */
function topMask(bits: number): number {
  return bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export function checkParams(p: CdcParams): void {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(p.avg) || p.avg < 256 || p.avg > 1 << 28) throw new RangeError(`the average chunk size must be a power of two from 256 B to 256 MiB, not ${p.avg}`);
  if (!(Number.isInteger(p.min) && p.min >= 64 && p.min < p.avg && Number.isInteger(p.max) && p.max > p.avg && p.max <= 1 << 30))
    throw new RangeError(`chunk sizes must satisfy 64 <= min < avg < max <= 1 GiB, not ${p.min}/${p.avg}/${p.max}`);
}

/**
 * The length of the chunk that starts at `data[start]`, given that `data[start, end)` is every
 * byte there is to look at: at least `min` bytes (unless fewer remain) and at most `max`. Before
 * `avg` bytes a cut needs two more zero bits of the hash than after, which pulls chunk sizes
 * towards the average (FastCDC's normalization, level 2).
 */
export function cutLength(data: Uint8Array, start: number, end: number, p: CdcParams): number {
  const n = Math.min(end - start, p.max);
  if (n <= p.min) return n;
  const bits = Math.log2(p.avg);
  // All in signed 32-bit arithmetic, the same bits as the unsigned hash: V8 keeps it in integer
  // registers, where unsigned words above 2^31 made it fall back to floating point.
  const maskS = topMask(bits + 2) | 0;
  const maskL = topMask(bits - 2) | 0;
  const normalEnd = start + Math.min(n, p.avg);
  const stop = start + n;
  let h = 0;
  let i = start + p.min;
  for (; i < normalEnd; i++) {
    h = ((h << 1) + GEAR_I32[data[i]!]!) | 0;
    if ((h & maskS) === 0) return i + 1 - start;
  }
  for (; i < stop; i++) {
    h = ((h << 1) + GEAR_I32[data[i]!]!) | 0;
    if ((h & maskL) === 0) return i + 1 - start;
  }
  return n;
}

/** GEAR's words as signed integers, for `cutLength`. */
const GEAR_I32 = new Int32Array(GEAR.buffer, GEAR.byteOffset, GEAR.length);
