import { MAX_WINDOW_SIZE } from './constants.js';

/**
 * Structural facts about one zstd frame, read without decompressing (RFC 8878 section 3.1.1).
 * bootport requires every chunk to be exactly one frame that declares its content size, so the
 * decoder can size its output buffer exactly and refuse to produce a byte more: a decompression
 * bomb fails here, before any codec runs.
 */
export interface FrameInfo {
  contentSize: number;
  frameSize: number;
  windowSize: number;
  hasChecksum: boolean;
}

const ZSTD_MAGIC = 0xfd2fb528;
const MAX_BLOCK = 128 * 1024;

export class FrameError extends Error {}

export function inspectZstdFrame(b: Uint8Array): FrameInfo {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const need = (n: number, at: number): void => {
    if (at + n > b.length) throw new FrameError(`frame ends early at byte ${b.length} (needs ${at + n})`);
  };
  need(5, 0);
  if (dv.getUint32(0, true) !== ZSTD_MAGIC) throw new FrameError('not a zstd frame (bad magic)');
  const fhd = b[4] ?? 0;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  if (fhd & 0x08) throw new FrameError('frame header reserved bit is set');
  const hasChecksum = (fhd & 0x04) !== 0;
  const dictFlag = fhd & 0x03;
  let at = 5;
  let windowSize = 0;
  if (!singleSegment) {
    need(1, at);
    const wd = b[at] ?? 0;
    at += 1;
    const windowLog = 10 + (wd >> 3);
    const base = 2 ** windowLog;
    windowSize = base + (base / 8) * (wd & 7);
  }
  const dictBytes = [0, 1, 2, 4][dictFlag] ?? 0;
  need(dictBytes, at);
  let dictId = 0;
  for (let i = 0; i < dictBytes; i++) dictId += (b[at + i] ?? 0) * 2 ** (8 * i);
  at += dictBytes;
  if (dictId !== 0) throw new FrameError('frame needs a dictionary');
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : ([0, 2, 4, 8][fcsFlag] ?? 0);
  if (fcsBytes === 0) throw new FrameError('frame does not declare its content size');
  need(fcsBytes, at);
  let contentSize: number;
  if (fcsBytes === 1) contentSize = b[at] ?? 0;
  else if (fcsBytes === 2) contentSize = dv.getUint16(at, true) + 256;
  else if (fcsBytes === 4) contentSize = dv.getUint32(at, true);
  else {
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('frame content size is too large');
    contentSize = Number(v);
  }
  at += fcsBytes;
  if (singleSegment) windowSize = contentSize;
  if (windowSize > MAX_WINDOW_SIZE) throw new FrameError(`frame window ${windowSize} exceeds the ${MAX_WINDOW_SIZE} byte limit`);
  for (;;) {
    need(3, at);
    const bh = (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16);
    at += 3;
    const last = (bh & 1) !== 0;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw new FrameError('reserved block type');
    if (size > MAX_BLOCK) throw new FrameError(`block of ${size} bytes exceeds the ${MAX_BLOCK} byte block limit`);
    const stored = type === 1 ? 1 : size;
    need(stored, at);
    at += stored;
    if (last) break;
  }
  if (hasChecksum) {
    need(4, at);
    at += 4;
  }
  return { contentSize, frameSize: at, windowSize, hasChecksum };
}
