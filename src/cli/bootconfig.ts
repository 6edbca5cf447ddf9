import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import {
  cloneBootConfig,
  createBootConfig,
  deleteBootConfigs,
  listBootConfigs,
  updateBootConfigs,
  type BootConfigRow,
  type BootConfigView,
} from '../store/catalog/boot-configs.js';
import { CommandContext } from './context.js';
import { addCloneAndDelete, addListCommand, reply, selected, type CatalogCommands } from './catalog-cmd.js';
import { usage } from './parse.js';
import { humanBytes, oneLine } from './text.js';
import { boolField, FileIngest, parseFields, textField, withStore } from './store-cmd.js';

const BC_FIELDS = ['name', 'kernel', 'initramfs', 'image', 'cmdline', 'description', 'boot_style', 'frozen'] as const;

export function bootConfigText(v: BootConfigView[], long: boolean): string {
  if (!long) return v.map((b) => b.name).join('\n');
  return v
    .map((b) =>
      [
        `${b.name}  (uid ${b.uid})`,
        `  kernel:     ${b.kernel.name}  ${humanBytes(b.kernel.size)}  ${b.kernel.digest}`,
        `  initramfs:  ${b.initramfs.name}  ${humanBytes(b.initramfs.size)}  ${b.initramfs.digest}`,
        `  image:      ${b.image ? `${b.image.name}  ${humanBytes(b.image.size)}` : '(none)'}`,
        `  cmdline:    ${b.cmdline}`,
        `  release:    ${b.release ?? '(unknown)'}`,
        `  boot_style: ${b.boot_style}${b.frozen ? '  FROZEN' : ''}`,
        ...(b.description ? [`  description: ${oneLine(b.description)}`] : []),
      ].join('\n'),
    )
    .join('\n');
}

export function registerBootConfig(program: CommandUnknownOpts, ctx: CommandContext): void {
  const catalog: CatalogCommands<BootConfigRow, BootConfigView> = {
    kind: 'boot_configs',
    label: 'boot config',
    list: listBootConfigs,
    listText: bootConfigText,
    clone: cloneBootConfig,
    clonedText: (src, v) => `cloned ${src.name} to ${v.name} (uid ${v.uid})`,
    remove: deleteBootConfigs,
    deletedText: (deleted) => deleted.map((n) => `deleted boot config ${n}`).join('\n'),
  };
  addListCommand(program, ctx, catalog, { ls: 'list boot configs (-l for kernel, initramfs, image, cmdline, release and sizes)', long: 'show details' });

  program
    .command('create')
    .description('create a boot config: name=B kernel=@FILE initramfs=@FILE [image=IMG] [cmdline=…] [description=…] [boot_style=…]')
    .argument('<fields...>', 'key=value or key=@FILE')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const f = parseFields(args, ctx.io.cwd, BC_FIELDS);
          // Text fields first: a bad one is refused before any file is copied in.
          const cmdline = await textField(f.get('cmdline'));
          const description = await textField(f.get('description'));
          const ingest = new FileIngest(store, await ctx.engines(opts));
          const v = await createBootConfig(store, {
            name: f.get('name')?.value,
            kernel: await ingest.kernel(f.get('kernel')),
            initramfs: await ingest.blob(f.get('initramfs')),
            image: f.get('image')?.value,
            cmdline,
            description,
            boot_style: f.get('boot_style')?.value,
            frozen: boolField(f.get('frozen')),
          });
          return reply(ctx, opts, v, () => `created boot config ${v.name} (uid ${v.uid})`);
        }),
      ),
    );

  program
    .command('update')
    .description('change fields of the selected boot configs: -i B update key=value…')
    .argument('<fields...>', 'key=value or key=@FILE')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = await selected<BootConfigRow>(store, 'boot_configs', opts);
          const f = parseFields(args, ctx.io.cwd, BC_FIELDS);
          if (f.has('name') && targets.length > 1) throw usage('name= can only be changed on one boot config at a time');
          const text = { cmdline: await textField(f.get('cmdline')), description: await textField(f.get('description')) };
          const ingest = new FileIngest(store, await ctx.engines(opts));
          const changes = {
            ...(f.has('name') ? { name: f.get('name')!.value } : {}),
            ...(f.has('kernel') ? { kernel: await ingest.kernel(f.get('kernel')) } : {}),
            ...(f.has('initramfs') ? { initramfs: await ingest.blob(f.get('initramfs')) } : {}),
            ...(f.has('image') ? { image: f.get('image')!.value || null } : {}),
            ...(f.has('cmdline') ? { cmdline: text.cmdline } : {}),
            ...(f.has('description') ? { description: text.description } : {}),
            ...(f.has('boot_style') ? { boot_style: f.get('boot_style')!.value } : {}),
            ...(f.has('frozen') ? { frozen: boolField(f.get('frozen')) } : {}),
          };
          const views = await updateBootConfigs(store, targets, changes);
          return reply(ctx, opts, views, () => views.map((v) => `updated boot config ${v.name}`).join('\n'));
        }),
      ),
    );

  addCloneAndDelete(program, ctx, catalog);
}
