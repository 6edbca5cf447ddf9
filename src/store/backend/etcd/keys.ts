import { TABLE_ORDER, type Table } from '../tx.js';

/**
 * The catalog's keys in etcd, all under the store's prefix P (README, "Several head nodes"):
 *
 * ```
 * P meta                          {"format":1,"id":…}: the catalog exists, and which blob directory is its
 * P rows/<table>/<key>            a row, as JSON
 * P names/<table>/<name>          the key of the row with that name: the unique index
 * P refs/<table>/<key>            the rows that refer to this one, as a sorted JSON list of "table/key"
 * P gen/<table>                   rewritten by every change to the table's rows, names or refs
 * P sessions/<lease>              a living bootport process that may write (held by its lease)
 * P pins/<digest>/<lease>         that process is placing this blob (held by its lease)
 * P claims/<digest>               garbage collection is removing this blob's file (held by its lease)
 * P txns/<nonce>                  a commit's fence: written by the commit, or by whoever gives up on it
 * ```
 */
export const FORMAT = 1;

export const key = {
  meta: (p: string) => `${p}meta`,
  row: (p: string, t: Table, k: string) => `${p}rows/${t}/${k}`,
  name: (p: string, t: Table, n: string) => `${p}names/${t}/${n}`,
  refs: (p: string, t: Table, k: string) => `${p}refs/${t}/${k}`,
  gen: (p: string, t: Table) => `${p}gen/${t}`,
  session: (p: string, lease: string) => `${p}sessions/${lease}`,
  sessions: (p: string) => `${p}sessions/`,
  pin: (p: string, digest: string, lease: string) => `${p}pins/${digest}/${lease}`,
  pins: (p: string, digest: string) => `${p}pins/${digest}/`,
  claim: (p: string, digest: string) => `${p}claims/${digest}`,
  txn: (p: string, nonce: string) => `${p}txns/${nonce}`,
  rows: (p: string) => `${p}rows/`,
};

/** The end of the range of every key that starts with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** What a key of the catalog is: a row, a name, a refs list or a generation, of which table. */
export function familyOf(p: string, k: string): { family: 'rows' | 'names' | 'refs' | 'gen'; table: Table; rest: string } | undefined {
  if (!k.startsWith(p)) return undefined;
  const m = /^(rows|names|refs|gen)\/([a-z_]+)(?:\/(.*))?$/.exec(k.slice(p.length));
  if (!m || !(TABLE_ORDER as readonly string[]).includes(m[2]!)) return undefined;
  return { family: m[1] as 'rows' | 'names' | 'refs' | 'gen', table: m[2] as Table, rest: m[3] ?? '' };
}
