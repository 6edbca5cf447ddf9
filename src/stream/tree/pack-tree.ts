/**
 * A root file system directory as a tar stream: sorted, so the same tree always gives the same
 * bytes and the same image digest; never following a symlink; staying on one file system.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, statSync, type BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Header, Pack } from 'tar-stream';
import { BootportError } from '../../format/errors.js';
import { ioError } from '../io/io-error.js';
import { loadTarStream, loadXattr } from './modules.js';
import {
  encodeSparseMap,
  MAX_SPARSE_SEGMENTS,
  numberRecords,
  SPARSE_MAJOR,
  SPARSE_MINOR,
  SPARSE_NAME,
  SPARSE_REALSIZE,
  USTAR_ID_MAX,
  xattrRecords,
  type Segment,
} from './tar-records.js';

/** What an entry of a tar says, with its PAX records. */
export type TarHeader = Partial<Omit<Header, 'pax'>> & Pick<Header, 'name'> & { pax?: Record<string, string> };

export interface TreeWarning {
  /** The path inside the tree, `.` for its root. */
  path: string;
  message: string;
  /** What the user can do about it, as stable remedy names (as BootportError.remedies). */
  remedies?: string[];
}

export interface TreeStats {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  /** Regular files stored sparse. */
  sparse: number;
  /** Bytes of file content read (holes not counted). */
  bytes: number;
}

export interface PackTreeOptions {
  /** Descend into directories on other file systems (default: no, like `tar --one-file-system`). */
  crossFileSystems?: boolean;
  onWarning?: (w: TreeWarning) => void;
}

export const newTreeStats = (): TreeStats => ({ files: 0, directories: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, sparse: 0, bytes: 0 });

/** Holes are found in blocks of this size: the common file-system block. */
const HOLE_BLOCK = 4096;
const READ_BLOCK = 1 << 20;
/** Files up to this size are read whole, synchronously. */
const SMALL_FILE = 1 << 20;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The tar of `root`. Errors (an unreadable file, a file that changed while it was read, a name that
 * is not UTF-8) end the stream with a coded error naming the path.
 */
export function packTree(root: string, opts: PackTreeOptions = {}): { stream: Readable; stats: TreeStats } {
  const pack = loadTarStream().pack();
  const stats = newTreeStats();
  new TreePacker(root, pack, opts, stats).run().then(
    () => pack.finalize(),
    (e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))),
  );
  return { stream: pack as unknown as Readable, stats };
}

class TreePacker {
  /** First name of each multiply linked file, by device and inode. */
  private readonly links = new Map<string, string>();
  private readonly xattr = loadXattr();
  private xattrWarned = false;
  private rootDev = 0n;

  constructor(
    private readonly root: string,
    private readonly pack: Pack,
    private readonly opts: PackTreeOptions,
    private readonly stats: TreeStats,
  ) {}

  async run(): Promise<void> {
    let st: BigIntStats;
    try {
      st = statSync(this.root, { bigint: true });
    } catch (e) {
      throw ioError(`cannot read ${this.root}`, e);
    }
    if (!st.isDirectory()) throw new BootportError('ERR_INVALID', `${this.root} is not a directory`);
    this.rootDev = st.dev;
    await this.entry({ ...this.base('', st), name: './', type: 'directory' });
    this.stats.directories++;
    await this.descend('');
  }

  private async descend(rel: string): Promise<void> {
    const abs = join(this.root, rel);
    let names: Buffer[];
    try {
      names = readdirSync(abs, { encoding: 'buffer' });
    } catch (e) {
      throw ioError(`cannot list ${abs}`, e);
    }
    names.sort((a, b) => Buffer.compare(a, b));
    for (const raw of names) {
      let name: string;
      try {
        name = utf8.decode(raw);
      } catch {
        throw new BootportError('ERR_INVALID', `${join(abs, raw.toString('latin1'))}: the name is not UTF-8, which a tar name must be`);
      }
      await this.one(rel === '' ? name : `${rel}/${name}`);
    }
  }

