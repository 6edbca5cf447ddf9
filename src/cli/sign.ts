import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { readSigningKey } from '../stream/sign/keys.js';
import { signBundleFile } from '../stream/sign/sign-file.js';
import type { Signer } from '../stream/sign/signatures.js';
import { reply } from './catalog-cmd.js';
import { CommandContext } from './context.js';

/** The signers `--sign KEYFILE` (repeatable) names, each with the comment given for all. */
export async function signersFrom(ctx: CommandContext, keyFiles: readonly string[], comment?: string): Promise<Signer[]> {
  return Promise.all(keyFiles.map(async (f) => ({ key: await readSigningKey(resolve(ctx.io.cwd, f)), ...(comment !== undefined ? { comment } : {}) })));
}

export function registerSign(program: Command, ctx: CommandContext): void {
  program
    .command('sign')
    .description('add a signature to a bundle file, atomically: an interrupted sign leaves the file as it was')
    .argument('<bundle>', 'the bundle file')
    .requiredOption('--key <keyfile>', 'the private key (NAME.key)')
    .option('--comment <text>', 'who signs, or why: inside the signed message')
    .action(
      ctx.action(async (opts, _cmd, bundle: string) => {
        const [signer] = await signersFrom(ctx, [opts.key], opts.comment);
        const run = await ctx.runOptions(opts);
        const path = resolve(ctx.io.cwd, bundle);
        const r = await signBundleFile(path, signer!, run);
        return reply(
          ctx,
          opts,
          { ok: true, bundle: path, bundle_digest: r.bundleDigest, fingerprint: signer!.key.fingerprint, signatures: r.signatures },
          () => `signed ${bundle} (${r.bundleDigest}) with key ${signer!.key.fingerprint}; it now holds ${r.signatures} signature(s)`,
        );
      }),
    );
}
