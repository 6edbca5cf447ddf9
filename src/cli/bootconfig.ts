import type { Command } from 'commander';
import {
  cloneBootConfig,
  createBootConfig,
  deleteBootConfigs,
  listBootConfigs,
  updateBootConfigs,
  type BootConfigRow,
  type BootConfigView,
} from '../store/catalog/boot-configs.js';
import { resolveMany } from '../store/catalog/common.js';
import { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';
import { humanBytes } from './text.js';
import { boolField, FileIngest, parseFields, selection, textField, withStore } from './store-cmd.js';

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
        ...(b.description ? [`  description: ${b.description}`] : []),
      ].join('\n'),
    )
    .join('\n');
}

export function registerBootConfig(program: Command, ctx: CommandContext): void {
  program
    .command('ls')
    .description('list boot configs (-l for kernel, initramfs, image, cmdline, release and sizes)')
    .option('-l, --long', 'show details')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          const views = listBootConfigs(store, selection(opts));
          if (opts.json) ctx.json(views);
          else if (views.length) ctx.out(bootConfigText(views, opts.long === true));
          return EXIT.OK;
        }),
      ),
    );

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
          if (opts.json) ctx.json(v);
          else ctx.out(`created boot config ${v.name} (uid ${v.uid})`);
          return EXIT.OK;
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
          const targets = store.read(() => resolveMany<BootConfigRow>(store, 'boot_configs', selection(opts)));
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
          if (opts.json) ctx.json(views);
          else ctx.out(views.map((v) => `updated boot config ${v.name}`).join('\n'));
          return EXIT.OK;
        }),
      ),
    );

  program
    .command('clone')
    .description('copy the selected boot config under a new name: -i B clone name=NEW')
    .argument('<fields...>', 'name=NEW')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const f = parseFields(args, ctx.io.cwd, ['name']);
          const name = f.get('name')?.value;
          if (!name) throw usage('clone needs name=NEW');
          const [src, ...more] = store.read(() => resolveMany<BootConfigRow>(store, 'boot_configs', selection(opts)));
          if (!src || more.length) throw usage('clone takes exactly one boot config');
          const v = await cloneBootConfig(store, src, name);
          if (opts.json) ctx.json(v);
          else ctx.out(`cloned ${src.name} to ${v.name} (uid ${v.uid})`);
          return EXIT.OK;
        }),
      ),
    );

  program
    .command('delete')
    .description('delete the selected boot configs')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = store.read(() => resolveMany<BootConfigRow>(store, 'boot_configs', selection(opts)));
          const deleted = await deleteBootConfigs(store, targets);
          if (opts.json) ctx.json({ ok: true, deleted });
          else ctx.out(deleted.map((n) => `deleted boot config ${n}`).join('\n'));
          return EXIT.OK;
        }),
      ),
    );
}
