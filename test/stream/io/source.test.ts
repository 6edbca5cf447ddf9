import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunked } from '../../../src/stream/io/chunker.js';
import { ByteReader } from '../../../src/stream/io/byte-reader.js';
import { fileSource } from '../../../src/stream/io/source.js';
import { engines, fromBytes, makeBundle, sampleBytes } from '../../helpers.js';
import { verifyBundle } from '../../../src/stream/bundle/reader.js';

describe('byte sources', () => {
  it('a stream and a file cut into the same chunks, whatever the piece sizes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bootport-src-'));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 1024 }), async (n, piece, size) => {
        const data = sampleBytes(n, n + 1);
        const path = join(dir, `f${n}-${piece}-${size}`);
        await writeFile(path, data);
        const cut = async (src: Parameters<typeof chunked>[0]) => {
          const out: { data: number[]; final: boolean }[] = [];
          for await (const p of chunked(src, size)) out.push({ data: [...p.data], final: p.final });
          return out;
        };
        const a = await cut(fromBytes(data, piece));
        expect(await cut(fileSource(path))).toEqual(a);
        expect(a.map((p) => p.data).flat()).toEqual([...data]);
        expect(a.filter((p) => p.final)).toHaveLength(1);
        expect(a.at(-1)!.final).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('a file source skips what others read and knows its size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bootport-src-'));
    const path = join(dir, 'f');
    await writeFile(path, Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const src = fileSource(path);
    expect((await src.locate!())?.size).toBe(10);
    src.skip!(4);
    const buf = new Uint8Array(3);
    expect(await src.readInto(buf, 0, 3)).toBe(3);
    expect([...buf]).toEqual([4, 5, 6]);
    await src.close();
    expect(await src.readInto(buf, 0, 3)).toBe(0);
  });

  it('reads a named pipe given by path (no positional reads), in pack and verify too', async () => {
    // Regression: positional reads on a FIFO fail with ESPIPE, so `verify <(cat x.export)` and
    // `pack --image /dev/stdin` from a pipe broke once files were read at positions.
    const dir = await mkdtemp(join(tmpdir(), 'bootport-src-'));
    const data = sampleBytes(300_000, 9);
    await writeFile(join(dir, 'data'), data);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const feed = spawn('sh', ['-c', `cat data > fifo`], { cwd: dir });
    const fed = new Promise((r) => feed.on('close', r));
    const src = fileSource(fifo);
    expect(await src.locate!()).toBeUndefined();
    const out: number[][] = [];
    for await (const p of chunked(src, 1 << 16)) out.push([...p.data]);
    expect(out.flat()).toEqual([...data]);
    await fed;
    const b = await makeBundle({ kernel: sampleBytes(10), initramfs: sampleBytes(10), image: data });
    await writeFile(join(dir, 'b.bpb'), b);
    const feed2 = spawn('sh', ['-c', `cat b.bpb > fifo`], { cwd: dir });
    const fed2 = new Promise((r) => feed2.on('close', r));
    const r = await verifyBundle(fileSource(fifo), { engines: await engines(), threads: 2, deep: true });
    expect(r.end.size).toBe(b.length);
    await fed2;
  });

  it('a missing file is ERR_IO naming the path, at the first read', async () => {
    const src = fileSource('/nonexistent/bootport/bundle');
    await expect(new ByteReader(src).readInto(new Uint8Array(4))).rejects.toMatchObject({
      code: 'ERR_IO',
      message: expect.stringContaining('/nonexistent/bootport/bundle'),
    });
  });

  it('text from a stream is refused', async () => {
    async function* text(): AsyncGenerator<string> {
      yield 'not bytes';
    }
    await expect(new ByteReader(text()).readInto(new Uint8Array(4))).rejects.toThrow(/bytes/);
  });
});
