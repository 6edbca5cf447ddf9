import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { readEnds } from '../stream/bundle/inspect.js';
import { verifyBundle } from '../stream/bundle/reader.js';
import { CommandContext, type GlobalOptions, type RunInfo } from './context.js';
import { isVolumeFile } from '../stream/volumes/read-volumes.js';
import { readVolumeHead } from '../stream/volumes/check-volume.js';
import { digestString } from '../format/bytes.js';
import { humanBytes } from './text.js';
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
        if (bundle !== '-' && (await isVolumeFile(resolve(ctx.io.cwd, bundle)))) return inspectVolume(ctx, opts, resolve(ctx.io.cwd, bundle), run);
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

/** A volume: its header, and the boot config when it is the first; nothing is verified. */
async function inspectVolume(ctx: CommandContext, opts: GlobalOptions, path: string, run: RunInfo): Promise<number> {
  const v = await readVolumeHead(path, run.engines.hash);
  const note = 'volume header read; nothing verified: run `bootport verify` on this volume, or on the set';
  const fields = {
    volume: v.header.index,
    last: v.header.last,
    volumes: v.header.count || null,
    bundle_id: v.header.bundleId,
    header_hash: digestString(v.header.headerHash),
    offset: v.header.offset,
    length: v.header.length,
    ...(v.manifest ? { boot_config: v.manifest.boot_config, entries: v.manifest.entries } : {}),
  };
  if (opts.json) ctx.json({ ok: true, verified: 'none', ...fields, note });
  else
    ctx.out(
      [
        `volume       ${v.header.index}${v.header.last ? ` of ${v.header.count} (the last)` : ' (more follow)'}`,
        `bundle id    ${v.header.bundleId}`,
        `bytes        ${v.header.offset} to ${v.header.offset + v.header.length} of the bundle (${humanBytes(v.header.length)})`,
        ...(v.manifest
          ? [
              `boot config  ${v.manifest.boot_config.name}`,
              ...v.manifest.entries.map((e) => `  ${e.role.padEnd(9)} ${e.name}${e.size !== undefined ? ` (${humanBytes(e.size)})` : ''}`),
            ]
          : []),
        '',
        note,
      ].join('\n'),
    );
  return EXIT.OK;
}
