import { BootportError } from '../../format/errors.js';

/**
 * The one mapping from a failed system call to a coded error: a full disk is ERR_NO_SPACE, any
 * other errno ERR_IO, both naming what failed and keeping the system error as the cause.
 */
export function ioError(what: string, e: unknown): BootportError {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOSPC')
    return new BootportError('ERR_NO_SPACE', `${what}: no space left on the file system`, {}, 'free space and try again', { cause: e });
  return new BootportError('ERR_IO', `${what}: ${err.code ?? ''} ${err.message}`.trim(), {}, undefined, { cause: e });
}

/**
 * A chmod that failed because the file system keeps no Unix modes (vfat, exFAT, some FUSE file
 * systems answer ENOSYS, ENOTSUP or, for the owner of a file it just made, EPERM). There a mode is
 * set by mount options, and a bundle written to a FAT stick is still a bundle.
 */
export function modesUnsupported(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSYS' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM';
}
