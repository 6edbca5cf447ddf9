import type { Command } from 'commander';
import { resolveMany } from '../store/catalog/common.js';
import { cloneImage, createImage, deleteImages, listImages, updateImages, type ImageRow } from '../store/catalog/images.js';
import { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';
import { humanBytes, table } from './text.js';
import { boolField, FileIngest, parseFields, selection, textField, withStore } from './store-cmd.js';

const IMAGE_FIELDS = ['name', 'content', 'description', 'distro', 'parent', 'frozen'] as const;

export function registerImage(program: Command, ctx: CommandContext): void {
  const image = program
    .command('image')
    .description('manage images: ls, create, update, clone, delete')
    .option('-i, --ids <names>', 'images by name or uid prefix')
    .option('-a, --all', 'all images');

  image
    .command('ls')
    .option('-l, --long', 'show details')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (store) => {
          const rows = listImages(store, selection(opts));
          if (opts.json) ctx.json(rows);
          else if (rows.length && opts.long)
            ctx.out(
              table([
                ['NAME', 'UID', 'SIZE', 'DISTRO', 'FROZEN', 'CONTENT'],
                ...rows.map((r) => [r.name, r.uid.slice(0, 12), humanBytes(r.size), r.distro, r.frozen ? 'yes' : '', r.content]),
              ]),
            );
          else if (rows.length) ctx.out(rows.map((r) => r.name).join('\n'));
          return EXIT.OK;
        }),
      ),
    );

  image
    .command('create')
    .description('create an image: name=I content=@FILE [distro=…] [description=…]')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const f = parseFields(args, ctx.io.cwd, IMAGE_FIELDS);
          const description = await textField(f.get('description'));
          const ingest = new FileIngest(store, await ctx.engines(opts));
          const row = await createImage(store, {
            name: f.get('name')?.value,
            content: await ingest.blob(f.get('content')),
            description,
            distro: f.get('distro')?.value,
            parent: f.get('parent')?.value,
            frozen: boolField(f.get('frozen')),
          });
          if (opts.json) ctx.json(row);
          else ctx.out(`created image ${row.name} (uid ${row.uid}, ${humanBytes(row.size)})`);
          return EXIT.OK;
        }),
      ),
    );

  image
    .command('update')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = store.read(() => resolveMany<ImageRow>(store, 'images', selection(opts)));
          const f = parseFields(args, ctx.io.cwd, IMAGE_FIELDS);
          if (f.has('name') && targets.length > 1) throw usage('name= can only be changed on one image at a time');
          const description = await textField(f.get('description'));
          const ingest = new FileIngest(store, await ctx.engines(opts));
          const changes = {
            ...(f.has('name') ? { name: f.get('name')!.value } : {}),
            ...(f.has('content') ? { content: await ingest.blob(f.get('content')) } : {}),
            ...(f.has('description') ? { description } : {}),
            ...(f.has('distro') ? { distro: f.get('distro')!.value } : {}),
            ...(f.has('parent') ? { parent: f.get('parent')!.value } : {}),
            ...(f.has('frozen') ? { frozen: boolField(f.get('frozen')) } : {}),
          };
          const rows = await updateImages(store, targets, changes);
          if (opts.json) ctx.json(rows);
          else ctx.out(rows.map((r) => `updated image ${r.name}`).join('\n'));
          return EXIT.OK;
        }),
      ),
    );

  image
    .command('clone')
    .argument('<fields...>', 'name=NEW')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const name = parseFields(args, ctx.io.cwd, ['name']).get('name')?.value;
          if (!name) throw usage('clone needs name=NEW');
          const [src, ...more] = store.read(() => resolveMany<ImageRow>(store, 'images', selection(opts)));
          if (!src || more.length) throw usage('clone takes exactly one image');
          const row = await cloneImage(store, src, name);
          if (opts.json) ctx.json(row);
          else ctx.out(`cloned image ${src.name} to ${row.name} (content shared, no copy made)`);
          return EXIT.OK;
        }),
      ),
    );

  image.command('delete').action(
    ctx.action(async (opts) =>
      withStore(ctx, opts, 'write', async (store) => {
        const targets = store.read(() => resolveMany<ImageRow>(store, 'images', selection(opts)));
        const deleted = await deleteImages(store, targets);
        if (opts.json) ctx.json({ ok: true, deleted });
        else ctx.out(deleted.map((n) => `deleted image ${n}`).join('\n'));
        return EXIT.OK;
      }),
    ),
  );
}
