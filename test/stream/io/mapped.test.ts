import { execFile } from 'node:child_process';
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { addonIfBuilt } from '../../../src/stream/io/addon.js';
import { alignedBytes } from '../../../src/stream/io/direct.js';
import { mapRange } from '../../../src/stream/io/mapped.js';
import { sampleBytes } from '../../helpers.js';

// Mapping is what the addon does on Linux; elsewhere mapRange is undefined and callers read.
const maps = process.platform === 'linux' && addonIfBuilt() !== undefined;

async function fileOf(bytes: Uint8Array): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'bootport-mapped-')), 'f');
  writeFileSync(path, bytes);
  return path;
}

describe.runIf(maps)('ranges of a file mapped from the page cache', () => {
  it('holds exactly the range, at any offset, and reads as empty once released', async () => {
    const bytes = sampleBytes(5 * 4096 + 123, 7);
    const fd = openSync(await fileOf(bytes), 'r');
    try {
      for (const [at, n] of [
        [0, bytes.length],
        [1, 4095],
        [4095, 2],
        [4096 * 3 + 17, 4096 + 5],
      ] as const) {
        const m = mapRange(fd, at, n)!;
        expect(Buffer.from(m.bytes)).toEqual(Buffer.from(bytes.subarray(at, at + n)));
        const view = m.bytes.subarray(1);
        expect(m.cut()).toBe(false);
        m.release();
        // Detached: no view of it can reach the released pages.
        expect(m.bytes.length).toBe(0);
        expect(view.length).toBe(0);
      }
      expect(mapRange(fd, 0, 0)).toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });

  it('reads zeros, and says it was cut, where the file shrank under the mapping: no SIGBUS', async () => {
    const bytes = sampleBytes(6 * 4096, 8);
    const path = await fileOf(bytes);
    const fd = openSync(path, 'r');
    try {
      const m = mapRange(fd, 100, bytes.length - 100)!;
      truncateSync(path, 2 * 4096 + 10);
      const copy = Buffer.from(m.bytes);
      expect(m.cut()).toBe(true);
      // What is still in the file is read as it is; the pages past the new end, as zeros.
      expect(copy.subarray(0, 2 * 4096 + 10 - 100)).toEqual(Buffer.from(bytes.subarray(100, 2 * 4096 + 10)));
      expect(copy.subarray(3 * 4096 - 100).every((b) => b === 0)).toBe(true);
      m.release();
    } finally {
      closeSync(fd);
    }
  });

  it('lets go of pages done with: they leave resident memory, and read again the same', async () => {
    const bytes = sampleBytes(48 << 20, 10);
    const fd = openSync(await fileOf(bytes), 'r');
    const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
    try {
      const m = mapRange(fd, 100, bytes.length - 100)!;
      let sum = 0;
      for (let i = 0; i < m.bytes.length; i += 4096) sum += m.bytes[i]!;
      const touched = rssFile();
      m.drop(0, m.bytes.length);
      expect(touched - rssFile()).toBeGreaterThan(40 << 20);
      let again = 0;
      for (let i = 0; i < m.bytes.length; i += 4096) again += m.bytes[i]!;
      expect(again).toBe(sum);
      expect(Buffer.from(m.bytes.subarray(0, 9000))).toEqual(Buffer.from(bytes.subarray(100, 9100)));
      m.release();
    } finally {
      closeSync(fd);
    }
  });

  it('maps nothing of what is not a regular file', () => {
    const fd = openSync('/dev/null', 'r');
    try {
      expect(mapRange(fd, 0, 4096)).toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });

  it('leaves a SIGBUS that is no fault in a mapping to end the process, as before', async () => {
    const path = await fileOf(sampleBytes(8192, 9));
    const script = `
      const { openSync } = require('node:fs');
      const addon = require(${JSON.stringify(join(import.meta.dirname, '../../../build/Release/bootport_pieces.node'))});
      const view = addon.mapRange(openSync(${JSON.stringify(path)}, 'r'), 0, 8192);
      if (!view) process.exit(3);
      process.kill(process.pid, 'SIGBUS');
      setTimeout(() => process.exit(4), 2000);
    `;
    const r = await promisify(execFile)(process.execPath, ['-e', script]).then(
      () => ({ signal: null, code: 0 }),
      (e: { signal: string | null; code: number | null }) => ({ signal: e.signal, code: e.code }),
    );
    expect(r).toEqual({ signal: 'SIGBUS', code: null });
  });
});

describe.runIf(maps)('buffers made resident at once', () => {
  const rssAnon = () => Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

  it('brings a new buffer’s pages in before anything is written, and leaves its bytes as they were', () => {
    const before = rssAnon();
    const plain = new Uint8Array(32 << 20);
    // A new buffer's pages are not there until written: that is what populate saves a fault each for.
    expect(rssAnon() - before).toBeLessThan(8 << 20);
    const at = rssAnon();
    const bytes = alignedBytes(32 << 20);
    expect(rssAnon() - at).toBeGreaterThan(30 << 20);
    expect(bytes.every((b) => b === 0)).toBe(true);
    bytes.set([1, 2, 3], 5000);
    expect(addonIfBuilt()!.populate(bytes)).toBe(true);
    expect([...bytes.subarray(5000, 5003)]).toEqual([1, 2, 3]);
    expect(plain.length).toBe(32 << 20);
  });

  it('never touches a mapped file’s view', async () => {
    const fd = openSync(await fileOf(sampleBytes(3 * 4096, 12)), 'r');
    try {
      const m = mapRange(fd, 0, 3 * 4096)!;
      expect(addonIfBuilt()!.populate(m.bytes)).toBe(false);
      m.release();
    } finally {
      closeSync(fd);
    }
  });
});
