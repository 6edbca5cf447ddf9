/**
 * A commit whose answer is lost: the request reached etcd (or did not) and the connection failed
 * before the reply. The fence key settles which, against a real member; the lost replies are
 * injected at the client, where a network would lose them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ITxnRequest } from 'etcd3';
import { EtcdCluster, START_HOOK_MS } from '../../../spec/etcd-cluster.js';
import type { EtcdCatalog } from '../../../src/store/backend/etcd/catalog.js';
import { createNodes, listNodes } from '../../../src/store/catalog/nodes.js';
import { parseEtcdUrl } from '../../../src/store/location.js';
import { Store } from '../../../src/store/store.js';

const { GRPCUnavailableError } = createRequire(import.meta.url)('etcd3') as typeof import('etcd3');

let dir: string;
let cluster: EtcdCluster;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-etcd-fence-'));
  cluster = await EtcdCluster.start(join(dir, 'etcd'), 1);
}, START_HOOK_MS);
afterAll(async () => {
  cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A store whose next commit's reply is lost: after etcd applied it, or before it got there. */
async function losing(when: 'after' | 'before'): Promise<{ store: Store; sent: ITxnRequest[] }> {
  const store = await Store.open(parseEtcdUrl(cluster.url(`fence-${when}`, join(dir, `blobs-${when}`)), {}, dir), 'write');
  const kv = (store.catalog as EtcdCatalog).client.kv;
  const real = kv.txn.bind(kv);
  const sent: ITxnRequest[] = [];
  let armed = true;
  kv.txn = async (req, opts) => {
    // Only a commit carries a fence put; pins, claims and the fence check itself pass.
    const isCommit = req.success?.some((op) => op.request_put?.value?.toString() === 'committed');
    if (!armed || !isCommit) return real(req, opts);
    armed = false;
    sent.push(req);
    if (when === 'after') await real(req, opts);
    throw new GRPCUnavailableError('connection reset before the reply');
  };
  return { store, sent };
}

describe('a commit whose reply is lost', () => {
  it('is found to have committed when it did, and reports success once', async () => {
    const { store } = await losing('after');
    try {
      await expect(createNodes(store, ['f0'])).resolves.toHaveLength(1);
      expect((await listNodes(store, {})).map((n) => n.name)).toEqual(['f0']);
    } finally {
      await store.close();
    }
  });

  it('is fenced off when it did not: a clear error, nothing committed, and the request can never land later', async () => {
    const { store, sent } = await losing('before');
    try {
      await expect(createNodes(store, ['f1'])).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(await listNodes(store, {})).toEqual([]);
      // The same request, delivered late (a retransmission), fails its fence compare.
      const late = await (store.catalog as EtcdCatalog).client.kv.txn(sent[0]!);
      expect(late.succeeded).toBe(false);
      expect(await listNodes(store, {})).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
