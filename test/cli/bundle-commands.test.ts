import { hostname } from 'node:os';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImageHeader } from '../../src/format/kernel-release.js';
import { sampleBytes } from '../helpers.js';
import { cli, tempDir } from './run.js';

describe('pack / inspect / verify / unpack', () => {
  let dir: string;
  const kernel = Buffer.concat([Buffer.from(fakeBzImageHeader('6.1.0-13-amd64 (x) #1')), Buffer.from(sampleBytes(100000, 2))]);
  const initramfs = Buffer.from(sampleBytes(300000, 3));
  const image = Buffer.from(sampleBytes(1_000_000, 4));

  beforeAll(async () => {
    dir = await tempDir();
    await writeFile(join(dir, 'vmlinuz'), kernel);
    await writeFile(join(dir, 'initrd.img'), initramfs);
    await writeFile(join(dir, 'rootfs.img'), image);
  });

  const pack = (out: string, ...extra: string[]) =>
    cli(
      [
        'pack',
        '-o',
        out,
        '--name',
        'xyzBoot',
        '--kernel',
        'vmlinuz',
        '--initramfs',
        'initrd.img',
        '--image',
        'rootfs.img',
        '--cmdline',
        'quiet',
        '--chunk-size',
        '64K',
        ...extra,
      ],
      { cwd: dir },
    );

  it('packs, inspects, verifies and unpacks a bundle byte for byte', async () => {
    const p = await pack('a.export');
    expect(p.code, p.stderr).toBe(0);
    const i = await cli(['inspect', 'a.export', '--json'], { cwd: dir });
    expect(i.code).toBe(0);
    const view = JSON.parse(i.stdout);
    expect(view.verified).toBe('none');
    // newManifest is pure; the CLI gives it the host the bundle was made on.
    expect(view.source).toBe(hostname());
    expect(view.boot_config).toMatchObject({ name: 'xyzBoot', cmdline: 'quiet', release: '6.1.0-13-amd64' });
    expect(view.entries.map((e: { role: string; size: number; chunks: number }) => [e.role, e.size, e.chunks])).toEqual([
      ['kernel', kernel.length, 2],
      ['initramfs', initramfs.length, 5],
      ['image', image.length, 16],
    ]);
    const v = await cli(['verify', '--deep', 'a.export'], { cwd: dir });
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('OK: verified');
    const u = await cli(['unpack', 'a.export', '-C', 'out'], { cwd: dir });
    expect(u.code, u.stderr).toBe(0);
    expect(await readFile(join(dir, 'out', 'kernel'))).toEqual(kernel);
    expect(await readFile(join(dir, 'out', 'initramfs'))).toEqual(initramfs);
    expect(await readFile(join(dir, 'out', 'image'))).toEqual(image);
    const doc = JSON.parse(await readFile(join(dir, 'out', 'bootconfig.json'), 'utf8'));
    expect(doc.boot_config.name).toBe('xyzBoot');
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(['bootconfig.json', 'image', 'initramfs', 'kernel']);
  });

  it('works through pipes: pack to stdout, verify and unpack from stdin', async () => {
    const p = await pack('-');
    expect(p.code).toBe(0);
    expect(p.bytes.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x42, 0x50, 0x54]));
    expect((await cli(['verify', '-'], { cwd: dir, stdin: p.bytes })).code).toBe(0);
    const i = await cli(['inspect', '-', '--json'], { cwd: dir, stdin: p.bytes });
    expect(JSON.parse(i.stdout).verified).toBe('digests');
    const u = await cli(['unpack', '-', '-C', 'piped'], { cwd: dir, stdin: p.bytes });
    expect(u.code).toBe(0);
    expect(await readFile(join(dir, 'piped', 'image'))).toEqual(image);
  });

  it('reads the image from stdin while writing the bundle to stdout', async () => {
    const p = await cli(['pack', '-o', '-', '--name', 'xyzBoot', '--kernel', 'vmlinuz', '--initramfs', 'initrd.img', '--image', '-', '--image-name', 'piped'], {
      cwd: dir,
      stdin: image,
    });
    expect(p.code, p.stderr).toBe(0);
    const u = await cli(['unpack', '-', '-C', 'both-pipes'], { cwd: dir, stdin: p.bytes });
    expect(u.code, u.stderr).toBe(0);
    expect(await readFile(join(dir, 'both-pipes', 'image'))).toEqual(image);
  });

  it('refuses to overwrite without --force', async () => {
    await writeFile(join(dir, 'taken.export'), 'precious');
    const p = await pack('taken.export');
    expect(p.code).toBe(3);
    expect(p.stderr).toContain('ERR_EXISTS');
    expect(await readFile(join(dir, 'taken.export'), 'utf8')).toBe('precious');
    expect((await pack('taken.export', '--force')).code).toBe(0);
  });

  it('unpack leaves the directory as it was when the bundle is corrupt or truncated', async () => {
    await pack('c.export');
    const good = await readFile(join(dir, 'c.export'));
    const bad = Buffer.from(good);
    bad[bad.length - 200]! ^= 1;
    await writeFile(join(dir, 'bad.export'), bad);
    const r = await cli(['unpack', 'bad.export', '-C', 'never', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('ERR_BUNDLE_DIGEST_MISMATCH');
    expect((await readdir(dir)).includes('never')).toBe(false);

    await mkdir(join(dir, 'existing'));
    await writeFile(join(dir, 'existing', 'keep'), 'x');
    const t = await cli(['unpack', '-', '-C', 'existing'], { cwd: dir, stdin: good.subarray(0, good.length - 1000) });
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('ERR_BUNDLE_TRUNCATED');
    expect(await readdir(join(dir, 'existing'))).toEqual(['keep']);
  });

  it('verify names what failed, with the code, entry, chunk and offset', async () => {
    await pack('d.export');
    const b = await readFile(join(dir, 'd.export'));
    b[5000]! ^= 0x10;
    await writeFile(join(dir, 'd.export'), b);
    const v = await cli(['verify', 'd.export', '--json'], { cwd: dir });
    expect(v.code).toBe(1);
    const e = JSON.parse(v.stdout).error;
    expect(e.code).toBe('ERR_BUNDLE_DIGEST_MISMATCH');
    expect(e.entry).toBe(0);
    expect(e.chunk).toBe(0);
    expect(typeof e.offset).toBe('number');
    expect(e.hint).toMatch(/export it again/);
  });

  it('gives usage errors exit code 2', async () => {
    expect((await cli(['pack', '--name', 'x'], { cwd: dir })).code).toBe(2);
    expect((await cli(['frobnicate'], { cwd: dir })).code).toBe(2);
    const odd = await pack('e.export', '--chunk-size', '3M');
    expect(odd.code).toBe(2);
    expect(odd.stderr).toContain('power of two');
    const bad = await cli(['pack', '-o', 'f.export', '--name', '../evil', '--kernel', 'vmlinuz', '--initramfs', 'initrd.img'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ERR_USAGE');
  });

  it('the fallback engine writes bundles the native engine verifies', async () => {
    const p = await cli(['pack', '-o', 'fb.export', '--name', 'xyzBoot', '--kernel', 'vmlinuz', '--initramfs', 'initrd.img', '--engine', 'fallback'], {
      cwd: dir,
    });
    expect(p.code, p.stderr).toBe(0);
    expect((await cli(['verify', '--deep', 'fb.export', '--engine', 'native'], { cwd: dir })).code).toBe(0);
  });
});

describe('engines and threads on the command line', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    await writeFile(join(dir, 'vmlinuz'), Buffer.from(sampleBytes(200000, 5)));
    await writeFile(join(dir, 'rootfs.img'), Buffer.from(sampleBytes(700000, 6)));
  });
  const pack = (out: string, ...global: string[]) =>
    cli(
      [
        ...global,
        'pack',
        '-o',
        out,
        '--name',
        'b',
        '--kernel',
        'vmlinuz',
        '--initramfs',
        'vmlinuz',
        '--image',
        'rootfs.img',
        '--chunk-size',
        '64K',
        '--json',
        '--force',
      ],
      { cwd: dir },
    );

  it('--json says which engines and how many threads did the work', async () => {
    const p = JSON.parse((await pack('n.export', '--threads', '3')).stdout);
    expect(p.engine).toEqual({ codec: 'zstd-napi', hash: '@napi-rs/blake-hash', pieces: 'bootport-pieces', threads: 3 });
    const f = JSON.parse((await pack('f.export', '--engine', 'fallback', '--threads', '1')).stdout);
    expect(f.engine).toEqual({ codec: 'zstd-codec', hash: 'hash-wasm', pieces: 'js+hash-wasm', threads: 1 });
    const v = JSON.parse((await cli(['verify', 'n.export', '--json'], { cwd: dir, env: { BOOTPORT_THREADS: '2', BOOTPORT_ENGINE: 'fallback' } })).stdout);
    expect(v.engine).toEqual({ codec: 'zstd-codec', hash: 'hash-wasm', pieces: 'js+hash-wasm', threads: 2 });
  });

  it('bundles from either engine and any thread count verify deep on the other', async () => {
    for (const [out, g] of [
      ['a.export', ['--threads', '1']],
      ['b.export', ['--threads', '2', '--engine', 'fallback']],
    ] as const) {
      expect((await pack(out, ...g)).code).toBe(0);
      for (const engine of ['native', 'fallback']) {
        for (const threads of ['1', '2']) expect((await cli(['--engine', engine, '--threads', threads, 'verify', '--deep', out], { cwd: dir })).code).toBe(0);
      }
    }
  });

  it('a bad thread count is a usage error, from the flag or the environment', async () => {
    for (const bad of ['0', '1.5', 'two', '65']) {
      const r = await cli(['--threads', bad, 'verify', 'x.export'], { cwd: dir });
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--threads')]);
    }
    const e = await cli(['verify', 'x.export'], { cwd: dir, env: { BOOTPORT_THREADS: 'lots' } });
    expect([e.code, e.stderr]).toEqual([2, expect.stringContaining('BOOTPORT_THREADS')]);
  });
});
