import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { BOOT_STYLES, type BootStyle } from '../format/manifest.js';
import { MAX_LEVEL, MIN_LEVEL } from '../format/constants.js';
import { KERNEL_HEADER_BYTES, kernelRelease } from '../format/kernel-release.js';
import { checkName } from '../format/names.js';
import { fileSize, inputSource, readHead } from '../stream/io/files.js';
import { newManifest } from '../format/new-manifest.js';
import { emitBundle } from './emit.js';
import { signersFrom } from './sign.js';
import { collect } from './verify.js';
import { CommandContext } from './context.js';
import { parseChunkSize, parseIntOption, usage } from './parse.js';
import { humanBytes } from './text.js';

export function registerPack(program: Command, ctx: CommandContext): void {
  program
    .command('pack')
    .description('build a bundle from plain files (no store needed)')
    .requiredOption('-o, --output <file>', 'bundle to write, or - for stdout')
    .requiredOption('--name <name>', 'boot config name')
    .requiredOption('--kernel <file>', 'kernel file')
    .requiredOption('--initramfs <file>', 'initramfs file')
    .option('--image <file>', 'root file system image, or - for stdin')
    .option('--image-name <name>', 'image name (default: the image file name)')
    .option('--cmdline <str>', 'kernel command line', '')
    .option('--description <str>', 'boot config description', '')
    .option('--boot-style <style>', `one of ${BOOT_STYLES.join(', ')}`, 'rwram')
    .option('--level <n>', `zstd level ${MIN_LEVEL}-${MAX_LEVEL}`)
    .option('--chunk-size <size>', 'uncompressed chunk size, a power of two from 64K to 16M')
    .option('--force', 'overwrite the output file')
    .option('--sign <keyfile>', 'sign with this private key as the bundle is written (repeatable)', collect, [])
    .option('--sign-comment <text>', 'who signs, or why: inside each signed message')
    .option('--split-size <size>', 'write volumes NAME.001, NAME.002, … of at most SIZE bytes each (4G, 3900M), to fit removable media')
    .action(
      ctx.action(async (opts) => {
        // From here on stdout is the bundle's: a report there would corrupt it.
        if (opts.output === '-') ctx.stdoutIsData = true;
        const style = opts.bootStyle;
        if (!(BOOT_STYLES as readonly string[]).includes(style)) throw usage(`--boot-style must be one of ${BOOT_STYLES.join(', ')}`);
        const imageArg = opts.image;
        const kernel = resolve(ctx.io.cwd, opts.kernel);
        const initramfs = resolve(ctx.io.cwd, opts.initramfs);
        const image = imageArg && imageArg !== '-' ? resolve(ctx.io.cwd, imageArg) : imageArg;
        const imageName = opts.imageName ?? (image === '-' ? `${opts.name}-image` : image ? basename(image) : undefined);
        // Keys first: a key that cannot be used fails before anything is read or written.
        const signers = await signersFrom(ctx, opts.sign, opts.signComment);
        const release = kernelRelease(await readHead(kernel, KERNEL_HEADER_BYTES));
        const manifest = newManifest({
          source: hostname().slice(0, 256),
          bootConfig: {
            name: checkName(opts.name, 'boot config name', 'ERR_USAGE'),
            cmdline: opts.cmdline,
            description: opts.description,
            boot_style: style as BootStyle,
            ...(release ? { release } : {}),
          },
          entries: [
            { role: 'kernel', name: checkName(basename(kernel), 'kernel file name', 'ERR_USAGE'), size: await fileSize(kernel) },
            { role: 'initramfs', name: checkName(basename(initramfs), 'initramfs file name', 'ERR_USAGE'), size: await fileSize(initramfs) },
            ...(image
              ? [{ role: 'image' as const, name: checkName(imageName, 'image name', 'ERR_USAGE'), ...(image !== '-' ? { size: await fileSize(image) } : {}) }]
              : []),
          ],
          ...(opts.chunkSize ? { chunkSize: parseChunkSize(opts.chunkSize) } : {}),
          ...(opts.level ? { level: parseIntOption(opts.level, '--level', MIN_LEVEL, MAX_LEVEL) } : {}),
        });
        const sources = [inputSource(kernel), inputSource(initramfs), ...(image ? [ctx.input(image)] : [])];
        const out = opts.output;
        return emitBundle(
          ctx,
          opts,
          out,
          manifest,
          sources,
          (s) => ({
            json: {},
            text: `packed ${manifest.boot_config.name} into ${out}: ${humanBytes(s.bytes)}, ${s.bundleDigest}`,
          }),
          signers,
        );
      }),
    );
}
