import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { MAX_LEVEL, MIN_LEVEL } from '../format/constants.js';
import type { BootConfigRow } from '../store/catalog/boot-configs.js';
import { exportSources } from '../store/export.js';
import { deltaSources, holdingsFrom, inventoryOf, type DeltaSummary } from '../store/delta-export.js';
import { writeFileAtomic } from '../stream/io/files.js';
import { importBundle, type ImportPlan } from '../store/import.js';
import { selected } from './catalog-cmd.js';
import { emitBundle } from './emit.js';
import { onePiece } from './output.js';
import { signersFrom } from './sign.js';
import { collect } from './verify.js';
import { CommandContext, engineReport } from './context.js';
import { EXIT, exitCodeFor } from './exit.js';
import { errorJson, hintFor } from './hints.js';
import { parseChunkSize, parseIntOption, usage } from './parse.js';
import { humanBytes } from './text.js';
import { withStore } from './store-cmd.js';
import { signaturesText } from './describe.js';

function planText(p: ImportPlan): string {
  const lines = [`boot config ${p.boot_config.name}: ${p.boot_config.action}`];
  if (p.image) lines.push(`image ${p.image.name}: ${p.image.action}`);
  for (const e of p.entries) lines.push(`  ${e.role.padEnd(9)} ${e.name}: ${e.action}${e.size !== null ? ` (${humanBytes(e.size)})` : ''}`);
  lines.push(
    `bytes to store: ${p.bytes_to_store === null ? 'unknown (the bundle does not declare every size)' : humanBytes(p.bytes_to_store)}` +
      (p.bytes_free === null ? '' : ` (${humanBytes(p.bytes_free)} free)`),
  );
  for (const pr of p.problems) {
    const hint = hintFor(pr);
    lines.push(`REJECT ${pr.code}: ${pr.message}${hint ? ` (${hint})` : ''}`);
  }
  return lines.join('\n');
}

function deltaText(summary: readonly DeltaSummary[]): string {
  return summary.map((d) => `  ${d.role.padEnd(9)} ${d.name}: ${humanBytes(d.carried)} carried, ${humanBytes(d.referenced)} referenced`).join('\n');
}

