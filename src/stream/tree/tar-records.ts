/**
 * The parts of a tar that tar-stream leaves to its user: archive names made safe, extended
 * attributes and large numbers in PAX records, GNU's PAX sparse format 1.0, and telling a tar
 * from other image kinds. Pure: no I/O.
 */
import { BootportError } from '../../format/errors.js';

/**
 * The components of an archive name, or an error naming the entry. Absolute names and `..` are
 * refused rather than stripped (as GNU tar does): an image that carries them was not made from a
 * root directory, and stripping changes where a file lands.
 */
export function safeParts(name: string, what = 'entry'): string[] {
  if (name.length === 0) throw unsafe(name, `${what} has an empty name`);
  if (name.includes('\0')) throw unsafe(name, `${what} name holds a NUL byte`);
  if (name.startsWith('/')) throw unsafe(name, `${what} name is absolute`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(name, `${what} name climbs out with ..`);
  return parts;
}

export function unsafe(name: string, why: string): BootportError {
  return new BootportError('ERR_TAR_UNSAFE', `tar entry ${JSON.stringify(name)}: ${why}`, { entry: name });
}

export function invalidTar(name: string | undefined, why: string): BootportError {
  return new BootportError('ERR_TAR_INVALID', name === undefined ? `not a usable tar: ${why}` : `tar entry ${JSON.stringify(name)}: ${why}`, {
    ...(name !== undefined ? { entry: name } : {}),
  });
}

// ---- extended attributes ---------------------------------------------------------------------

const SCHILY = 'SCHILY.xattr.';
const LIBARCHIVE = 'LIBARCHIVE.xattr.';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * PAX records for extended attributes, sorted by name. GNU tar and bsdtar both read
 * `SCHILY.xattr.NAME=VALUE` with the value raw, but a PAX value read as text cannot carry bytes
 * that are not UTF-8 (a file capability is binary), so such values go as libarchive's
 * `LIBARCHIVE.xattr.NAME=BASE64`, which bsdtar and bootport read.
 */
export function xattrRecords(attrs: ReadonlyMap<string, Uint8Array>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...attrs.keys()].sort()) {
    const value = attrs.get(name)!;
    let text: string | undefined;
    try {
      text = name.includes('=') ? undefined : utf8.decode(value);
    } catch {
      text = undefined;
    }
    if (text !== undefined) out[SCHILY + name] = text;
    else out[LIBARCHIVE + encodeURIComponent(name)] = Buffer.from(value).toString('base64');
  }
  return out;
}

/**
 * Extended attributes from an entry's PAX records. A SCHILY value that was not UTF-8 reached us
 * already replaced by U+FFFD (the tar reader decodes PAX text); it is reported, not applied.
 */
export function xattrsOf(pax: Record<string, string> | null | undefined): { attrs: Map<string, Uint8Array>; garbled: string[] } {
  const attrs = new Map<string, Uint8Array>();
  const garbled: string[] = [];
  for (const [k, v] of Object.entries(pax ?? {})) {
    if (k.startsWith(SCHILY)) {
      const name = k.slice(SCHILY.length);
      if (v.includes('\uFFFD')) garbled.push(name);
      else attrs.set(name, new TextEncoder().encode(v));
    } else if (k.startsWith(LIBARCHIVE)) {
      let name: string;
      try {
        name = decodeURIComponent(k.slice(LIBARCHIVE.length));
      } catch {
        garbled.push(k.slice(LIBARCHIVE.length));
        continue;
      }
      attrs.set(name, Buffer.from(v, 'base64'));
    }
  }
  return { attrs, garbled };
}

// ---- numbers that do not fit a ustar header ---------------------------------------------------

/** The largest uid, gid or device number tar-stream writes into a ustar header (6 octal digits). */
export const USTAR_ID_MAX = 0o777777;
/** The largest mtime a ustar header holds (11 octal digits). */
const USTAR_TIME_MAX = 0o77777777777;

/** PAX records for the owner ids, device numbers and mtime a ustar header cannot hold. */
export function numberRecords(n: { uid: number; gid: number; mtime: number; devmajor?: number; devminor?: number }): Record<string, string> {
  const out: Record<string, string> = {};
  if (n.uid > USTAR_ID_MAX) out.uid = String(n.uid);
  if (n.gid > USTAR_ID_MAX) out.gid = String(n.gid);
  if (n.mtime < 0 || n.mtime > USTAR_TIME_MAX) out.mtime = String(n.mtime);
  // star's and bsdtar's names: POSIX has none for device numbers.
  if ((n.devmajor ?? 0) > USTAR_ID_MAX) out['SCHILY.devmajor'] = String(n.devmajor);
  if ((n.devminor ?? 0) > USTAR_ID_MAX) out['SCHILY.devminor'] = String(n.devminor);
  return out;
}

/** A decimal PAX number, if the record is there; anything else is refused. */
export function paxNumber(pax: Record<string, string> | null | undefined, key: string, entry: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined) return undefined;
  if (!/^-?\d{1,19}(\.\d{1,9})?$/.test(v)) throw invalidTar(entry, `PAX ${key}=${JSON.stringify(v)} is not a number`);
  const n = Math.floor(Number(v));
  if (!Number.isSafeInteger(n)) throw invalidTar(entry, `PAX ${key}=${v} is out of range`);
  return n;
}

