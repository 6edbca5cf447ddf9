/** `bootport watch` on both backends: another process's changes appear as they commit. */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bp, MAIN } from '../helpers.js';
import { backends } from './backends.js';

let dir: string;
const all = backends();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-watch-'));
});

describe.each(all)('bootport watch on $name', (backend) => {
  it('prints each change another process commits, created, updated and deleted, in order', async () => {
    const store = backend.fresh(dir);
    const ok = async (...args: string[]) => {
      const r = await bp([...args, '--store', store], { cwd: dir });
      if (r.code !== 0) throw new Error(r.stderr);
    };
    await ok('node', 'create', 'name=w0');
    const watcher = spawn(process.execPath, [MAIN, 'watch', '--json', '--for', '30', '--store', store], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => watcher.on('close', res));
    try {
      // It says on stderr when it is in place.
      await new Promise<void>((res) => watcher.stderr.once('data', () => res()));
      await ok('node', 'create', 'name=w1');
      await ok('node', '-i', 'w0', 'set', 'rack=r7');
      await ok('node', '-i', 'w1', 'delete');
      const deadline = Date.now() + 10_000;
      while (out.split('\n').filter(Boolean).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const events = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { table: string; change: string; name: string });
      expect(events.map((e) => `${e.change} ${e.table} ${e.name}`)).toEqual(['created nodes w1', 'updated nodes w0', 'deleted nodes w1']);
    } finally {
      watcher.kill('SIGTERM');
      await exited;
    }
  }, 60_000);
});
