import { Command, CommanderError, Option } from 'commander';
import { TOOL_VERSION } from '../version.js';
import { Ctx, EXIT, type CliIO } from './context.js';
import { registerInspect } from './inspect.js';
import { registerPack } from './pack.js';
import { registerUnpack } from './unpack.js';
import { registerSample } from './sample.js';
import { registerVerify } from './verify.js';

/** Builds the whole CLI without touching process state, so tests can run it in-process. */
export function createProgram(io: CliIO): { program: Command; ctx: Ctx } {
  const ctx = new Ctx(io);
  const program = new Command('bootport')
    .description('move boot configurations (kernel, initramfs, cmdline, image) between clusters')
    .version(TOOL_VERSION)
    .option('--json', 'machine-readable output')
    .addOption(new Option('--engine <engine>', 'codec and hash implementation').choices(['auto', 'native', 'fallback']))
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    });
  registerPack(program, ctx);
  registerUnpack(program, ctx);
  registerInspect(program, ctx);
  registerVerify(program, ctx);
  registerSample(program, ctx);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
  return { program, ctx };
}

/** Runs one command line and returns its exit code. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const { program, ctx } = createProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    return ctx.report(e, argv.includes('--json'));
  }
  return ctx.exitCode;
}