  private async one(rel: string): Promise<void> {
    const abs = join(this.root, rel);
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch (e) {
      throw ioError(`cannot read ${abs}`, e);
    }
    const base = this.base(rel, st);
    if (st.isDirectory()) {
      await this.entry({ ...base, name: `${rel}/`, type: 'directory' });
      this.stats.directories++;
      if (st.dev !== this.rootDev && !this.opts.crossFileSystems) {
        this.warn(rel, 'is a mount point: stored empty, its file system left out');
        return;
      }
      return this.descend(rel);
    }
    if (st.isFile() && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        this.stats.hardlinks++;
        return this.entry({ ...base, name: rel, type: 'link', linkname: first });
      }
      this.links.set(key, rel);
    }
    if (st.isFile()) return this.file(rel, abs, st, base);
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = utf8.decode(readlinkSync(abs, { encoding: 'buffer' }));
      } catch (e) {
        throw e instanceof TypeError ? new BootportError('ERR_INVALID', `${abs}: the link target is not UTF-8`) : ioError(`cannot read the link ${abs}`, e);
      }
      this.stats.symlinks++;
      return this.entry({ ...base, name: rel, type: 'symlink', linkname: target });
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const rdev = Number(st.rdev);
      // Linux's dev_t: the minor number's low 8 bits, then 12 bits of major, then the rest.
      const devmajor = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
      const devminor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
      this.stats.devices++;
      const pax = { ...base.pax, ...numberRecords({ uid: 0, gid: 0, mtime: 0, devmajor, devminor }) };
      return this.entry({
        ...base,
        name: rel,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: Math.min(devmajor, USTAR_ID_MAX),
        devminor: Math.min(devminor, USTAR_ID_MAX),
        ...(Object.keys(pax).length > 0 ? { pax } : {}),
      });
    }
    if (st.isFIFO()) {
      this.stats.fifos++;
      return this.entry({ ...base, name: rel, type: 'fifo' });
    }
    this.warn(rel, st.isSocket() ? 'is a socket: left out (a socket is made by the program that listens on it)' : 'is of an unknown type: left out');
  }

  /** Header fields every entry has: mode, owners, mtime, and PAX records for what ustar cannot hold. */
  private base(rel: string, st: BigIntStats): TarHeader {
    const uid = Number(st.uid);
    const gid = Number(st.gid);
    const mtime = Number(st.mtimeNs / 1_000_000_000n);
    const pax = { ...numberRecords({ uid, gid, mtime }), ...xattrRecords(this.attrs(rel)) };
    return {
      name: rel,
      mode: Number(st.mode & 0o7777n),
      uid: Math.min(uid, USTAR_ID_MAX),
      gid: Math.min(gid, USTAR_ID_MAX),
      mtime: new Date(Math.max(0, Math.min(mtime, 0o77777777777)) * 1000),
      size: 0,
      ...(Object.keys(pax).length > 0 ? { pax } : {}),
    };
  }

  private attrs(rel: string): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const { xattr, problem } = this.xattr;
    if (!xattr) {
      if (!this.xattrWarned) this.warn('.', `extended attributes are not stored: ${problem}`);
      this.xattrWarned = true;
      return out;
    }
    const abs = join(this.root, rel);
    let names: string[];
    try {
      names = xattr.listAttributesSync(abs);
    } catch (e) {
      // A file system without extended attributes has none to keep.
      if (/not supported|ENOTSUP|EOPNOTSUPP/i.test((e as Error).message)) return out;
      throw ioError(`cannot list the extended attributes of ${abs}`, e);
    }
    for (const n of names) {
      const v = xattr.getAttributeSync(abs, n);
      if (v) out.set(n, v);
    }
    return out;
  }

  private async file(rel: string, abs: string, st: BigIntStats, base: TarHeader): Promise<void> {
    // Most files of a root file system are small: read on this thread, in one go. Four trips to
    // the thread pool per file (open, stat, read, close) cost more than the reading itself.
    if (st.size <= BigInt(SMALL_FILE) && st.blocks * 512n >= st.size) return this.smallFile(abs, st, base);
    let fh: FileHandle;
    try {
      fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      throw ioError(`cannot read ${abs}`, e);
    }
    try {
      const now = await fh.stat({ bigint: true });
      if (now.ino !== st.ino || now.dev !== st.dev) throw changed(abs);
      const size = Number(st.size);
      const segments = st.blocks * 512n < st.size ? await dataSegments(fh, size) : undefined;
      this.stats.files++;
      if (!segments) return await this.stream(abs, fh, base, [[0, size]], undefined);
      this.stats.sparse++;
      const map = encodeSparseMap(segments);
      const dir = dirname(rel);
      return await this.stream(
        abs,
        fh,
        {
          ...base,
          name: `${dir === '.' ? '' : `${dir}/`}GNUSparseFile.0/${basename(rel)}`,
          pax: { ...base.pax, [SPARSE_MAJOR]: '1', [SPARSE_MINOR]: '0', [SPARSE_NAME]: rel, [SPARSE_REALSIZE]: String(size) },
        },
        segments,
        map,
      );
    } catch (e) {
      throw e instanceof BootportError ? e : ioError(`cannot read ${abs}`, e);
    } finally {
      await fh.close();
    }
  }

  private async smallFile(abs: string, st: BigIntStats, base: TarHeader): Promise<void> {
    const size = Number(st.size);
    const buf = Buffer.allocUnsafe(size);
    let fd: number;
    try {
      fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      throw ioError(`cannot read ${abs}`, e);
    }
    try {
      const now = fstatSync(fd, { bigint: true });
      if (now.ino !== st.ino || now.dev !== st.dev) throw changed(abs);
      for (let at = 0; at < size;) {
        const n = readSync(fd, buf, at, size - at, at);
        if (n === 0) throw changed(abs);
        at += n;
      }
    } catch (e) {
      throw e instanceof BootportError ? e : ioError(`cannot read ${abs}`, e);
    } finally {
      closeSync(fd);
    }
    this.stats.files++;
    this.stats.bytes += size;
    await new Promise<void>((res, rej) => this.pack.entry({ ...base, size }, buf, (e) => (e ? rej(e) : res())));
  }

  /** One regular file's entry: the map block if sparse, then its data segments. */
  private async stream(abs: string, fh: FileHandle, header: TarHeader, segments: readonly Segment[], map: Uint8Array | undefined): Promise<void> {
    const size = (map?.length ?? 0) + segments.reduce((a, [, l]) => a + l, 0);
    let done: () => void = () => {};
    let failed: (e: Error) => void = () => {};
    const finished = new Promise<void>((res, rej) => {
      done = res;
      failed = rej;
    });
    const sink = this.pack.entry({ ...header, size }, (e) => (e ? failed(e) : done()));
    if (map) sink.write(Buffer.from(map));
    for (const [offset, length] of segments) {
      let at = 0;
      while (at < length) {
        const buf = Buffer.allocUnsafe(Math.min(READ_BLOCK, length - at));
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset + at);
        if (bytesRead === 0) throw changed(abs);
        at += bytesRead;
        this.stats.bytes += bytesRead;
        if (!sink.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead))) await once(sink, 'drain');
      }
    }
    sink.end(undefined);
    await finished;
  }

  private async entry(header: TarHeader): Promise<void> {
    await new Promise<void>((res, rej) => this.pack.entry(header, (e) => (e ? rej(e) : res())));
  }

  private warn(path: string, message: string): void {
    this.opts.onWarning?.({ path: path === '' ? '.' : path, message });
  }
}

