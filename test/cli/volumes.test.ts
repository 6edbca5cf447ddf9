/**
 * Split volumes through the CLI: export and pack --split-size, each volume checked alone, the set
 * verified and imported whole, every way a set can be wrong named by a coded error, and the
 * media prompts of both sides driven through a pseudo-terminal.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VOLUME_HEADER_SIZE } from '../../src/format/volume.js';
import { bp, MAIN, tinyFiles, type TinyFiles } from '../store/helpers.js';
import { cli, tempDir } from './run.js';

let dir: string;
let files: TinyFiles;
const S = () => join(dir, 'store');
const SPLIT = '100K';
/** An image of about 1.2 MiB that compresses little: a dozen volumes at SPLIT. */
const IMAGE_BYTES = 1_200_000;

async function ok(args: string[], store = S()) {
  const r = await cli([...args, '--store', store], { cwd: dir });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** Exports the boot config as volumes into a fresh directory; returns their paths. */
async function exportSet(name: string, extra: string[] = []): Promise<string[]> {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  const r = await ok(['-i', 'boot', 'export', '-o', join(out, 'boot.export'), '--split-size', SPLIT, '--chunk-size', '64K', '--json', ...extra]);
  return (JSON.parse(r.stdout) as { volumes: string[] }).volumes;
}

/** The bundle bytes a set holds: each volume without its header, in order. */
function joined(volumes: string[]): Buffer {
  return Buffer.concat(volumes.map((v) => readFileSync(v).subarray(VOLUME_HEADER_SIZE)));
}

beforeAll(async () => {
  dir = await tempDir();
  files = await tinyFiles(join(dir, 'files'));
  const image = Buffer.alloc(IMAGE_BYTES);
  for (let i = 0, x = 7; i < image.length; i++) image[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  writeFileSync(join(dir, 'files', 'big.img'), image);
  await ok(['image', 'create', 'name=img', `content=@${join(dir, 'files', 'big.img')}`]);
  await ok(['create', 'name=boot', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=img']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('export --split-size', () => {
  it('writes volumes no larger than the split size that together hold exactly the bundle', async () => {
    mkdirSync(join(dir, 'a'), { recursive: true });
    const exp = await cli(
      ['-i', 'boot', 'export', '-o', join(dir, 'a', 'boot.export'), '--split-size', SPLIT, '--chunk-size', '64K', '--json', '--store', S()],
      { cwd: dir },
    );
    expect(exp.code, exp.stderr).toBe(0);
    const doc = JSON.parse(exp.stdout) as { volumes: string[]; bundleDigest: string; bytes: number };
    expect(doc.volumes.length).toBeGreaterThanOrEqual(4);
    expect(doc.volumes.map((v) => v.slice(-4))).toEqual(doc.volumes.map((_, i) => `.${String(i + 1).padStart(3, '0')}`));
    for (const v of doc.volumes) expect(statSync(v).size).toBeLessThanOrEqual(100 * 1024);
    expect(doc.volumes.length).toBeGreaterThanOrEqual(10);
    // Reassembled, the volumes are a bundle in their own right, with the digest export reported.
    const whole = joined(doc.volumes);
    expect(whole.length).toBe(doc.bytes);
    writeFileSync(join(dir, 'a', 'whole.export'), whole);
    const v = await cli(['verify', join(dir, 'a', 'whole.export'), '--json'], { cwd: dir });
    expect(v.code, v.stderr).toBe(0);
    expect((JSON.parse(v.stdout) as { bundle_digest: string }).bundle_digest).toBe(doc.bundleDigest);
    // But their plain concatenation is not: it begins with volume 1's header, then more than it holds.
    writeFileSync(join(dir, 'a', 'cat.export'), Buffer.concat(doc.volumes.map((p) => readFileSync(p))));
    const cat = await cli(['verify', join(dir, 'a', 'cat.export')], { cwd: dir });
    expect(cat.code).toBe(1);
    expect(cat.stderr).toContain('ERR_VOLUME_DAMAGED');
  });

  it('checks one volume alone, and the whole set by its name or listed', async () => {
    const vols = await exportSet('b');
    const one = await cli(['verify', vols[1]!, '--json'], { cwd: dir });
    expect(one.code, one.stderr).toBe(0);
    const doc = JSON.parse(one.stdout) as { volume: number; last: boolean; chunks: number; not_proved: string };
    expect(doc).toMatchObject({ volume: 2, last: false });
    expect(doc.chunks).toBeGreaterThan(0);
    expect(doc.not_proved).toMatch(/bundle digest need every volume/);
    const last = JSON.parse((await cli(['verify', vols.at(-1)!, '--json'], { cwd: dir })).stdout) as { last: boolean; volumes: number; has_trailer: boolean };
    expect(last).toMatchObject({ last: true, volumes: vols.length, has_trailer: true });
    const set = await cli(['verify', join(dir, 'b', 'boot.export')], { cwd: dir });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('OK: verified every chunk digest');
    const listed = await cli(['verify', ...vols.slice().reverse()], { cwd: dir });
    expect(listed.code, listed.stderr).toBe(0);
  });

  it("inspect reads a volume header (and the first volume's manifest); sign refuses a volume", async () => {
    const vols = await exportSet('n');
    const first = JSON.parse((await cli(['inspect', vols[0]!, '--json'], { cwd: dir })).stdout) as {
      volume: number;
      boot_config: { name: string };
      verified: string;
    };
    expect(first).toMatchObject({ volume: 1, boot_config: { name: 'boot' }, verified: 'none' });
    const later = await cli(['inspect', vols[2]!], { cwd: dir });
    expect(later.stdout).toMatch(/^volume {7}3 \(more follow\)/m);
    await cli(['key', 'generate', 'k', '-C', join(dir, 'n')], { cwd: dir });
    const sign = await cli(['sign', vols.at(-1)!, '--key', join(dir, 'n', 'k.key')], { cwd: dir });
    expect(sign.code).toBe(3);
    expect(sign.stderr).toContain('ERR_UNSIGNABLE');
    expect(sign.stderr).toContain('export again with --split-size and --sign KEY');
    const signed = await exportSet('n-signed', ['--sign', join(dir, 'n', 'k.key')]);
    const v = await cli(['verify', join(dir, 'n-signed', 'boot.export'), '--trust', join(dir, 'n', 'k.pub'), '--require-signature'], { cwd: dir });
    expect(v.code, v.stderr).toBe(0);
    expect(signed.length).toBeGreaterThan(1);
  });

  it('a damaged chunk fails the volume check alone, and a damaged header is named', async () => {
    const vols = await exportSet('c');
    const v2 = readFileSync(vols[1]!);
    v2[VOLUME_HEADER_SIZE + 200]! ^= 1;
    writeFileSync(vols[1]!, v2);
    const r = await cli(['verify', vols[1]!], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_BUNDLE_DIGEST_MISMATCH: .*boot\.export\.002: chunk digest does not match/);
    // Read as part of the set, the bundle's error names the volume to copy again.
    const set = await cli(['import', vols[0]!, '--store', join(dir, 'store-c')], { cwd: dir });
    expect(set.code).toBe(1);
    expect(set.stderr).toMatch(/ERR_BUNDLE_DIGEST_MISMATCH: .*, in volume 2 \(.*boot\.export\.002\) \(entry \d+, chunk \d+, byte offset \d+\)/);
    const v3 = readFileSync(vols[2]!);
    v3[40]! ^= 1;
    writeFileSync(vols[2]!, v3);
    const h = await cli(['verify', vols[2]!], { cwd: dir });
    expect(h.code).toBe(1);
    expect(h.stderr).toContain(`ERR_VOLUME_DAMAGED: ${vols[2]}: its volume header is damaged`);
  });

  it('pack --split-size writes volumes too; -o - with --split-size is a usage error, and so is a size below one chunk', async () => {
    mkdirSync(join(dir, 'p'));
    const pack = ['pack', '--name', 'demo', '--kernel', files.kernel, '--initramfs', files.initramfs, '--image', files.image, '--chunk-size', '64K'];
    const r = await cli([...pack, '-o', join(dir, 'p', 'demo.export'), '--split-size', SPLIT], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/in \d+ volumes: demo\.export\.001, demo\.export\.002/);
    expect((await cli([...pack, '-o', '-', '--split-size', SPLIT], { cwd: dir })).code).toBe(2);
    const small = await cli([...pack, '-o', join(dir, 'p', 'x.export'), '--split-size', '10K'], { cwd: dir });
    expect(small.code).toBe(2);
    expect(small.stderr).toContain('smaller than one chunk record can be');
    expect(existsSync(join(dir, 'p', 'x.export.001'))).toBe(false);
  });

  it('refuses to overwrite volumes without --force, and with it removes the stale higher ones', async () => {
    const vols = await exportSet('f');
    const again = await cli(['-i', 'boot', 'export', '-o', join(dir, 'f', 'boot.export'), '--split-size', SPLIT, '--chunk-size', '64K', '--store', S()], {
      cwd: dir,
    });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('boot.export.001 exists');
    copyFileSync(vols[0]!, join(dir, 'f', 'boot.export.099'));
    const forced = await exportSet('f', ['--force']);
    expect(readdirSync(join(dir, 'f')).sort()).toEqual(forced.map((v) => v.split('/').at(-1)).sort());
  });
});

describe('import of volumes', () => {
  it('finds the rest beside the first, or where they are listed, and imports the bundle', async () => {
    const vols = await exportSet('i');
    const r = await ok(['import', vols[0]!], join(dir, 'store-i'));
    expect(r.stdout).toContain('imported');
    mkdirSync(join(dir, 'i2'));
    renameSync(vols[2]!, join(dir, 'i2', 'boot.export.003'));
    await ok(['import', join(dir, 'i', 'boot.export'), join(dir, 'i2', 'boot.export.003')], join(dir, 'store-i2'));
    const ls = await ok(['image', 'ls', '-l', '--json'], join(dir, 'store-i2'));
    const orig = await ok(['image', 'ls', '-l', '--json']);
    expect((JSON.parse(ls.stdout) as { content: string }[])[0]!.content).toBe((JSON.parse(orig.stdout) as { content: string }[])[0]!.content);
  });

  const cases: [string, (vols: string[], other: string[]) => string[], string, RegExp][] = [
    [
      'a missing volume',
      (v) => {
        rmSync(v[2]!);
        return [v[0]!];
      },
      'ERR_VOLUME_MISSING',
      /boot\.export\.003: volume 3 of boot\.export is not there/,
    ],
    [
      'a foreign volume',
      (v, o) => {
        copyFileSync(o[1]!, v[1]!);
        return [v[0]!];
      },
      'ERR_VOLUME_FOREIGN',
      /boot\.export\.002: is volume 2 of bundle [0-9a-f-]+, not of bundle/,
    ],
    [
      'reordered volumes',
      (v) => {
        renameSync(v[1]!, `${v[1]}.tmp`);
        renameSync(v[2]!, v[1]!);
        renameSync(`${v[1]}.tmp`, v[2]!);
        return [v[0]!];
      },
      'ERR_VOLUME_ORDER',
      /boot\.export\.002: holds volume 3, but volume 2 comes next/,
    ],
    [
      'a volume listed twice',
      (v) => {
        copyFileSync(v[1]!, `${v[1]}.copy`);
        return [v[0]!, v[1]!, `${v[1]}.copy`];
      },
      'ERR_VOLUME_DUPLICATE',
      /boot\.export\.002\.copy: holds volume 2, as .*boot\.export\.002 does/,
    ],
    [
      'a truncated volume',
      (v) => {
        truncateSync(v[1]!, statSync(v[1]!).size - 1000);
        return [v[0]!];
      },
      'ERR_VOLUME_TRUNCATED',
      /boot\.export\.002: holds \d+ of its \d+ bytes/,
    ],
  ];
  for (const [what, spoil, code, message] of cases) {
    it(`names ${what} with ${code}, and leaves the store as it was`, async () => {
      const tag = code.toLowerCase();
      const vols = await exportSet(`e-${tag}`);
      const other = await exportSet(`o-${tag}`);
      const args = spoil(vols, other);
      const store = join(dir, `store-${tag}`);
      await ok(['node', 'create', 'name=n1'], store);
      const r = await cli(['import', ...args, '--store', store], { cwd: dir });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`bootport: ${code}: `);
      expect(r.stderr).toMatch(message);
      expect(JSON.parse((await ok(['ls', '--json'], store)).stdout)).toEqual([]);
      expect(JSON.parse((await ok(['image', 'ls', '--json'], store)).stdout)).toEqual([]);
    });
  }
});

/** Runs bootport under a pseudo-terminal (script), answering each prompt with what `answer` returns. */
function onTerminal(argv: string[], answer: (prompt: string) => string, wrap: string[] = []): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, MAIN, ...argv].map((a) => `'${a}'`).join(' ');
  const p = spawn(wrap.length ? wrap[0]! : 'script', wrap.length ? [...wrap.slice(1), 'script', '-qec', cmd, '/dev/null'] : ['-qec', cmd, '/dev/null'], {
    cwd: dir,
    env: { ...process.env, BOOTPORT_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let answered = 0;
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    // A prompt that keeps coming back is a failure to report, not to answer forever.
    if (out.length > 1 << 20) p.kill('SIGKILL');
    const prompts = out.split('(q to give up): ').length - 1;
    while (answered < prompts) {
      answered++;
      p.stdin.write(`${answer(out)}\n`);
    }
  });
  const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
  return new Promise((res) =>
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code, out });
    }),
  );
}

