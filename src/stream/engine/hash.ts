import { createRequire } from 'node:module';
import type { IHasher } from 'hash-wasm';

/** An incremental BLAKE3 hasher. */
export interface Hasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** Where BLAKE3 comes from. The bundle never depends on which one wrote it. */
export interface HashEngine {
  readonly name: string;
  create(): Promise<Hasher>;
  /** One-shot digest of the concatenation of `parts`, without copying them together. */
  digestOf(parts: readonly Uint8Array[]): Uint8Array;
}

/** hash-wasm: the pure-wasm fallback, which always loads. */
export async function hashWasmEngine(): Promise<HashEngine> {
  // Loaded on demand: its embedded wasm is parsed by every thread that imports it, fast path or not.
  const { createBLAKE3 } = await import('hash-wasm');
  const shared = await createBLAKE3();
  const wrap = (h: IHasher): Hasher => ({
    update: (d) => void h.update(d),
    digest: () => h.digest('binary'),
  });
  return {
    name: 'hash-wasm',
    async create() {
      const h = await createBLAKE3();
      h.init();
      return wrap(h);
    },
    digestOf(parts) {
      // Safe to share one instance: init/update/digest run synchronously to completion.
      shared.init();
      for (const p of parts) shared.update(p);
      return shared.digest('binary');
    },
  };
}

interface NativeBlake3 {
  new (): { update(d: Uint8Array): unknown; digestBuffer(): Buffer };
}

/**
 * @napi-rs/blake-hash's binary for this platform, straight from its package where that is the
 * glibc one: the package's own loader first asks process.report whether libc is musl, which
 * took longer than loading the binary, in every thread. Anywhere else, or if that binary does not
 * load (musl), the loader chooses.
 */
function loadBlakeHash(): unknown {
  const req = createRequire(import.meta.url);
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) {
    try {
      return req(`@napi-rs/blake-hash-linux-${process.arch}-gnu`);
    } catch {
      // Not installed, or not loadable here: the loader below says why, if it cannot either.
    }
  }
  return req('@napi-rs/blake-hash');
}

/** @napi-rs/blake-hash: SIMD BLAKE3, several times faster than wasm. Throws if it cannot load. */
export function nativeHashEngine(): HashEngine {
  const mod = loadBlakeHash() as { Blake3Hasher: NativeBlake3; blake3UrlSafeBase64(input: Buffer): string };
  const Ctor = mod.Blake3Hasher;
  const make = (): Hasher => {
    const h = new Ctor();
    return { update: (d) => void h.update(d), digest: () => new Uint8Array(h.digestBuffer()) };
  };
  return {
    name: '@napi-rs/blake-hash',
    create: async () => make(),
    digestOf(parts) {
      // One part, as each piece of a chunk index is: the one-shot call, without a hasher object
      // to make and collect, is several times faster on small inputs. It answers as text: a
      // native buffer per digest, a million of them for a large blob's pieces, fragmented the
      // threads' malloc arenas and grew the process with the blob.
      if (parts.length === 1) {
        const p = parts[0]!;
        const out = new Uint8Array(32);
        out.set(Buffer.from(mod.blake3UrlSafeBase64(Buffer.from(p.buffer, p.byteOffset, p.byteLength)), 'base64url'));
        return out;
      }
      const h = new Ctor();
      for (const p of parts) h.update(p);
      return new Uint8Array(h.digestBuffer());
    },
  };
}
