import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { inputSource } from '../stream/io/files.js';
import { verifyBundle } from '../stream/bundle/reader.js';
import { CommandContext, engineReport } from './context.js';
import { EXIT } from './exit.js';
import { bundleView, viewText } from './describe.js';

export const VERIFY_PROVES =
  'every chunk digest, the order and completeness of all chunks, the trailer totals, the seek table, the header hash and the bundle digest';
export const DEEP_PROVES = "and, by decompressing every chunk, that each entry's content matches its BLAKE3 content digest";

export function registerVerify(program: Command, ctx: CommandContext): void {
  program
    .command('verify')
    .description('check every digest in a bundle; --deep also decompresses and checks content digests')
    .argument('<bundle>', 'bundle file, or - for stdin')
    .option('--deep', 'decompress every chunk and check each content digest')
    .action(
      ctx.action(async (opts, _cmd, bundle: string) => {
        const deep = opts.deep === true;
        const input = inputSource(bundle === '-' ? '-' : resolve(ctx.io.cwd, bundle), ctx.io.stdin);
        const run = await ctx.runOptions(opts);
        const r = await verifyBundle(input, { ...run, deep: deep });
        const view = bundleView(r.manifest, r.end.trailer.entries, r.headerHash, r.end.trailer.bundleDigest, r.end.size);
        const proved = `verified ${VERIFY_PROVES}${deep ? ` ${DEEP_PROVES}` : ''}`;
        if (opts.json) ctx.json({ ok: true, deep, proved, ...view, ...engineReport(run) });
        else ctx.out(`${viewText(view)}\n\nOK: ${proved}.`);
        return EXIT.OK;
      }),
    );
}
