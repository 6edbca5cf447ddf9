import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BootportError } from '../src/format/errors.js';
import { concatBytes } from '../src/format/bytes.js';
import { MIN_CHUNK_SIZE } from '../src/format/constants.js';
import type { Manifest } from '../src/format/manifest.js';
import { loadEngines, type EngineChoice, type Engines } from '../src/stream/engine/engines.js';
import { newManifest } from '../src/format/new-manifest.js';
import { verifyBundle, type ReadOptions } from '../src/stream/bundle/reader.js';
import { bundleBytes, type WriteOptions } from '../src/stream/bundle/writer.js';

export const ENGINES: EngineChoice[] = ['native', 'fallback'];

export function engines(choice: EngineChoice = 'native'): Promise<Engines> {
  return loadEngines(choice);
}

/** Random bytes that never repeat (a SHA-256 chain): sampleBytes repeats a pattern, which a chunker would find. */
export function noiseBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let block = Buffer.from(String(seed));
  for (let off = 0; off < n; off += 32) {
    block = createHash('sha256').update(block).digest();
    out.set(block.subarray(0, Math.min(32, n - off)), off);
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift), half compressible text and half noise. */
export function sampleBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (i >> 12) % 2 === 0 ? 97 + (i % 13) : x & 0xff;
  }
  return out;
}

export async function* fromBytes(b: Uint8Array, piece = 1 << 16): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += piece) yield b.subarray(i, i + piece);
}

export interface Contents {
  kernel: Uint8Array;
  initramfs: Uint8Array;
  image?: Uint8Array;
}

export function manifestFor(c: Contents, opts: { chunkSize?: number; name?: string; fixed?: boolean; declareSizes?: boolean } = {}): Manifest {
  const size = (b: Uint8Array) => (opts.declareSizes === false ? {} : { size: b.length });
  const m = newManifest({
    bootConfig: { name: opts.name ?? 'xyzBoot', cmdline: 'console=ttyS0 root=live:LABEL=x', description: 'test boot config' },
    entries: [
      { role: 'kernel', name: 'vmlinuz-6.1.0', ...size(c.kernel) },
      { role: 'initramfs', name: 'initramfs-6.1.0.img', ...size(c.initramfs) },
      ...(c.image ? [{ role: 'image' as const, name: 'xyzImage', ...size(c.image), meta: { distro: 'rocky9' } }] : []),
    ],
    chunkSize: opts.chunkSize ?? MIN_CHUNK_SIZE,
    source: 'test',
  });
  if (opts.fixed !== false) {
    // Fixed identity so generated vectors are byte-for-byte reproducible.
    m.bundle_id = '00000000-0000-4000-8000-000000000000';
    m.created = '2026-01-01T00:00:00.000Z';
    m.tool.version = '0.0.0-test';
  }
  return m;
}

export async function makeBundle(
  c: Contents,
  opts: { chunkSize?: number; name?: string; engines?: Engines; write?: WriteOptions; declareSizes?: boolean; fixed?: boolean } = {},
): Promise<Uint8Array> {
  const m = manifestFor(c, opts);
  const sources = [fromBytes(c.kernel), fromBytes(c.initramfs), ...(c.image ? [fromBytes(c.image)] : [])];
  const parts: Uint8Array[] = [];
  for await (const p of bundleBytes(m, sources, { engines: opts.engines ?? (await engines()), ...opts.write })) parts.push(p.slice());
  return concatBytes(parts);
}

/** Verifies and returns the error code, or 'ok'. */
export async function verdict(b: Uint8Array, opts: ReadOptions = {}, piece = 1 << 16): Promise<string> {
  try {
    await verifyBundle(fromBytes(b, piece), { engines: await engines(), ...opts });
    return 'ok';
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return code;
  }
}

/** The code a synchronous call fails with (a BootportError's code, else the error's text), or undefined if it does not fail. */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? code : String(e);
  }
  return undefined;
}

/** `b` in a file of its own, in a new temporary directory. */
export async function onDisk(b: Uint8Array): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'bootport-bundle-')), 'b.bpb');
  await writeFile(path, b);
  return path;
}

/** 'ok', or the code and message a read failed with: what two ways of reading a bundle must agree on. */
export const outcome = (p: Promise<unknown>): Promise<'ok' | { code: string; message: string }> =>
  p.then(
    () => 'ok' as const,
    (e: BootportError) => ({ code: e.code, message: e.message }),
  );
