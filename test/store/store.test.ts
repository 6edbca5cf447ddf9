import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';
import { Store } from '../../src/store/store.js';

const STORE = join(import.meta.dirname, '../../dist/store/store.js');
const SQLITE = join(import.meta.dirname, '../../node_modules/better-sqlite3');

describe('a new store opened by several processes at once', () => {
  it('is created once, and every process opens it', async () => {
    // Regression: each process that saw no layout file wrote one with O_EXCL, so all but the
    // first failed with EEXIST (or read it half-written), and the journal mode was switched
    // before the busy timeout was set. Seen as one of three concurrent importers exiting 4 in CI.
    // Regression too: a process sweeping dead staging removed another's staging directory while
    // its owner was still setting it up, and the owner's writes made the removal fail with
    // ENOTEMPTY, which escaped the sweep. Seen in CI as one of six opens exiting 1.
    for (let round = 0; round < 8; round++) {
      const dir = join(await tempDir(), 'S');
      // Every child loads first, then waits for the same instant, so the opens really collide.
      const at = Date.now() + 700;
      const open = () =>
        new Promise<string>((res) => {
          const p = spawn(
            process.execPath,
            [
              '--input-type=module',
              '-e',
              `import { Store } from ${JSON.stringify(STORE)}; import { createRequire } from 'node:module'; createRequire(import.meta.url)(${JSON.stringify(SQLITE)}); while (Date.now() < ${at}); (await Store.open(${JSON.stringify(dir)}, "write")).close();`,
            ],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let err = '';
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          p.on('close', (c) => res(c === 0 ? 'ok' : `exit ${c}: ${err.split('\n').find((l) => /Error/.test(l)) ?? err}`));
        });
      expect(await Promise.all(Array.from({ length: 6 }, open))).toEqual(Array(6).fill('ok'));
      expect(JSON.parse(await readFile(join(dir, 'bootport-store.json'), 'utf8')).layout).toBeTypeOf('number');
    }
  });

  it('opens the store another process finished creating while this one was looking', async () => {
    // Regression: a process that found no layout file listed the directory to see whether it was
    // empty; if another process created the store in between, the listing held the layout file
    // itself, which counted as something foreign: "not a bootport store: it holds
    // bootport-store.json and no bootport-store.json" (seen once in the full suite, in the test above).
    // strace holds this process's first directory listing for two seconds, and the store is created
    // meanwhile, after it has found no layout file.
    const dir = join(await tempDir(), 'S');
    await mkdir(dir);
    const p = spawn(
      'strace',
      [
        ...['-f', '-qq', '-o', '/dev/null', '-e', 'inject=getdents64:delay_enter=2000000:when=1'],
        process.execPath,
        '--input-type=module',
        '-e',
        `import { Store } from ${JSON.stringify(STORE)}; (await Store.open(${JSON.stringify(dir)}, "write")).close();`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number | null>((res) => p.on('close', res));
    await new Promise((res) => setTimeout(res, 1000));
    await (await Store.open(dir, 'write')).close();
    expect({ code: await done, err: err.split('\n').find((l) => /Error/.test(l)) ?? '' }).toEqual({ code: 0, err: '' });
  });
});
