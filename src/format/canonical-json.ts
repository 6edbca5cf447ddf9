/**
 * Canonical JSON: object keys sorted by UTF-16 code unit (as RFC 8785), no white space, integers
 * only. One value has exactly one encoding, so a decoder can insist that re-encoding what it
 * parsed gives back the very bytes it read, and the header hash never depends on a writer's
 * formatting whims.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function canonicalStringify(v: Json): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`only safe integers are allowed in canonical JSON, got ${v}`);
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalStringify).join(',')}]`;
  // Like JSON.stringify, a key whose value is undefined is absent.
  const keys = Object.keys(v)
    .filter((k) => v[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalStringify(v[k] as Json)}`).join(',')}}`;
}
