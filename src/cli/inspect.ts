import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { readEnds } from '../stream/bundle/inspect.js';
import { verifyBundle } from '../stream/bundle/reader.js';
import { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { bundleView, claimedSigners, viewText } from './describe.js';

export function registerInspect(program: Command, ctx: CommandContext): void {
  program
    .command('inspect')
    .description('show what a bundle holds; on a file, reads only its two ends')
    .argument('<bundle>', 'bundle file, or - for stdin')
    .action(
      ctx.action(async (opts, _cmd, bundle: string) => {
        const run = await ctx.runOptions(opts);
        let view;
        let signers;
        let verified: 'none' | 'digests';
        if (bundle === '-') {
          // A pipe cannot seek: the whole stream is read, so its digests get checked on the way.
          const r = await verifyBundle(ctx.input('-'), { ...run, deep: false });
          view = bundleView(r.manifest, r.end.trailer.entries, r.headerHash, r.end.trailer.bundleDigest, r.end.size);
          signers = claimedSigners(r.end.extensions);
          verified = 'digests';
        } else {
          const ends = await readEnds(resolve(ctx.io.cwd, bundle), run.engines);
          view = bundleView(ends.manifest, ends.trailer.entries, ends.headerHash, ends.trailer.bundleDigest, ends.size);
          signers = claimedSigners(ends.extensions);
          verified = 'none';
        }
        const note =
          verified === 'none'
            ? 'content not verified: inspect read only the two ends of the file; run `bootport verify` to check every chunk'
            : 'chunk digests verified while reading the pipe; content digests not checked (use verify --deep)';
        const sigNote = signers.length ? 'signatures listed, not verified: run `bootport verify` to check them' : 'not signed';
        if (opts.json) ctx.json({ ok: true, verified, ...view, signers, signatures_verified: false, note });
        else {
          const listed = signers.map((s) => `  ${s.algorithm}  ${[s.fingerprint, s.comment && `"${s.comment}"`, s.time].filter(Boolean).join('  ')}`);
          ctx.out(`${viewText(view)}\nsigners      ${sigNote}\n${listed.join('\n')}${listed.length ? '\n' : ''}\n${note}`);
        }
        return EXIT.OK;
      }),
    );
}
