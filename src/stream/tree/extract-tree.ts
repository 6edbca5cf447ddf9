/**
 * Unpacks an image that is a tar into a directory, refusing whatever could write outside it.
 *
 * The tree is built in a locked work directory beside the target and renamed onto it only when
 * every entry is in place and synced, so a hostile or broken tar, a full disk or a kill leaves the
 * target as it was. Inside, no name is absolute or climbs with `..`, every parent of an entry is
 * a directory this run made or found to be a real directory (never a symlink, which defeats the
 * two-step symlink tricks behind CVE-2021-32803/32804 in node-tar and CVE-2016-6321 in GNU tar),
 * every file is created with O_EXCL (so never through a symlink or into another file's inode),
 * and a hard link may only point at a non-directory already extracted.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { chmod, lchown, open, rename, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BootportError } from '../../format/errors.js';
import { fsyncDir, writeAll } from '../io/files.js';
import { ioError } from '../io/io-error.js';
import { sweepWorkDirs, WorkDir } from '../io/workdir.js';
import { loadTarStream, loadXattr } from './modules.js';
import { newTreeStats, type TarHeader, type TreeStats, type TreeWarning } from './pack-tree.js';
import {
  invalidTar,
  paxNumber,
  safeParts,
  SparseMapReader,
  SPARSE_MAJOR,
  SPARSE_MINOR,
  SPARSE_NAME,
  SPARSE_REALSIZE,
  unsafe,
  xattrsOf,
  type Segment,
} from './tar-records.js';

export const EXTRACT_WORK_PREFIX = '.bootport-extract-';

export interface ExtractOptions {
  /**
   * Restore owners, full modes and device nodes, and every extended-attribute namespace (default:
   * whether this process runs as root). Otherwise files belong to the caller, modes are masked by
   * the umask, device nodes are left out with a warning, and only `user.` attributes are set.
   */
  privileged?: boolean;
  /** Keep setuid and setgid bits (default: cleared, with a warning). */
  keepSetuid?: boolean;
  onWarning?: (w: TreeWarning) => void;
  /** Recorded in the work directory, to say whose it is. */
  command?: string;
}

interface DirMeta {
  rel: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  attrs: Map<string, Uint8Array>;
}

/**
 * Extracts the tar read from `source` into `dir`, which must not exist or be empty. Resolves
 * once the tree is in place and durable; on any failure nothing is left at `dir` but what was
 * there, and the work directory is removed.
 */
export async function extractTree(source: AsyncIterable<Uint8Array> | Readable, dir: string, opts: ExtractOptions = {}): Promise<TreeStats> {
  await checkTargetEmpty(dir);
  const parent = dirname(dir);
  sweepWorkDirs(parent, EXTRACT_WORK_PREFIX);
  let work: WorkDir;
  try {
    work = WorkDir.create(parent, EXTRACT_WORK_PREFIX, opts.command ?? 'bootport extract');
  } catch (e) {
    throw ioError(`cannot write in ${parent}`, e);
  }
  const tree = join(work.path, 'tree');
  try {
    mkdirSync(tree, { mode: 0o700 });
    const x = new TreeExtractor(tree, opts);
    await x.run(source);
    // syncfs of the whole file system once, rather than an fsync per file: the tree may hold a
    // hundred thousand files. Then the rename, then the directory that holds the new name.
    execFileSync('sync', ['-f', tree], { stdio: 'ignore' });
    await checkTargetEmpty(dir);
    await rename(tree, dir).catch((e: unknown) => {
      throw ioError(`cannot move the extracted tree to ${dir}`, e);
    });
    await fsyncDir(parent);
    return x.stats;
  } catch (e) {
    throw e instanceof BootportError ? e : ioError(`cannot extract into ${dir}`, e);
  } finally {
    work.removeSync();
  }
}

/** A directory to extract into must not exist, or be empty. */
export async function checkTargetEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new BootportError('ERR_EXISTS', `${dir} exists and is not a directory`);
    throw ioError(`cannot read ${dir}`, e);
  }
  if (names.length > 0)
    throw new BootportError('ERR_EXISTS', `${dir} is not empty`, {}, 'extract into a new or empty directory', { remedies: ['new-directory'] });
  // An empty directory is replaced by the rename.
}

class TreeExtractor {
  readonly stats = newTreeStats();
  /** Directories (relative) known to be real directories: made here, or checked with lstat. */
  private readonly dirs = new Set<string>(['']);
  private readonly dirMeta: DirMeta[] = [];
  private readonly privileged: boolean;
  private readonly umask: number;
  private readonly xattr = loadXattr();
  private warnedXattr = false;

