import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestString } from '../../src/format/bytes.js';
import type { Manifest } from '../../src/format/manifest.js';
import { newManifest } from '../../src/format/new-manifest.js';
import { createBootConfig } from '../../src/store/catalog/boot-configs.js';
import { createImage } from '../../src/store/catalog/images.js';
import { planImport } from '../../src/store/import.js';
import { Store } from '../../src/store/store.js';
import type { Engines } from '../../src/stream/engine/engines.js';
import { engines } from '../helpers.js';

/** planImport decides from the manifest alone; these are its rules, with no bundle streamed. */
let dir: string;
let store: Store;
let eng: Engines;
const enc = new TextEncoder();
const digestOf = (s: string) => digestString(eng.hash.digestOf([enc.encode(s)]));

async function blob(name: string, bytes: string) {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { ...(await store.stageFile(path, eng)), fileName: name };
}

/** A manifest declaring these contents (sizes and digests, as bootport's export always does). */
function manifest(name: string, c: { kernel: string; initramfs: string; image?: [string, string] }, declare = true): Manifest {
  const entry = (role: 'kernel' | 'initramfs' | 'image', entryName: string, content: string) => ({
    role,
    name: entryName,
    ...(declare ? { size: enc.encode(content).length, digest: digestOf(content) } : {}),
  });
  return newManifest({
    bootConfig: { name },
    entries: [entry('kernel', 'vmlinuz', c.kernel), entry('initramfs', 'initrd', c.initramfs), ...(c.image ? [entry('image', c.image[0], c.image[1])] : [])],
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-plan-'));
  eng = await engines();
  store = await Store.open(join(dir, 'store'), 'write');
  await createImage(store, { name: 'rocky', content: await blob('img', 'rocky image') });
  await createBootConfig(store, { name: 'taken', kernel: await blob('k', 'kernel A'), initramfs: await blob('i', 'initrd A'), image: 'rocky' });
});
afterAll(() => store.close());

/** The plan, from one snapshot of the catalog. */
const plan = (m: Parameters<typeof planImport>[2], opts: Parameters<typeof planImport>[3]) => store.read((tx) => planImport(store, tx, m, opts));

describe('planImport', () => {
  it('creates what is new and counts only the bytes it must store', async () => {
    const p = await plan(manifest('fresh', { kernel: 'kernel B', initramfs: 'initrd A', image: ['alma', 'alma image'] }), {});
    expect(p.problems).toEqual([]);
    expect(p.boot_config).toEqual({ name: 'fresh', action: 'create' });
    expect(p.image).toEqual({ name: 'alma', action: 'create' });
    expect(p.entries.map((e) => e.action)).toEqual(['store', 'dedup', 'store']);
    expect(p.bytes_to_store).toBe('kernel B'.length + 'alma image'.length);
  });

  it('refuses a boot config name that is taken, and says how to rename it', async () => {
    const p = await plan(manifest('taken', { kernel: 'kernel A', initramfs: 'initrd A' }), {});
    expect(p.boot_config.action).toBe('reject');
    expect(p.problems).toMatchObject([{ code: 'ERR_CONFLICT', remedies: ['rename-boot-config'] }]);
    expect((await plan(manifest('taken', { kernel: 'kernel A', initramfs: 'initrd A' }), { bootConfig: 'other' })).problems).toEqual([]);
  });

  it('reuses an image of the same name and content, and refuses one with other content', async () => {
    const same = await plan(manifest('b1', { kernel: 'kernel A', initramfs: 'initrd A', image: ['rocky', 'rocky image'] }), {});
    expect(same.image).toMatchObject({ name: 'rocky', action: 'reuse' });
    expect(same.entries.map((e) => e.action)).toEqual(['dedup', 'dedup', 'skip']);
    expect(same.bytes_to_store).toBe(0);

    const other = await plan(manifest('b2', { kernel: 'kernel A', initramfs: 'initrd A', image: ['rocky', 'changed'] }), {});
    expect(other.image?.action).toBe('reject');
    expect(other.problems).toMatchObject([{ code: 'ERR_CONFLICT', remedies: ['rename-image', 'skip-image'] }]);
    expect((await plan(manifest('b2', { kernel: 'kernel A', initramfs: 'initrd A', image: ['rocky', 'changed'] }), { image: 'rocky2' })).image).toEqual({
      name: 'rocky2',
      action: 'create',
    });
  });

  it('cannot call an undeclared image the same, and cannot count undeclared bytes', async () => {
    const p = await plan(manifest('b3', { kernel: 'kernel C', initramfs: 'initrd A', image: ['rocky', 'rocky image'] }, false), {});
    expect(p.problems).toMatchObject([{ code: 'ERR_CONFLICT' }]);
    expect(p.problems[0]!.message).toContain('does not declare its image digest');
    expect(p.bytes_to_store).toBeNull();
  });

  it('skips the image with noRecurse, and refuses an image name for a bundle without one', async () => {
    const skip = await plan(manifest('b4', { kernel: 'kernel A', initramfs: 'initrd A', image: ['rocky', 'changed'] }), { noRecurse: true });
    expect(skip.problems).toEqual([]);
    expect(skip.image).toEqual({ name: 'rocky', action: 'skip' });
    expect(skip.entries.map((e) => e.action)).toEqual(['dedup', 'dedup', 'skip']);

    const none = await plan(manifest('b5', { kernel: 'kernel A', initramfs: 'initrd A' }), { image: 'x' });
    expect(none.problems).toMatchObject([{ code: 'ERR_USAGE', remedies: ['drop-image-name'] }]);
  });

  it('stores one copy of content that two entries share', async () => {
    const p = await plan(manifest('b6', { kernel: 'same bytes', initramfs: 'same bytes' }), {});
    expect(p.entries.map((e) => e.action)).toEqual(['store', 'dedup']);
    expect(p.bytes_to_store).toBe('same bytes'.length);
  });

  it('refuses a bad name for the boot config or the image before anything else', async () => {
    const m = manifest('b7', { kernel: 'kernel A', initramfs: 'initrd A' });
    await expect(plan(m, { bootConfig: '../x' })).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(plan(m, { image: 'a/b' })).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });
});
