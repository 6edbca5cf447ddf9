/**
 * Reads a set of volumes as the one bundle they hold. Volumes are taken in the order of the
 * index in their headers, never of their names: volume k is looked for among the files given,
 * then by name beside volume k−1, then, if the caller can ask (a terminal), wherever the user
 * says. Each volume's header must name the same bundle, continue where the last one ended, and
 * its bytes must be whole and match its digest; anything else is a coded error naming the file.
 */
import { open, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { equalBytes } from '../../format/bytes.js';
import { BootportError } from '../../format/errors.js';
import { decodeVolumeHeader, isVolume, parseVolumeFileName, VOLUME_HEADER_SIZE, volumeError, volumeFileName, type VolumeHeader } from '../../format/volume.js';
import type { HashEngine } from '../engine/hash.js';
import { ioError } from '../io/io-error.js';

export interface WantedVolume {
  index: number;
  /** The file name it would have. */
  name: string;
  /** Where it was looked for. */
  dir: string;
}

export interface VolumeReadOptions {
  hash: HashEngine;
  /** Asked when volume k is nowhere to be found: a file or directory to look in, or undefined to give up. */
  askFor?: (want: WantedVolume) => Promise<string | undefined>;
  /** Told as each volume begins, with the bundle offset of its first byte. */
  onVolume?: (index: number, path: string, offset: number) => void;
}

interface Listed {
  path: string;
  header: VolumeHeader;
}

const READ = 1 << 20;

/**
 * Whether `path` is a volume file: a regular file whose first bytes are the volume magic. Nothing
 * else is opened: reading the head of a named pipe would take bytes its reader needs.
 */
export async function isVolumeFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    const fh = await open(path, 'r');
    try {
      const b = new Uint8Array(8);
      const { bytesRead } = await fh.read(b, 0, 8, 0);
      return isVolume(b.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/**
 * The volume set `paths` starts or lists, if it is one: a volume file, or a name whose `.001`
 * exists (`NAME.export` for `NAME.export.001`, …). Undefined for anything else.
 */
export async function findVolumeSet(paths: readonly string[]): Promise<string[] | undefined> {
  const out: string[] = [];
  for (const p of paths) {
    if (await isVolumeFile(p)) out.push(p);
    else if (!(await stat(p).catch(() => undefined)) && (await isVolumeFile(volumeFileName(p, 1)))) out.push(volumeFileName(p, 1));
    else if (paths.length === 1) return undefined;
    // Listed with volumes, anything else is named as what it is when its header is read.
    else out.push(p);
  }
  return out;
}

/** The bundle bytes of a volume set, volume after volume, checked as they pass. */
export async function* volumeSetBytes(paths: readonly string[], opts: VolumeReadOptions): AsyncGenerator<Uint8Array> {
  const blake3 = (b: Uint8Array) => opts.hash.digestOf([b]);
  const listed: Listed[] = [];
  for (const path of paths) listed.push({ path, header: decodeVolumeHeader(await readHeader(path), path, blake3) });
  const seen = new Map<number, string>();
  for (const l of listed) {
    const other = seen.get(l.header.index);
    if (other !== undefined) throw volumeError('ERR_VOLUME_DUPLICATE', l.path, `holds volume ${l.header.index}, as ${other} does`);
    seen.set(l.header.index, l.path);
  }
  const name = baseOf(paths[0]!);
  let dir = dirname(paths[0]!);
  let first: VolumeHeader | undefined;
  let offset = 0;
  let lastIndex = 0;
  for (let k = 1; ; k++) {
    const { path, header } = await locate(k);
    if (!first) first = header;
    else if (header.bundleId !== first.bundleId || !equalBytes(header.headerHash, first.headerHash))
      throw volumeError(
        'ERR_VOLUME_FOREIGN',
        path,
        `is volume ${header.index} of bundle ${header.bundleId}, not of bundle ${first.bundleId}`,
        'find the volume of the same export',
      );
    if (header.index < k) throw volumeError('ERR_VOLUME_DUPLICATE', path, `holds volume ${header.index} again, where volume ${k} was expected`);
    if (header.index > k)
      throw volumeError('ERR_VOLUME_ORDER', path, `holds volume ${header.index}, but volume ${k} comes next`, 'a volume was renamed or listed out of order');
    if (header.offset !== offset)
      throw volumeError('ERR_VOLUME_DAMAGED', path, `begins at bundle byte ${header.offset}, but volume ${k - 1} ended at ${offset}`);
    opts.onVolume?.(k, path, header.offset);
    yield* payload(path, header);
    offset += header.length;
    dir = dirname(path);
    lastIndex = k;
    if (header.last) break;
  }
  // Every file given must have been part of the set.
  for (const l of listed) {
    if (l.header.index <= lastIndex) continue;
    if (l.header.bundleId !== first.bundleId)
      throw volumeError('ERR_VOLUME_FOREIGN', l.path, `is a volume of bundle ${l.header.bundleId}, not of bundle ${first.bundleId}`);
    throw volumeError('ERR_VOLUME_DUPLICATE', l.path, `is volume ${l.header.index}, after the last volume (${lastIndex})`);
  }

  async function locate(k: number): Promise<Listed> {
    const given = listed.find((l) => l.header.index === k);
    if (given) return given;
    // Beside the volume before it, then beside any volume given.
    for (const d of new Set([dir, ...listed.map((l) => dirname(l.path))])) {
      const p = join(d, volumeFileName(name, k));
      if (await stat(p).catch(() => undefined)) return { path: p, header: decodeVolumeHeader(await readHeader(p), p, blake3) };
    }
    let where = join(dir, volumeFileName(name, k));
    for (;;) {
      let st = await stat(where).catch(() => undefined);
      if (st?.isDirectory()) {
        where = join(where, volumeFileName(name, k));
        st = await stat(where).catch(() => undefined);
      }
      if (st) return { path: where, header: decodeVolumeHeader(await readHeader(where), where, blake3) };
      const answer = await opts.askFor?.({ index: k, name: volumeFileName(name, k), dir: dirname(where) });
      if (answer === undefined)
        throw volumeError('ERR_VOLUME_MISSING', where, `volume ${k} of ${name} is not there`, 'copy every volume of the set, or name where each one is');
      where = answer;
    }
  }

  async function* payload(path: string, header: VolumeHeader): AsyncGenerator<Uint8Array> {
    const fh = await open(path, 'r').catch((e: unknown) => {
      throw ioError(`cannot read ${path}`, e);
    });
    try {
      const hasher = await opts.hash.create();
      let at = 0;
      while (at < header.length) {
        const buf = new Uint8Array(Math.min(READ, header.length - at));
        const { bytesRead } = await fh.read(buf, 0, buf.length, VOLUME_HEADER_SIZE + at);
        if (bytesRead === 0)
          throw volumeError('ERR_VOLUME_TRUNCATED', path, `holds ${at} of its ${header.length} bytes`, 'the copy is incomplete: copy this volume again');
        const piece = buf.subarray(0, bytesRead);
        hasher.update(piece);
        at += bytesRead;
        yield piece;
      }
      const { bytesRead: extra } = await fh.read(new Uint8Array(1), 0, 1, VOLUME_HEADER_SIZE + at);
      if (extra > 0) throw volumeError('ERR_VOLUME_DAMAGED', path, `holds more than the ${header.length} bytes its header says`);
      if (!equalBytes(hasher.digest(), header.payloadDigest))
        throw volumeError('ERR_VOLUME_DAMAGED', path, 'its bytes do not match the digest in its header', 'the copy is damaged: copy this volume again');
    } catch (e) {
      throw e instanceof BootportError ? e : ioError(`cannot read ${path}`, e);
    } finally {
      await fh.close();
    }
  }
}

async function readHeader(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw ioError(`cannot read ${path}`, e);
  });
  try {
    const b = new Uint8Array(VOLUME_HEADER_SIZE);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** `NAME.export` for `NAME.export.002`. */
function baseOf(path: string): string {
  const b = basename(path);
  return parseVolumeFileName(b)?.base ?? b;
}
