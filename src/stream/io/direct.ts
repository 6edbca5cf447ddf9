import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { addonIfBuilt } from './addon.js';
import { writeAll } from './files.js';
import { modesUnsupported } from './io-error.js';

/** O_DIRECT wants buffers, offsets and lengths in whole blocks: 4096 bytes covers every logical block size in use. */
export const DIRECT_ALIGN = 4096;

/**
 * `size` bytes starting on a DIRECT_ALIGN boundary, where the addon can say where memory lies;
 * plain bytes where it cannot (they are then written through the page cache). `shared` puts them
 * in a SharedArrayBuffer, which workers can fill in place. They are buffers that are filled and
 * kept (a pool's chunks, a worker's scratch), so their pages are made resident at once: faulted
 * in one by one as they were first written, they cost several times more (bench/README.md).
 */
export function alignedBytes(size: number, shared = false): Uint8Array {
  const addon = addonIfBuilt();
  const make = (n: number) => (shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
  if (!addon) return new Uint8Array(make(size));
  const buf = make(size + DIRECT_ALIGN);
  const off = (DIRECT_ALIGN - addon.alignment(new Uint8Array(buf, 0, 1))) % DIRECT_ALIGN;
  const bytes = new Uint8Array(buf, off, size);
  addon.populate(bytes);
  return bytes;
}

/**
 * A new file written around the page cache where the file system allows it. A staged blob is
 * written once, fsynced, and not read back soon; copying every byte into the page cache first
 * cost more CPU than decompressing it, on a machine whose new pages are expensive
 * (bench/RESULTS.md, "disk" rows), and pushed other data out of the cache. Whole aligned blocks
 * go through a descriptor opened with O_DIRECT; any other write (an entry's partial last block,
 * a buffer not aligned) and every fsync through the ordinary one, which owns the file.
 */
export class DirectFile {
  private constructor(
    readonly handle: FileHandle,
    private direct: FileHandle | undefined,
  ) {}

  /**
   * Creates `path`, which must not exist, and gives it `mode` whatever the umask (where the file
   * system keeps modes). It is created writable by its owner, so that the second descriptor can
   * be opened whatever `mode` is, and given `mode` after.
   */
  static async create(path: string, mode: number): Promise<DirectFile> {
    const handle = await open(path, 'wx', 0o600);
    let direct: FileHandle | undefined;
    try {
      if (addonIfBuilt() && constants.O_DIRECT) {
        // Refused where the file system has no direct I/O (EINVAL); then every write is ordinary.
        direct = await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
      }
      await handle.chmod(mode).catch((e: unknown) => {
        if (!modesUnsupported(e)) throw e;
      });
    } catch (e) {
      await Promise.all([handle.close(), direct?.close()]).catch(() => {});
      throw e;
    }
    return new DirectFile(handle, direct);
  }

  /** Writes all of `data` at `position`. */
  async write(data: Uint8Array, position: number): Promise<void> {
    if (this.direct && position % DIRECT_ALIGN === 0 && data.length % DIRECT_ALIGN === 0 && addonIfBuilt()?.alignment(data) === 0) {
      try {
        return await writeAll(this.direct, data, position);
      } catch (e) {
        // A device whose blocks are larger than DIRECT_ALIGN, or a short write that left the rest
        // unaligned: the write is made again the ordinary way, and so is every later one. Other
        // writes in flight may be refused too, after the first has closed the descriptor.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        const d = this.direct;
        this.direct = undefined;
        await d?.close().catch(() => {});
      }
    }
    return writeAll(this.handle, data, position);
  }

  async close(): Promise<void> {
    const d = this.direct;
    this.direct = undefined;
    await Promise.all([this.handle.close(), d?.close()]);
  }
}
