import { BUNDLE_ERRORS, type BootportError } from '../format/errors.js';
import { STORE_ERRORS } from '../store/errors.js';
import { STREAM_ERRORS } from '../stream/errors.js';

/** Every code bootport reports, with what it means: the table the README gives. */
export const ERROR_CODES = { ...BUNDLE_ERRORS, ...STREAM_ERRORS, ...STORE_ERRORS } as const;

/**
 * Exit codes, documented in the README. PROBLEMS is fsck's "the store is not consistent".
 * INTERNAL is a bug (EX_SOFTWARE in sysexits.h), never a verdict on the input. CLOSED_OUTPUT is
 * what a command killed by SIGPIPE gives (128 + 13): the reader of its standard output went away
 * before it had written everything.
 */
export const EXIT = { OK: 0, BAD_BUNDLE: 1, PROBLEMS: 1, USAGE: 2, REFUSED: 3, FAILED: 4, INTERNAL: 70, CLOSED_OUTPUT: 141 } as const;

/** The exit code of a failure, from its error code. */
export function exitCodeFor(e: BootportError): number {
  if (e.code === 'ERR_INTERNAL') return EXIT.INTERNAL;
  if (e.code.startsWith('ERR_BUNDLE') || e.code.startsWith('ERR_VOLUME')) return EXIT.BAD_BUNDLE;
  if (e.code === 'ERR_USAGE') return EXIT.USAGE;
  if (
    [
      'ERR_EXISTS',
      'ERR_CONFLICT',
      'ERR_FROZEN',
      'ERR_IN_USE',
      'ERR_NOT_FOUND',
      'ERR_AMBIGUOUS',
      'ERR_INVALID',
      'ERR_STORE_LOCKED',
      'ERR_SIGNATURE_REQUIRED',
      'ERR_UNSIGNABLE',
      'ERR_TAR_UNSAFE',
      'ERR_TAR_INVALID',
      'ERR_DELTA_BASE_MISSING',
    ].includes(e.code)
  )
    return EXIT.REFUSED;
  return EXIT.FAILED;
}

/** A write to a reader that has gone: EPIPE, or a write after the stream was destroyed by it. */
export function isClosedOutput(e: unknown): boolean {
  const code = (e as { code?: string } | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}
