import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeVectors } from '../../spec/vectors.js';
import { ENGINES, engines, verdict } from '../helpers.js';

const DIR = join(import.meta.dirname, '../../fixtures/vectors');

describe('golden vectors', async () => {
  const names = (await readdir(DIR)).filter((f) => f.endsWith('.bpb')).map((f) => f.slice(0, -4));

  it('exist, one scenario per file', () => {
    expect(names.length).toBeGreaterThanOrEqual(20);
  });

  it('are exactly what spec/vectors.ts generates', async () => {
    const made = await makeVectors(await engines('native'));
    expect(made.map((v) => v.name).sort()).toEqual([...names].sort());
    for (const v of made) {
      expect(Buffer.from(v.bytes).equals(await readFile(join(DIR, `${v.name}.bpb`))), v.name).toBe(true);
      const exp = JSON.parse(await readFile(join(DIR, `${v.name}.expect.json`), 'utf8'));
      expect({ verify: exp.verify, deep: exp.deep }).toEqual(v.expect);
    }
  });

  describe.each(ENGINES)('give the expected verdict on the %s engine', (choice) => {
    it.each(names)('%s', async (name) => {
      const bytes = new Uint8Array(await readFile(join(DIR, `${name}.bpb`)));
      const exp = JSON.parse(await readFile(join(DIR, `${name}.expect.json`), 'utf8'));
      const e = await engines(choice);
      expect(await verdict(bytes, { engines: e, inflate: false })).toBe(exp.verify);
      expect(await verdict(bytes, { engines: e, inflate: true })).toBe(exp.deep);
      // Failing vectors fail the same way when fed a byte at a time? (cheap enough at these sizes with big pieces)
      expect(await verdict(bytes, { engines: e, inflate: true }, 997)).toBe(exp.deep);
    });
  });
});
