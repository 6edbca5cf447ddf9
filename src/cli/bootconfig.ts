import type { Command } from 'commander';
import {
  bootConfigView,
  cloneBootConfig,
  createBootConfig,
  deleteBootConfig,
  listObjects,
  resolveMany,
  updateBootConfig,
  type BootConfigRow,
  type BootConfigView,
} from '../store/catalog.js';
import { Ctx, EXIT, humanBytes, usage } from './context.js';
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

export function registerBootConfig(program: Command, ctx: Ctx): void {
  program
    .command('ls')
    .description('list boot configs (-l for kernel, initramfs, image, cmdline, release and sizes)')
    .option('-l, --long', 'show details')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, async (store) => {
          const sel = selection(opts);
          const rows = listObjects<BootConfigRow>(store, 'boot_configs', sel);
          const views = rows.map((r) => bootConfigView(store, r));
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
        withStore(ctx, opts, async (store) => {
          const f = parseFields(args, ctx.io.cwd, BC_FIELDS);
          const ingest = new FileIngest(store, await ctx.engines(opts));
          try {
            const row = createBootConfig(store, {
              name: f.get('name')?.value,
              kernel: await ingest.kernel(f.get('kernel')),
              initramfs: await ingest.blob(f.get('initramfs')),
              image: f.get('image')?.value,
              cmdline: await textField(f.get('cmdline')),
              description: await textField(f.get('description')),
              boot_style: f.get('boot_style')?.value,
              frozen: boolField(f.get('frozen')),
            });
            const v = bootConfigView(store, row);
            if (opts.json) ctx.json(v);
            else ctx.out(`created boot config ${v.name} (uid ${v.uid})`);
          } finally {
            await ingest.done();
          }
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
        withStore(ctx, opts, async (store) => {
          const sel = selection(opts);
          const targets = resolveMany<BootConfigRow>(store, 'boot_configs', sel.ids, sel.all);
          const f = parseFields(args, ctx.io.cwd, BC_FIELDS);
          if (f.has('name') && targets.length > 1) throw usage('name= can only be changed on one boot config at a time');
          const ingest = new FileIngest(store, await ctx.engines(opts));
          try {
            const changes = {
              ...(f.has('name') ? { name: f.get('name')!.value } : {}),
              ...(f.has('kernel') ? { kernel: await ingest.kernel(f.get('kernel')) } : {}),
              ...(f.has('initramfs') ? { initramfs: await ingest.blob(f.get('initramfs')) } : {}),
              ...(f.has('image') ? { image: f.get('image')!.value || null } : {}),
              ...(f.has('cmdline') ? { cmdline: await textField(f.get('cmdline')) } : {}),
              ...(f.has('description') ? { description: await textField(f.get('description')) } : {}),
              ...(f.has('boot_style') ? { boot_style: f.get('boot_style')!.value } : {}),
              ...(f.has('frozen') ? { frozen: boolField(f.get('frozen')) } : {}),
            };
            const views = targets.map((t) => bootConfigView(store, updateBootConfig(store, t.uid, changes)));
            if (opts.json) ctx.json(views);
            else ctx.out(views.map((v) => `updated boot config ${v.name}`).join('\n'));
          } finally {
            await ingest.done();
          }
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
        withStore(ctx, opts, async (store) => {
          const f = parseFields(args, ctx.io.cwd, ['name']);
          const name = f.get('name')?.value;
          if (!name) throw usage('clone needs name=NEW');
          const sel = selection(opts);
          const [src, ...more] = resolveMany<BootConfigRow>(store, 'boot_configs', sel.ids, sel.all);
          if (!src || more.length) throw usage('clone takes exactly one boot config');
          const v = bootConfigView(store, cloneBootConfig(store, src.uid, name));
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
        withStore(ctx, opts, async (store) => {
          const sel = selection(opts);
          const targets = resolveMany<BootConfigRow>(store, 'boot_configs', sel.ids, sel.all);
          for (const t of targets) deleteBootConfig(store, t.uid);
          if (opts.json) ctx.json({ ok: true, deleted: targets.map((t) => t.name) });
          else ctx.out(targets.map((t) => `deleted boot config ${t.name}`).join('\n'));
          return EXIT.OK;
        }),
      ),
    );
}

