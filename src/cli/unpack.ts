import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { unpackBundle } from '../stream/ops/unpack.js';
import { CommandContext, engineReport } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';
import { warningText } from './hints.js';
import { humanBytes } from './text.js';

export function registerUnpack(program: Command, ctx: CommandContext): void {
  program
    .command('unpack')
    .description('write kernel, initramfs, image and bootconfig.json into a directory, once the whole bundle verified')
    .argument('<bundle>', 'bundle file, - for stdin, or the first volume (or NAME) of a split bundle')
    .argument('[volumes...]', 'more volumes of the same set')
    .option('-C, --directory <dir>', 'target directory')
    .option('--force', 'overwrite files of the same names in the directory')
    .option('--image-dir <dir>', 'extract the image, a tar, into this new or empty directory instead of writing it as a file')
    .option('--keep-setuid', 'with --image-dir: keep setuid and setgid bits (cleared otherwise)')
    .action(
      ctx.action(async (opts, _cmd, bundle: string, more: string[]) => {
        if (!opts.directory) throw usage('unpack needs -C DIR');
        const dir = resolve(ctx.io.cwd, opts.directory);
        const run = await ctx.runOptions(opts);
        const progress = ctx.progress(opts, `unpacking ${bundle}`);
        const { source: input, volumes } = await ctx.bundleInput(bundle, more, opts, progress);
        if (!volumes) progress.setTotal(await ctx.inputSize(bundle));
        const onChunk = (raw: number, comp: number) => progress.chunkRead(raw, comp);
        const imageDir = opts.imageDir !== undefined ? resolve(ctx.io.cwd, opts.imageDir) : undefined;
        const r = await unpackBundle(input, dir, {
          ...run,
          force: opts.force === true,
          onChunk,
          ...(imageDir ? { imageDir, extract: { keepSetuid: opts.keepSetuid === true, onWarning: (w) => ctx.err(warningText(w)) } } : {}),
        });
        progress.finish();
        if (opts.json)
          ctx.json({
            ok: true,
            directory: dir,
            files: r.files,
            ...(imageDir ? { image_directory: imageDir, tree: r.tree } : {}),
            entries: r.entries.map(({ path: _p, ...e }) => e),
            ...engineReport(run),
          });
        else
          ctx.out(
            `unpacked ${r.header.manifest.boot_config.name} into ${dir}: ${r.files.length} files, ${humanBytes(r.entries.reduce((a, e) => a + e.rawBytes, 0))}` +
              (imageDir ? `; the image tree into ${imageDir}` : ''),
          );
        return EXIT.OK;
      }),
    );
}
