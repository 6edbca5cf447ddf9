import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { BootportError } from '../format/errors.js';
import { expandNames } from '../store/catalog/common.js';
import { clearNodeAttributes, createNodes, deleteNodes, listNodes, setNodeAttributes, type NodeRow, type NodeView } from '../store/catalog/nodes.js';
import { CommandContext } from './context.js';
import { addCloneAndDelete, addListCommand, reply, selected, type CatalogCommands } from './catalog-cmd.js';
import { usage } from './parse.js';
import { table } from './text.js';
import { parseFields, withStore } from './store-cmd.js';

function nodeText(views: NodeView[], long: boolean): string {
  if (!long) return views.map((v) => v.name).join('\n');
  return table([
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
  ]);
}

export function registerNode(program: CommandUnknownOpts, ctx: CommandContext): void {
  const node = program
    .command('node')
    .description('manage compute nodes: create, ls, set, clear, delete')
    .option('-i, --ids <names>', 'nodes by name, range (n[0-3]) or uid prefix')
    .option('-a, --all', 'all nodes');

  const catalog: CatalogCommands<NodeRow, NodeView> = {
    kind: 'nodes',
    label: 'node',
    list: listNodes,
    listText: nodeText,
    remove: deleteNodes,
    deletedText: (deleted) => `deleted ${deleted.length} node(s)`,
  };
  addListCommand(node, ctx, catalog, { ls: 'list nodes (-l for MAC, boot config and attributes)', long: 'show attributes' });

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
          return reply(ctx, opts, rows, () => `created ${rows.length} node(s): ${rows.map((r) => r.name).join(', ')}`);
        });
      }),
    );

  node
    .command('set')
    .description('set attributes on the selected nodes: -i n[0-3] set _boot_config=B')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = await selected<NodeRow>(store, 'nodes', opts);
          const attrs = Object.fromEntries(
            [...parseFields(args, ctx.io.cwd).values()].map((f) => {
              if (f.file) throw new BootportError('ERR_INVALID', `node attributes take values, not files (${f.key})`);
              return [f.key, f.value];
            }),
          );
          await setNodeAttributes(store, targets, attrs);
          const nodes = targets.map((t) => t.name);
          return reply(ctx, opts, { ok: true, nodes, set: attrs }, () => `set ${Object.keys(attrs).join(', ')} on ${targets.length} node(s)`);
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
          const targets = await selected<NodeRow>(store, 'nodes', opts);
          await clearNodeAttributes(store, targets, keys);
          const nodes = targets.map((t) => t.name);
          return reply(ctx, opts, { ok: true, nodes, cleared: keys }, () => `cleared ${keys.join(', ')} on ${targets.length} node(s)`);
        }),
      ),
    );

  // Nodes are made from ranges, not copied: no clone.
  addCloneAndDelete(node, ctx, catalog);
}
