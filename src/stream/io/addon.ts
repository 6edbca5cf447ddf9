import { createRequire } from 'node:module';
import { packagePath } from './package-path.js';

/** native/pieces.c, as binding.gyp builds it. */
export interface Addon {
  configure(gear: Uint32Array, min: number, avg: number, max: number): void;
  candidates(data: Uint8Array, lookahead: number, cuts: Uint32Array, digests: Uint8Array): number;
  digests(data: Uint8Array, lengths: Uint32Array, out: Uint8Array): void;
  /** The address of `view`'s first byte modulo 4096. */
  alignment(view: Uint8Array): number;
  /** Whether `data` is a whole subtree at chunk counter `chunk`; if so, its two halves' chaining values are in `out`. */
  subtree(data: Uint8Array, chunk: number, out: Uint8Array): boolean;
  /** The size of a BLAKE3 hasher's state, which the tree functions keep in a JS buffer. */
  treeStateBytes: number;
  treeInit(state: Uint8Array): void;
  treePush(state: Uint8Array, pair: Uint8Array, chunk: number, chunks: number): boolean;
  treeUpdate(state: Uint8Array, data: Uint8Array): void;
  treeDigest(state: Uint8Array, out: Uint8Array): void;
  /** Makes the whole pages inside `view` resident in one call instead of a fault each (native/resident.c); false where it cannot. */
  populate(view: Uint8Array): boolean;
}

let loaded: { addon: Addon } | { error: Error } | undefined;

/** bootport's own native addon, built by `npm ci`; throws, saying how to build it, if it cannot load. */
export function loadAddon(): Addon {
  loaded ??= load();
  if ('error' in loaded) throw loaded.error;
  return loaded.addon;
}

/** The addon, or undefined where it cannot load (its users have a slower way). */
export function addonIfBuilt(): Addon | undefined {
  try {
    return loadAddon();
  } catch {
    return undefined;
  }
}

function load(): { addon: Addon } | { error: Error } {
  let path: string;
  try {
    path = packagePath('build/Release/bootport_pieces.node');
  } catch (e) {
    return { error: e as Error };
  }
  try {
    return { addon: createRequire(import.meta.url)(path) as Addon };
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    return {
      error: new Error(missing ? `${path} is not built: \`npm run build:native\` builds it` : `${path}: ${(e as Error).message.split('\n')[0]}`, { cause: e }),
    };
  }
}
