import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import type { BootConfigRow } from '../store/catalog/boot-configs.js';
import { rowByUid } from '../store/catalog/common.js';
import { inventoryOf } from '../store/delta-export.js';
import { writeFileAtomic } from '../stream/io/files.js';
import { selected } from './catalog-cmd.js';
import type { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { copyTo, onePiece } from './output.js';
import { usage } from './parse.js';
import { withStore } from './store-cmd.js';
import { humanBytes } from './text.js';

/**
 * `inventory`: on the target cluster, the list of what its store holds, piece by piece, to
 * carry back to the source, whose `export --have` then sends only what is missing.
 */
export function registerInventory(program: Command, ctx: CommandContext): void {
  program
    .command('inventory')
    .description('list what this store holds, for a delta export on the source: [-i B | --all] inventory -o FILE')
    .option('-o, --output <file>', 'inventory to write, or - for stdout')
    .option('--all', 'every blob in the store, not the selected boot configs only')
    .option('--force', 'overwrite the output file')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          if (!opts.output) throw usage('inventory needs -o FILE (or -o - for stdout)');
          const run = await ctx.runOptions(opts);
          const digests = await (async () => {
            if (opts.all) return store.read((tx) => tx.all('blobs').map((b) => b.digest));
            const bcs = await selected<BootConfigRow>(store, 'boot_configs', opts);
            if (!bcs.length) throw usage('select boot configs with -i (or give --all)');
            return store.read((tx) => bcs.flatMap((b) => [b.kernel, b.initramfs, ...(b.image ? [rowByUid(tx, 'images', b.image).content] : [])]));
          })();
          const bytes = await inventoryOf(store, digests, run.engines);
          if (opts.output === '-') {
            ctx.stdoutIsData = true;
            await copyTo(onePiece(bytes), ctx.io.stdout);
          } else await writeFileAtomic(resolve(ctx.io.cwd, opts.output), onePiece(bytes), opts.force === true, ctx.commandLine());
          const blobs = new Set(digests).size;
          const text = `inventory of ${blobs} blob${blobs === 1 ? '' : 's'} written to ${opts.output}: ${humanBytes(bytes.length)}`;
          if (opts.json) ctx.json({ output: opts.output, blobs, bytes: bytes.length });
          else if (opts.output === '-') ctx.err(text);
          else ctx.out(text);
          return EXIT.OK;
        }),
      ),
    );
}
