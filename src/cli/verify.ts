import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { verifyBundle } from '../stream/bundle/reader.js';
import { readPublicKey } from '../stream/sign/keys.js';
import { checkSignatures, signatureFailure, type TrustedKey } from '../stream/sign/signatures.js';
import { CommandContext, engineReport } from './context.js';
import { EXIT, exitCodeFor } from './exit.js';
import { bundleView, signaturesText, viewText } from './describe.js';
import { errorJson } from './hints.js';

export const VERIFY_PROVES =
  'every chunk digest, the order and completeness of all chunks, the trailer totals, the seek table, the header hash and the bundle digest';
export const DEEP_PROVES = "and, by decompressing every chunk, that each entry's content matches its BLAKE3 content digest";

/** Collects a repeatable option. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Public key files named on the command line, as keys the check trusts. */
export async function trustedFiles(ctx: CommandContext, files: readonly string[]): Promise<TrustedKey[]> {
  return Promise.all(
    files.map(async (f) => {
      const k = await readPublicKey(resolve(ctx.io.cwd, f));
      return { name: k.comment || f, raw: k.raw };
    }),
  );
}

export function registerVerify(program: Command, ctx: CommandContext): void {
  program
    .command('verify')
    .description('check every digest in a bundle and every signature; --deep also decompresses and checks content digests')
    .argument('<bundle>', 'bundle file, or - for stdin')
    .option('--deep', 'decompress every chunk and check each content digest')
    .option('--trust <pubfile>', 'a public key to trust (repeatable)', collect, [])
    .option('--require-signature', 'fail (exit 3) unless a trusted key made a valid signature')
    .action(
      ctx.action(async (opts, _cmd, bundle: string) => {
        const deep = opts.deep === true;
        const trusted = await trustedFiles(ctx, opts.trust);
        const input = ctx.input(bundle);
        const run = await ctx.runOptions(opts);
        const progress = ctx.progress(opts, `verifying ${bundle}`, await ctx.inputSize(bundle));
        const r = await verifyBundle(input, { ...run, deep, onChunk: (raw, comp) => progress.chunkRead(raw, comp) });
        progress.finish();
        const view = bundleView(r.manifest, r.end.trailer.entries, r.headerHash, r.end.trailer.bundleDigest, r.end.size);
        const report = checkSignatures(r.end.extensions, r.end.trailer.bundleDigest, trusted);
        const failure = signatureFailure(report, opts.requireSignature === true);
        const proved = `verified ${VERIFY_PROVES}${deep ? ` ${DEEP_PROVES}` : ''}`;
        if (opts.json) {
          ctx.json({
            ok: !failure,
            ...(failure ? { error: errorJson(failure) } : {}),
            deep,
            proved,
            ...view,
            signatures: report.signatures,
            signed_by_trusted_key: report.trusted,
            ...engineReport(run),
          });
          return failure ? exitCodeFor(failure) : EXIT.OK;
        }
        ctx.out(`${viewText(view)}\n${signaturesText(report.signatures, trusted.length > 0)}`);
        if (failure) return ctx.report(failure, false);
        ctx.out(`\nOK: ${proved}${report.signatures.length ? '; every signature listed as valid verifies for exactly this bundle' : ''}.`);
        return EXIT.OK;
      }),
    );
}
