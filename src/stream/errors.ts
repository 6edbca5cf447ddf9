import { BUNDLE_ERRORS } from '../format/errors.js';

/** The codes of the streaming layer: its sources, codecs and files. */
export const STREAM_ERRORS = {
  ERR_SOURCE: 'a payload source failed or changed while it was being read',
  ERR_CODEC: 'the compressor or hasher failed',
  ERR_IO: 'a file could not be read or written',
  ERR_NO_SPACE: 'the file system is full, or too full for what the command must write',
  ERR_EXISTS: 'the output exists and overwriting it was not asked for',
  ERR_KEY: 'a key file cannot be read, or is not an Ed25519 key bootport can use',
  ERR_UNSIGNABLE: 'the bundle cannot take another signature: written before signatures, or full of extension records',
  ERR_SIGNATURE_REQUIRED: 'the bundle has no valid signature by a trusted key, and one is required',
  ERR_TAR_UNSAFE: 'a tar entry would write outside the target directory: an absolute name, .., or a path through a symlink',
  ERR_DELTA_BASE_MISSING: 'a delta bundle copies from a blob this store does not hold: import its base first',
  ERR_DELTA_BASE_DAMAGED: 'bytes a delta bundle copies from a blob this store holds do not match their digests',
  ERR_INVENTORY: 'an inventory or chunk index file is damaged, cut short, or not one',
  ERR_TAR_INVALID: 'an image is not a tar bootport can extract: corrupt, truncated, or holding an unsupported entry',
} as const;

declare module '../format/errors.js' {
  interface ErrorCodes extends Record<keyof typeof STREAM_ERRORS, string> {}
}

/** Codes a worker thread may send back: nothing above this layer runs there. */
export function isStreamLayerCode(code: string): code is keyof typeof BUNDLE_ERRORS | keyof typeof STREAM_ERRORS {
  return code in BUNDLE_ERRORS || code in STREAM_ERRORS;
}
