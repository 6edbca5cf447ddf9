import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { resolveMany, type Kind, type Named, type Selection } from '../store/catalog/common.js';
import type { Store } from '../store/store.js';
import type { CommandContext, GlobalOptions } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';
import { parseFields, selection, withStore } from './store-cmd.js';

/**
 * The command shape boot configs, images and nodes share: `ls [-l]`, `clone name=NEW` and
 * `delete` on what `-i`/`-a` select, each answering in text or, with --json, as JSON.
 */
export interface CatalogCommands<Row extends Named, View> {
  kind: Kind;
  /** As the user reads it: "boot config", "image", "node". */
  label: string;
  list: (store: Store, sel: Selection) => Promise<View[]>;
  /** The text of `ls`, and of `ls -l` with `long`. */
  listText: (views: View[], long: boolean) => string;
  clone?: (store: Store, src: Row, name: string) => Promise<View>;
  clonedText?: (src: Row, v: View) => string;
  remove: (store: Store, targets: Row[]) => Promise<string[]>;
  deletedText: (deleted: string[]) => string;
}

/** The rows `-i` or `-a` select, read in one transaction. */
export function selected<Row extends Named>(store: Store, kind: Kind, opts: GlobalOptions): Promise<Row[]> {
  return store.read((tx) => resolveMany(tx, kind, selection(opts)) as unknown as Row[]);
}

/** `value` as JSON with --json, else `text()` (when there is any). */
export function reply(ctx: CommandContext, opts: GlobalOptions, value: unknown, text: () => string): number {
  if (opts.json) ctx.json(value);
  else {
    const t = text();
    if (t) ctx.out(t);
  }
  return EXIT.OK;
}

/** `ls [-l]`: registered first, so help lists ls, then create and update, then clone and delete. */
export function addListCommand<Row extends Named, View>(
  parent: CommandUnknownOpts,
  ctx: CommandContext,
  spec: CatalogCommands<Row, View>,
  help: { ls: string; long: string },
): void {
  parent
    .command('ls')
    .description(help.ls)
    .option('-l, --long', help.long)
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          const views = await spec.list(store, selection(opts));
          return reply(ctx, opts, views, () => (views.length ? spec.listText(views, opts.long === true) : ''));
        }),
      ),
    );
}

/** `clone name=NEW` (where the kind has it) and `delete`. */
export function addCloneAndDelete<Row extends Named, View>(parent: CommandUnknownOpts, ctx: CommandContext, spec: CatalogCommands<Row, View>): void {
  const { clone, clonedText } = spec;
  if (clone && clonedText) {
    parent
      .command('clone')
      .description(`copy the selected ${spec.label} under a new name: -i NAME clone name=NEW`)
      .argument('<fields...>', 'name=NEW')
      .action(
        ctx.action(async (opts, _cmd, args: string[]) =>
          withStore(ctx, opts, 'write', async (store) => {
            const name = parseFields(args, ctx.io.cwd, ['name']).get('name')?.value;
            if (!name) throw usage('clone needs name=NEW');
            const [src, ...more] = await selected<Row>(store, spec.kind, opts);
            if (!src || more.length) throw usage(`clone takes exactly one ${spec.label}`);
            const v = await clone(store, src, name);
            return reply(ctx, opts, v, () => clonedText(src, v));
          }),
        ),
      );
  }

  parent
    .command('delete')
    .description(`delete the selected ${spec.label}s`)
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'write', async (store) => {
          const deleted = await spec.remove(store, await selected<Row>(store, spec.kind, opts));
          return reply(ctx, opts, { ok: true, deleted }, () => spec.deletedText(deleted));
        }),
      ),
    );
}
