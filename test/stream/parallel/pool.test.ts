import { truncate } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MIN_CHUNK_SIZE } from '../../../src/format/constants.js';
import { decodeChunkHeader } from '../../../src/format/chunk.js';
import { BootportError } from '../../../src/format/errors.js';
import { openChunk, sealChunk, type Sealed } from '../../../src/stream/parallel/chunk-work.js';
import { readBundle, verifyBundle } from '../../../src/stream/bundle/reader.js';
import { localRunner, type ChunkRunner } from '../../../src/stream/parallel/runner.js';
import { fileSource } from '../../../src/stream/io/source.js';
import { WorkerPool } from '../../../src/stream/parallel/pool.js';
import { bundleBytes, createBundleStream } from '../../../src/stream/bundle/writer.js';
import { copyOf } from '../../../src/format/bytes.js';
import { ENGINES, engines, fromBytes, makeBundle, manifestFor, sampleBytes, verdict, onDisk, outcome } from '../../helpers.js';

const CS = MIN_CHUNK_SIZE;
const contents = () => ({ kernel: sampleBytes(3 * CS + 11, 2), initramfs: sampleBytes(CS, 3), image: sampleBytes(9 * CS + 5, 4) });

describe.each(ENGINES)('the worker pool on the %s engine', (choice) => {
  it('writes the same bytes as one thread, whatever the thread count', async () => {
    const eng = await engines(choice);
    const one = await makeBundle(contents(), { engines: eng, write: { threads: 1 } });
    for (const threads of [2, 3]) expect(Buffer.from(await makeBundle(contents(), { engines: eng, write: { threads } }))).toEqual(Buffer.from(one));
  });

  it('recycles payload buffers for a consumer that finishes each piece first, with the same bytes', async () => {
    const eng = await engines(choice);
    const one = await makeBundle(contents(), { engines: eng });
    for (const threads of [1, 2]) {
      const m = manifestFor(contents());
      const c = contents();
      const parts: Uint8Array[] = [];
      const seen = new Set<ArrayBufferLike>();
      let reused = 0;
      for await (const p of bundleBytes(m, [fromBytes(c.kernel), fromBytes(c.initramfs), fromBytes(c.image)], { engines: eng, threads, recycle: true })) {
        if (p.length > 1000 && seen.has(p.buffer)) reused++;
        seen.add(p.buffer);
        parts.push(copyOf(p));
      }
      expect(Buffer.concat(parts)).toEqual(Buffer.from(one));
      // zstd-codec cannot compress into a given buffer, so only the native codec reuses them; a
      // buffer that went to a worker and back is the same memory under a new ArrayBuffer object.
      if (eng.codec.name === 'zstd-napi' && threads === 1) expect(reused).toBeGreaterThan(0);
    }
  });

  it('reads back every byte in order, decompressing on the workers', async () => {
    const eng = await engines(choice);
    const c = contents();
    const b = await makeBundle(c, { engines: eng, write: { threads: 2 } });
    const parts: Uint8Array[][] = [[], [], []];
    for await (const ev of readBundle(fromBytes(b), { engines: eng, threads: 2 })) if (ev.type === 'chunk') parts[ev.entry]!.push(ev.data!);
    expect(parts.map((p) => Buffer.concat(p))).toEqual([c.kernel, c.initramfs, c.image].map((x) => Buffer.from(x)));
  });

  it('reports a corrupt chunk with the same code and location as one thread', async () => {
    const eng = await engines(choice);
    const b = await makeBundle(contents(), { engines: eng });
    const bad = b.slice();
    bad[bad.length - 600]! ^= 0x40;
    const fail = (threads: number) =>
      verifyBundle(fromBytes(bad), { engines: eng, threads, deep: true }).then(
        () => undefined,
        (e: BootportError) => e,
      );
    const one = await fail(1);
    const two = await fail(2);
    expect(one?.code).toMatch(/^ERR_BUNDLE_/);
    expect(two).toBeInstanceOf(BootportError);
    expect([two?.code, two?.location, two?.message]).toEqual([one?.code, one?.location, one?.message]);
  });
});