// ---- sparse files: GNU PAX format 1.0 -------------------------------------------------------

/** A sparse map: the data segments [offset, length), in order; everything else is a hole. */
export type Segment = readonly [offset: number, length: number];

/**
 * The most data segments one sparse file may have. The map precedes the data in the archive, so a
 * reader must hold all of it; the cap bounds that. A writer with more merges the rest.
 */
export const MAX_SPARSE_SEGMENTS = 1 << 18;

export const SPARSE_MAJOR = 'GNU.sparse.major';
export const SPARSE_MINOR = 'GNU.sparse.minor';
export const SPARSE_NAME = 'GNU.sparse.name';
export const SPARSE_REALSIZE = 'GNU.sparse.realsize';

/** The map block that starts a format 1.0 sparse entry's data: decimal lines, NUL-padded to 512. */
export function encodeSparseMap(segments: readonly Segment[]): Uint8Array {
  const text = [String(segments.length), ...segments.flatMap(([o, l]) => [String(o), String(l)])].join('\n') + '\n';
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
  out.set(bytes);
  return out;
}

/**
 * Parses a sparse map incrementally from the start of an entry's data. `feed` returns the bytes
 * after the map (its padding removed) once the map is complete, or undefined while more is needed.
 */
export class SparseMapReader {
  private lines: number[] = [];
  private partial = '';
  private consumed = 0;
  private want: number | undefined;
  segments: Segment[] | undefined;
  /** Padding still to drop from the next chunks, when the map ended near a chunk's end. */
  skip = 0;

  constructor(
    private readonly entry: string,
    private readonly realSize: number,
  ) {}

  feed(chunk: Uint8Array): Uint8Array | undefined {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      this.consumed++;
      if (c === 0x0a) {
        if (!/^\d{1,19}$/.test(this.partial)) throw invalidTar(this.entry, `sparse map line ${JSON.stringify(this.partial)} is not a number`);
        this.lines.push(Number(this.partial));
        this.partial = '';
        if (this.want === undefined) {
          this.want = this.lines[0]!;
          if (this.want > MAX_SPARSE_SEGMENTS) throw invalidTar(this.entry, `sparse map has ${this.want} segments, more than ${MAX_SPARSE_SEGMENTS}`);
        }
        if (this.lines.length === 1 + 2 * this.want) {
          this.segments = this.check();
          const pad = (512 - (this.consumed % 512)) % 512;
          const rest = chunk.subarray(i + 1);
          if (rest.length < pad) {
            this.skip = pad - rest.length;
            return new Uint8Array(0);
          }
          return rest.subarray(pad);
        }
      } else {
        if (this.partial.length >= 20) throw invalidTar(this.entry, 'sparse map line is too long');
        this.partial += String.fromCharCode(c);
      }
    }
    return undefined;
  }

  private check(): Segment[] {
    const segs: Segment[] = [];
    let end = 0;
    for (let i = 0; i < this.want!; i++) {
      const o = this.lines[1 + 2 * i]!;
      const l = this.lines[2 + 2 * i]!;
      if (!Number.isSafeInteger(o) || !Number.isSafeInteger(l) || o < end || o + l > this.realSize)
        throw invalidTar(this.entry, `sparse segment ${i} [${o}, ${o}+${l}) overlaps another or lies past the file's size ${this.realSize}`);
      segs.push([o, l]);
      end = o + l;
    }
    return segs;
  }
}

// ---- what an image is ------------------------------------------------------------------------

export type ImageKind = 'tar' | 'squashfs' | 'ext' | 'qcow2' | 'gzip' | 'zstd' | 'xz' | 'cpio' | 'iso9660' | 'file';

/** Bytes needed to tell the kinds apart (an ext superblock's magic sits at 1080; ISO's at 32769). */
export const KIND_HEAD_BYTES = 32774;

/** A ustar or GNU tar header: its checksum holds and it says ustar, or an old-style header checks out. */
export function isTarHeader(h: Uint8Array): boolean {
  if (h.length < 512) return false;
  const field = String.fromCharCode(...h.subarray(148, 156))
    .replace(/\0.*$/s, '')
    .trim();
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === parseInt(field, 8) && sum !== 256;
}

/** What kind of image these first bytes start. */
export function imageKind(head: Uint8Array): ImageKind {
  const at = (off: number, ...bytes: number[]) => bytes.every((b, i) => head[off + i] === b);
  if (isTarHeader(head)) return 'tar';
  if (at(0, 0x68, 0x73, 0x71, 0x73)) return 'squashfs';
  if (at(0, 0x51, 0x46, 0x49, 0xfb)) return 'qcow2';
  if (at(0, 0x1f, 0x8b)) return 'gzip';
  if (at(0, 0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (at(0, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (at(0, 0x30, 0x37, 0x30, 0x37, 0x30)) return 'cpio';
  if (at(1080, 0x53, 0xef)) return 'ext';
  if (at(32769, 0x43, 0x44, 0x30, 0x30, 0x31)) return 'iso9660';
  return 'file';
}
