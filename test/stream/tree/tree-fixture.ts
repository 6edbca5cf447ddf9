/**
 * A small chroot-like tree with every kind of entry an image tar carries: directories, files,
 * a hard link, symlinks (relative and absolute), a sparse file, a setuid file, a FIFO, a socket
 * (which is left out), extended attributes, other owners, and, as root, device nodes.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { chmod, chown, link, mkdir, open, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const IS_ROOT = process.getuid?.() === 0;

export interface RichTree {
  root: string;
  /** Closes the listening socket: its file stays, as a socket file does after a crash. */
  close(): Promise<void>;
}

export async function makeRichTree(root: string): Promise<RichTree> {
  const p = (...a: string[]) => join(root, ...a);
  for (const d of ['etc/ssh', 'usr/bin', 'usr/lib/modules', 'var/empty', 'run', 'dev', 'tmp']) await mkdir(p(d), { recursive: true });
  await writeFile(p('etc/hostname'), 'compute-01\n');
  await writeFile(p('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(p('etc/ssh/ssh_host_key'), 'secret\n', { mode: 0o600 });
  await link(p('etc/passwd'), p('etc/passwd-'));
  await symlink('../etc/hostname', p('usr/hostname-link'));
  await symlink('/usr/share/zoneinfo/UTC', p('etc/localtime'));
  await writeFile(p('usr/bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await writeFile(p('usr/bin/su'), 'setuid binary\n');
  await chmod(p('usr/bin/su'), 0o4755);
  await chmod(p('tmp'), 0o1777);
  // Sparse: 64 MiB with two islands of data, one not at a block boundary, ending in a hole.
  const fh = await open(p('usr/lib/modules/sparse.img'), 'wx');
  await fh.write('island one', 3 << 20);
  await fh.write(Buffer.alloc(10000, 0x5a), 0, 10000, (40 << 20) + 123);
  await fh.truncate(64 << 20);
  await fh.close();
  await writeFile(p('usr/lib/modules/data.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) & 0xff)));
  // Firmware does not compress: a few volumes' worth when split small.
  let x = 1;
  await writeFile(p('usr/lib/firmware.bin'), Buffer.from(Array.from({ length: 250_000 }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24)));
  execFileSync('mkfifo', [p('run/initctl')]);
  execFileSync('setfattr', ['-n', 'user.origin', '-v', 'golden image', p('etc/hostname')]);
  if (IS_ROOT) {
    execFileSync('setfattr', ['-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', p('usr/bin/tool')]);
    execFileSync('mknod', [p('dev/null'), 'c', '1', '3']);
    execFileSync('mknod', [p('dev/sda'), 'b', '8', '0']);
    await chown(p('etc/hostname'), 1234, 5678);
    await chown(p('var/empty'), 65534, 65534);
  }
  await utimes(p('etc/passwd'), 1_500_000_000, 1_500_000_000);
  const server = createServer();
  await new Promise<void>((res) => server.listen(p('run/daemon.sock'), res));
  return { root, close: () => new Promise((res) => server.close(() => res())) };
}

/** Every path of a tree with its type, mode, owner, mtime, link count, target and extended attributes: what `diff -r` does not compare. */
export function treeListing(root: string): string {
  const stat = execFileSync('find', ['.', '-printf', '%p %y %m %U:%G %T@ %n %l %s %b\\n'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '' && !l.includes('daemon.sock'))
    .map((l) => {
      // A directory's size and blocks depend on the file system's history, not on its content.
      const f = l.split(' ');
      // A tar keeps whole seconds.
      f[4] = String(Math.floor(Number(f[4])));
      if (f[1] === 'd') f.splice(-2);
      return f.join(' ');
    })
    .sort();
  const attrs = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'base64', '.'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return [...stat, attrs].join('\n');
}

/**
 * What `diff -r` finds different between two trees, less its notes on special files of the same
 * kind on both sides (diff cannot compare device nodes or FIFOs, and says so).
 */
export function diffTrees(a: string, b: string, exclude: string[] = ['daemon.sock']): string[] {
  let out: string;
  try {
    out = execFileSync('diff', ['-r', '--no-dereference', ...exclude.map((e) => `--exclude=${e}`), a, b], { encoding: 'utf8' });
  } catch (e) {
    out = (e as { stdout: string }).stdout;
  }
  return out
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => !/^File .* is a (character special file|block special file|fifo) while file .* is a \1$/.test(l));
}
