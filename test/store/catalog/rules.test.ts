import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engines } from '../../../src/stream/engine/engines.js';
import { cloneBootConfig, createBootConfig, deleteBootConfigs, listBootConfigs, updateBootConfigs } from '../../../src/store/catalog/boot-configs.js';
import { checkText, expandNames, MAX_RANGE, resolveMany, resolveOne } from '../../../src/store/catalog/common.js';
import { cloneImage, createImage, deleteImages, updateImages } from '../../../src/store/catalog/images.js';
import { createNodes, deleteNodes, listNodes, setNodeAttributes } from '../../../src/store/catalog/nodes.js';
import type { Store } from '../../../src/store/store.js';
import type { Kind, Selection } from '../../../src/store/catalog/common.js';
import { engines } from '../../helpers.js';
import { backends } from '../etcd/backends.js';

/**
 * The rules of the catalog, called as the library, without a CLI in between: the store contract,
 * which each backend must keep the same way.
 */
let dir: string;
let store: Store;
let eng: Engines;
const all = backends();

async function blob(name: string, bytes: string): Promise<Awaited<ReturnType<Store['stageFile']>> & { fileName: string }> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { ...(await store.stageFile(path, eng)), fileName: name };
}

const code = (p: Promise<unknown> | (() => unknown)) =>
  (typeof p === 'function' ? Promise.resolve().then(p) : p).then(
    () => 'ok',
    (e: { code?: string; message?: string }) => e.code ?? `uncoded: ${e.message}`,
  );

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-rules-'));
  eng = await engines();
});

const one = (kind: Kind, sel: string) => store.read((tx) => resolveOne(tx, kind, sel));
const many = (kind: Kind, sel: Selection) => store.read((tx) => resolveMany(tx, kind, sel));