  constructor(
    private readonly root: string,
    private readonly opts: ExtractOptions,
  ) {
    this.privileged = opts.privileged ?? process.getuid?.() === 0;
    this.umask = process.umask();
  }

  async run(source: AsyncIterable<Uint8Array> | Readable): Promise<void> {
    const extract = loadTarStream().extract();
    let total = 0;
    async function* count(data: AsyncIterable<Uint8Array>) {
      for await (const b of data) {
        total += b.length;
        yield b;
      }
    }
    const feeding = pipeline(count(source), extract);
    feeding.catch(() => {});
    /** Where the last entry's data ends: an end-of-archive block must follow it. */
    let end = 0;
    try {
      for await (const entry of extract) {
        const h = entry.header as TarHeader & { byteOffset?: number };
        end = (h.byteOffset ?? 0) + 512 + (h.type === 'directory' ? 0 : Math.ceil((h.size ?? 0) / 512) * 512);
        await this.entry(h, entry as unknown as AsyncIterable<Buffer>);
      }
      await feeding;
      // Cut at an entry's end, a tar still parses: only the missing end-of-archive block tells.
      if (total < end + 512) throw invalidTar(undefined, `it ends after ${total} bytes without an end-of-archive block: truncated`);
    } catch (e) {
      if (e instanceof BootportError) {
        extract.destroy();
        throw e;
      }
      // An entry's stream fails when its archive does: the reason is the feeding's, a source's
      // coded error (a damaged blob) or the tar parser's.
      // Destroyed first, so the feeding settles even when this side failed (a full disk).
      extract.destroy(e as Error);
      const first = await feeding.then(
        () => e,
        (f: unknown) => f,
      );
      const why = (first as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' ? e : first;
      if (why instanceof BootportError) throw why;
      if ((why as NodeJS.ErrnoException).syscall !== undefined) throw why;
      const msg = (why as Error).message;
      if (/tar|header|Unexpected end/i.test(msg)) throw invalidTar(undefined, msg);
      throw why;
    }
    // Children first: a directory's own mtime and mode are set once nothing more is written in it.
    for (const d of this.dirMeta.reverse()) this.finishDir(d);
  }

  private async entry(h: TarHeader, data: AsyncIterable<Buffer>): Promise<void> {
    const pax = h.pax;
    let name = h.name;
    let sparse: { realSize: number } | undefined;
    if (pax?.[SPARSE_MAJOR] !== undefined || pax?.[SPARSE_NAME] !== undefined) {
      if (pax[SPARSE_MAJOR] !== '1' || pax[SPARSE_MINOR] !== '0' || pax[SPARSE_NAME] === undefined)
        throw invalidTar(name, `sparse format ${pax[SPARSE_MAJOR]}.${pax[SPARSE_MINOR]} is not supported (only PAX 1.0)`);
      name = pax[SPARSE_NAME];
      sparse = { realSize: paxNumber(pax, SPARSE_REALSIZE, name) ?? -1 };
      if (sparse.realSize < 0) throw invalidTar(name, 'sparse entry without GNU.sparse.realsize');
    }
    const parts = safeParts(name);
    const rel = parts.join('/');
    const meta = {
      mode: h.mode ?? 0o644,
      uid: paxNumber(pax, 'uid', name) ?? h.uid ?? 0,
      gid: paxNumber(pax, 'gid', name) ?? h.gid ?? 0,
      mtime: paxNumber(pax, 'mtime', name) ?? Math.floor((h.mtime?.getTime() ?? 0) / 1000),
    };
    const { attrs, garbled } = xattrsOf(pax);
    for (const a of garbled) this.warn(rel, `extended attribute ${a} is not valid in this archive; not set`);

    switch (h.type) {
      case 'directory': {
        if (rel === '') {
          this.dirMeta.push({ rel, ...meta, attrs });
          this.stats.directories++;
          return drain(data);
        }
        await this.parentOf(parts, name);
        const abs = join(this.root, rel);
        if (!this.dirs.has(rel)) {
          const st = lstatOrUndefined(abs);
          if (st && !st.isDirectory()) unlinkSync(abs);
          if (!st || !st.isDirectory()) mkdirSync(abs, { mode: 0o700 });
          this.dirs.add(rel);
        }
        this.dirMeta.push({ rel, ...meta, attrs });
        this.stats.directories++;
        return drain(data);
      }
      case 'file':
      case 'contiguous-file': {
        const abs = await this.freshPath(parts, name);
        if (!sparse && (h.size ?? 0) <= SMALL_FILE) {
          // Most files are small: gathered, then written and finished on this thread. Five trips
          // to the thread pool per file cost more than the writing itself.
          const body = await gather(data);
          const fd = openSync(abs, 'wx', 0o600);
          try {
            for (let at = 0; at < body.length;) at += writeSync(fd, body, at, body.length - at);
            this.finishFile(fd, rel, meta);
          } finally {
            closeSync(fd);
          }
          this.stats.bytes += body.length;
        } else {
          const fh = await open(abs, 'wx', 0o600);
          try {
            if (sparse) await this.writeSparse(fh, data, name, sparse.realSize);
            else await this.writeData(fh, data);
            this.finishFile(fh.fd, rel, meta);
          } finally {
            await fh.close();
          }
          if (sparse) this.stats.sparse++;
        }
        this.setAttrs(abs, rel, attrs);
        this.stats.files++;
        return;
      }
      case 'link': {
        if (!h.linkname) throw invalidTar(name, 'hard link without a target');
        const targetParts = safeParts(h.linkname, 'hard link target');
        const target = join(this.root, ...targetParts);
        // The target's parents must be real directories already here, and it must not be one.
        for (let i = 1; i < targetParts.length; i++)
          if (!this.dirs.has(targetParts.slice(0, i).join('/'))) throw unsafe(name, `hard link target ${h.linkname} is not inside a directory of this archive`);
        const st = lstatOrUndefined(target);
        if (!st) throw invalidTar(name, `hard link target ${h.linkname} is not in the archive before it`);
        if (st.isDirectory()) throw unsafe(name, `hard link target ${h.linkname} is a directory`);
        const abs = await this.freshPath(parts, name);
        linkSync(target, abs);
        this.stats.hardlinks++;
        return drain(data);
      }
      case 'symlink': {
        if (!h.linkname) throw invalidTar(name, 'symlink without a target');
        const abs = await this.freshPath(parts, name);
        symlinkSync(h.linkname, abs);
        if (this.privileged) lchownSync(abs, meta.uid, meta.gid);
        lutimesSync(abs, meta.mtime, meta.mtime);
        this.setAttrs(abs, rel, attrs);
        this.stats.symlinks++;
        return drain(data);
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const device = h.type !== 'fifo';
        if (device && !this.privileged) {
          this.warn(rel, 'is a device node: left out, as only root may make one');
          return drain(data);
        }
        const abs = await this.freshPath(parts, name);
        const mode = (this.modeFor(rel, meta.mode) & 0o7777).toString(8);
        const major = paxNumber(pax, 'SCHILY.devmajor', name) ?? h.devmajor ?? 0;
        const minor = paxNumber(pax, 'SCHILY.devminor', name) ?? h.devminor ?? 0;
        try {
          if (device)
            execFileSync('mknod', ['-m', mode, '--', abs, h.type === 'character-device' ? 'c' : 'b', String(major), String(minor)], { stdio: 'pipe' });
          else execFileSync('mkfifo', ['-m', mode, '--', abs], { stdio: 'pipe' });
        } catch (e) {
          throw ioError(`cannot make ${device ? 'the device node' : 'the FIFO'} ${rel}`, e);
        }
        if (this.privileged) await lchown(abs, meta.uid, meta.gid);
        await chmod(abs, this.modeFor(rel, meta.mode));
        await utimes(abs, meta.mtime, meta.mtime);
        this.setAttrs(abs, rel, attrs);
        if (device) this.stats.devices++;
        else this.stats.fifos++;
        return drain(data);
      }
      default:
        throw invalidTar(name, `entry type ${h.type ?? '?'} is not supported`);
    }
  }

  /**
   * Makes sure every parent of `parts` is a real directory, making missing ones, and that nothing
   * but a non-directory stands at the name itself, which is removed: the archive's later entry wins,
   * as in tar. Returns the absolute path, free to create.
   */
  private async freshPath(parts: string[], name: string): Promise<string> {
    if (parts.length === 0) throw unsafe(name, 'a non-directory cannot replace the root');
    await this.parentOf(parts, name);
    const rel = parts.join('/');
    if (this.dirs.has(rel)) throw invalidTar(name, 'would replace a directory of this archive');
    const abs = join(this.root, rel);
    const st = lstatOrUndefined(abs);
    if (st?.isDirectory()) throw invalidTar(name, 'would replace a directory');
    if (st) unlinkSync(abs);
    return abs;
  }

  private async parentOf(parts: string[], name: string): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (this.dirs.has(rel)) continue;
      const abs = join(this.root, rel);
      const st = lstatOrUndefined(abs);
      if (st?.isSymbolicLink()) throw unsafe(name, `${rel} is a symlink, and nothing is written through a symlink`);
      if (st && !st.isDirectory()) throw unsafe(name, `${rel} is not a directory`);
      if (!st) {
        // Made before its own entry, if any, comes: tar puts no order on them.
        mkdirSync(abs, { mode: 0o700 });
        this.dirMeta.push({ rel, mode: 0o755, uid: 0, gid: 0, mtime: Math.floor(Date.now() / 1000), attrs: new Map() });
      }
      this.dirs.add(rel);
    }
    await Promise.resolve();
  }

  private modeFor(rel: string, mode: number): number {
    const special = mode & 0o6000;
    let m = mode & 0o7777;
    if (special && !this.opts.keepSetuid) {
      this.warn(rel, `${special & 0o4000 ? 'setuid' : 'setgid'} bit cleared`, { remedies: ['keep-setuid'] });
      m &= ~0o6000;
    }
    return this.privileged ? m : m & 0o777 & ~this.umask;
  }

  /** Owner (for root), mode and mtime of a file just written, through its descriptor: never through a path. */
  private finishFile(fd: number, rel: string, meta: { mode: number; uid: number; gid: number; mtime: number }): void {
    if (this.privileged) fchownSync(fd, meta.uid, meta.gid);
    fchmodSync(fd, this.modeFor(rel, meta.mode));
    futimesSync(fd, meta.mtime, meta.mtime);
  }

  private finishDir(d: DirMeta): void {
    const abs = join(this.root, d.rel);
    if (this.privileged) chownSync(abs, d.uid, d.gid);
    chmodSync(abs, this.modeFor(d.rel, d.mode) | (this.privileged ? 0 : 0o700));
    this.setAttrs(abs, d.rel, d.attrs);
    utimesSync(abs, d.mtime, d.mtime);
  }

  private setAttrs(abs: string, rel: string, attrs: Map<string, Uint8Array>): void {
    if (attrs.size === 0) return;
    const { xattr, problem } = this.xattr;
    if (!xattr) {
      if (!this.warnedXattr) this.warn(rel, `extended attributes are not set: ${problem}`);
      this.warnedXattr = true;
      return;
    }
    for (const [n, v] of attrs) {
      if (!this.privileged && !n.startsWith('user.')) {
        this.warn(rel, `extended attribute ${n} not set: only root may set it`);
        continue;
      }
      try {
        xattr.setAttributeSync(abs, n, v);
      } catch (e) {
        this.warn(rel, `extended attribute ${n} not set: ${(e as Error).message}`);
      }
    }
  }

  private async writeData(fh: FileHandle, data: AsyncIterable<Buffer>): Promise<void> {
    for await (const b of data) {
      await writeAll(fh, b);
      this.stats.bytes += b.length;
    }
  }

  private async writeSparse(fh: FileHandle, data: AsyncIterable<Buffer>, name: string, realSize: number): Promise<void> {
    const map = new SparseMapReader(name, realSize);
    let segs: Segment[] | undefined;
    let seg = 0;
    let inSeg = 0;
    for await (const chunk of data) {
      let b: Uint8Array = chunk;
      if (!segs) {
        const rest = map.feed(b);
        if (rest === undefined) continue;
        segs = map.segments!;
        b = rest;
      }
      if (map.skip > 0) {
        const n = Math.min(map.skip, b.length);
        map.skip -= n;
        b = b.subarray(n);
      }
      while (b.length > 0) {
        const s = segs[seg];
        if (!s) throw invalidTar(name, 'sparse entry holds more data than its map describes');
        const n = Math.min(s[1] - inSeg, b.length);
        await writeAll(fh, b.subarray(0, n), s[0] + inSeg);
        this.stats.bytes += n;
        inSeg += n;
        b = b.subarray(n);
        if (inSeg === s[1]) {
          seg++;
          inSeg = 0;
        }
      }
      while (segs[seg]?.[1] === 0) seg++;
    }
    if (!segs || seg < segs.length) throw invalidTar(name, 'sparse entry holds less data than its map describes');
    await fh.truncate(realSize);
  }

  private warn(rel: string, message: string, more: { remedies?: string[] } = {}): void {
    this.opts.onWarning?.({ path: rel === '' ? '.' : rel, message, ...more });
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Files up to this size are gathered in memory and written in one go. */
const SMALL_FILE = 1 << 20;

async function gather(data: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of data) parts.push(b);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

async function drain(data: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of data);
}
