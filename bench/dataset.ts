import { spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { createWriteStream, existsSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';

/**
 * The benchmark's image: what a root file system export looks like. A tar of /usr (binaries,
 * libraries, text; sorted, so the same machine gives the same bytes) with one block of random
 * bytes after every 7 blocks of tar: 12.5 % incompressible, like the compressed archives,
 * firmware and media a real image carries. Random bytes come from AES-CTR under a fixed key, so
 * they are reproducible and cost nothing to make.
 */
export const BLOCK = 16 << 20;
const RANDOM_EVERY = 8;

export async function makeDataset(path: string, size: number, log: (s: string) => void): Promise<void> {
  if (existsSync(path) && statSync(path).size === size) return;
  log(`generating ${path} (${size / 2 ** 20} MiB: tar of /usr with 1/${RANDOM_EVERY} random)`);
  const tmp = `${path}.partial`;
  const out = createWriteStream(tmp);
  const rng = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(BLOCK);
  let written = 0;
  let block = 0;
  const put = async (b: Buffer): Promise<void> => {
    if (!out.write(b)) await once(out, 'drain');
    written += b.length;
  };
  // The tar is read again from the start if /usr is smaller than the image.
  while (written < size) {
    const tar = spawn('tar', ['cf', '-', '--sort=name', '--warning=none', '--ignore-failed-read', '-C', '/', 'usr'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let pending: Buffer = Buffer.alloc(0);
    for await (const piece of tar.stdout as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, piece]) : piece;
      while (pending.length >= BLOCK && written < size) {
        if (block % RANDOM_EVERY === RANDOM_EVERY - 1) await put(rng.update(zeros).subarray(0, Math.min(BLOCK, size - written)));
        else {
          await put(pending.subarray(0, Math.min(BLOCK, size - written)));
          pending = pending.subarray(BLOCK);
        }
        block++;
      }
      if (written >= size) {
        tar.kill();
        break;
      }
    }
  }
  out.end();
  await once(out, 'close');
  renameSync(tmp, path);
}

/** A short fingerprint of the data set, for the results table. */
export function describeDataset(): string {
  return `tar of /usr (sorted by name) in ${BLOCK >> 20} MiB blocks, every ${RANDOM_EVERY}th block replaced by AES-CTR random bytes (${100 / RANDOM_EVERY}% incompressible)`;
}
