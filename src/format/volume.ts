/**
 * Volumes: a bundle cut into files that fit removable media. Each volume is a 128-byte header
 * followed by one byte range of the unchanged bundle, cut only where a record begins, so each
 * volume's chunks can be checked alone and the set reassembles into the very bundle (same digest,
 * same signatures) an unsplit export writes. FORMAT.md, "Volumes", is the specification.
 */
import { equalBytes, readU64, toHex, view, writeU64 } from './bytes.js';
import { CHUNK_HEADER_SIZE, PREAMBLE_SIZE, TAG_CHUNK, TAG_TRAILER } from './constants.js';
import { BootportError, type ErrorCode } from './errors.js';

export const VOLUME_MAGIC = Uint8Array.of(0x89, 0x42, 0x50, 0x56, 0x0d, 0x0a, 0x1a, 0x0a); // \x89 B P V \r \n ^Z \n
export const VOLUME_HEADER_SIZE = 128;
export const VOLUME_VERSION = 1;
export const VOLUME_FLAG_LAST = 0x01;
/** Bytes of the header its check value covers: everything before the check value itself. */
const CHECKED = 120;
/** The most volumes one bundle may have. */
export const MAX_VOLUMES = 99_999;

export interface VolumeHeader {
  /** 1 for the first volume. */
  index: number;
  /** This is the bundle's last volume. */
  last: boolean;
  /** The number of volumes, when the writer knew it (always on the last); 0 otherwise. */
  count: number;
  /** The manifest's bundle_id, as its lowercase UUID text. */
  bundleId: string;
  /** Where in the bundle this volume's bytes begin. */
  offset: number;
  /** How many bundle bytes follow the header. */
  length: number;
  /** H, the bundle's header hash: what the chunk digests bind to. */
  headerHash: Uint8Array;
  /** BLAKE3 of the bundle bytes in this volume. */
  payloadDigest: Uint8Array;
}

export type Blake3 = (data: Uint8Array) => Uint8Array;

export function volumeError(code: ErrorCode, volume: string, message: string, hint?: string): BootportError {
  return new BootportError(code, `${volume}: ${message}`, {}, hint);
}

export function encodeVolumeHeader(v: VolumeHeader, blake3: Blake3): Uint8Array {
  const out = new Uint8Array(VOLUME_HEADER_SIZE);
  const dv = view(out);
  out.set(VOLUME_MAGIC, 0);
  dv.setUint16(8, VOLUME_VERSION, true);
  dv.setUint16(10, v.last ? VOLUME_FLAG_LAST : 0, true);
  dv.setUint32(12, v.index, true);
  dv.setUint32(16, v.count, true);
  out.set(uuidBytes(v.bundleId), 24);
  writeU64(dv, 40, v.offset);
  writeU64(dv, 48, v.length);
  out.set(v.headerHash, 56);
  out.set(v.payloadDigest, 88);
  out.set(blake3(out.subarray(0, CHECKED)).subarray(0, 8), CHECKED);
  return out;
}

/** Whether these bytes begin a volume (rather than a bundle or anything else). */
export function isVolume(head: Uint8Array): boolean {
  return head.length >= VOLUME_MAGIC.length && equalBytes(head.subarray(0, VOLUME_MAGIC.length), VOLUME_MAGIC);
}

/**
 * Decodes and checks a volume header; `name` (the file) is named in every error. Checked in
 * order: length, magic, version, check value, then the fields.
 */
export function decodeVolumeHeader(b: Uint8Array, name: string, blake3: Blake3): VolumeHeader {
  if (b.length < VOLUME_HEADER_SIZE) throw volumeError('ERR_VOLUME_TRUNCATED', name, `ends inside its ${VOLUME_HEADER_SIZE}-byte volume header`);
  if (!isVolume(b)) throw volumeError('ERR_BUNDLE_BAD_MAGIC', name, 'is not a bootport volume (the volume magic is wrong)');
  const dv = view(b);
  const version = dv.getUint16(8, true);
  if (version !== VOLUME_VERSION)
    throw volumeError('ERR_BUNDLE_UNSUPPORTED', name, `is a version ${version} volume; this bootport reads version ${VOLUME_VERSION}`);
  if (!equalBytes(blake3(b.subarray(0, CHECKED)).subarray(0, 8), b.subarray(CHECKED, VOLUME_HEADER_SIZE)))
    throw volumeError('ERR_VOLUME_DAMAGED', name, 'its volume header is damaged (the check value does not match)');
  const flags = dv.getUint16(10, true);
  if ((flags & ~VOLUME_FLAG_LAST) !== 0) throw volumeError('ERR_BUNDLE_RECORD', name, `its volume header has unknown flags 0x${flags.toString(16)}`);
  const v: VolumeHeader = {
    index: dv.getUint32(12, true),
    last: (flags & VOLUME_FLAG_LAST) !== 0,
    count: dv.getUint32(16, true),
    bundleId: uuidText(b.subarray(24, 40)),
    offset: readU64(dv, 40, 'volume offset'),
    length: readU64(dv, 48, 'volume length'),
    headerHash: b.slice(56, 88),
    payloadDigest: b.slice(88, 120),
  };
  if (v.index < 1 || v.index > MAX_VOLUMES) throw volumeError('ERR_BUNDLE_RECORD', name, `volume index ${v.index} is out of range (1 to ${MAX_VOLUMES})`);
  if (v.last ? v.count !== v.index : v.count !== 0 && v.count <= v.index)
    throw volumeError('ERR_BUNDLE_RECORD', name, `volume ${v.index} says there are ${v.count} volumes${v.last ? ' but is marked last' : ''}`);
  if (dv.getUint32(20, true) !== 0) throw volumeError('ERR_BUNDLE_RECORD', name, 'its volume header has a non-zero reserved field');
  if ((v.index === 1) !== (v.offset === 0)) throw volumeError('ERR_BUNDLE_RECORD', name, `volume ${v.index} starts at bundle offset ${v.offset}`);
  return v;
}

