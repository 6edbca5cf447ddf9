import { equalBytes, view } from './bytes.js';
import { KNOWN_REQUIRED_FEATURES, MAX_MANIFEST_SIZE, PREAMBLE_MAGIC, PREAMBLE_SIZE, VERSION_MAJOR } from './constants.js';
import { bundleError } from './errors.js';

/** The fixed 24 bytes that open every bundle. The version lives here, never in the JSON. */
export interface Preamble {
  major: number;
  minor: number;
  required: number;
  optional: number;
  manifestLength: number;
}

export function encodePreamble(p: Preamble): Uint8Array {
  const out = new Uint8Array(PREAMBLE_SIZE);
  out.set(PREAMBLE_MAGIC, 0);
  const dv = view(out);
  dv.setUint16(8, p.major, true);
  dv.setUint16(10, p.minor, true);
  dv.setUint32(12, p.required >>> 0, true);
  dv.setUint32(16, p.optional >>> 0, true);
  dv.setUint32(20, p.manifestLength, true);
  return out;
}

export function decodePreamble(b: Uint8Array): Preamble {
  // Input shorter than a preamble is a bundle cut short only if what there is could begin one.
  const prefix = Math.min(b.length, PREAMBLE_MAGIC.length);
  if (!equalBytes(b.subarray(0, prefix), PREAMBLE_MAGIC.subarray(0, prefix))) {
    throw bundleError('ERR_BUNDLE_BAD_MAGIC', 'not a bootport bundle: the input does not begin with the bundle magic', { offset: 0 });
  }
  if (b.length < PREAMBLE_SIZE) throw bundleError('ERR_BUNDLE_TRUNCATED', 'input ends inside the preamble', { offset: b.length });
  const dv = view(b);
  const p: Preamble = {
    major: dv.getUint16(8, true),
    minor: dv.getUint16(10, true),
    required: dv.getUint32(12, true),
    optional: dv.getUint32(16, true),
    manifestLength: dv.getUint32(20, true),
  };
  if (p.major !== VERSION_MAJOR) {
    throw bundleError('ERR_BUNDLE_UNSUPPORTED', `bundle format major version ${p.major} is not supported (this bootport reads ${VERSION_MAJOR}.x)`, {
      offset: 8,
    });
  }
  const unknown = p.required & ~KNOWN_REQUIRED_FEATURES;
  if (unknown !== 0) {
    throw bundleError('ERR_BUNDLE_UNSUPPORTED', `bundle needs required feature bits 0x${(unknown >>> 0).toString(16)} that this bootport does not know`, {
      offset: 12,
    });
  }
  if (p.manifestLength === 0 || p.manifestLength > MAX_MANIFEST_SIZE) {
    throw bundleError('ERR_BUNDLE_LIMIT', `manifest length ${p.manifestLength} is outside 1..${MAX_MANIFEST_SIZE}`, { offset: 20 });
  }
  return p;
}
