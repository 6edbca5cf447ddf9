import { view } from './bytes.js';
import { EXTENSION_HEADER_SIZE, MAX_EXTENSION_SIZE, TAG_EXTENSION } from './constants.js';
import { bundleError } from './errors.js';

/**
 * Extension records sit between the trailer and the footer. v1 defines none; the slot exists so
 * that a detached-style signature over the bundle digest can ride inside the file later without
 * a new major version. They are outside the bundle digest by design: a signature cannot sign itself.
 */
export interface ExtensionHeader {
  type: number;
  length: number;
}

export function encodeExtension(type: number, body: Uint8Array): Uint8Array {
  if (body.length > MAX_EXTENSION_SIZE) throw new RangeError('extension body too large');
  const out = new Uint8Array(EXTENSION_HEADER_SIZE + body.length);
  out[0] = TAG_EXTENSION;
  out[1] = type;
  view(out).setUint32(4, body.length, true);
  out.set(body, EXTENSION_HEADER_SIZE);
  return out;
}

export function decodeExtensionHeader(b: Uint8Array, offset = 0): ExtensionHeader {
  if (b.length < EXTENSION_HEADER_SIZE) throw bundleError('ERR_BUNDLE_TRUNCATED', 'input ends inside an extension record', { offset: offset + b.length });
  if (b[0] !== TAG_EXTENSION) throw bundleError('ERR_BUNDLE_RECORD', 'expected an extension record (tag 0x58)', { offset });
  if (b[2] !== 0 || b[3] !== 0) throw bundleError('ERR_BUNDLE_RECORD', 'extension reserved bytes are not zero', { offset: offset + 2 });
  const length = view(b).getUint32(4, true);
  if (length > MAX_EXTENSION_SIZE) throw bundleError('ERR_BUNDLE_LIMIT', `extension length ${length} exceeds ${MAX_EXTENSION_SIZE}`, { offset: offset + 4 });
  return { type: b[1] ?? 0, length };
}