describe('media prompts on a terminal', () => {
  it('import asks for the medium holding a missing volume, and goes on once it is there', async () => {
    const vols = await exportSet('t');
    mkdirSync(join(dir, 't-stick'));
    renameSync(vols[2]!, join(dir, 't-stick', 'boot.export.003'));
    renameSync(vols[3]!, join(dir, 't-stick', 'boot.export.004'));
    const prompts: string[] = [];
    const r = await onTerminal(['import', vols[0]!, '--store', join(dir, 'store-t')], (out) => {
      prompts.push(out);
      // First answer: press Enter after "putting in" the medium (the file moved back);
      // then the rest are on another stick, whose directory is typed.
      if (prompts.length === 1) {
        renameSync(join(dir, 't-stick', 'boot.export.003'), vols[2]!);
        return '';
      }
      return join(dir, 't-stick');
    });
    expect(r.out).toContain('Volume 3 (boot.export.003) is not in');
    expect(r.out).toContain('Volume 4 (boot.export.004) is not in');
    // The progress line names the volume being read.
    expect(r.out).toMatch(/\rreading volume 2 of .*boot\.export\.001 /);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('imported');
  });

  it('import on a terminal gives up with ERR_VOLUME_MISSING when told q, and without a terminal never asks', async () => {
    const vols = await exportSet('q');
    rmSync(vols[1]!);
    const r = await onTerminal(['import', vols[0]!, '--store', join(dir, 'store-q')], () => 'q');
    expect(r.code).toBe(1);
    expect(r.out).toContain('ERR_VOLUME_MISSING');
    const piped = await bp(['import', vols[0]!, '--store', join(dir, 'store-q')], { cwd: dir });
    expect(piped.code).toBe(1);
    expect(piped.stderr).not.toContain('press Enter');
  });

  const root = process.getuid?.() === 0;
  it.runIf(root)('export fills a small file system, ends the volume at a chunk boundary, and asks for the next medium', async () => {
    // A 300 KiB tmpfs in a mount namespace stands for a stick: each time it fills, the test
    // "swaps" it by moving the finished volumes off it (through /proc/PID/root) and pressing Enter.
    const usb = join(dir, 'usb');
    const kept = join(dir, 'kept');
    mkdirSync(usb);
    mkdirSync(kept);
    let pid = 0;
    const swap = () => {
      const inside = `/proc/${pid}/root${usb}`;
      for (const f of readdirSync(inside).filter((n) => /\.\d{3}$/.test(n))) {
        copyFileSync(join(inside, f), join(kept, f));
        rmSync(join(inside, f));
      }
      return '';
    };
    const cmd = [process.execPath, MAIN, '-i', 'boot', 'export', '-o', join(usb, 'boot.export'), '--split-size', '1M', '--chunk-size', '64K', '--store', S()]
      .map((a) => `'${a}'`)
      .join(' ');
    const p = spawn(
      'unshare',
      [
        '-m',
        'bash',
        '-c',
        `mount -t tmpfs -o size=300k tmpfs '${usb}' || exit 90; script -qec "${cmd.replace(/"/g, '\\"')}" /dev/null; rc=$?; cp '${usb}'/boot.export.* '${kept}'/; exit $rc`,
      ],
      { cwd: dir, env: { ...process.env, BOOTPORT_THREADS: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    pid = p.pid!;
    let out = '';
    let answered = 0;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.length > 1 << 20) p.kill('SIGKILL');
      while (answered < out.split('(q to give up): ').length - 1) {
        answered++;
        p.stdin.write(`${swap()}\n`);
      }
    });
    const code = await new Promise<number | null>((res) => p.on('close', res));
    expect(code, out).toBe(0);
    expect(out).toMatch(/boot\.export\.001 is complete\. .* is full\. Put in the medium for volume 2/);
    // The progress line names the volume being written.
    expect(out).toMatch(/\rwriting boot\.export\.002 \(volume 2\) /);
    // Each "stick" held less than the split size: every volume was ended by a full file system.
    const vols = readdirSync(kept).sort();
    expect(vols.length).toBe(answered + 1);
    for (const v of vols.slice(0, -1)) expect(statSync(join(kept, v)).size).toBeLessThan(300 * 1024);
    const verified = await cli(['verify', join(kept, 'boot.export')], { cwd: dir });
    expect(verified.code, verified.stderr).toBe(0);
    const imported = await cli(['import', join(kept, 'boot.export.001'), '--store', join(dir, 'store-usb')], { cwd: dir });
    expect(imported.code, imported.stderr).toBe(0);
  });

  it.runIf(root)('without a terminal, a full file system fails the export with ERR_NO_SPACE and leaves no volume', async () => {
    const usb = join(dir, 'usb2');
    mkdirSync(usb);
    const script = `mount -t tmpfs -o size=300k tmpfs '${usb}' || exit 90
      ${process.execPath} ${MAIN} -i boot export -o '${usb}/boot.export' --split-size 1M --chunk-size 64K --store '${S()}' </dev/null
      code=$?; ls -A '${usb}'; exit $code`;
    const res = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn('unshare', ['-m', 'bash', '-c', script], { cwd: dir, env: { ...process.env, BOOTPORT_THREADS: '1' } });
      let o = '';
      let e = '';
      c.stdout.on('data', (d: Buffer) => (o += d.toString()));
      c.stderr.on('data', (d: Buffer) => (e += d.toString()));
      c.on('close', (code) => resolve({ code, out: o, err: e }));
    });
    expect(res.code, res.err).toBe(4);
    expect(res.err).toMatch(/ERR_NO_SPACE: .*boot\.export\.00\d: no space left/);
    expect(res.out.trim()).toBe('');
  });
});