export function registerTransfer(program: Command, ctx: CommandContext): void {
  program
    .command('export')
    .description('write the selected boot config, its kernel, initramfs and image to one bundle: -i B export [-o FILE|-]')
    .option('-o, --output <file>', 'bundle to write, or - for stdout (default: NAME.export)')
    .option('--no-recurse', 'leave the image out')
    .option('--level <n>', `zstd level ${MIN_LEVEL}-${MAX_LEVEL}`)
    .option('--chunk-size <size>', 'uncompressed chunk size, a power of two from 64K to 16M')
    .option('--force', 'overwrite the output file')
    .option('--sign <keyfile>', 'sign with this private key as the bundle is written (repeatable)', collect, [])
    .option('--sign-comment <text>', 'who signs, or why: inside each signed message')
    .option('--split-size <size>', 'write volumes NAME.001, NAME.002, … of at most SIZE bytes each (4G, 3900M), to fit removable media')
    .option('--have <file>', 'write a delta: send only what the target lacks, from its inventory (repeatable)', collect, [])
    .option('--base <bundle>', 'write a delta against a bundle the target imported, or the .inv file beside it (repeatable)', collect, [])
    .option('--index', 'also write FILE.inv, the inventory of this bundle, for a later --base')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          // From here on stdout is the bundle's: a report there would corrupt it.
          if (opts.output === '-') ctx.stdoutIsData = true;
          const [bc, ...more] = await selected<BootConfigRow>(store, 'boot_configs', opts);
          if (!bc || more.length) throw usage('export takes exactly one boot config: -i NAME export');
          // Checked before the blob files are opened: a bad flag or key leaves nothing open.
          const signers = await signersFrom(ctx, opts.sign, opts.signComment);
          const chunkSize = opts.chunkSize ? parseChunkSize(opts.chunkSize) : undefined;
          const level = opts.level ? parseIntOption(opts.level, '--level', MIN_LEVEL, MAX_LEVEL) : undefined;
          const out = opts.output ?? `${bc.name}.export`;
          if (opts.index && out === '-') throw usage('--index writes FILE.inv beside the bundle: give -o FILE');
          const run = await ctx.runOptions(opts);
          const holdings = [];
          for (const f of [...opts.have, ...opts.base]) holdings.push(...(await holdingsFrom(store, resolve(ctx.io.cwd, f), run.engines)));
          const whole = await exportSources(store, bc, {
            noRecurse: opts.recurse === false,
            ...(chunkSize ? { chunkSize } : {}),
            ...(level ? { level } : {}),
          });
          const digests = whole.manifest.entries.map((e) => e.digest!);
          const { manifest, sources, summary } = holdings.length
            ? await deltaSources(store, whole.manifest, whole.sources, holdings, run.engines)
            : { ...whole, summary: undefined };
          const code = await emitBundle(
            ctx,
            opts,
            out,
            manifest,
            sources,
            (s) => ({
              json: { boot_config: bc.name, ...(summary ? { delta: summary } : {}) },
              text: `exported ${bc.name} to ${out}: ${humanBytes(s.bytes)}, ${s.bundleDigest}` + (summary ? `\n${deltaText(summary)}` : ''),
            }),
            signers,
          );
          if (code === EXIT.OK && opts.index) {
            const inv = await inventoryOf(store, digests, run.engines);
            await writeFileAtomic(resolve(ctx.io.cwd, `${out}.inv`), onePiece(inv), opts.force === true, ctx.commandLine());
          }
          return code;
        }),
      ),
    );

  program
    .command('import')
    .description('merge a bundle into this store, atomically')
    .argument('<bundle>', 'bundle file, - for stdin, or the first volume (or NAME) of a split bundle')
    .argument('[volumes...]', 'more volumes of the same set, wherever they are')
    .option('--image <name>', 'store the embedded image under this name')
    .option('--boot-config <name>', 'create the boot config under this name')
    .option('--no-recurse', 'do not store the embedded image (its bytes are still verified)')
    .option('--dry-run', 'say what would be created, reused or rejected, and change nothing')
    .option('--require-signature', 'refuse a bundle without a valid signature by a key this store trusts (see trust require)')
    .action(
      ctx.action(async (opts, _cmd, bundle: string, more: string[]) =>
        withStore(ctx, opts, opts.dryRun === true ? 'read' : 'write', async (store) => {
          const run = await ctx.runOptions(opts);
          const progress = ctx.progress(opts, `importing ${bundle}`);
          const { source: input, volumes } = await ctx.bundleInput(bundle, more, opts, progress);
          // A regular file has a size, and its end can be read before its payload (its signatures).
          const size = volumes ? undefined : await ctx.inputSize(bundle);
          progress.setTotal(size);
          const r = await importBundle(store, input, {
            ...run,
            onChunk: (raw, comp) => progress.chunkRead(raw, comp),
            ...(opts.image ? { image: opts.image } : {}),
            ...(opts.bootConfig ? { bootConfig: opts.bootConfig } : {}),
            noRecurse: opts.recurse === false,
            dryRun: opts.dryRun === true,
            requireSignature: opts.requireSignature === true,
            ...(size !== undefined ? { path: resolve(ctx.io.cwd, bundle) } : {}),
          });
          progress.finish();
          const { problems, ...plan } = r.plan;
          // A dry run answers as the import would have: 3 for a conflict, 4 for too little space.
          const code = problems[0] ? exitCodeFor(problems[0]) : EXIT.OK;
          if (opts.json)
            ctx.json({
              ok: problems.length === 0,
              committed: r.committed,
              dry_run: opts.dryRun === true,
              ...plan,
              problems: problems.map(errorJson),
              signature_required: r.signature_required,
              signatures: r.signatures?.signatures ?? null,
              ...(r.boot_config ? { created: r.boot_config, bundle_digest: r.bundle_digest } : {}),
              ...engineReport(run),
            });
          else {
            const sigs = r.signatures ? signaturesText(r.signatures.signatures, true) : 'signatures   not checked: a dry run reads only the header of a pipe';
            ctx.out(`${r.committed ? 'imported' : 'dry run, nothing changed'}\n${planText(r.plan)}\n${sigs}`);
          }
          return code;
        }),
      ),
    );
}
