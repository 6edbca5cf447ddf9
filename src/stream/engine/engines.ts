import { wasmCodec, nativeCodec, type ChunkCodec } from './codec.js';
import { hashWasmEngine, nativeHashEngine, type HashEngine } from './hash.js';
import { jsPieceEngine, nativePieceEngine, NATIVE_PIECES, type PieceEngine } from './pieces.js';
import { nativeTreeEngine, type TreeEngine } from './tree.js';

export type EngineChoice = 'auto' | 'native' | 'fallback';

export interface Engines {
  hash: HashEngine;
  codec: ChunkCodec;
  /** Cuts and hashes the pieces of chunk indexes. */
  pieces: PieceEngine;
  /** Puts content digests together from subtrees hashed on workers; it comes with the native piece engine. */
  tree?: TreeEngine;
  /** Why a native module was not used under `auto`, and what runs instead, one line each; empty on the fast path. */
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
      const tryNative = <T>(what: string, f: () => T, instead = 'the wasm fallback'): T | undefined => {
        if (choice === 'fallback') return undefined;
        try {
          return f();
        } catch (e) {
          if (choice === 'native') throw e;
          fallbackReasons.push(`${what} did not load (${(e as Error).message.split('\n')[0]}); using ${instead}, which is slower`);
          return undefined;
        }
      };
      const hash = tryNative('@napi-rs/blake-hash', nativeHashEngine) ?? (await hashWasmEngine());
      const codec = tryNative('zstd-napi', nativeCodec) ?? (await wasmCodec());
      const native = tryNative(`the native piece engine (${NATIVE_PIECES})`, nativePieceEngine, 'the JS chunker');
      const pieces = native ?? jsPieceEngine(hash);
      return { hash, codec, pieces, ...(native ? { tree: nativeTreeEngine() } : {}), fallbackReasons };
    })();
    cache.set(choice, p);
  }
  return p;
}

const HASHES: Record<string, () => Promise<HashEngine>> = { '@napi-rs/blake-hash': async () => nativeHashEngine(), 'hash-wasm': hashWasmEngine };
const CODECS: Record<string, () => Promise<ChunkCodec>> = { 'zstd-napi': async () => nativeCodec(), 'zstd-codec': wasmCodec };

/** Exactly the engines another thread resolved, so a worker never silently runs a different path. */
export async function enginesNamed(hash: string, codec: string, pieces: string): Promise<Engines> {
  const h = HASHES[hash];
  const c = CODECS[codec];
  if (!h || !c) throw new Error(`unknown engines ${hash} / ${codec}`);
  const he = await h();
  const pe = pieces === NATIVE_PIECES ? nativePieceEngine() : jsPieceEngine(he);
  if (pe.name !== pieces) throw new Error(`unknown piece engine ${pieces}`);
  return { hash: he, codec: await c(), pieces: pe, ...(pieces === NATIVE_PIECES ? { tree: nativeTreeEngine() } : {}) };
}
