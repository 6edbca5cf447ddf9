import { randomBytes } from 'node:crypto';
import { BootportError } from '../../../format/errors.js';
import { createDirs, listDir, probeStore, storePaths, writeLayout } from '../../layout.js';
import type { EtcdLocation } from '../../location.js';
import { EtcdCatalog } from './catalog.js';
import { connect } from './client.js';
import { FORMAT, key } from './keys.js';

/**
 * Connects to the etcd catalog and checks that the blob directory is its own. A prefix with no
 * catalog is created only when the directory holds no blobs: a wrong prefix must never make a
 * full blob directory look orphaned, and a wrong mount must never look like a catalog whose
 * files are all gone. The directory's layout file records the catalog's id for this check.
 */
export async function openEtcdStore(loc: EtcdLocation, mode: 'read' | 'write', timeoutMs: number): Promise<{ dir: string; catalog: EtcdCatalog }> {
  const catalog = new EtcdCatalog(connect(loc), loc, mode === 'write', timeoutMs);
  try {
    await check(catalog, loc, mode);
  } catch (e) {
    await catalog.close();
    throw e;
  }
  return { dir: loc.dir, catalog };
}

async function check(catalog: EtcdCatalog, loc: EtcdLocation, mode: 'read' | 'write'): Promise<void> {
  const p = storePaths(loc.dir);
  const state = probeStore(loc.dir);
  let meta = await catalog.meta();
  if (meta && meta.format > FORMAT)
    throw new BootportError(
      'ERR_STORE',
      `the catalog at ${loc.display} has format ${meta.format}, newer than this bootport's ${FORMAT}`,
      {},
      'use a newer bootport',
    );
  if (state.kind === 'store' && state.catalog === undefined)
    throw new BootportError(
      'ERR_STORE',
      `${loc.dir} is a store with its own SQLite catalog, not a blob directory for etcd`,
      {},
      'copy it into etcd with bootport store migrate',
    );
  if (!meta) {
    if (state.kind === 'store' && listDir(p.blobs).length)
      throw new BootportError(
        'ERR_STORE',
        `${loc.display} holds no bootport catalog, but ${loc.dir} holds the blobs of one (${state.catalog}); bootport will not create an empty catalog over them`,
        {},
        'check the prefix in the store URL; restore the prefix from an etcd snapshot if it was lost',
      );
    if (mode === 'read') return;
    const id = randomBytes(12).toString('hex');
    const r = await catalog.call('creating the catalog', () =>
      catalog.client.kv.txn({
        compare: [{ key: Buffer.from(key.meta(loc.prefix)), target: 'Version', result: 'Equal', version: 0 }],
        success: [
          {
            request_put: {
              key: Buffer.from(key.meta(loc.prefix)),
              value: Buffer.from(JSON.stringify({ format: FORMAT, id, created: new Date().toISOString() })),
            },
          },
        ],
        failure: [],
      }),
    );
    // Another head node may have created it at the same moment: its id is the one.
    meta = r.succeeded ? { format: FORMAT, id } : await catalog.meta();
    if (!meta) throw new BootportError('ERR_STORE', `creating the catalog at ${loc.display} failed: it was deleted as it was created`);
  }
  const id = `etcd:${meta.id}`;
  if (state.kind === 'store') {
    if (state.catalog !== id)
      throw new BootportError(
        'ERR_STORE',
        `${loc.dir} holds the blobs of another catalog (${state.catalog}), not of ${loc.display} (${id})`,
        {},
        'check blobs= in the store URL, and that the shared file system is mounted',
      );
    return;
  }
  // No layout file yet: a new blob directory is only right for a catalog without blobs.
  const blobs = await catalog.read((tx) => tx.all('blobs').length);
  if (blobs > 0)
    throw new BootportError(
      'ERR_STORE',
      `${loc.dir} is not the blob directory of ${loc.display}, whose catalog records ${blobs} blob(s)`,
      {},
      'check blobs= in the store URL, and that the shared file system is mounted there',
    );
  if (mode === 'read') return;
  createDirs(p);
  writeLayout(p.layout, false, id);
}
