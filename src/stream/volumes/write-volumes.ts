/**
 * Writes a bundle as volumes, `BASE.001`, `BASE.002`, …, each at most `splitSize` bytes, cut
 * only where a record begins. A volume is written through a locked work directory beside it and
 * renamed into place only once complete and fsynced, with its directory fsynced after, so a
 * volume that exists is whole even on a stick pulled out at once.
 *
 * When a volume's file system fills, the volume ends at the last whole record and, if the caller
 * can ask for another medium (a terminal), the next volume goes wherever it says; otherwise the
 * export fails and removes every volume it wrote.
 */
import { readdirSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { concatBytes } from '../../format/bytes.js';
import { BootportError } from '../../format/errors.js';
import { decodeManifest } from '../../format/manifest.js';
import { PREAMBLE_SIZE } from '../../format/constants.js';
import {
  encodeVolumeHeader,
  fitsInVolume,
  isVolume,
  MAX_VOLUMES,
  parseVolumeFileName,
  RecordBoundaries,
  VOLUME_HEADER_SIZE,
  volumeFileName,
} from '../../format/volume.js';
import type { Hasher, HashEngine } from '../engine/hash.js';
import { exists, fsyncDir, OUTPUT_WORK_PREFIX, readHead, writeAll } from '../io/files.js';
import { ioError, modesUnsupported } from '../io/io-error.js';
import { sweepWorkDirs, WorkDir } from '../io/workdir.js';

export interface FullMedium {
  /** The volume that was being written when the file system filled. */
  index: number;
  /** The volume that was completed on this medium before it filled, if any. */
  completed?: string;
  dir: string;
}

export interface VolumeWriteOptions {
  /** Most bytes of a volume file, its header included. */
  splitSize: number;
  force: boolean;
  hash: HashEngine;
  /** Recorded in each volume's work directory, to say whose it is. */
  command?: string;
  /**
   * Asked when a volume's file system is full: the directory to go on in (a fresh medium mounted
   * where the last one was, or another path), or undefined to give up.
   */
  nextMedium?: (full: FullMedium) => Promise<string | undefined>;
  /** Told as each volume begins, for progress. */
  onVolume?: (index: number, path: string) => void;
}

export interface VolumeWriteResult {
  /** The volume files, in order. */
  volumes: string[];
  /** Bundle bytes written (volume headers not counted). */
  bytes: number;
}

interface OpenVolume {
  index: number;
  dir: string;
  work: WorkDir;
  tmp: string;
  fh: FileHandle;
  /** Bundle offset of its first byte. */
  offset: number;
  /** Bundle bytes written to it so far: whole records only. */
  length: number;
  hasher: Hasher;
}

/**
 * `data` may reuse a piece's buffer once the next piece is asked for: every record is written
 * before that, so only a record's last piece may be recycled (as the bundle writer's frames are).
 */
export async function writeVolumes(base: string, data: AsyncIterable<Uint8Array>, opts: VolumeWriteOptions): Promise<VolumeWriteResult> {
  const w = new VolumeWriter(base, opts);
  try {
    await w.run(data);
    return { volumes: w.done, bytes: w.pos };
  } catch (e) {
    await w.abandon();
    throw e;
  }
}

class VolumeWriter {
  readonly done: string[] = [];
  pos = 0;
  private vol: OpenVolume | undefined;
  private dir: string;
  private readonly name: string;
  private bundleId = '';
  private headerHash: Uint8Array = new Uint8Array(32);
  private identityKnown = false;
  /** Bundle offset where the last finished volume ended: the next one begins there. */
  private lastEnd = 0;

  constructor(
    base: string,
    private readonly opts: VolumeWriteOptions,
  ) {
    this.dir = dirname(base);
    this.name = basename(base);
  }

  async run(data: AsyncIterable<Uint8Array>): Promise<void> {
    await this.checkFree(this.dir);
    const cuts = new RecordBoundaries();
    let record: Uint8Array[] = [];
    for await (const piece of data) {
      let at = 0;
      const start = this.pos;
      for (const cut of cuts.feed(piece)) {
        const upto = cut - start;
        if (upto > at) record.push(piece.subarray(at, upto));
        at = upto;
        await this.record(record);
        record = [];
      }
      if (at < piece.length) record.push(at === 0 ? piece : piece.subarray(at));
      this.pos = start + piece.length;
    }
    if (record.length) await this.record(record);
    if (!this.vol) await this.openVolume(this.dir, this.done.length + 1);
    await this.closeVolume(true);
    if (this.opts.force) await this.removeStale(this.dir);
  }

  /** One whole record (the preamble and manifest, a chunk, or the trailer to the end): written into one volume. */
  private async record(pieces: Uint8Array[]): Promise<void> {
    const bytes = pieces.reduce((a, p) => a + p.length, 0);
    if (!this.identityKnown) this.learnIdentity(pieces);
    if (!fitsInVolume(0, bytes, this.opts.splitSize))
      throw new BootportError(
        'ERR_INVALID',
        `a record of ${bytes} bytes does not fit in volumes of ${this.opts.splitSize} bytes`,
        {},
        'choose a larger split size, or a smaller chunk size',
      );
    if (this.vol && !fitsInVolume(this.vol.length, bytes, this.opts.splitSize)) await this.closeVolume(false);
    for (;;) {
      if (!this.vol) await this.openVolume(this.dir, this.done.length + 1);
      const vol = this.vol!;
      try {
        let at = VOLUME_HEADER_SIZE + vol.length;
        for (const p of pieces) {
          await writeAll(vol.fh, p, at);
          at += p.length;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw ioError(`cannot write ${this.pathOf(vol.dir, vol.index)}`, e);
        await this.mediumFull(vol);
        continue;
      }
      for (const p of pieces) vol.hasher.update(p);
      vol.length += bytes;
      return;
    }
  }

  /** The preamble and manifest: the bundle id and header hash every volume header repeats. */
  private learnIdentity(pieces: Uint8Array[]): void {
    const head = concatBytes(pieces);
    this.identityKnown = true;
    this.bundleId = decodeManifest(head.subarray(PREAMBLE_SIZE)).bundle_id;
    this.headerHash = this.opts.hash.digestOf([head]);
  }

  /** Ends the volume at its last whole record and asks for the next medium; without one, fails. */
  private async mediumFull(vol: OpenVolume): Promise<void> {
    const path = this.pathOf(vol.dir, vol.index);
    await vol.fh.truncate(VOLUME_HEADER_SIZE + vol.length);
    let completed: string | undefined;
    if (vol.length > 0) {
      await this.closeVolume(false);
      completed = this.done[this.done.length - 1];
    } else {
      await vol.fh.close();
      vol.work.removeSync();
      this.vol = undefined;
    }
    const next = await this.opts.nextMedium?.({ index: vol.index, dir: vol.dir, ...(completed ? { completed } : {}) });
    if (next === undefined)
      throw new BootportError(
        'ERR_NO_SPACE',
        `${path}: no space left on the file system of ${vol.dir}`,
        {},
        'free space there, or run on a terminal to be asked for another medium',
        { remedies: ['free-space'] },
      );
    await this.checkFree(next);
    this.dir = next;
  }

  private pathOf(dir: string, index: number): string {
    return join(dir, volumeFileName(this.name, index));
  }

  private async openVolume(dir: string, index: number): Promise<void> {
    if (index > MAX_VOLUMES) throw new BootportError('ERR_INVALID', `more than ${MAX_VOLUMES} volumes`, {}, 'choose a larger split size');
    const path = this.pathOf(dir, index);
    if (!this.opts.force && (await exists(path))) throw new BootportError('ERR_EXISTS', `${path} exists`, {}, 'overwrite it', { remedies: ['overwrite'] });
    sweepWorkDirs(dir, OUTPUT_WORK_PREFIX);
    let work: WorkDir;
    try {
      work = WorkDir.create(dir, OUTPUT_WORK_PREFIX, this.opts.command ?? 'bootport export');
    } catch (e) {
      throw ioError(`cannot write in ${dir}`, e);
    }
    const tmp = join(work.path, 'volume');
    try {
      const fh = await open(tmp, 'wx', 0o644);
      await fh.chmod(0o644).catch((e: unknown) => {
        if (!modesUnsupported(e)) throw e;
      });
      // Room for the header, written last, when the volume's length and digest are known.
      await writeAll(fh, new Uint8Array(VOLUME_HEADER_SIZE), 0);
      this.vol = { index, dir, work, tmp, fh, offset: this.lastEnd, length: 0, hasher: await this.opts.hash.create() };
      this.opts.onVolume?.(index, path);
    } catch (e) {
      work.removeSync();
      throw ioError(`cannot write ${path}`, e);
    }
  }

  private async closeVolume(last: boolean): Promise<void> {
    const vol = this.vol!;
    const path = this.pathOf(vol.dir, vol.index);
    const header = encodeVolumeHeader(
      {
        index: vol.index,
        last,
        count: last ? vol.index : 0,
        bundleId: this.bundleId,
        offset: vol.offset,
        length: vol.length,
        headerHash: this.headerHash,
        payloadDigest: vol.hasher.digest(),
      },
      (b) => this.opts.hash.digestOf([b]),
    );
    try {
      await writeAll(vol.fh, header, 0);
      await vol.fh.sync();
      await vol.fh.close();
      if (!this.opts.force && (await exists(path))) throw new BootportError('ERR_EXISTS', `${path} appeared while it was being written`);
      await rename(vol.tmp, path);
      await fsyncDir(vol.dir);
    } catch (e) {
      await vol.fh.close().catch(() => {});
      vol.work.removeSync();
      this.vol = undefined;
      throw e instanceof BootportError ? e : ioError(`cannot write ${path}`, e);
    }
    // Removed now: a medium about to be unmounted must hold no open file of ours.
    vol.work.removeSync();
    this.vol = undefined;
    this.lastEnd = vol.offset + vol.length;
    this.done.push(path);
  }

  /** A directory for volumes must not hold volumes of this name already, unless overwriting. */
  private async checkFree(dir: string): Promise<void> {
    if (this.opts.force) return;
    const taken = volumeFilesIn(dir, this.name);
    if (taken.length)
      throw new BootportError('ERR_EXISTS', `${join(dir, taken[0]!)} exists`, {}, 'overwrite it', {
        remedies: ['overwrite'],
      });
  }

  /** Volumes of an earlier, longer set under the same name, which would otherwise be mistaken for part of this one. */
  private async removeStale(dir: string): Promise<void> {
    for (const f of volumeFilesIn(dir, this.name)) {
      const p = join(dir, f);
      if (this.done.includes(p)) continue;
      if (isVolume(await readHead(p, 8).catch(() => new Uint8Array(0)))) await rm(p, { force: true });
    }
  }

  /** After a failure: the open volume and every finished one that can still be reached are removed. */
  async abandon(): Promise<void> {
    if (this.vol) {
      await this.vol.fh.close().catch(() => {});
      this.vol.work.removeSync();
      this.vol = undefined;
    }
    for (const p of this.done) await rm(p, { force: true }).catch(() => {});
  }
}

/** The names in `dir` that look like volumes of `name`. */
export function volumeFilesIn(dir: string, name: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => parseVolumeFileName(n)?.base === name).sort();
}
