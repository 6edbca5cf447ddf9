import { isWellFormed } from './text.js';

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit (as RFC 8785), no white space, integers
 * from 0 to 2^53-1 only, and strings of Unicode scalar values (an unpaired surrogate has no UTF-8
 * form, and parsers in other languages each treat it their own way). One value has exactly one
 * encoding, so a decoder can insist that re-encoding what it parsed gives back the very bytes it
 * read, and the header hash never depends on a writer's formatting whims.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function canonicalStringify(v: Json): string {
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`only integers from 0 to 2^53-1 are allowed in canonical JSON, got ${v}`);
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalStringify).join(',')}]`;
  // Like JSON.stringify, a key whose value is undefined is absent.
  const keys = Object.keys(v)
    .filter((k) => v[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${str(k)}:${canonicalStringify(v[k] as Json)}`).join(',')}}`;
}

function str(s: string): string {
  if (!isWellFormed(s)) throw new RangeError(`string ${JSON.stringify(s.slice(0, 40))} holds an unpaired surrogate`);
  return JSON.stringify(s);
}
