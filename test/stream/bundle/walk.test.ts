import { openSync, closeSync, statSync, truncateSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_CHUNK_SIZE } from '../../../src/format/constants.js';
import { decodeFooter } from '../../../src/format/footer.js';
import { readBundle, verifyBundle, type BundleEvent } from '../../../src/stream/bundle/reader.js';
import { planWalk, type Run } from '../../../src/stream/bundle/walk.js';
import { walkChunks, type ChunkRunner } from '../../../src/stream/parallel/chunk-work.js';
import { WorkerPool } from '../../../src/stream/parallel/pool.js';
import { fileSource } from '../../../src/stream/io/source.js';
import { engines, fromBytes, makeBundle, sampleBytes, onDisk, outcome } from '../../helpers.js';

const CS = MIN_CHUNK_SIZE;
const contents = () => ({ kernel: sampleBytes(3 * CS + 11, 2), initramfs: sampleBytes(CS, 3), image: sampleBytes(40 * CS + 5, 4) });

/** A pool that counts how records reach it: in runs, or one at a time. */
const pools: WorkerPool[] = [];
async function counted(): Promise<{ runner: ChunkRunner; calls: { open: number; walk: number } }> {
  const pool = new WorkerPool(await engines(), 2);
  pools.push(pool);
  const calls = { open: 0, walk: 0 };
  const runner: ChunkRunner = {
    sealWidth: pool.sealWidth,
    openWidth: pool.openWidth,
    readsFiles: true,
    seal: (j) => pool.seal(j),
    open: (j) => (calls.open++, pool.open(j)),
    walk: (j) => (calls.walk++, pool.walk(j)),
    close: async () => {},
  };
  return { runner, calls };
}
afterAll(() => Promise.all(pools.map((p) => p.close())));

/** What a reader reports, without the buffers: the same whichever way the records were read. */
async function events(it: AsyncIterable<BundleEvent>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const ev of it) out.push(ev.type === 'end' ? { type: 'end', size: ev.size, digest: ev.trailer.bundleDigest } : ev);
  return out;
}

/** The seek table of a bundle: where it starts in the bytes, and its offsets. */
function seekTableOf(b: Uint8Array): { at: number; offsets: number[] } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const { trailerOffset } = decodeFooter(b.subarray(b.length - 32), b.length - 32);
  const entries = dv.getUint32(trailerOffset + 4, true);
  const count = Number(dv.getBigUint64(trailerOffset + 8, true));
  const at = trailerOffset + 16 + 56 * entries;
  return { at, offsets: Array.from({ length: count }, (_, i) => Number(dv.getBigUint64(at + 8 * i, true))) };
}

