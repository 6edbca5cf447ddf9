import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { writeSample } from './sample-files.js';
import { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { parseSize } from './parse.js';

export function registerSample(program: Command, ctx: CommandContext): void {
  program
    .command('sample')
    .description('write sample boot files (vmlinuz, initramfs.img, rootfs.tar) to try bootport with')
    .option('-C, --directory <dir>', 'where to write them', 'bootport-sample')
    .option('--image-size <size>', 'approximate size of rootfs.tar', '64M')
    .action(
      ctx.action(async (opts) => {
        const files = await writeSample({ dir: resolve(ctx.io.cwd, opts.directory), imageSize: parseSize(opts.imageSize) });
        if (opts.json) ctx.json({ ok: true, ...files });
        else ctx.out(`wrote ${files.kernel}, ${files.initramfs} and ${files.image}`);
        return EXIT.OK;
      }),
    );
}
