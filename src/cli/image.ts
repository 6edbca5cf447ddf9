import type { Command } from 'commander';
import { cloneImage, createImage, deleteImage, imageView, listObjects, resolveMany, updateImage, type ImageRow } from '../store/catalog.js';
import { Ctx, EXIT, humanBytes, table, usage } from './context.js';
import { boolField, FileIngest, parseFields, selection, textField, withStore } from './store-cmd.js';

const IMAGE_FIELDS = ['name', 'content', 'description', 'distro', 'parent', 'frozen'] as const;

export function registerImage(program: Command, ctx: Ctx): void {
  const image = program.command('image').description('manage images: ls, create, update, clone, delete').option('-i, --ids <names>', 'images by name or uid prefix').option('-a, --all', 'all images');

  image
    .command('ls')
    .option('-l, --long', 'show details')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, async (store) => {
          const sel = selection(opts);
          const rows = listObjects<ImageRow>(store, 'images', sel);
          if (opts.json) ctx.json(rows.map(imageView));
          else if (rows.length && opts.long) ctx.out(table([['NAME', 'UID', 'SIZE', 'DISTRO', 'FROZEN', 'CONTENT'], ...rows.map((r) => [r.name, r.uid.slice(0, 12), humanBytes(r.size), r.distro, r.frozen ? 'yes' : '', r.content])]));
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
        withStore(ctx, opts, async (store) => {
          const f = parseFields(args, ctx.io.cwd, IMAGE_FIELDS);
          const ingest = new FileIngest(store, await ctx.engines(opts));
          try {
            const row = createImage(store, {
              name: f.get('name')?.value,
              content: await ingest.blob(f.get('content')),
              description: await textField(f.get('description')),
              distro: f.get('distro')?.value,
              parent: f.get('parent')?.value,
              frozen: boolField(f.get('frozen')),
            });
            if (opts.json) ctx.json(imageView(row));
            else ctx.out(`created image ${row.name} (uid ${row.uid}, ${humanBytes(row.size)})`);
          } finally {
            await ingest.done();
          }
          return EXIT.OK;
        }),
      ),
    );

  image
    .command('update')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, async (store) => {
          const sel = selection(opts);
          const targets = resolveMany<ImageRow>(store, 'images', sel.ids, sel.all);
          const f = parseFields(args, ctx.io.cwd, IMAGE_FIELDS);
          if (f.has('name') && targets.length > 1) throw usage('name= can only be changed on one image at a time');
          const ingest = new FileIngest(store, await ctx.engines(opts));
          try {
            const changes = {
              ...(f.has('name') ? { name: f.get('name')!.value } : {}),
              ...(f.has('content') ? { content: await ingest.blob(f.get('content')) } : {}),
              ...(f.has('description') ? { description: await textField(f.get('description')) } : {}),
              ...(f.has('distro') ? { distro: f.get('distro')!.value } : {}),
              ...(f.has('parent') ? { parent: f.get('parent')!.value } : {}),
              ...(f.has('frozen') ? { frozen: boolField(f.get('frozen')) } : {}),
            };
            const rows = targets.map((t) => updateImage(store, t.uid, changes));
            if (opts.json) ctx.json(rows.map(imageView));
            else ctx.out(rows.map((r) => `updated image ${r.name}`).join('\n'));
          } finally {
            await ingest.done();
          }
          return EXIT.OK;
        }),
      ),
    );

  image
    .command('clone')
    .argument('<fields...>', 'name=NEW')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, async (store) => {
          const name = parseFields(args, ctx.io.cwd, ['name']).get('name')?.value;
          if (!name) throw usage('clone needs name=NEW');
          const sel = selection(opts);
          const [src, ...more] = resolveMany<ImageRow>(store, 'images', sel.ids, sel.all);
          if (!src || more.length) throw usage('clone takes exactly one image');
          const row = cloneImage(store, src.uid, name);
          if (opts.json) ctx.json(imageView(row));
          else ctx.out(`cloned image ${src.name} to ${row.name} (content shared, no copy made)`);
          return EXIT.OK;
        }),
      ),
    );

  image.command('delete').action(
    ctx.action(async (opts) =>
      withStore(ctx, opts, async (store) => {
        const sel = selection(opts);
        const targets = resolveMany<ImageRow>(store, 'images', sel.ids, sel.all);
        for (const t of targets) deleteImage(store, t.uid);
        if (opts.json) ctx.json({ ok: true, deleted: targets.map((t) => t.name) });
        else ctx.out(targets.map((t) => `deleted image ${t.name}`).join('\n'));
        return EXIT.OK;
      }),
    ),
  );
}
