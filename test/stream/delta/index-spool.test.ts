/** The chunk index written to a file as its pieces come (issue 13): bounded memory, the same bytes. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeChunkIndex, encodeChunkIndex, INDEX_HEADER, INDEX_RECORD } from '../../../src/format/pieces.js';
import { PieceCutter } from '../../../src/stream/delta/cutter.js';
import { IndexSpool } from '../../../src/stream/delta/index-spool.js';
import { loadEngines } from '../../../src/stream/engine/engines.js';
import { tempDir } from '../../cli/run.js';
import { noiseBytes } from '../../helpers.js';

describe('an index spool', () => {
  it('writes the same file as the index built in memory, mode and all', async () => {
    const engines = await loadEngines();
    const hash = engines.hash;
    const dir = await tempDir();
    const data = noiseBytes(24 << 20, 9);
    const digest = hash.digestOf([data]);
    const inMemory = new PieceCutter(engines.pieces);
    inMemory.update(data);
    const expected = encodeChunkIndex(inMemory.finish(digest), (p) => hash.digestOf(p));

    const path = join(dir, 'spooled.index');
    const spool = IndexSpool.create(path, 0o400);
    const cutter = new PieceCutter(engines.pieces, spool);
    for (let at = 0; at < data.length; at += 1 << 20) cutter.update(data.subarray(at, at + (1 << 20)));
    cutter.end();
    await spool.finish(digest, data.length, hash);
    const written = readFileSync(path);
    expect(Buffer.from(written).equals(Buffer.from(expected))).toBe(true);
    expect(decodeChunkIndex(written, (p) => hash.digestOf(p)).size).toBe(data.length);
    expect(statSync(path).mode & 0o777).toBe(0o400);
  });

  it("puts its records on disk as they come: a blob's index is never held whole in memory", async () => {
    const { hash } = await loadEngines();
    const dir = await tempDir();
    const path = join(dir, 'many.index');
    const spool = IndexSpool.create(path, 0o600);
    const digest = new Uint8Array(32);
    const n = Math.ceil((3 << 20) / INDEX_RECORD);
    for (let i = 0; i < n; i++) {
      digest[0] = i & 255;
      spool.add(4096, digest);
    }
    // Three blocks of records: all but the last are in the file before it is finished.
    expect(statSync(path).size).toBeGreaterThanOrEqual(INDEX_HEADER + (2 << 20) - INDEX_RECORD);
    await spool.finish(hash.digestOf([new Uint8Array(1)]), n * 4096, hash);
    const list = decodeChunkIndex(readFileSync(path), (p) => hash.digestOf(p));
    expect(list.count).toBe(n);
    expect(list.digestAt(n - 1)[0]).toBe((n - 1) & 255);
  });

  it('refuses pieces that do not add up to the blob, and leaves no file', async () => {
    const { hash } = await loadEngines();
    const dir = await tempDir();
    const path = join(dir, 'short.index');
    const spool = IndexSpool.create(path, 0o600);
    spool.add(1000, new Uint8Array(32));
    await expect(spool.finish(new Uint8Array(32), 2000, hash)).rejects.toThrow(
      /cannot write the chunk index .*short\.index.*add up to 1000 bytes, the blob has 2000/,
    );
    expect(existsSync(path)).toBe(false);
  });
});
