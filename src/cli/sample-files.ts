import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fakeBzImageHeader } from '../format/kernel-release.js';
import { loadTarStream } from '../stream/tree/modules.js';

/**
 * Sample boot files for the quick start, tests and benchmarks: a kernel with a real bzImage
 * setup header (so the release is found as `file` finds it), an initramfs, and a root image that
 * is a genuine tar of a small file tree padded with text-like and random files: about 2:1 at zstd -3,
 * a little less compressible than a typical root file system, so no benchmark flatters itself.
 */
export interface SampleOptions {
  dir: string;
  imageSize: number;
  release?: string;
  seed?: number;
}

class Rng {
  constructor(private x: number) {}
  next(): number {
    this.x ^= this.x << 13;
    this.x ^= this.x >>> 17;
    this.x ^= this.x << 5;
    return this.x >>> 0;
  }
  fill(b: Uint8Array): Uint8Array {
    for (let i = 0; i + 4 <= b.length; i += 4) {
      const v = this.next();
      b[i] = v;
      b[i + 1] = v >>> 8;
      b[i + 2] = v >>> 16;
      b[i + 3] = v >>> 24;
    }
    return b;
  }
}

const WORDS = (
  'the of and to in is for on that with as are be this by from or at an not config kernel module driver device system service ' +
  'network file path user root lib bin usr share include error warning debug'
).split(' ');

function textLike(rng: Rng, n: number): Uint8Array {
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = WORDS[rng.next() % WORDS.length]!;
    const s = rng.next() % 11 === 0 ? `${w}_${rng.next() % 1000}\n` : `${w} `;
    parts.push(s);
    len += s.length;
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, n);
}

/** Bytes of a file: 2/3 text-like, 1/3 incompressible, like binaries and compressed docs in a rootfs. */
function fileBody(rng: Rng, n: number, i: number): Uint8Array {
  return i % 3 === 2 ? rng.fill(new Uint8Array(n)) : textLike(rng, n);
}

export function sampleImageStream(size: number, seed = 7): Readable {
  const pack = loadTarStream().pack();
  const rng = new Rng(seed);
  const FILE = 1 << 20;
  (async () => {
    const add = (name: string, body: Uint8Array) =>
      new Promise<void>((res, rej) => pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, Buffer.from(body), (e) => (e ? rej(e) : res())));
    await add('etc/os-release', new TextEncoder().encode('NAME="Sample Linux"\nVERSION_ID="1"\nID=sample\n'));
    await add('etc/hostname', new TextEncoder().encode('compute\n'));
    let written = 0;
    for (let i = 0; written + FILE + 2048 <= size; i++) {
      await add(`usr/lib/sample/file-${String(i).padStart(6, '0')}`, fileBody(rng, FILE, i));
      written += FILE + 512;
    }
    pack.finalize();
  })().catch((e) => pack.destroy(e));
  return pack as unknown as Readable;
}

export async function writeSample(opts: SampleOptions): Promise<{ kernel: string; initramfs: string; image: string }> {
  await mkdir(opts.dir, { recursive: true });
  const rng = new Rng(opts.seed ?? 11);
  const kernel = join(opts.dir, 'vmlinuz');
  const initramfs = join(opts.dir, 'initramfs.img');
  const image = join(opts.dir, 'rootfs.tar');
  const release = opts.release ?? '6.1.0-13-amd64';
  const head = fakeBzImageHeader(`${release} (builder@sample) #1 SMP PREEMPT_DYNAMIC`, 0x4000);
  await pipeline(Readable.from([Buffer.from(head), Buffer.from(rng.fill(new Uint8Array(6 << 20)))]), createWriteStream(kernel));
  await pipeline(Readable.from([Buffer.from(textLike(rng, 12 << 20)), Buffer.from(rng.fill(new Uint8Array(4 << 20)))]), createWriteStream(initramfs));
  await pipeline(sampleImageStream(opts.imageSize, opts.seed ?? 7), createWriteStream(image));
  return { kernel, initramfs, image };
}
