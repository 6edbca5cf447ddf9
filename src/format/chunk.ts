import { copyOf, view, writeU64 } from './bytes.js';
import {
  CHUNK_FIELDS_SIZE,
  CHUNK_FLAG_FINAL,
  CHUNK_HEADER_SIZE,
  DIGEST_SIZE,
  KNOWN_CHUNK_FLAGS,
  MAX_CHUNK_SIZE,
  MAX_CHUNKS,
  TAG_CHUNK,
  zstdCompressBound,
} from './constants.js';
import { bundleError } from './errors.js';

/** The 52-byte header in front of each compressed chunk. */
export interface ChunkHeader {
  final: boolean;
  entry: number;
  rawLength: number;
  compLength: number;
  seq: number;
  digest: Uint8Array;
}

export function encodeChunkFields(h: Omit<ChunkHeader, 'digest'>): Uint8Array {
  const out = new Uint8Array(CHUNK_FIELDS_SIZE);
  const dv = view(out);
  out[0] = TAG_CHUNK;
  out[1] = h.final ? CHUNK_FLAG_FINAL : 0;
  dv.setUint16(2, h.entry, true);
  dv.setUint32(4, h.rawLength, true);
  dv.setUint32(8, h.compLength, true);
  writeU64(dv, 12, h.seq);
  return out;
}

export function encodeChunkHeader(h: ChunkHeader): Uint8Array {
  if (h.digest.length !== DIGEST_SIZE) throw new RangeError('chunk digest must be 32 bytes');
  const out = new Uint8Array(CHUNK_HEADER_SIZE);
  out.set(encodeChunkFields(h), 0);
  out.set(h.digest, CHUNK_FIELDS_SIZE);
  return out;
}

/**
 * Decodes a chunk header and applies the checks that need no context, in FORMAT.md's order:
 * flags, then the caps on the raw length, the compressed length and the sequence number. They
 * come before anything is allocated for the payload.
 */
export function decodeChunkHeader(b: Uint8Array, offset = 0): ChunkHeader {
  if (b.length < CHUNK_HEADER_SIZE) throw bundleError('ERR_BUNDLE_TRUNCATED', 'input ends inside a chunk header', { offset: offset + b.length });
  if (b[0] !== TAG_CHUNK) throw bundleError('ERR_BUNDLE_RECORD', `expected a chunk record (tag 0x43), found tag 0x${(b[0] ?? 0).toString(16)}`, { offset });
  const dv = view(b);
  const flags = b[1] ?? 0;
  const entry = dv.getUint16(2, true);
  const rawSeq = dv.getBigUint64(12, true);
  // Within the cap the sequence number is a safe integer; beyond it, it is only for the message.
  const seq = rawSeq < BigInt(MAX_CHUNKS) ? Number(rawSeq) : undefined;
  const loc = { entry, ...(seq !== undefined ? { chunk: seq } : {}), offset };
  if ((flags & ~KNOWN_CHUNK_FLAGS) !== 0) throw bundleError('ERR_BUNDLE_RECORD', `chunk has unknown flag bits 0x${flags.toString(16)}`, loc);
  const rawLength = dv.getUint32(4, true);
  const compLength = dv.getUint32(8, true);
  if (rawLength > MAX_CHUNK_SIZE) throw bundleError('ERR_BUNDLE_LIMIT', `chunk raw length ${rawLength} exceeds ${MAX_CHUNK_SIZE}`, loc);
  if (compLength === 0 || compLength > zstdCompressBound(rawLength)) {
    throw bundleError(
      'ERR_BUNDLE_LIMIT',
      `chunk compressed length ${compLength} is outside 1..${zstdCompressBound(rawLength)}, the zstd bound for ${rawLength} bytes`,
      loc,
    );
  }
  if (seq === undefined) throw bundleError('ERR_BUNDLE_LIMIT', `chunk sequence number ${rawSeq} exceeds ${MAX_CHUNKS - 1}`, loc);
  return { final: (flags & CHUNK_FLAG_FINAL) !== 0, entry, rawLength, compLength, seq, digest: copyOf(b, CHUNK_FIELDS_SIZE, CHUNK_HEADER_SIZE) };
}