describe('buffers crossing threads', () => {
  it("never detaches or alters the caller's bytes: one Buffer holding the whole bundle", async () => {
    // Regression: Buffer#slice is a view, so "copying" a payload with it and transferring the
    // copy detached the caller's whole bundle, and the read ended early as a truncation.
    const eng = await engines();
    const b = Buffer.from(await makeBundle(contents(), { engines: eng }));
    const before = Buffer.from(b);
    await verifyBundle(Readable.from([b]), { engines: eng, threads: 2, deep: true });
    expect(b.length).toBe(before.length);
    expect(b.equals(before)).toBe(true);
  });

  it("never detaches the caller's source pieces when writing", async () => {
    const eng = await engines();
    const image = Buffer.from(sampleBytes(4 * CS, 8));
    const c = { kernel: sampleBytes(5), initramfs: sampleBytes(5) };
    const m = manifestFor({ ...c, image });
    const chunks: Buffer[] = [];
    for await (const p of createBundleStream(m, [fromBytes(c.kernel), fromBytes(c.initramfs), Readable.from([image])], { engines: eng, threads: 2 }))
      chunks.push(p as Buffer);
    expect(image.length).toBe(4 * CS);
    expect(await verdict(Buffer.concat(chunks), { deep: true })).toBe('ok');
  });

  it('decoded digests are copies, not views of a Buffer the caller may reuse', async () => {
    const eng = await engines();
    const b = Buffer.from(await makeBundle(contents(), { engines: eng }));
    const at = b.indexOf(0x43, 24 + b.readUInt32LE(20));
    const h = decodeChunkHeader(b.subarray(at, at + 52), at);
    expect(h.digest.buffer).not.toBe(b.buffer);
  });
});

describe('workers reading payloads from the bundle file themselves', () => {
  it('reads the content back exactly, and verifies deep', async () => {
    const eng = await engines();
    const c = contents();
    const path = await onDisk(await makeBundle(c, { engines: eng }));
    const parts: Uint8Array[][] = [[], [], []];
    for await (const ev of readBundle(fileSource(path), { engines: eng, threads: 2 })) if (ev.type === 'chunk') parts[ev.entry]!.push(ev.data!);
    expect(parts.map((p) => Buffer.concat(p))).toEqual([c.kernel, c.initramfs, c.image].map((x) => Buffer.from(x)));
    expect(await outcome(verifyBundle(fileSource(path), { engines: eng, threads: 2, deep: true }))).toBe('ok');
  });

  it('fails a damaged or truncated file exactly as a single thread reading a stream does', async () => {
    const eng = await engines();
    const good = await makeBundle(contents(), { engines: eng });
    const cases: Uint8Array[] = [];
    for (const at of [700, 5000, good.length >> 1, good.length - 900]) {
      const flipped = good.slice();
      flipped[at]! ^= 0x10;
      cases.push(flipped, good.slice(0, at));
    }
    for (const bad of cases) {
      const path = await onDisk(bad);
      const want = await outcome(verifyBundle(fromBytes(bad), { engines: eng, threads: 1, deep: true }));
      expect(want).not.toBe('ok');
      for (const deep of [false, true]) {
        const streamed = await outcome(verifyBundle(fromBytes(bad), { engines: eng, threads: 1, deep }));
        expect(await outcome(verifyBundle(fileSource(path), { engines: eng, threads: 2, deep }))).toEqual(streamed);
      }
    }
  });

  it('reports a file that shrinks while being read as truncated, deep or not', async () => {
    const eng = await engines();
    const good = await makeBundle(contents(), { engines: eng });
    for (const deep of [true, false]) {
      const path = await onDisk(good);
      const src = fileSource(path);
      await src.locate!(); // the size is taken now; the file is cut afterwards
      await truncate(path, good.length >> 1);
      const got = await outcome(verifyBundle(src, { engines: eng, threads: 2, deep }));
      expect(got).toMatchObject({ code: 'ERR_BUNDLE_TRUNCATED', message: expect.stringContaining('input ended inside the payload') });
    }
  });
});

