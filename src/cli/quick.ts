import type { CliIO } from './context.js';
import { baseProgram, commandWord, quietCommands, runProgram } from './program-base.js';

/**
 * `verify` and `inspect` without the rest of the CLI: they read a bundle and need no store, so
 * loading every command (SQLite, the store, the packers) would be most of their time on a small
 * bundle. Undefined for any other command line, which the whole program runs. The commands are
 * the same code either way; `--help` on its own still lists them all.
 */
export async function runQuick(argv: string[], io: CliIO): Promise<number | undefined> {
  const { program, ctx } = baseProgram(io, argv);
  const word = commandWord(program, argv);
  if (word !== 'verify' && word !== 'inspect') return undefined;
  if (word === 'verify') (await import('./verify.js')).registerVerify(program, ctx);
  else (await import('./inspect.js')).registerInspect(program, ctx);
  quietCommands(program, io);
  return runProgram(program, ctx, argv);
}