/** `NAME.export.001`: the file name of a volume, three digits at least. */
export function volumeFileName(base: string, index: number): string {
  return `${base}.${String(index).padStart(3, '0')}`;
}

/** The base name and index a volume's file name suggests (the header is what counts). */
export function parseVolumeFileName(name: string): { base: string; index: number } | undefined {
  const m = /^(.*)\.(\d{3,5})$/.exec(name);
  return m ? { base: m[1]!, index: Number(m[2]) } : undefined;
}

function uuidBytes(id: string): Uint8Array {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError(`bundle id ${id} is not a UUID`);
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

function uuidText(b: Uint8Array): string {
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Finds where records begin in a bundle's bytes, so that a writer of volumes cuts only there.
 * It reads just the lengths it needs: the preamble's manifest length and each chunk header's
 * compressed length. Everything from the trailer on is one piece: the trailer, the extension
 * records and the footer always travel together, in the last volume.
 */
export class RecordBoundaries {
  /** Bundle bytes seen so far. */
  private pos = 0;
  /** Where the record being read ends, once its header has been read. */
  private end: number | undefined;
  private readonly head = new Uint8Array(CHUNK_HEADER_SIZE);
  private headLen = 0;
  private first = true;
  private tail = false;

  /** Takes the next bytes of the bundle; returns the offsets among them where a record begins. */
  feed(bytes: Uint8Array): number[] {
    const cuts: number[] = [];
    let i = 0;
    while (i < bytes.length && !this.tail) {
      if (this.end !== undefined) {
        if (this.pos === this.end) {
          cuts.push(this.pos);
          this.end = undefined;
          this.headLen = 0;
          continue;
        }
        const n = Math.min(bytes.length - i, this.end - this.pos);
        i += n;
        this.pos += n;
        continue;
      }
      const need = this.first ? PREAMBLE_SIZE : this.headLen === 0 ? 1 : CHUNK_HEADER_SIZE;
      const n = Math.min(bytes.length - i, need - this.headLen);
      this.head.set(bytes.subarray(i, i + n), this.headLen);
      this.headLen += n;
      i += n;
      this.pos += n;
      if (this.headLen < need) continue;
      const start = this.pos - this.headLen;
      if (this.first) {
        this.first = false;
        this.end = start + PREAMBLE_SIZE + view(this.head).getUint32(20, true);
      } else if (this.head[0] === TAG_TRAILER) {
        this.tail = true;
      } else if (this.head[0] !== TAG_CHUNK) {
        throw new BootportError('ERR_BUNDLE_RECORD', `a record with tag 0x${this.head[0]!.toString(16)} where a chunk or the trailer must begin`, {
          offset: start,
        });
      } else if (need === CHUNK_HEADER_SIZE) {
        this.end = start + CHUNK_HEADER_SIZE + view(this.head).getUint32(8, true);
      }
    }
    if (this.tail) this.pos += bytes.length - i;
    // A record that ends exactly with these bytes: the next one begins where the next bytes do.
    if (this.end !== undefined && this.pos === this.end) {
      cuts.push(this.pos);
      this.end = undefined;
      this.headLen = 0;
    }
    return cuts;
  }
}

/**
 * The cutting rule: a record goes into the current volume if the volume, header included, stays
 * within `splitSize`; otherwise the volume ends before it (`used` is the payload so far).
 */
export function fitsInVolume(used: number, bytes: number, splitSize: number): boolean {
  return VOLUME_HEADER_SIZE + used + bytes <= splitSize;
}

/**
 * A whole bundle in memory cut into volumes of at most `splitSize` bytes, by the rule the
 * streaming writer follows: records in order, a new volume when the next record would not fit.
 * For vectors and tests; exports stream through stream/volumes/write-volumes.ts.
 */
export function splitBundle(bundle: Uint8Array, splitSize: number, bundleId: string, blake3: Blake3): Uint8Array[] {
  const starts = [0, ...new RecordBoundaries().feed(bundle).filter((c) => c < bundle.length), bundle.length];
  const headerHash = blake3(bundle.subarray(0, starts[1]));
  const ranges: [number, number][] = [];
  let from = 0;
  for (let i = 1; i < starts.length; i++) {
    const end = starts[i]!;
    const start = starts[i - 1]!;
    if (!fitsInVolume(start - from, end - start, splitSize) && start > from) {
      ranges.push([from, start]);
      from = start;
    }
    if (!fitsInVolume(0, end - start, splitSize)) throw new RangeError(`a record of ${end - from} bytes does not fit in ${splitSize}-byte volumes`);
  }
  ranges.push([from, bundle.length]);
  return ranges.map(([a, b], i) => {
    const payload = bundle.subarray(a, b);
    const last = i === ranges.length - 1;
    const header = encodeVolumeHeader(
      { index: i + 1, last, count: last ? i + 1 : 0, bundleId, offset: a, length: b - a, headerHash, payloadDigest: blake3(payload) },
      blake3,
    );
    const out = new Uint8Array(VOLUME_HEADER_SIZE + payload.length);
    out.set(header);
    out.set(payload, VOLUME_HEADER_SIZE);
    return out;
  });
}
