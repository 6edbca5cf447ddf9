import type { Command } from '@commander-js/extra-typings';
import type { CommandContext, CliIO } from './context.js';
import { baseProgram, quietCommands, runProgram } from './program-base.js';
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
  const { program, ctx } = baseProgram(io, argv);
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
  quietCommands(program, io);
  return { program, ctx };
}

/** Runs one command line and returns its exit code. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const { program, ctx } = createProgram(io, argv);
  return runProgram(program, ctx, argv);
}
