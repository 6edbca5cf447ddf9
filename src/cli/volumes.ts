/**
 * The command line's side of split volumes: when to split (asked, or a vfat target), and asking a
 * person at the terminal for the next medium, on either side of the trip.
 */
import { readFile, realpath, statfs } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { zstdCompressBound } from '../format/constants.js';
import type { Manifest } from '../format/manifest.js';
import { VOLUME_HEADER_SIZE } from '../format/volume.js';
import type { FullMedium } from '../stream/volumes/write-volumes.js';
import type { WantedVolume } from '../stream/volumes/read-volumes.js';
import type { CommandContext } from './context.js';
import { parseSize, usage } from './parse.js';
import { humanBytes } from './text.js';

/** vfat's magic in statfs(2): MSDOS_SUPER_MAGIC. */
const VFAT_MAGIC = 0x4d44;
/** File system types, as /proc/self/mountinfo names them, whose files stop short of 4 GiB: FAT, in the kernel or through FUSE. */
const FAT_TYPES = new Set(['vfat', 'msdos', 'fat', 'fuse.fusefat']);

/** The type of the file system `dir` is on, from the mount whose mount point is its longest prefix. */
async function fsTypeOf(dir: string): Promise<string | undefined> {
  const real = await realpath(dir).catch(() => dir);
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  let best: { at: string; type: string } | undefined;
  for (const line of info.split('\n')) {
    const [pre, post] = line.split(' - ');
    const at = pre?.split(' ')[4]?.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    const type = post?.split(' ')[0];
    if (!at || !type) continue;
    const inside = real === at || real.startsWith(at.endsWith('/') ? at : `${at}/`);
    if (inside && (!best || at.length >= best.at.length)) best = { at, type };
  }
  return best?.type;
}
/** FAT32 holds files of at most 4 GiB − 1 byte; a volume stays a mebibyte under it. */
export const FAT32_SPLIT = 4 * 1024 ** 3 - (1 << 20);

/** `--split-size` checked against the chunk size: a volume must hold at least one whole chunk record. */
function parseSplitSize(v: string, manifest: Manifest): number {
  const n = parseSize(v);
  const chunk = Math.max(...manifest.entries.map((e) => e.chunk_size));
  const least = VOLUME_HEADER_SIZE + 52 + zstdCompressBound(chunk);
  if (n < least) throw usage(`--split-size ${v} is smaller than one chunk record can be (${humanBytes(least)} at --chunk-size ${humanBytes(chunk)})`);
  return n;
}

/** Whether `dir` is on a FAT file system, whose files stop short of 4 GiB. */
async function onFat(dir: string): Promise<boolean> {
  const fs = await statfs(dir).catch(() => undefined);
  return fs?.type === VFAT_MAGIC || FAT_TYPES.has((await fsTypeOf(dir)) ?? '');
}

/**
 * The volume size for an export to `out`, or undefined for one file. `--split-size` is taken as
 * given, unless it makes files FAT cannot hold. With none, a bundle bound for FAT is split at
 * FAT32_SPLIT when it could reach that size (when every entry's size is known, the compressed
 * bound decides), and the user is told.
 */
export async function splitFor(ctx: CommandContext, out: string, manifest: Manifest, given: string | undefined): Promise<number | undefined> {
  const dir = dirname(out);
  const fat = await onFat(dir);
  if (given !== undefined) {
    const n = parseSplitSize(given, manifest);
    if (fat && n > FAT32_SPLIT)
      throw usage(
        `--split-size ${given} makes files that ${dir}, a FAT file system, cannot hold (under 4 GiB each)`,
        `choose ${humanBytes(FAT32_SPLIT)} or less`,
      );
    return n;
  }
  if (!fat) return undefined;
  const sizes = manifest.entries.map((e) => e.size);
  if (sizes.every((s) => s !== undefined)) {
    const bound = manifest.entries.reduce((a, e) => {
      const chunks = Math.max(1, Math.ceil(e.size! / e.chunk_size));
      return a + chunks * (52 + 8 + zstdCompressBound(e.chunk_size)) + 56;
    }, 1 << 20);
    if (bound <= FAT32_SPLIT) return undefined;
  }
  ctx.err(
    `bootport: ${dir} is a vfat file system, where a file must stay under 4 GiB: writing volumes of at most ${humanBytes(FAT32_SPLIT)} ` +
      `(${basename(out)}.001, …); --split-size chooses another size`,
  );
  return FAT32_SPLIT;
}

/** Export: the medium filled; on a terminal, the user swaps it (or names another directory) and says so. */
export function askForMedium(ctx: CommandContext): (full: FullMedium) => Promise<string | undefined> {
  return async (full) => {
    const done = full.completed ? `${full.completed} is complete. ` : '';
    const answer = await ctx.ask(
      `${done}${full.dir} is full. Put in the medium for volume ${full.index + (full.completed ? 1 : 0)}, mounted at ${full.dir}, and press Enter; ` +
        `or type another directory (q to give up): `,
    );
    if (answer === undefined || answer.trim() === 'q') return undefined;
    return answer.trim() === '' ? full.dir : resolve(ctx.io.cwd, answer.trim());
  };
}

/** Import, verify, unpack: a volume is missing; on a terminal, the user brings it or says where it is. */
export function askForVolume(ctx: CommandContext): (want: WantedVolume) => Promise<string | undefined> {
  return async (want) => {
    const answer = await ctx.ask(
      `Volume ${want.index} (${want.name}) is not in ${want.dir}. Put in the medium that holds it and press Enter, ` +
        `or type the directory or file that holds it (q to give up): `,
    );
    if (answer === undefined || answer.trim() === 'q') return undefined;
    return answer.trim() === '' ? resolve(want.dir, want.name) : resolve(ctx.io.cwd, answer.trim());
  };
}
