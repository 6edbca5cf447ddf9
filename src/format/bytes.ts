import { bundleError, type ErrorLocation } from './errors.js';

/** Little-endian field access over a Uint8Array, with 64-bit values checked into safe integers. */
export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Reads a u64 and refuses anything a JS number cannot hold exactly, so no later arithmetic on
 * it can silently round (the length-overflow class of bugs).
 */
export function readU64(dv: DataView, at: number, what: string, loc: ErrorLocation = {}): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw bundleError('ERR_BUNDLE_LIMIT', `${what} is ${v}, larger than 2^53-1`, loc);
  }
  return Number(v);
}

export function writeU64(dv: DataView, at: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 field out of range: ${v}`);
  dv.setBigUint64(at, BigInt(v), true);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += HEX[x];
  return s;
}

/** The OCI-registered spelling of a BLAKE3 digest. */
/** The bytes of an even-length run of hex digits (callers check the spelling first). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function digestString(d: Uint8Array): string {
  return `blake3:${toHex(d)}`;
}

export const DIGEST_RE = /^blake3:[0-9a-f]{64}$/;

export function isAllZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/**
 * `b` itself when it spans its whole ArrayBuffer, else a copy. A view into a larger buffer must
 * not be kept (it pins the rest) nor transferred to a worker (that would detach the rest).
 */
export function standalone(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : copyOf(b);
}

/**
 * A copy of `b[start, end)` in a new buffer. Not `b.slice()`: on a Node Buffer that is a view of
 * the same memory, and a view that is kept pins the whole source piece, or, transferred to a
 * worker, detaches the caller's buffer.
 */
export function copyOf(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}