describe('exports onto vfat', () => {
  // A FAT file system through FUSE (fusefat), as a USB stick formatted at a shop would be.
  const can = process.getuid?.() === 0 && existsSync('/dev/fuse');
  it.runIf(can)('split at just under 4 GiB when the bundle could reach it, and say so; a bundle that cannot stays one file', async () => {
    const img = join(dir, 'fat.img');
    const m = join(dir, 'fat');
    const out = join(dir, 'fat-out');
    mkdirSync(m);
    mkdirSync(out);
    const node = `${process.execPath} ${MAIN}`;
    const script = `set -e
      truncate -s 32M '${img}'; mkfs.vfat '${img}' >/dev/null
      fusefat -o rw+ '${img}' '${m}' >/dev/null
      ${node} -i boot export -o '${m}/boot.export' --store '${S()}' > '${out}/export.out' 2> '${out}/export.err'
      ${node} pack --name demo --kernel '${files.kernel}' --initramfs '${files.initramfs}' --image - -o '${m}/demo.export' < '${files.image}' > '${out}/pack.out' 2> '${out}/pack.err'
      ${node} -i boot export -o '${m}/big.export' --split-size 5G --store '${S()}' > '${out}/big.out' 2> '${out}/big.err' || echo $? > '${out}/big.code'
      ls -A '${m}' > '${out}/ls'
      cp '${m}'/demo.export.* '${out}'/
      umount '${m}'`;
    const r = await new Promise<{ code: number | null; err: string }>((res) => {
      const c = spawn('unshare', ['-m', 'bash', '-c', script], { cwd: dir, env: { ...process.env, BOOTPORT_THREADS: '1' } });
      let e = '';
      c.stderr.on('data', (d: Buffer) => (e += d.toString()));
      c.on('close', (code) => res({ code, err: e }));
    });
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(out, 'ls'), 'utf8').split('\n').filter(Boolean).sort()).toEqual(['boot.export', 'demo.export.001']);
    expect(readFileSync(join(out, 'export.err'), 'utf8')).toBe('');
    expect(readFileSync(join(out, 'pack.err'), 'utf8')).toMatch(
      /is a vfat file system, where a file must stay under 4 GiB: writing volumes of at most 4\.0 GiB \(demo\.export\.001, …\)/,
    );
    // A split size FAT cannot hold is refused before anything is written.
    expect(readFileSync(join(out, 'big.code'), 'utf8').trim()).toBe('2');
    expect(readFileSync(join(out, 'big.err'), 'utf8')).toContain('a FAT file system, cannot hold (under 4 GiB each)');
    const v = await cli(['verify', join(out, 'demo.export')], { cwd: dir });
    expect(v.code, v.stderr).toBe(0);
  });
});
