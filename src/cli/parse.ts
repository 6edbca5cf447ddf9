import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../format/constants.js';
import { BootportError } from '../format/errors.js';

/** A command line that cannot be run: exit 2. */
export function usage(message: string, hint?: string): BootportError {
  return new BootportError('ERR_USAGE', message, {}, hint);
}

const UNITS: Record<string, number> = { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 };

/** "4M", "4MiB", "65536": binary units, because chunk sizes are powers of two. */
export function parseSize(v: string): number {
  const m = /^(\d+)\s*([KMG]?)(?:i?B)?$/i.exec(v.trim());
  if (!m) throw usage(`${JSON.stringify(v)} is not a size`, 'write it as 4M, 64K or a number of bytes');
  const n = Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1);
  if (!Number.isSafeInteger(n)) throw usage(`${v} is too large`);
  return n;
}

/** A chunk size the format accepts, checked here so a bad flag is a usage error, not a bad bundle. */
export function parseChunkSize(v: string): number {
  const n = parseSize(v);
  if (n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE || (n & (n - 1)) !== 0) {
    throw usage(`--chunk-size ${v} must be a power of two from 64K to 16M`);
  }
  return n;
}

export function parseIntOption(v: string, what: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw usage(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}