function changed(abs: string): BootportError {
  return new BootportError('ERR_SOURCE', `${abs} changed while it was read: pack a tree nothing is writing to`);
}

/**
 * The data segments of a file with holes: every run of blocks that are not all zero. A block of
 * zeros that was written is stored as a hole too, as `tar --sparse` does; it reads back the same.
 */
async function dataSegments(fh: FileHandle, size: number): Promise<Segment[] | undefined> {
  const segs: [number, number][] = [];
  const buf = Buffer.allocUnsafe(READ_BLOCK);
  let start = -1;
  for (let pos = 0; pos < size;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(READ_BLOCK, size - pos), pos);
    if (bytesRead === 0) break;
    for (let i = 0; i < bytesRead; i += HOLE_BLOCK) {
      const n = Math.min(HOLE_BLOCK, bytesRead - i);
      const zero = buf.subarray(i, i + n).equals(n === HOLE_BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, n));
      const at = pos + i;
      // Past the cap, the rest of the file is one data segment: the map stays bounded.
      if (zero && start >= 0 && segs.length < MAX_SPARSE_SEGMENTS - 1) {
        segs.push([start, at - start]);
        start = -1;
      } else if (!zero && start < 0) start = at;
    }
    pos += bytesRead;
  }
  if (start >= 0) segs.push([start, size - start]);
  const stored = segs.reduce((a, [, l]) => a + l, 0);
  if (stored === size) return undefined;
  // GNU tar ends a file that ends in a hole with an empty segment at its size.
  const last = segs[segs.length - 1];
  if (!last || last[0] + last[1] < size) segs.push([size, 0]);
  return segs;
}
