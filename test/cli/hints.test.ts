import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BootportError } from '../../src/format/errors.js';
import { hintFor, REMEDY_PHRASES } from '../../src/cli/hints.js';

const SRC = join(import.meta.dirname, '../../src');

/** The TypeScript sources of the library layers, without their comments. */
async function librarySources(): Promise<{ file: string; code: string }[]> {
  const out: { file: string; code: string }[] = [];
  for (const layer of ['format', 'stream', 'store']) {
    for (const f of await readdir(join(SRC, layer), { recursive: true })) {
      if (!f.endsWith('.ts')) continue;
      const text = await readFile(join(SRC, layer, f), 'utf8');
      out.push({ file: `${layer}/${f}`, code: text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '') });
    }
  }
  return out;
}

describe('hints', () => {
  it('in the library name no command-line flag', async () => {
    const flagged = (await librarySources()).flatMap(({ file, code }) =>
      [...code.matchAll(/(['`])(?:(?!\1).)*\s--[a-z][a-z-]*(?:(?!\1).)*\1/g)].map((m) => `${file}: ${m[0]}`),
    );
    expect(flagged).toEqual([]);
  });

  it('every remedy the library names is said by the CLI, and the CLI says none the library never names', async () => {
    const named = new Set<string>();
    for (const { code } of await librarySources()) {
      for (const m of code.matchAll(/remedies: \[([^\]]*)\]|_REMEDY\b[^=]*= \{([^}]*)\}/g)) {
        for (const r of (m[1] ?? m[2]!).matchAll(/'([a-z-]+)'/g)) named.add(r[1]!);
      }
    }
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((r) => !(r in REMEDY_PHRASES))).toEqual([]);
    expect(Object.keys(REMEDY_PHRASES).filter((r) => !named.has(r))).toEqual([]);
  });

  it('the CLI says remedies in its own terms, and falls back to the neutral hint', () => {
    const e = new BootportError('ERR_CONFLICT', 'image x exists', {}, 'store the image under another name, or import without it', {
      remedies: ['rename-image', 'skip-image'],
    });
    expect(hintFor(e)).toBe('store the image under another name with --image NEW, or skip the image with --no-recurse');
    expect(hintFor(new BootportError('ERR_CONFLICT', 'x', {}, 'neutral words'))).toBe('neutral words');
    expect(hintFor(new BootportError('ERR_CONFLICT', 'x', {}, 'neutral words', { remedies: ['unknown-remedy'] }))).toBe('neutral words');
  });
});
