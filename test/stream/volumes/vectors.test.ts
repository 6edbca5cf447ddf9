/**
 * The volume vectors: each set read as `verify NAME` reads it (from the first volume, the rest
 * found by name), and each volume checked alone, must give the verdicts in its expect.json; and
 * the sets must be what spec/volume-vectors.ts makes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeVolumeVectors, VOLUME_BASE } from '../../../spec/volume-vectors.js';
import { verifyBundle } from '../../../src/stream/bundle/reader.js';
import { checkVolume } from '../../../src/stream/volumes/check-volume.js';
import { volumeSetBytes } from '../../../src/stream/volumes/read-volumes.js';
import { volumeFileName } from '../../../src/format/volume.js';
import { engines } from '../../helpers.js';

const DIR = join(import.meta.dirname, '../../../fixtures/volumes');
const e = await engines();
const sets = (await readdir(DIR)).sort();

async function verdict(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!code) throw err;
    return code;
  }
}

describe('volume vectors', () => {
  it('are what spec/volume-vectors.ts makes: the same sets, files and verdicts', async () => {
    const made = await makeVolumeVectors(e);
    expect(made.map((v) => v.name).sort()).toEqual(sets);
    for (const v of made) {
      const exp = JSON.parse(await readFile(join(DIR, v.name, 'expect.json'), 'utf8'));
      expect({ set: exp.set, volumes: exp.volumes }, v.name).toEqual(v.expect);
      expect((await readdir(join(DIR, v.name))).filter((f) => f !== 'expect.json').sort(), v.name).toEqual(Object.keys(v.files).sort());
    }
  });

  it.each(sets)('%s: the set and each volume alone give the expected verdicts', async (name) => {
    const exp = JSON.parse(await readFile(join(DIR, name, 'expect.json'), 'utf8')) as { set: string; volumes: Record<string, string> };
    const first = join(DIR, name, volumeFileName(VOLUME_BASE, 1));
    expect(await verdict(() => verifyBundle(volumeSetBytes([first], { hash: e.hash }), { engines: e, deep: true })), 'the set').toBe(exp.set);
    for (const [file, want] of Object.entries(exp.volumes)) expect(await verdict(() => checkVolume(join(DIR, name, file), e.hash)), file).toBe(want);
  });
});
