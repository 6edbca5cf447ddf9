import { lstat, mkdir, rename, rmdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { BootportError } from '../../format/errors.js';
import type { Role } from '../../format/manifest.js';
import { canonicalStringify, type Json } from '../../format/canonical-json.js';
import { createReadStream } from 'node:fs';
import { exists, fsyncDir, ioError, readHead, writeAll } from '../io/files.js';
import { checkTargetEmpty, extractTree, type ExtractOptions } from '../tree/extract-tree.js';
import type { TreeStats } from '../tree/pack-tree.js';
import { imageKind, KIND_HEAD_BYTES } from '../tree/tar-records.js';
import { stageBundle, type Staged } from './stage.js';
import type { ReadOptions } from '../bundle/reader.js';
import type { ByteSource } from '../io/source.js';
import { removeOnSignal, sweepWorkDirs, WorkDir } from '../io/workdir.js';

export const UNPACK_FILES: Record<Role, string> = { kernel: 'kernel', initramfs: 'initramfs', image: 'image' };
export const BOOTCONFIG_FILE = 'bootconfig.json';
export const UNPACK_WORK_PREFIX = '.bootport-unpack-';

export interface UnpackOptions extends ReadOptions {
  force?: boolean;
  /** Extract the image, which must be a tar, into this new or empty directory instead of writing it as a file. */
  imageDir?: string;
  /** How the image tree is extracted: setuid bits, warnings. */
  extract?: Omit<ExtractOptions, 'command'>;
}

/**
 * Unpacks into `dir` only once the whole bundle has verified. The content goes to a locked work
 * directory inside `dir` (same file system, so the final renames are atomic); the files it
 * replaces are first moved aside into it, and put back if any step fails. On any failure `dir`
 * is left as it was, down to removing it if this call created it. A work directory left by a
 * killed unpack is removed by the next unpack into `dir`.
 */
export async function unpackBundle(input: ByteSource, dir: string, opts: UnpackOptions = {}): Promise<Staged & { files: string[]; tree?: TreeStats }> {
  const imageDir = opts.imageDir;
  const created = !(await exists(dir));
  await mkdir(dir, { recursive: true });
  // Interrupted, a directory this call made goes too, if nothing else was put in it.
  const forget = created ? removeOnSignal(dir, true) : () => {};
  sweepWorkDirs(dir, UNPACK_WORK_PREFIX);
  const work = WorkDir.create(dir, UNPACK_WORK_PREFIX, 'bootport unpack');
  const staging = work.path;
  /** Files moved aside, to be put back on failure: [target, where it waits]. */
  const aside: [string, string][] = [];
  const placed: string[] = [];
  try {
    const staged = await stageBundle(input, staging, {
      ...opts,
      decide: async ({ manifest }) => {
        for (const t of [...manifest.entries.filter((e) => !(imageDir && e.role === 'image')).map((e) => UNPACK_FILES[e.role]), BOOTCONFIG_FILE])
          await checkTarget(join(dir, t), opts.force === true);
        if (imageDir) {
          if (!manifest.entries.some((e) => e.role === 'image')) throw new BootportError('ERR_INVALID', 'the bundle carries no image to extract');
          await checkTargetEmpty(imageDir);
        }
      },
    });
    const imageEntry = imageDir ? staged.entries.find((s) => staged.header.manifest.entries[s.index]!.role === 'image') : undefined;
    if (imageEntry) {
      const kind = imageKind(await readHead(imageEntry.path, KIND_HEAD_BYTES));
      if (kind !== 'tar') throw new BootportError('ERR_TAR_INVALID', `the bundle's image is a ${kind}, not a tar: there is no tree to extract`);
    }
    const { manifest } = staged.header;
    const doc = {
      boot_config: manifest.boot_config,
      bundle_id: manifest.bundle_id,
      created: manifest.created,
      source: manifest.source,
      tool: manifest.tool,
      entries: staged.entries.map((s) => {
        const e = manifest.entries[s.index]!;
        const where = s === imageEntry ? { directory: imageDir } : { file: UNPACK_FILES[e.role] };
        return { role: e.role, name: e.name, ...where, size: s.rawBytes, digest: s.digest, ...(e.meta ? { meta: e.meta } : {}) };
      }),
    };
    const docPath = join(staging, BOOTCONFIG_FILE);
    await writeDurable(docPath, JSON.stringify(JSON.parse(canonicalStringify(doc as unknown as Json)), null, 2) + '\n');
    const moves: [string, string][] = [
      ...staged.entries.filter((s) => s !== imageEntry).map((s): [string, string] => [s.path, join(dir, UNPACK_FILES[manifest.entries[s.index]!.role])]),
      [docPath, join(dir, BOOTCONFIG_FILE)],
    ];
    // Checked again: the directory may have changed while the bundle streamed.
    for (const [, target] of moves) await checkTarget(target, opts.force === true);
    for (const [i, [, target]] of moves.entries()) {
      if (await exists(target)) {
        const keep = join(staging, `replaced-${i}`);
        await rename(target, keep);
        aside.push([target, keep]);
      }
    }
    for (const [from, target] of moves) {
      await rename(from, target);
      placed.push(target);
    }
    await fsyncDir(dir);
    // Last, so that a tar that turns out hostile or a full disk undoes the files above too.
    const tree =
      imageEntry && imageDir ? await extractTree(createReadStream(imageEntry.path), imageDir, { ...opts.extract, command: 'bootport unpack' }) : undefined;
    forget();
    return { ...staged, files: placed, ...(tree ? { tree } : {}) };
  } catch (e) {
    // Undo in reverse: take out what was placed, put back what it replaced.
    for (const [i, target] of [...placed.entries()].reverse()) await rename(target, join(staging, `failed-${i}`)).catch(() => {});
    for (const [target, keep] of aside.reverse()) await rename(keep, target).catch(() => {});
    work.removeSync();
    forget();
    if (created) await rmdir(dir).catch(() => {});
    throw e instanceof BootportError ? e : ioError(`cannot unpack into ${dir}`, e);
  } finally {
    work.removeSync();
  }
}

/** A target may be replaced only with --force, and only if it is a regular file. */
async function checkTarget(path: string, force: boolean): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!force)
    throw new BootportError('ERR_EXISTS', `${path} exists`, {}, 'overwrite it, or unpack into an empty directory', {
      remedies: ['overwrite', 'empty-directory'],
    });
  if (!st.isFile())
    throw new BootportError(
      'ERR_EXISTS',
      `${path} exists and is not a regular file, so it is not replaced`,
      {},
      'move it away, or unpack into an empty directory',
    );
}

async function writeDurable(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await writeAll(fh, new TextEncoder().encode(text));
    await fh.sync();
  } finally {
    await fh.close();
  }
}
