import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { verifyBundle } from '../stream/bundle/reader.js';
import { readPublicKey } from '../stream/sign/keys.js';
import { checkSignatures, signatureFailure, type TrustedKey } from '../stream/sign/signatures.js';
import { CommandContext, engineReport, type GlobalOptions, type RunInfo } from './context.js';
import { isVolumeFile } from '../stream/volumes/read-volumes.js';
import { checkVolume } from '../stream/volumes/check-volume.js';
import { digestString } from '../format/bytes.js';
import { humanBytes } from './text.js';
import { EXIT, exitCodeFor } from './exit.js';
import { usage } from './parse.js';
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
    .argument('<bundle>', 'bundle file, - for stdin, or a volume (checked alone) or NAME for the whole set of NAME.001, …')
    .argument('[volumes...]', 'more volumes of the same set: the whole set is verified')
    .option('--deep', 'decompress every chunk and check each content digest')
    .option('--trust <pubfile>', 'a public key to trust (repeatable)', collect, [])
    .option('--require-signature', 'fail (exit 3) unless a trusted key made a valid signature')
    .option('--against-store', 'with --deep: also rebuild each delta entry from the bases in the store (nothing is written)')
    .action(
      ctx.action(async (opts, _cmd, bundle: string, more: string[]) => {
        if (opts.againstStore && !opts.deep) throw usage('--against-store rebuilds delta entries, which needs --deep');
        const deep = opts.deep === true;
        const trusted = await trustedFiles(ctx, opts.trust);
        const run = await ctx.runOptions(opts);
        if (bundle !== '-' && more.length === 0 && (await isVolumeFile(resolve(ctx.io.cwd, bundle)))) return verifyOneVolume(ctx, opts, bundle, run);
        const size = await ctx.inputSize(bundle);
        const progress = ctx.progress(opts, `verifying ${bundle}`, size);
        const { source: input } = await ctx.bundleInput(bundle, more, opts, progress);
        const read = { ...run, threads: run.threadsFor(size), deep, onChunk: (raw: number, comp: number) => progress.chunkRead(raw, comp) };
        // The store's modules load only when a store is asked for: plain verify never opens one.
        const r = opts.againstStore
          ? await (async () => {
              const [{ withStore }, { verifyAgainstStore }] = await Promise.all([import('./store-cmd.js'), import('../store/verify-delta.js')]);
              return withStore(ctx, opts, 'read', (store) => verifyAgainstStore(store, input, read));
            })()
          : { ...(await verifyBundle(input, read)), rebuilt: undefined };
        progress.finish();
        const view = bundleView(r.manifest, r.end.trailer.entries, r.headerHash, r.end.trailer.bundleDigest, r.end.size);
        const report = checkSignatures(r.end.extensions, r.end.trailer.bundleDigest, trusted);
        const failure = signatureFailure(report, opts.requireSignature === true);
        const rebuilt = r.rebuilt?.length
          ? `, and that ${r.rebuilt.length === 1 ? 'its delta entry rebuilds' : 'its delta entries rebuild'} from this store to the content declared`
          : '';
        const proved = `verified ${VERIFY_PROVES}${deep ? ` ${DEEP_PROVES}` : ''}${rebuilt}`;
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

/**
 * One volume alone: its header, its bytes against their digest, and every chunk in it against the
 * bundle it belongs to. What takes the whole set is said to be left out.
 */
async function verifyOneVolume(ctx: CommandContext, opts: GlobalOptions, file: string, run: RunInfo): Promise<number> {
  const path = resolve(ctx.io.cwd, file);
  const size = await ctx.inputSize(file);
  const progress = ctx.progress(opts, `verifying ${file}`, size);
  const c = await checkVolume(path, run.engines.hash, (n) => progress.advance(n));
  progress.finish();
  const v = c.header;
  const rest =
    'the order of chunks across volumes, the trailer totals and the bundle digest need every volume: verify NAME (or list every volume) to prove the whole bundle';
  if (opts.json) {
    ctx.json({
      ok: true,
      volume: v.index,
      last: v.last,
      volumes: v.count || null,
      bundle_id: v.bundleId,
      header_hash: digestString(v.headerHash),
      offset: v.offset,
      length: v.length,
      chunks: c.chunks,
      has_trailer: c.hasTrailer,
      ...(c.manifest ? { boot_config: c.manifest.boot_config.name } : {}),
      proved: 'the volume header, the digest of its bytes, and the digest of every chunk in it',
      not_proved: rest,
      ...engineReport(run),
    });
    return EXIT.OK;
  }
  ctx.out(
    [
      `volume       ${v.index}${v.last ? ` of ${v.count} (the last)` : ''}`,
      `bundle id    ${v.bundleId}${c.manifest ? ` (boot config ${c.manifest.boot_config.name})` : ''}`,
      `bytes        ${v.offset} to ${v.offset + v.length} of the bundle (${humanBytes(v.length)})`,
      `chunks       ${c.chunks}${c.hasTrailer ? ', then the trailer and footer' : ''}`,
      '',
      `OK: verified the volume header, the digest of its bytes, and the digest of each of its ${c.chunks} chunks.`,
      `Not checked alone: ${rest}.`,
    ].join('\n'),
  );
  return EXIT.OK;
}