describe.each(all)('the store contract on $name', (backend) => {
  beforeAll(async () => {
    store = await backend.open(backend.fresh(dir), 'write');
    await createImage(store, { name: 'img', content: await blob('img.bin', 'image bytes') });
    await createBootConfig(store, { name: 'bc', kernel: await blob('k', 'kernel'), initramfs: await blob('i', 'initrd'), image: 'img' });
    await createNodes(store, expandNames('n[0-2]'));
  });
  afterAll(() => store.close());

  describe('names', () => {
    it('expand ranges keeping the width, and separate them with commas', () => {
      expect(expandNames('n[0-3]')).toEqual(['n0', 'n1', 'n2', 'n3']);
      expect(expandNames('n[08-10]')).toEqual(['n08', 'n09', 'n10']);
      expect(expandNames('a,b[1-2]x,,c')).toEqual(['a', 'b1x', 'b2x', 'c']);
    });

    it('refuse a backwards range, a huge number and more than the cap, before generating anything', () => {
      for (const spec of ['n[3-1]', 'n[0-9999999999999999]', `n[1-${MAX_RANGE + 1}]`]) {
        expect(() => expandNames(spec), spec).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
      }
    });

    it('are labels: a bad one is ERR_INVALID and a taken one ERR_CONFLICT, for every kind', async () => {
      expect(await code(createNodes(store, ['../x']))).toBe('ERR_INVALID');
      expect(await code(createNodes(store, ['n1']))).toBe('ERR_CONFLICT');
      expect(await code(cloneImage(store, await one('images', 'img'), 'img'))).toBe('ERR_CONFLICT');
      expect(await code(cloneBootConfig(store, await one('boot_configs', 'bc'), '-rf'))).toBe('ERR_INVALID');
    });
  });

  describe('selectors', () => {
    it('find a name, else a unique uid prefix of five or more hex digits', async () => {
      const bc = await one('boot_configs', 'bc');
      expect(await one('boot_configs', bc.uid.slice(0, 5))).toMatchObject({ name: 'bc' });
      await expect(one('boot_configs', bc.uid.slice(0, 4))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      await expect(one('nodes', 'nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', remedies: ['list-nodes'] });
    });

    it('select each object once, in the order named, and need -i or -a', async () => {
      expect((await many('nodes', { ids: 'n2,n[0-2]' })).map((r) => r.name)).toEqual(['n2', 'n0', 'n1']);
      expect(await many('nodes', { all: true })).toHaveLength(3);
      await expect(many('nodes', {})).rejects.toMatchObject({ code: 'ERR_USAGE' });
    });
  });

  describe('text fields', () => {
    it('follow the manifest text rule, so whatever is stored can be exported', () => {
      expect(checkText('console=ttyS0 quiet', 'cmdline')).toBe('console=ttyS0 quiet');
      expect(checkText('two\tlines\nhere', 'description', true)).toBe('two\tlines\nhere');
      for (const [v, multi] of [
        ['a\nb', false],
        ['a\rb', true],
        ['a\u0085b', true],
        ['a\u007fb', false],
        ['x'.repeat(4097), false],
      ] as const) {
        expect(() => checkText(v, 'field', multi), JSON.stringify(v)).toThrow(expect.objectContaining({ code: 'ERR_INVALID' }));
      }
      expect(checkText('\u{1f427}'.repeat(4096), 'field')).toHaveLength(8192);
    });
  });

  describe('frozen objects', () => {
    it('refuse every change but unfreezing, and say how to unfreeze', async () => {
      const [bc] = await many('boot_configs', { ids: 'bc' });
      await updateBootConfigs(store, [bc!], { frozen: true });
      await expect(updateBootConfigs(store, [bc!], { cmdline: 'x' })).rejects.toMatchObject({ code: 'ERR_FROZEN', remedies: ['unfreeze-boot-config'] });
      expect(await code(deleteBootConfigs(store, [bc!]))).toBe('ERR_FROZEN');
      await updateBootConfigs(store, [bc!], { frozen: false });
      expect((await listBootConfigs(store, { ids: 'bc' }))[0]).toMatchObject({ frozen: false });

      const [img] = await many('images', { ids: 'img' });
      await updateImages(store, [img!], { frozen: true });
      await expect(updateImages(store, [img!], { distro: 'x' })).rejects.toMatchObject({ code: 'ERR_FROZEN', remedies: ['unfreeze-image'] });
      await updateImages(store, [img!], { frozen: false });
    });
  });

  describe('references', () => {
    it('keep an image used by a boot config, and a boot config set on nodes, until released', async () => {
      const img = await many('images', { ids: 'img' });
      await expect(deleteImages(store, img)).rejects.toMatchObject({ code: 'ERR_IN_USE', remedies: ['release-images'] });
      await setNodeAttributes(store, await many('nodes', { ids: 'n[0-1]' }), { _boot_config: 'bc', rack: '7' });
      expect((await listNodes(store, { ids: 'n0' }))[0]).toMatchObject({ boot_config: 'bc', attributes: { rack: '7' } });
      const bc = await many('boot_configs', { ids: 'bc' });
      const refused = await deleteBootConfigs(store, bc).catch((e: Error) => e);
      expect(refused).toMatchObject({ code: 'ERR_IN_USE', remedies: ['release-boot-configs'] });
      expect((refused as Error).message).toContain('n0, n1');
      // A boot config that does not exist cannot be set.
      expect(await code(setNodeAttributes(store, await many('nodes', { ids: 'n2' }), { _boot_config: 'missing' }))).toBe('ERR_NOT_FOUND');
    });

    it('follow a rename, because nodes hold the boot config by uid', async () => {
      const [bc] = await many('boot_configs', { ids: 'bc' });
      await updateBootConfigs(store, [bc!], { name: 'bc2' });
      expect((await listNodes(store, { ids: 'n0' }))[0]).toMatchObject({ boot_config: 'bc2' });
      await expect(updateBootConfigs(store, await many('boot_configs', { all: true }), { name: 'x' })).resolves.toHaveLength(1);
      await updateBootConfigs(store, await many('boot_configs', { ids: 'x' }), { name: 'bc' });
    });

    it('are released by deleting the nodes, then the boot config, then the image', async () => {
      await deleteNodes(store, await many('nodes', { all: true }));
      expect(await deleteBootConfigs(store, await many('boot_configs', { ids: 'bc' }))).toEqual(['bc']);
      expect(await deleteImages(store, await many('images', { ids: 'img' }))).toEqual(['img']);
    });

    it('collect the blobs nothing refers to any more, rows and files', async () => {
      expect(await store.read((tx) => tx.all('blobs'))).toEqual([]);
      expect(await store.orphanCandidates()).toEqual([]);
      expect(await store.catalog.integrity()).toEqual([]);
    });
  });
});
