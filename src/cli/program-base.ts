import { Command, CommanderError, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { TOOL_VERSION } from '../version.js';
import { CommandContext, type CliIO } from './context.js';
import { EXIT } from './exit.js';

/**
 * The program with its global options and no commands: createProgram adds every command, and
 * the quick path for verify and inspect (quick.ts) adds only the one it runs, so that a small
 * bundle is checked without loading the store, SQLite or the packers.
 */
export function baseProgram(io: CliIO, argv: readonly string[] = []): { program: Command; ctx: CommandContext } {
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
  return { program, ctx };
}

/** Every command reports through `io` and throws instead of exiting. */
export function quietCommands(program: Command, io: CliIO): void {
  const quiet = (c: CommandUnknownOpts): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
    c.commands.forEach(quiet);
  };
  program.commands.forEach(quiet);
}

/** Parses and runs one command line on `program`, and returns its exit code. */
export async function runProgram(program: Command, ctx: CommandContext, argv: string[]): Promise<number> {
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

/**
 * The command word of a command line: the first word that is neither one of `program`'s options
 * nor that option's value, as commander reads them (a required value is the next word; an
 * optional one, the next word unless it is an option).
 */
export function commandWord(program: Command, argv: readonly string[]): string | undefined {
  const valued = new Map<string, 'required' | 'optional'>();
  for (const o of program.options) {
    const kind = o.required ? 'required' : o.optional ? 'optional' : undefined;
    if (kind) for (const flag of [o.short, o.long]) if (flag) valued.set(flag, kind);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (!a.startsWith('-')) return a;
    const kind = valued.get(a);
    if (kind === 'required' || (kind === 'optional' && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-'))) i++;
  }
  return undefined;
}