describe('ordering and backpressure', () => {
  /** A runner that finishes jobs in a scrambled order, to prove the window restores it. */
  function scrambled(base: ChunkRunner, width: number): ChunkRunner & { peak: () => number } {
    let inFlight = 0;
    let peak = 0;
    const delayed = async <T>(f: () => Promise<T>): Promise<T> => {
      peak = Math.max(peak, ++inFlight);
      await sleep(Math.floor(Math.random() * 8));
      try {
        return await f();
      } finally {
        inFlight--;
      }
    };
    return {
      sealWidth: width,
      openWidth: width,
      seal: (j) => delayed(() => base.seal(j)),
      open: (j) => delayed(() => base.open(j)),
      close: async () => {},
      peak: () => peak,
    };
  }

  it('output order does not depend on the order jobs finish in', async () => {
    const eng = await engines();
    const one = await makeBundle(contents(), { engines: eng });
    const runner = scrambled(localRunner(eng), 5);
    expect(Buffer.from(await makeBundle(contents(), { engines: eng, write: { runner } }))).toEqual(Buffer.from(one));
    expect(runner.peak()).toBe(5);
    const reader = scrambled(localRunner(eng), 4);
    expect(await verdict(one, { runner: reader, deep: true })).toBe('ok');
    expect(reader.peak()).toBe(4);
  });

  it('a paused consumer stops the source with workers in flight', async () => {
    const eng = await engines();
    let pulled = 0;
    const block = sampleBytes(1 << 16, 5);
    const total = 256 * CS;
    async function* source(): AsyncGenerator<Uint8Array> {
      while (pulled < total) {
        pulled += block.length;
        yield block;
      }
    }
    const m = manifestFor({ kernel: sampleBytes(10), initramfs: sampleBytes(10) }, { declareSizes: false });
    m.entries.push({ role: 'image', name: 'big', chunk_size: CS, codec: 'zstd', level: 1 });
    const stream = createBundleStream(m, [fromBytes(sampleBytes(10)), fromBytes(sampleBytes(10)), source()], { engines: eng, threads: 2 });
    let got = 0;
    for await (const c of stream.iterator({ destroyOnReturn: false })) {
      got += (c as Buffer).length;
      if (got > 3 * CS) break;
    }
    await sleep(300);
    const whilePaused = pulled;
    await sleep(200);
    expect(pulled).toBe(whilePaused);
    // Two jobs per worker, one chunk of lookahead, one being cut, and the stream's buffer.
    expect(whilePaused).toBeLessThan(16 * CS);
    for await (const c of stream) got += (c as Buffer).length;
    expect(pulled).toBe(total);
  });
});

describe('the pool itself', () => {
  it('runs a lone chunk on the calling thread and starts no workers for it', async () => {
    const eng = await engines();
    const pool = new WorkerPool(eng, 2);
    try {
      const raw = sampleBytes(1000);
      const job = { headerHash: new Uint8Array(32), entry: 0, seq: 0, final: true, level: 3, raw };
      const s: Sealed = await pool.seal(job);
      expect(s.header).toEqual(sealChunk(eng, { ...job, raw: sampleBytes(1000) }).header);
      expect((pool as unknown as { slots: unknown[] }).slots).toHaveLength(0);
    } finally {
      await pool.close();
    }
  });

  it('seals and opens on workers, transferring the raw buffer back for reuse', async () => {
    const eng = await engines();
    const pool = new WorkerPool(eng, 2);
    try {
      const raw = sampleBytes(CS, 6);
      const job = { headerHash: new Uint8Array(32).fill(1), entry: 2, seq: 3, final: false, level: 3 };
      const here = sealChunk(eng, { ...job, raw: raw.slice() });
      const there = await pool.seal({ ...job, raw: raw.slice() });
      expect(there.header).toEqual(here.header);
      expect(there.payload).toEqual(here.payload);
      expect(there.raw).toEqual(raw);
      const open = { headerHash: job.headerHash, headerBytes: here.header, header: decodeChunkHeader(here.header, 0), offset: 0, inflate: true };
      expect((await pool.open({ ...open, payload: here.payload.slice() })).data).toEqual(openChunk(eng, { ...open, payload: here.payload }));
      // Candidate pieces cut on the worker are those cut here.
      const opened = await pool.open({ ...open, payload: here.payload.slice(), pieces: true });
      expect(opened.pieces).toEqual(eng.pieces.candidates(raw));
    } finally {
      await pool.close();
    }
  });

  it('fails every later job at once when a worker dies, instead of waiting for it forever', async () => {
    const eng = await engines();
    const pool = new WorkerPool(eng, 2);
    try {
      const job = () => ({ headerHash: new Uint8Array(32), entry: 0, seq: 1, final: false, level: 1, raw: sampleBytes(CS) });
      await pool.seal(job());
      await (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0]!.worker.terminate();
      const results = await Promise.allSettled([pool.seal(job()), pool.seal(job()), pool.seal(job())]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_CODEC', message: expect.stringContaining('exited') });
    } finally {
      await pool.close();
    }
  });

  it('rejects jobs once closed, and jobs in flight when closed', async () => {
    const eng = await engines();
    const pool = new WorkerPool(eng, 1);
    const job = { headerHash: new Uint8Array(32), entry: 0, seq: 0, final: false, level: 19, raw: sampleBytes(CS) };
    const inFlight = expect(pool.seal(job)).rejects.toMatchObject({ code: 'ERR_CODEC' });
    await pool.close();
    await inFlight;
    await expect(pool.seal({ ...job, raw: sampleBytes(CS) })).rejects.toMatchObject({ code: 'ERR_CODEC' });
  });
});
