import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';

let loaded: typeof Crypto | undefined;

/**
 * node:crypto, loaded the first time it is used. Loading it is a measurable share of a small
 * command's start-up, and `verify` of an unsigned bundle never needs it: only signing, checking a
 * signature, key files and temporary directory names do.
 */
export function nodeCrypto(): typeof Crypto {
  return (loaded ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto);
}
