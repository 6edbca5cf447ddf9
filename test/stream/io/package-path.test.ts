/** Finding bootport's own files from any module of it, bundled or not. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packagePath } from '../../../src/stream/io/package-path.js';

const ROOT = join(import.meta.dirname, '../../..');

describe('packagePath', () => {
  it('is rooted at the package.json that names bootport, from src/ as from the build', () => {
    expect(packagePath('package.json')).toBe(join(ROOT, 'package.json'));
    expect((JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { name: string }).name).toBe('bootport');
  });

  it('finds the worker bundle the pool starts, and the bundled CLI finds the addon and starts that worker', () => {
    expect(existsSync(packagePath('dist/bin/pool-worker.js'))).toBe(true);
    // --threads asks for workers even on this small file, whose image spans several chunks: without
    // the worker bundle the command fails (ERR_CODEC). The report names the native piece engine.
    const out = execFileSync(
      process.execPath,
      [join(ROOT, 'dist/bin/main.js'), '--json', '--threads', '2', 'verify', join(ROOT, 'fixtures/vectors/ok-image-exact-multiple.bpb')],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out)).toMatchObject({ ok: true, engine: { pieces: 'bootport-pieces', threads: 2 } });
  });
});
