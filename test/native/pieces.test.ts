/**
 * native/pieces.c on its own, compiled here as a program with BLAKE3's SIMD kernels and as the
 * portable code that binding.gyp builds on other platforms, which the addon this machine loads
 * never runs: every piece length hashes as BLAKE3's incremental hasher says, and so does a content
 * put together from subtrees.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../cli/run.js';

const NATIVE = join(import.meta.dirname, '../../native');
const BLAKE3 = ['blake3.c', 'blake3_dispatch.c', 'blake3_portable.c'].map((f) => join(NATIVE, 'blake3', f));
const KERNELS = ['sse2', 'sse41', 'avx2', 'avx512'].map((k) => join(NATIVE, 'blake3', `blake3_${k}_x86-64_unix.S`));
const PORTABLE = ['SSE2', 'SSE41', 'AVX2', 'AVX512'].map((k) => `-DBLAKE3_NO_${k}`);

async function build(name: string, extra: string[]): Promise<string> {
  const exe = join(await tempDir(), name);
  // Node's headers, for node_api.h, beside the node that runs this; the N-API calls are never
  // made, so they are left unresolved and bound lazily.
  const include = join(dirname(dirname(process.execPath)), 'include/node');
  await promisify(execFile)('gcc', [
    '-O2',
    '-std=c11',
    '-no-pie',
    `-I${include}`,
    join(import.meta.dirname, 'pieces-harness.c'),
    ...BLAKE3,
    ...extra,
    '-o',
    exe,
    '-Wl,-z,lazy',
    '-Wl,--unresolved-symbols=ignore-all',
  ]);
  return exe;
}

describe('the piece engine in C', () => {
  it.runIf(process.arch === 'x64')('hashes every piece length, and contents from subtrees, as BLAKE3 does, with the SIMD kernels', async () => {
    const { stdout } = await promisify(execFile)(await build('simd', KERNELS));
    expect(stdout).toMatch(/^ok \d+\n$/);
    expect(Number(stdout.split(' ')[1])).toBeGreaterThan(1);
  });

  it('hashes every piece length, and contents from subtrees, as BLAKE3 does, as the portable code other platforms build', async () => {
    const { stdout } = await promisify(execFile)(await build('portable', PORTABLE));
    expect(stdout).toBe('ok 1\n');
  });
});
