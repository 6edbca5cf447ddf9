import { equalBytes, isAllZero, readU64, view, writeU64 } from './bytes.js';
import { FOOTER_MAGIC, FOOTER_SIZE, TAG_FOOTER } from './constants.js';
import { bundleError } from './errors.js';

/** The fixed 32 bytes at the very end; they let a seeking reader find the trailer from the end. */
export interface Footer {
  trailerOffset: number;
  trailerLength: number;
}

export function encodeFooter(f: Footer): Uint8Array {
  const out = new Uint8Array(FOOTER_SIZE);
  const dv = view(out);
  out[0] = TAG_FOOTER;
  writeU64(dv, 8, f.trailerOffset);
  writeU64(dv, 16, f.trailerLength);
  out.set(FOOTER_MAGIC, 24);
  return out;
}

export function decodeFooter(b: Uint8Array, offset = 0): Footer {
  if (b.length !== FOOTER_SIZE) throw bundleError('ERR_BUNDLE_TRUNCATED', `footer needs ${FOOTER_SIZE} bytes, got ${b.length}`, { offset });
  if (!equalBytes(b.subarray(24, 32), FOOTER_MAGIC))
    throw bundleError('ERR_BUNDLE_BAD_MAGIC', 'the last 8 bytes are not the footer magic', { offset: offset + 24 });
  if (b[0] !== TAG_FOOTER) throw bundleError('ERR_BUNDLE_RECORD', 'footer tag is not 0x46', { offset });
  if (!isAllZero(b.subarray(1, 8))) throw bundleError('ERR_BUNDLE_RECORD', 'footer reserved bytes are not zero', { offset: offset + 1 });
  const dv = view(b);
  return {
    trailerOffset: readU64(dv, 8, 'footer trailer offset', { offset: offset + 8 }),
    trailerLength: readU64(dv, 16, 'footer trailer length', { offset: offset + 16 }),
  };
}