describe('checking a bundle file in runs of records', () => {
  it('sends runs, never a record alone, and reports exactly what a stream read does', async () => {
    const eng = await engines();
    const good = await makeBundle(contents(), { engines: eng });
    const path = await onDisk(good);
    const { runner, calls } = await counted();
    const walked = await events(readBundle(fileSource(path), { engines: eng, runner, deep: false }));
    expect(calls.open).toBe(0);
    expect(calls.walk).toBeGreaterThan(2);
    expect(walked).toEqual(await events(readBundle(fromBytes(good), { engines: eng, threads: 1, deep: false })));
  });

  it('plans runs that start at records and meet end to end, from the first record to the trailer', async () => {
    const good = await makeBundle(contents(), { engines: await engines() });
    const path = await onDisk(good);
    const { offsets } = seekTableOf(good);
    const { trailerOffset } = decodeFooter(good.subarray(good.length - 32));
    const fd = openSync(path, 'r');
    try {
      const plan = planWalk(fd, good.length, offsets[0]!, 8)!;
      const runs: Run[] = [];
      for await (const r of plan.runs) runs.push(r);
      expect(plan.trailerOffset).toBe(trailerOffset);
      expect(runs.length).toBeGreaterThan(2);
      expect(runs[0]!.from).toBe(offsets[0]);
      expect(runs.at(-1)!.to).toBe(trailerOffset);
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.from).toBe(runs[i - 1]!.to);
      for (const r of runs) expect(offsets).toContain(r.from);
      // No runs where the seek table does not start where the records do; no plan where the end of the file is no footer.
      const astray: Run[] = [];
      for await (const r of planWalk(fd, good.length, offsets[0]! + 1, 8)!.runs) astray.push(r);
      expect(astray).toEqual([]);
      expect(planWalk(fd, good.length - 1, offsets[0]!, 8)).toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });

  it('reads on one record at a time from a damaged one, and fails where and as a stream read does', async () => {
    const eng = await engines();
    const good = await makeBundle(contents(), { engines: eng });
    const { offsets } = seekTableOf(good);
    const bad = good.slice();
    bad[offsets[30]! + 52 + 100]! ^= 0x20;
    const { runner, calls } = await counted();
    const got = await outcome(verifyBundle(fileSource(await onDisk(bad)), { engines: eng, runner, deep: false }));
    expect(got).toMatchObject({ code: 'ERR_BUNDLE_DIGEST_MISMATCH' });
    expect(got).toEqual(await outcome(verifyBundle(fromBytes(bad), { engines: eng, threads: 1, deep: false })));
    expect(calls.walk).toBeGreaterThan(0);
    expect(calls.open).toBeGreaterThan(0);
  });

  it('a seek table that lies about where records start costs only speed: the trailer check reports it, as for a stream', async () => {
    const eng = await engines();
    const good = await makeBundle(contents(), { engines: eng });
    const { at, offsets } = seekTableOf(good);
    // Where runs start: a lie there makes a worker stop short (one elsewhere is not even used).
    const fd = openSync(await onDisk(good), 'r');
    const starts: number[] = [];
    for await (const r of planWalk(fd, good.length, offsets[0]!, 8)!.runs) starts.push(offsets.indexOf(r.from));
    closeSync(fd);
    // Past a record's start, so a run's last record runs over its end; or back before the one
    // before it, which no table may say, so the runs end there.
    const lies = [(dv: DataView, k: number) => dv.getBigUint64(at + 8 * k, true) + 60n, (dv: DataView, k: number) => dv.getBigUint64(at + 8 * (k - 1), true)];
    for (const [k, lie] of [starts[1]!, starts[starts.length >> 1]!, starts.at(-1)!].flatMap((k) => lies.map((l) => [k, l] as const))) {
      const bad = good.slice();
      const dv = new DataView(bad.buffer);
      dv.setBigUint64(at + 8 * k, lie(dv, k), true);
      const { runner, calls } = await counted();
      const got = await outcome(verifyBundle(fileSource(await onDisk(bad)), { engines: eng, runner, deep: false }));
      expect(got).not.toBe('ok');
      expect(got).toEqual(await outcome(verifyBundle(fromBytes(bad), { engines: eng, threads: 1, deep: false })));
      expect(calls.open).toBeGreaterThan(0);
    }
  });

  it('passes nothing of a run whose file was cut shorter after the run was planned', async () => {
    const eng = await engines();
    const good = await makeBundle(contents(), { engines: eng });
    const path = await onDisk(good);
    const { offsets } = seekTableOf(good);
    const { headerHash } = await verifyBundle(fileSource(path), { engines: eng, deep: false });
    const from = offsets[5]!;
    const to = offsets[25]!;
    const fd = openSync(path, 'r');
    try {
      const whole = walkChunks(eng, { headerHash, fd, from, to }, (n) => new Uint8Array(n));
      expect(whole).toMatchObject({ complete: true });
      expect(whole.headers.length).toBe(20 * 52);
      truncateSync(path, offsets[15]! + 52 + 10);
      const cut = walkChunks(eng, { headerHash, fd, from, to }, (n) => new Uint8Array(n));
      expect(cut.complete).toBe(false);
      // The records before the cut pass; the one the file ends inside, and all after it, do not.
      expect(cut.headers.length).toBe(10 * 52);
      expect(Buffer.from(cut.headers)).toEqual(Buffer.from(whole.headers.subarray(0, 10 * 52)));
      expect(statSync(path).size).toBeLessThan(to);
    } finally {
      closeSync(fd);
    }
  });
});
