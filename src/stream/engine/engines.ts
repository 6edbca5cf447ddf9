import { wasmCodec, nativeCodec, type ChunkCodec } from './codec.js';
import { hashWasmEngine, nativeHashEngine, type HashEngine } from './hash.js';

export type EngineChoice = 'auto' | 'native' | 'fallback';

export interface Engines {
  hash: HashEngine;
  codec: ChunkCodec;
  /** Why a native module was not used under `auto`, one line each; empty on the fast path. */
  fallbackReasons?: string[];
}

const cache = new Map<EngineChoice, Promise<Engines>>();

/**
 * Native modules are the fast path; hash-wasm and zstd-codec always load and read everything the
 * native path writes. `native` fails loudly instead of falling back, for benchmarks and tests.
 */
export function loadEngines(choice: EngineChoice = 'auto'): Promise<Engines> {
  let p = cache.get(choice);
  if (!p) {
    p = (async () => {
      const fallbackReasons: string[] = [];
      const tryNative = <T>(what: string, f: () => T): T | undefined => {
        if (choice === 'fallback') return undefined;
        try {
          return f();
        } catch (e) {
          if (choice === 'native') throw e;
          fallbackReasons.push(`${what} did not load (${(e as Error).message.split('\n')[0]})`);
          return undefined;
        }
      };
      const hash = tryNative('@napi-rs/blake-hash', nativeHashEngine) ?? (await hashWasmEngine());
      const codec = tryNative('zstd-napi', nativeCodec) ?? (await wasmCodec());
      return { hash, codec, fallbackReasons };
    })();
    cache.set(choice, p);
  }
  return p;
}

const HASHES: Record<string, () => Promise<HashEngine>> = { '@napi-rs/blake-hash': async () => nativeHashEngine(), 'hash-wasm': hashWasmEngine };
const CODECS: Record<string, () => Promise<ChunkCodec>> = { 'zstd-napi': async () => nativeCodec(), 'zstd-codec': wasmCodec };

/** Exactly the engines another thread resolved, so a worker never silently runs a different path. */
export async function enginesNamed(hash: string, codec: string): Promise<Engines> {
  const h = HASHES[hash];
  const c = CODECS[codec];
  if (!h || !c) throw new Error(`unknown engines ${hash} / ${codec}`);
  return { hash: await h(), codec: await c() };
}
