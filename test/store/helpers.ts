import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fakeBzImageHeader } from '../../src/format/kernel-release.js';

/**
 * The CLI under test, run as a real process. BOOTPORT_TEST_MAIN points the store tests at another
 * build (an older one, to show that a regression test fails before its fix).
 */
export const MAIN = process.env.BOOTPORT_TEST_MAIN ?? join(import.meta.dirname, '../../dist/bin/main.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  stdin?: Uint8Array;
  /** Wraps the command: e.g. ['strace', '-f', ...] or ['unshare', '-m', ...]. */
  wrap?: string[];
  timeoutMs?: number;
}

/** Runs `bootport ARGS` in a child process. */
export function bp(args: string[], opts: RunOptions): Promise<Run> {
  const argv = [...(opts.wrap ?? []), process.execPath, MAIN, ...args];
  return run(argv, opts);
}

/** Runs any command line; stdout and stderr are collected, and a hung command is killed. */
export function run(argv: string[], opts: RunOptions): Promise<Run> {
  const t0 = Date.now();
  return new Promise((res, rej) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: { ...process.env, BOOTPORT_THREADS: '1', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdin.on('error', () => {});
    p.stdin.end(opts.stdin ?? undefined);
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    p.on('error', rej);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export interface TinyFiles {
  kernel: string;
  initramfs: string;
  image: string;
  image2: string;
  kernel2: string;
}

/**
 * Small boot files, so that fault-injection tests run many trials quickly: a kernel with a real
 * bzImage header, an initramfs, and two images of a few chunks (at 64 KiB chunks).
 */
export async function tinyFiles(dir: string): Promise<TinyFiles> {
  await mkdir(dir, { recursive: true });
  const bytes = (n: number, seed: number) => {
    const b = new Uint8Array(n);
    let x = seed;
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      b[i] = i % 4096 < 2048 ? 0x61 + (i % 17) : x >>> 24;
    }
    return b;
  };
  const kernel = (release: string, seed: number) => {
    const k = bytes(40_000, seed);
    k.set(fakeBzImageHeader(`${release} (builder@test) #1 SMP`, 0x4000));
    return k;
  };
  const f = {
    kernel: join(dir, 'vmlinuz'),
    kernel2: join(dir, 'vmlinuz-2'),
    initramfs: join(dir, 'initramfs.img'),
    image: join(dir, 'rootfs.img'),
    image2: join(dir, 'rootfs2.img'),
  };
  await writeFile(f.kernel, kernel('6.1.0-13-amd64', 1));
  await writeFile(f.kernel2, kernel('6.6.0-1-amd64', 9));
  await writeFile(f.initramfs, bytes(30_000, 2));
  await writeFile(f.image, bytes(300_000, 3));
  await writeFile(f.image2, bytes(200_000, 4));
  return f;
}

/** A store with an image, a boot config using it, and nodes booting it; and a bundle of it. */
export async function seedStore(cwd: string, store: string, files: TinyFiles, bundle?: string): Promise<void> {
  const ok = async (args: string[]) => {
    const r = await bp([...args, '--store', store], { cwd });
    if (r.code !== 0) throw new Error(`bootport ${args.join(' ')}: ${r.stderr}`);
  };
  await ok(['image', 'create', 'name=img', `content=@${files.image}`, 'distro=rocky9']);
  await ok(['create', 'name=boot', `kernel=@${files.kernel}`, `initramfs=@${files.initramfs}`, 'image=img', 'cmdline=console=ttyS0']);
  await ok(['node', 'create', 'name=n[0-1]']);
  await ok(['node', '-i', 'n0', 'set', '_boot_config=boot']);
  if (bundle) await ok(['-i', 'boot', 'export', '-o', bundle, '--chunk-size', '64K']);
}

export async function blobFiles(store: string): Promise<string[]> {
  return (await readdir(join(store, 'blobs', 'blake3')).catch(() => [])).sort();
}
