import type { Command } from 'commander';
import { BootportError } from '../format/errors.js';
import { expandNames, resolveMany } from '../store/catalog/common.js';
import { clearNodeAttributes, createNodes, deleteNodes, listNodes, setNodeAttributes, type NodeRow } from '../store/catalog/nodes.js';
import { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';
import { table } from './text.js';
import { parseFields, selection, withStore } from './store-cmd.js';

export function registerNode(program: Command, ctx: CommandContext): void {
  const node = program
    .command('node')
    .description('manage compute nodes: create, ls, set, clear, delete')
    .option('-i, --ids <names>', 'nodes by name, range (n[0-3]) or uid prefix')
    .option('-a, --all', 'all nodes');

  node
    .command('create')
    .description('create nodes: name=n[0-3] [mac=…]')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) => {
        const f = parseFields(args, ctx.io.cwd, ['name', 'mac']);
        const spec = f.get('name')?.value;
        if (!spec) throw usage('node create needs name=NAME or name=n[0-3]');
        // Expanded before the store is opened: a bad range touches nothing.
        const names = expandNames(spec);
        return withStore(ctx, opts, 'write', async (store) => {
          const rows = await createNodes(store, names, f.get('mac')?.value);
          if (opts.json) ctx.json(rows);
          else ctx.out(`created ${rows.length} node(s): ${rows.map((r) => r.name).join(', ')}`);
          return EXIT.OK;
        });
      }),
    );

  node
    .command('ls')
    .option('-l, --long', 'show attributes')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          const views = listNodes(store, selection(opts));
          if (opts.json) ctx.json(views);
          else if (views.length && opts.long) {
            ctx.out(
              table([
                ['NAME', 'UID', 'MAC', '_BOOT_CONFIG', 'ATTRIBUTES'],
                ...views.map((v) => {
                  const { _boot_config: _bc, ...rest } = v.attributes;
                  return [
                    v.name,
                    v.uid.slice(0, 12),
                    v.mac ?? '',
                    v.boot_config ?? '',
                    Object.entries(rest)
                      .map(([k, x]) => `${k}=${x}`)
                      .join(' '),
                  ];
                }),
              ]),
            );
          } else if (views.length) ctx.out(views.map((v) => v.name).join('\n'));
          return EXIT.OK;
        }),
      ),
    );

  node
    .command('set')
    .description('set attributes on the selected nodes: -i n[0-3] set _boot_config=B')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = store.read(() => resolveMany<NodeRow>(store, 'nodes', selection(opts)));
          const attrs = Object.fromEntries(
            [...parseFields(args, ctx.io.cwd).values()].map((f) => {
              if (f.file) throw new BootportError('ERR_INVALID', `node attributes take values, not files (${f.key})`);
              return [f.key, f.value];
            }),
          );
          await setNodeAttributes(store, targets, attrs);
          if (opts.json) ctx.json({ ok: true, nodes: targets.map((t) => t.name), set: attrs });
          else ctx.out(`set ${Object.keys(attrs).join(', ')} on ${targets.length} node(s)`);
          return EXIT.OK;
        }),
      ),
    );

  node
    .command('clear')
    .description('remove attributes from the selected nodes: -i n[0-3] clear _boot_config')
    .argument('<keys...>')
    .action(
      ctx.action(async (opts, _cmd, keys: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = store.read(() => resolveMany<NodeRow>(store, 'nodes', selection(opts)));
          await clearNodeAttributes(store, targets, keys);
          if (opts.json) ctx.json({ ok: true, nodes: targets.map((t) => t.name), cleared: keys });
          else ctx.out(`cleared ${keys.join(', ')} on ${targets.length} node(s)`);
          return EXIT.OK;
        }),
      ),
    );

  node.command('delete').action(
    ctx.action(async (opts) =>
      withStore(ctx, opts, 'write', async (store) => {
        const targets = store.read(() => resolveMany<NodeRow>(store, 'nodes', selection(opts)));
        const deleted = await deleteNodes(store, targets);
        if (opts.json) ctx.json({ ok: true, deleted });
        else ctx.out(`deleted ${deleted.length} node(s)`);
        return EXIT.OK;
      }),
    ),
  );
}
