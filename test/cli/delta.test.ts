/**
 * Delta export and import through the CLI: a source store that exported a boot config, a target
 * that imported it, then a changed image sent as a delta by each way the source can learn what
 * the target holds, rebuilt byte for byte; and every way a delta can fail to rebuild, each
 * refused with its code and nothing left behind.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQ_FEATURE_DELTA } from '../../src/format/constants.js';
import { content } from '../../spec/vectors.js';
import { tinyFiles, type TinyFiles } from '../store/helpers.js';
import { cli, tempDir } from './run.js';

let dir: string;
let files: TinyFiles;
const SRC = () => join(dir, 'source');
const p = (f: string) => join(dir, f);

async function ok(args: string[], store: string, stdin?: Uint8Array) {
  const r = await cli([...args, '--store', store], { cwd: dir, ...(stdin ? { stdin } : {}) });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** Text-like bytes that do not repeat: what a tree of files looks like to a chunker. */
function imageBytes(n: number, seed: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'kernel', 'module', 'usr', 'lib', 'share', 'doc', 'bin', 'etc'];
  const parts: string[] = [];
  let x = seed;
  let len = 0;
  while (len < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = `${words[x % words.length]}${x >>> 20} `;
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

/** The old image with a few edits spread through it, as an update makes. */
function edited(old: Buffer): Buffer {
  const cuts = [0.1, 0.35, 0.6, 0.85].map((f) => Math.floor(old.length * f));
  const out: Buffer[] = [];
  let at = 0;
  cuts.forEach((c, i) => {
    out.push(old.subarray(at, c), Buffer.from(`<<an update inserted this, ${i}>>`));
    at = c + (i % 2 ? 100 : 0);
  });
  out.push(old.subarray(at));
  return Buffer.concat(out);
}

/** The bytes of the image a boot config uses, straight from the store's blob. */
async function blobOf(store: string, bc: string): Promise<Buffer> {
  const ls = JSON.parse((await ok(['ls', '--json'], store)).stdout) as { name: string; image: { digest: string } | null }[];
  const digest = ls.find((b) => b.name === bc)!.image!.digest;
  return readFileSync(join(store, 'blobs', 'blake3', digest.slice(7)));
}

let oldImage: Buffer;
let newImage: Buffer;

beforeAll(async () => {
  dir = await tempDir();
  files = await tinyFiles(p('files'));
  oldImage = imageBytes(3_000_000, 1);
  newImage = edited(oldImage);
  writeFileSync(p('old.img'), oldImage);
  writeFileSync(p('new.img'), newImage);
  await ok(['image', 'create', 'name=img', `content=@${p('old.img')}`], SRC());
  await ok(['create', 'name=boot', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=img'], SRC());
  await ok(['-i', 'boot', 'export', '-o', p('boot.export'), '--index'], SRC());
  await ok(['image', 'create', 'name=img2', `content=@${p('new.img')}`], SRC());
  await ok(['create', 'name=boot2', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=img2'], SRC());
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A target that imported the first export, under the names given. */
async function target(name: string, extra: string[] = []): Promise<string> {
  const t = p(name);
  await ok(['import', p('boot.export'), ...extra], t);
  return t;
}

describe('delta export', () => {
  it('against a bundle the source still holds: small, marked as needing the delta feature, and rebuilt byte for byte', async () => {
    const r = await ok(['-i', 'boot2', 'export', '-o', p('d1.export'), '--base', p('boot.export'), '--json'], SRC());
    const summary = (JSON.parse(r.stdout) as { delta: { role: string; carried: number; referenced: number }[] }).delta;
    const img = summary.find((d) => d.role === 'image')!;
    expect(img.carried + img.referenced).toBe(newImage.length);
    expect(img.carried).toBeLessThan(newImage.length / 20);
    expect(statSync(p('d1.export')).size).toBeLessThan(statSync(p('boot.export')).size / 10);
    const bytes = readFileSync(p('d1.export'));
    expect(bytes.readUInt32LE(12) & REQ_FEATURE_DELTA).toBe(REQ_FEATURE_DELTA);

    const t = await target('t1');
    await ok(['import', p('d1.export')], t);
    expect((await blobOf(t, 'boot2')).equals(newImage)).toBe(true);
    const fsck = JSON.parse((await cli(['fsck', '--json', '--store', t], { cwd: dir })).stdout) as { ok: boolean; notes: unknown[] };
    expect(fsck).toMatchObject({ ok: true, notes: [] });
  });

  it('carrying and rebuilding little, is exported and imported on this thread: no worker starts unless threads are asked for', async () => {
    // The worker script is opened by each worker the pool starts, and by nothing else. 400 KB of
    // new bytes in chunks of 64 KiB make the image's program several chunks, where a lone chunk
    // would never go to a worker, and the image still far less than threads pay for.
    const MAIN = join(import.meta.dirname, '../../dist/bin/main.js');
    const mid = oldImage.length >> 1;
    const grown = Buffer.concat([oldImage.subarray(0, mid), randomBytes(400_000), oldImage.subarray(mid)]);
    writeFileSync(p('grown.img'), grown);
    await ok(['image', 'create', 'name=grown', `content=@${p('grown.img')}`], SRC());
    await ok(['create', 'name=boot-grown', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=grown'], SRC());
    /** Whether a worker started while the CLI ran `args`, which must succeed. */
    const startsWorkers = async (name: string, args: string[]) => {
      const trace = p(`openat-${name}`);
      const strace = ['-f', '-qq', '-e', 'trace=openat', '-o', trace];
      const code = await new Promise((res) => spawn('strace', [...strace, process.execPath, MAIN, ...args], { cwd: dir, stdio: 'ignore' }).on('close', res));
      expect(code, args.join(' ')).toBe(0);
      return readFileSync(trace, 'utf8').includes('pool-worker.js');
    };
    for (const [extra, starts] of [
      [[], false],
      [['--threads', '2'], true],
    ] as const) {
      const bundle = p(`grown-${String(starts)}.export`);
      const exported = ['-i', 'boot-grown', 'export', '-o', bundle, '--chunk-size', '64K', '--base', p('boot.export'), '--store', SRC()];
      expect(await startsWorkers(`export-${String(starts)}`, [...exported, ...extra])).toBe(starts);
      const t = await target(`threads-${String(starts)}`);
      expect(await startsWorkers(`import-${String(starts)}`, ['import', bundle, '--store', t, ...extra])).toBe(starts);
      expect((await blobOf(t, 'boot-grown')).equals(grown)).toBe(true);
    }
  });

  it('against the inventory export --index wrote, and against one the target made, with the base under other names', async () => {
    const t = await target('t2', ['--image', 'renamed', '--boot-config', 'other']);
    await ok(['-i', 'boot2', 'export', '-o', p('d2.export'), '--base', p('boot.export.inv')], SRC());
    await ok(['--all', 'inventory', '-o', p('t2.inv')], t);
    await ok(['-i', 'boot2', 'export', '-o', p('d3.export'), '--have', p('t2.inv')], SRC());
    expect(readFileSync(p('d3.export')).length).toBeLessThan(statSync(p('boot.export')).size / 10);
    await ok(['import', p('d2.export')], t);
    expect((await blobOf(t, 'boot2')).equals(newImage)).toBe(true);
    await ok(['import', p('d3.export'), '--boot-config', 'boot3', '--image', 'img3'], t);
    expect((await blobOf(t, 'boot3')).equals(newImage)).toBe(true);
  });

  it('through a pipe, and verified against the store before import', async () => {
    const t = await target('t3');
    const out = await cli(['-i', 'boot2', 'export', '-o', '-', '--base', p('boot.export'), '--store', SRC()], { cwd: dir });
    expect(out.code, out.stderr).toBe(0);
    writeFileSync(p('d4.export'), out.bytes);
    const v = await ok(['verify', '--deep', '--against-store', p('d4.export')], t);
    expect(v.stdout).toContain('delta entries rebuild from this store');
    await ok(['import', '-'], t, out.bytes);
    expect((await blobOf(t, 'boot2')).equals(newImage)).toBe(true);
  });

  it('split into volumes and signed', async () => {
    await cli(['key', 'generate', 'alice'], { cwd: dir });
    mkdirSync(p('vol'));
    // Bytes no chunk of the base holds, so the delta carries enough to fill several volumes.
    const grown = Buffer.concat([newImage, randomBytes(300_000)]);
    writeFileSync(p('grown.img'), grown);
    await ok(['image', 'create', 'name=img4', `content=@${p('grown.img')}`], SRC());
    await ok(['create', 'name=boot4', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=img4'], SRC());
    const r = await ok(
      [
        '-i',
        'boot4',
        'export',
        '-o',
        p('vol/d.export'),
        '--base',
        p('boot.export'),
        '--chunk-size',
        '64K',
        '--split-size',
        '100K',
        '--sign',
        p('alice.key'),
        '--json',
      ],
      SRC(),
    );
    const volumes = (JSON.parse(r.stdout) as { volumes: string[] }).volumes;
    expect(volumes.length).toBeGreaterThan(2);
    const t = await target('t4');
    await ok(['trust', 'add', p('alice.pub')], t);
    const imp = await ok(['import', volumes[0]!, '--require-signature', '--json'], t);
    expect(JSON.parse(imp.stdout)).toMatchObject({ committed: true, signature_required: true });
    expect((await blobOf(t, 'boot4')).equals(grown)).toBe(true);
  });
});

describe('the chunk index of a stored image', () => {
  it('is the same cut on the worker pool as on one thread, and is what a delta export matches', async () => {
    const big = Buffer.concat([imageBytes(20_000_000, 3), randomBytes(2_000_000)]);
    writeFileSync(p('big.img'), big);
    const index = async (threads: string) => {
      const s = p(`index-${threads}`);
      await ok(['--threads', threads, 'image', 'create', 'name=big', `content=@${p('big.img')}`], s);
      const dir = join(s, 'index', 'blake3');
      return readFileSync(join(dir, readdirSync(dir)[0]!));
    };
    const pooled = await index('2');
    expect(pooled.equals(await index('1'))).toBe(true);
    // 20 MB of pieces of about 4 KiB, each a 36-byte record.
    expect(pooled.length).toBeGreaterThan((22_000_000 / 16384) * 36);
  });
});

describe('the golden delta vector', () => {
  it('rebuilds in a store that holds its base, to the content its manifest declares', async () => {
    const store = p('vector-store');
    writeFileSync(p('vector-base.img'), content(40_000, 7));
    await ok(['image', 'create', 'name=vbase', `content=@${p('vector-base.img')}`], store);
    const vec = join(import.meta.dirname, '../../fixtures/vectors/ok-delta.bpb');
    await ok(['verify', '--deep', '--against-store', vec], store);
    const r = await ok(['import', vec, '--json'], store);
    const image = (JSON.parse(r.stdout) as { entries: { role: string; digest: string }[] }).entries.find((e) => e.role === 'image')!;
    const rebuilt = readFileSync(join(store, 'blobs', 'blake3', image.digest.slice(7)));
    expect(rebuilt.subarray(3000).equals(Buffer.from(content(40_000, 7).subarray(0, rebuilt.length - 3000)))).toBe(true);
  });
});

describe('a delta that cannot be rebuilt', () => {
  it('without its base: refused from the manifest with ERR_DELTA_BASE_MISSING, the dry run says so, nothing is stored', async () => {
    await ok(['-i', 'boot2', 'export', '-o', p('d5.export'), '--base', p('boot.export')], SRC());
    const empty = p('empty');
    const dry = await cli(['import', p('d5.export'), '--dry-run', '--json', '--store', empty], { cwd: dir });
    expect(dry.code).toBe(3);
    expect((JSON.parse(dry.stdout) as { problems: { code: string }[] }).problems[0]!.code).toBe('ERR_DELTA_BASE_MISSING');
    const r = await cli(['import', p('d5.export'), '--store', empty], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ERR_DELTA_BASE_MISSING: .*blake3:[0-9a-f]{64}/);
    expect(r.stderr).toContain('import the bundle this delta was written against first');
    expect(JSON.parse((await ok(['ls', '--json'], empty)).stdout)).toEqual([]);
    expect(readdirSync(join(empty, 'blobs', 'blake3'))).toEqual([]);
    const v = await cli(['verify', '--deep', '--against-store', p('d5.export'), '--store', empty], { cwd: dir });
    expect(v.stderr).toContain('ERR_DELTA_BASE_MISSING');
    // Without --against-store the bundle itself is proven intact.
    await ok(['verify', '--deep', p('d5.export')], empty);
  });

  /** Rewrites the stored file of the target's one image with `edit`; returns its digest. */
  async function editHeldImage(t: string, edit: (b: Buffer) => Uint8Array): Promise<string> {
    const digest = (JSON.parse((await ok(['image', 'ls', '--json'], t)).stdout) as { content: string }[])[0]!.content;
    const path = join(t, 'blobs', 'blake3', digest.slice(7));
    chmodSync(path, 0o600);
    writeFileSync(path, edit(readFileSync(path)));
    return digest;
  }

  it('from a base whose stored bytes are damaged: ERR_DELTA_BASE_DAMAGED, nothing committed', async () => {
    const t = await target('t5');
    await editHeldImage(t, (b) => {
      const mid = Math.floor(b.length / 2);
      b[mid] = b[mid]! ^ 0x20;
      return b;
    });
    const r = await cli(['import', p('d5.export'), '--store', t], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/ERR_DELTA_BASE_DAMAGED: the piece at byte \d+ of base blake3:[0-9a-f]{64} hashes to/);
    expect((JSON.parse((await ok(['ls', '--json'], t)).stdout) as { name: string }[]).map((x) => x.name)).toEqual(['boot']);
    expect(readdirSync(join(t, 'staging')).filter((f) => !f.startsWith('.'))).toHaveLength(0);
  });

  it('from a base whose stored file is cut short: not held whole, so ERR_DELTA_BASE_MISSING before anything is staged', async () => {
    const t = await target('t6');
    const digest = await editHeldImage(t, (b) => b.subarray(0, b.length - 5000));
    const r = await cli(['import', p('d5.export'), '--store', t], { cwd: dir });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`ERR_DELTA_BASE_MISSING: the delta bundle copies from a blob this store does not hold: ${digest}`);
    expect((JSON.parse((await ok(['ls', '--json'], t)).stdout) as { name: string }[]).map((x) => x.name)).toEqual(['boot']);
    expect(readdirSync(join(t, 'staging')).filter((f) => !f.startsWith('.'))).toHaveLength(0);
  });

  it('an inventory cut short is refused with ERR_INVENTORY', async () => {
    const inv = readFileSync(p('boot.export.inv'));
    writeFileSync(p('short.inv'), inv.subarray(0, inv.length - 10));
    const r = await cli(['-i', 'boot2', 'export', '-o', p('never.export'), '--have', p('short.inv'), '--store', SRC()], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ERR_INVENTORY');
    expect(() => statSync(p('never.export'))).toThrow();
  });
});
