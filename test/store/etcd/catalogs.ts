/** A catalog of its own in a shared test cluster, and the CLI run against it. */
import { join } from 'node:path';
import { expect } from 'vitest';
import type { EtcdCluster } from '../../../spec/etcd-cluster.js';
import { bp, type Run } from '../helpers.js';

export interface TestCatalog {
  id: string;
  url: string;
  blobs: string;
  run: (args: string[], opts?: { timeoutMs?: number }) => Promise<Run>;
  /** Runs bootport and fails the test unless it exits 0. */
  ok: (args: string[]) => Promise<Run>;
}

/** A new catalog under the prefix `id`, with its blobs in `dir/<id>-blobs`; `extra` is more of the URL's query. */
export function newCatalog(cluster: EtcdCluster, dir: string, id: string, extra = ''): TestCatalog {
  const blobs = join(dir, `${id}-blobs`);
  const url = cluster.url(id, blobs, extra);
  const run = (args: string[], opts: { timeoutMs?: number } = {}) => bp([...args, '--store', url], { cwd: dir, ...opts });
  const ok = async (args: string[]) => {
    const r = await run(args);
    if (r.code !== 0) throw new Error(`bootport ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r;
  };
  return { id, url, blobs, run, ok };
}

export const json = <T>(r: Run) => JSON.parse(r.stdout) as T;

/** fsck of the catalog and the blob directory, which must be clean. */
export async function expectClean(c: TestCatalog): Promise<void> {
  const r = await c.run(['fsck', '--json']);
  expect(json<{ findings: unknown[] }>(r).findings, r.stdout).toEqual([]);
  expect(r.code).toBe(0);
}
