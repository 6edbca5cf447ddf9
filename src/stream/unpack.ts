import { mkdir, mkdtemp, rename, rmdir, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { BootportError } from '../format/errors.js';
import type { Role } from '../format/manifest.js';
import { canonicalStringify, type Json } from '../format/canonical-json.js';
import { exists } from './files.js';
import { removeQuietly, stageBundle, type Staged } from './stage.js';
import type { ReadOptions } from './reader.js';
import type { ByteSource } from './source.js';

export const UNPACK_FILES: Record<Role, string> = { kernel: 'kernel', initramfs: 'initramfs', image: 'image' };
export const BOOTCONFIG_FILE = 'bootconfig.json';

export interface UnpackOptions extends ReadOptions {
  force?: boolean;
}

/**
 * Unpacks into `dir` only once the whole bundle has verified: the content goes to a hidden
 * staging directory inside `dir` (same file system, so the final renames are atomic), and on any
 * failure `dir` is left as it was, down to removing it if this call created it.
 */
export async function unpackBundle(input: ByteSource, dir: string, opts: UnpackOptions = {}): Promise<Staged & { files: string[] }> {
  const created = !(await exists(dir));
  await mkdir(dir, { recursive: true });
  const staging = await mkdtemp(join(dir, '.bootport-unpack-'));
  try {
    const staged = await stageBundle(input, staging, {
      ...opts,
      decide: async ({ manifest }) => {
        const targets = [...manifest.entries.map((e) => UNPACK_FILES[e.role]), BOOTCONFIG_FILE];
        for (const t of targets) {
          if (!opts.force && (await exists(join(dir, t)))) throw new BootportError('ERR_EXISTS', `${join(dir, t)} exists`, {}, 'pass --force to overwrite, or unpack into an empty directory');
        }
      },
    });
    const { manifest } = staged.header;
    const doc = {
      boot_config: manifest.boot_config,
      bundle_id: manifest.bundle_id,
      created: manifest.created,
      source: manifest.source,
      tool: manifest.tool,
      entries: staged.entries.map((s) => {
        const e = manifest.entries[s.index]!;
        return { role: e.role, name: e.name, file: UNPACK_FILES[e.role], size: s.rawBytes, digest: s.digest, ...(e.meta ? { meta: e.meta } : {}) };
      }),
    };
    const docPath = join(staging, BOOTCONFIG_FILE);
    await writeFile(docPath, JSON.stringify(JSON.parse(canonicalStringify(doc as unknown as Json)), null, 2) + '\n', { mode: 0o644 });
    const files: string[] = [];
    for (const s of staged.entries) {
      const target = join(dir, UNPACK_FILES[manifest.entries[s.index]!.role]);
      await rename(s.path, target);
      files.push(target);
    }
    await rename(docPath, join(dir, BOOTCONFIG_FILE));
    files.push(join(dir, BOOTCONFIG_FILE));
    await syncDir(dir);
    await removeQuietly(staging);
    return { ...staged, files };
  } catch (e) {
    await removeQuietly(staging);
    if (created) await rmdir(dir).catch(() => {});
    throw e;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
