/**
 * The catalog's rules, through the library: a row resolved by one process and deleted by another
 * before the change commits is ERR_NOT_FOUND (it was a TypeError, reported as ERR_IO).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveMany } from '../../../src/store/catalog/common.js';
import { cloneBootConfig, deleteBootConfigs, updateBootConfigs } from '../../../src/store/catalog/boot-configs.js';
import { setNodeAttributes, createNodes } from '../../../src/store/catalog/nodes.js';
import { Store } from '../../../src/store/store.js';
import { tempDir } from '../../cli/run.js';
import { seedStore, tinyFiles } from '../helpers.js';

describe('a row deleted after its selector resolved', () => {
  it('is ERR_NOT_FOUND naming it, for update, clone, delete and node set', async () => {
    const dir = await tempDir();
    const s = join(dir, 'S');
    await seedStore(dir, s, await tinyFiles(join(dir, 'files')));
    const a = await Store.open(s, 'write');
    const b = await Store.open(s, 'write');
    try {
      await b.write((tx) => {
        for (const n of tx.all('nodes')) tx.update('nodes', { ...n, boot_config: null });
      });
      const [row] = await a.read((tx) => resolveMany(tx, 'boot_configs', { ids: 'boot' }));
      await createNodes(a, ['m0']);
      const [node] = await a.read((tx) => resolveMany(tx, 'nodes', { ids: 'm0' }));
      // Another process deletes both.
      await deleteBootConfigs(b, [row!]);
      await b.write((tx) => tx.remove('nodes', node!.uid));
      const gone = { code: 'ERR_NOT_FOUND', message: expect.stringContaining('boot config boot no longer exists') };
      await expect(updateBootConfigs(a, [row!], { cmdline: 'x' })).rejects.toMatchObject(gone);
      await expect(cloneBootConfig(a, row!, 'copy')).rejects.toMatchObject(gone);
      await expect(deleteBootConfigs(a, [row!])).rejects.toMatchObject(gone);
      await expect(setNodeAttributes(a, [node!], { rack: 'r1' })).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        message: expect.stringContaining('node m0 no longer exists'),
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
