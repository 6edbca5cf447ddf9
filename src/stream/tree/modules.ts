import { createRequire } from 'node:module';
import type TarStream from 'tar-stream';

type Xattr = typeof import('@napi-rs/xattr');

const require = createRequire(import.meta.url);

/** tar-stream, loaded on first use: every command would otherwise pay for loading it. */
export function loadTarStream(): typeof TarStream {
  return require('tar-stream') as typeof TarStream;
}

let xattr: Xattr | null | undefined;
let xattrProblem = '';

/**
 * The extended-attribute addon (its prebuilt binary ships in a per-platform npm package), or
 * undefined with the reason where this platform has none: trees are then packed and extracted
 * without extended attributes, and the command says so.
 */
export function loadXattr(): { xattr?: Xattr; problem?: string } {
  if (xattr === undefined) {
    try {
      xattr = require('@napi-rs/xattr') as Xattr;
    } catch (e) {
      xattr = null;
      xattrProblem = (e as Error).message.split('\n')[0] ?? 'cannot load @napi-rs/xattr';
    }
  }
  return xattr ? { xattr } : { problem: xattrProblem };
}
