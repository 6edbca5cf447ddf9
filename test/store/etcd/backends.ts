/**
 * The two catalog backends, for suites that must hold on both: SQLite in the store directory,
 * and etcd on a real three-member cluster with the blobs in a directory beside it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { parseEtcdUrl, type StoreLocation } from '../../../src/store/location.js';
import { Store, type StoreMode, type StoreOptions } from '../../../src/store/store.js';
import { EtcdCluster, START_HOOK_MS } from '../../../spec/etcd-cluster.js';

export interface Backend {
  name: 'sqlite' | 'etcd';
  /** A new, empty store's location (for the CLI: `--store` takes it as it is). */
  fresh(dir: string): string;
  open(location: string, mode: StoreMode, opts?: StoreOptions): Promise<Store>;
}

/** Both backends; the etcd cluster is started before the suite and stopped after it. */
export function backends(): Backend[] {
  let cluster: EtcdCluster | undefined;
  beforeAll(async () => {
    cluster = await EtcdCluster.start(mkdtempSync(join(tmpdir(), 'bootport-etcd-')));
  }, START_HOOK_MS);
  afterAll(() => {
    cluster?.stop();
    if (cluster) rmSync(cluster.dir, { recursive: true, force: true });
  });
  const open = (location: string, mode: StoreMode, opts?: StoreOptions) => Store.open(locationOf(location, '/'), mode, opts);
  return [
    { name: 'sqlite', fresh: (d) => join(d, `store-${randomBytes(4).toString('hex')}`), open },
    {
      name: 'etcd',
      fresh: (d) => cluster!.url(`t${randomBytes(4).toString('hex')}`, join(d, `blobs-${randomBytes(4).toString('hex')}`)),
      open,
    },
  ];
}

export function locationOf(location: string, cwd: string): StoreLocation {
  return location.startsWith('etcd://') ? parseEtcdUrl(location, {}, cwd) : { kind: 'sqlite', dir: location };
}
