import { Command, CommanderError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { TOOL_VERSION } from '../version.js';
import { CommandContext, type CliIO } from './context.js';
import { EXIT } from './exit.js';
import { registerInspect } from './inspect.js';
import { registerPack } from './pack.js';
import { registerUnpack } from './unpack.js';
import { registerSample } from './sample.js';
import { registerBootConfig } from './bootconfig.js';
import { registerImage } from './image.js';
import { registerNode } from './node.js';
import { registerTransfer } from './transfer.js';
import { registerInventory } from './inventory.js';
import { registerVerify } from './verify.js';
import { registerFsck } from './fsck.js';
import { registerKey } from './key.js';
import { registerSign } from './sign.js';
import { registerTrust } from './trust.js';
import { registerCompletion } from './completion.js';
import { registerStoreAdmin } from './store-admin.js';

/** Builds the whole CLI without touching process state, so tests can run it in-process. */
export function createProgram(io: CliIO, argv: readonly string[] = []): { program: Command; ctx: CommandContext } {
  const ctx = new CommandContext(io, argv);
  const program = new Command('bootport')
    .description('move boot configurations (kernel, initramfs, cmdline, image) between clusters')
    .version(TOOL_VERSION)
    .option('--json', 'machine-readable output')
    .option(
      '--store <dir|url>',
      'store directory, or etcd://HOST:PORT[,…]/PREFIX?blobs=DIR for a catalog several head nodes share (default: $BOOTPORT_STORE, /var/lib/bootport for root, else the XDG data dir)',
    )
    .option('-i, --ids <names>', 'boot configs by name or uid prefix, comma-separated')
    .option('-a, --all', 'all boot configs')
    .addOption(new Option('--engine <engine>', 'codec and hash implementation (default: $BOOTPORT_ENGINE, else auto)').choices(['auto', 'native', 'fallback']))
    .option('--debug', 'on failure, print the stack (also BOOTPORT_DEBUG=1)')
    .option('--progress [format]', 'show progress on stderr: a line, or --progress=json for events (default: a line when stderr is a terminal)')
    .option('--no-progress', 'never show progress')
    .option('--threads <n>', 'worker threads compressing, decompressing and hashing chunks (default: $BOOTPORT_THREADS, else one per core)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    });
  registerBootConfig(program, ctx);
  registerTransfer(program, ctx);
  registerInventory(program, ctx);
  registerImage(program, ctx);
  registerNode(program, ctx);
  registerPack(program, ctx);
  registerUnpack(program, ctx);
  registerInspect(program, ctx);
  registerVerify(program, ctx);
  registerFsck(program, ctx);
  registerKey(program, ctx);
  registerSign(program, ctx);
  registerTrust(program, ctx);
  registerStoreAdmin(program, ctx);
  registerCompletion(program, ctx);
  registerSample(program, ctx);
  const quiet = (c: CommandUnknownOpts): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
    c.commands.forEach(quiet);
  };
  program.commands.forEach(quiet);
  return { program, ctx };
}

/** Runs one command line and returns its exit code. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const { program, ctx } = createProgram(io, argv);
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
