/** How a failure that is not a BootportError is reported: a bug is ERR_INTERNAL, exit 70, never ERR_IO. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CommandContext } from '../../src/cli/context.js';
import { EXIT } from '../../src/cli/exit.js';

function ctx(env: NodeJS.ProcessEnv = {}, argv: string[] = []): { c: CommandContext; err: () => string } {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (d: Buffer) => (text += d.toString()));
  const c = new CommandContext({ stdout: new PassThrough(), stderr, stdin: new PassThrough(), cwd: '/', env }, argv);
  return { c, err: () => text };
}

describe('reporting an unexpected exception', () => {
  it('calls a TypeError an internal error, exit 70, with a hint and no stack', () => {
    const { c, err } = ctx();
    expect(c.report(new TypeError("Cannot read properties of undefined (reading 'frozen')"), false)).toBe(EXIT.INTERNAL);
    expect(err()).toContain("bootport: ERR_INTERNAL: internal error: TypeError: Cannot read properties of undefined (reading 'frozen')");
    expect(err()).toContain('run again with --debug');
    expect(err()).not.toMatch(/^\s+at /m);
  });

  it('prints the stack and its causes under --debug or BOOTPORT_DEBUG=1', () => {
    for (const [env, argv] of [
      [{ BOOTPORT_DEBUG: '1' }, []],
      [{}, ['--debug']],
    ] as const) {
      const { c, err } = ctx(env, [...argv]);
      const e = new Error('outer', { cause: new RangeError('inner') });
      expect(c.report(e, false)).toBe(EXIT.INTERNAL);
      expect(err()).toMatch(/^\s+at /m);
      expect(err()).toContain('caused by: RangeError: inner');
    }
  });

  it('calls a system error an I/O failure, and a full disk ERR_NO_SPACE', () => {
    const { c, err } = ctx();
    expect(c.report(Object.assign(new Error('EACCES: permission denied, open /x'), { code: 'EACCES' }), false)).toBe(EXIT.FAILED);
    expect(err()).toContain('ERR_IO');
    expect(c.report(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), false)).toBe(EXIT.FAILED);
    expect(err()).toContain('ERR_NO_SPACE');
  });
});
