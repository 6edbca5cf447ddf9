import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { cloneImage, createImage, deleteImages, listImages, updateImages, type ImageRow, type ImageView } from '../store/catalog/images.js';
import { CommandContext } from './context.js';
import { addCloneAndDelete, addListCommand, reply, selected, type CatalogCommands } from './catalog-cmd.js';
import { usage } from './parse.js';
import { humanBytes, table } from './text.js';
import { boolField, FileIngest, parseFields, textField, withStore } from './store-cmd.js';

const IMAGE_FIELDS = ['name', 'content', 'description', 'distro', 'parent', 'frozen'] as const;

function imageText(rows: ImageView[], long: boolean): string {
  if (!long) return rows.map((r) => r.name).join('\n');
  return table([
    ['NAME', 'UID', 'SIZE', 'DISTRO', 'FROZEN', 'CONTENT'],
    ...rows.map((r) => [r.name, r.uid.slice(0, 12), humanBytes(r.size), r.distro, r.frozen ? 'yes' : '', r.content]),
  ]);
}

export function registerImage(program: CommandUnknownOpts, ctx: CommandContext): void {
  const image = program
    .command('image')
    .description('manage images: ls, create, update, clone, delete')
    .option('-i, --ids <names>', 'images by name or uid prefix')
    .option('-a, --all', 'all images');

  const catalog: CatalogCommands<ImageRow, ImageView> = {
    kind: 'images',
    label: 'image',
    list: listImages,
    listText: imageText,
    clone: cloneImage,
    clonedText: (src, v) => `cloned image ${src.name} to ${v.name} (content shared, no copy made)`,
    remove: deleteImages,
    deletedText: (deleted) => deleted.map((n) => `deleted image ${n}`).join('\n'),
  };
  addListCommand(image, ctx, catalog, { ls: 'list images (-l for sizes, distro and content digest)', long: 'show details' });

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
          return reply(ctx, opts, row, () => `created image ${row.name} (uid ${row.uid}, ${humanBytes(row.size)})`);
        }),
      ),
    );

  image
    .command('update')
    .description('change fields of the selected images: -i I update key=value…')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const targets = selected<ImageRow>(store, 'images', opts);
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
          return reply(ctx, opts, rows, () => rows.map((r) => `updated image ${r.name}`).join('\n'));
        }),
      ),
    );

  addCloneAndDelete(image, ctx, catalog);
}
