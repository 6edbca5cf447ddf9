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
