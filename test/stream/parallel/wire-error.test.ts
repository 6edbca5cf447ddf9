/** Errors cross the worker boundary whole: code, location, hint, errno, stack, and their causes. */
import { describe, expect, it } from 'vitest';
import { BootportError } from '../../../src/format/errors.js';
import { reviveError, toWireError } from '../../../src/stream/parallel/protocol.js';

const roundTrip = (e: unknown) => reviveError(JSON.parse(JSON.stringify(toWireError(e))));

describe('an error sent back by a worker', () => {
  it('keeps a BootportError with its cause chain', () => {
    const errno = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    const e = roundTrip(
      new BootportError('ERR_IO', 'cannot read the payload', { entry: 1, chunk: 2, offset: 3 }, 'check the disk', { cause: errno }),
    ) as BootportError;
    expect(e).toMatchObject({ code: 'ERR_IO', location: { entry: 1, chunk: 2, offset: 3 }, hint: 'check the disk' });
    expect(e.cause).toMatchObject({ code: 'EIO', message: 'EIO: i/o error, read' });
    expect(e.stack).toContain('wire-error.test.ts');
  });

  it('keeps a system error as a system error', () => {
    expect(roundTrip(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }))).toMatchObject({ code: 'ENOENT' });
  });

  it('makes anything else an internal error, not a codec failure', () => {
    const e = roundTrip(new TypeError('x is undefined'));
    expect(e).toMatchObject({ code: 'ERR_INTERNAL', message: 'internal error in a worker: x is undefined' });
  });
});
