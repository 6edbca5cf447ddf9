import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { resolve } from 'node:path';
import { createReadStream } from 'node:fs';
import { cloneImage, createImage, deleteImages, imageKindOf, listImages, updateImages, type ImageRow, type ImageView } from '../store/catalog/images.js';
import { BootportError } from '../format/errors.js';
import { digestString } from '../format/bytes.js';
import { extractTree } from '../stream/tree/extract-tree.js';
import type { TreeStats } from '../stream/tree/pack-tree.js';
import { EXIT } from './exit.js';
import { CommandContext } from './context.js';
import { addCloneAndDelete, addListCommand, reply, selected, type CatalogCommands } from './catalog-cmd.js';
import { usage } from './parse.js';
import { warningText } from './hints.js';
import { humanBytes, table } from './text.js';
import type { Progress } from './progress.js';
import { boolField, FileIngest, parseFields, textField, withStore } from './store-cmd.js';

const IMAGE_FIELDS = ['name', 'content', 'description', 'distro', 'parent', 'frozen'] as const;

type ImageListing = ImageView & { kind: string };

function imageText(rows: ImageListing[], long: boolean): string {
  if (!long) return rows.map((r) => r.name).join('\n');
  return table([
    ['NAME', 'UID', 'SIZE', 'KIND', 'DISTRO', 'FROZEN', 'CONTENT'],
    ...rows.map((r) => [r.name, r.uid.slice(0, 12), humanBytes(r.size), r.kind, r.distro, r.frozen ? 'yes' : '', r.content]),
  ]);
}

function treeText(t: TreeStats | undefined): string {
  if (!t) return '';
  const n = (k: number, one: string, many = `${one}s`) => (k ? [`${k} ${k === 1 ? one : many}`] : []);
  const parts = [
    ...n(t.files, 'file'),
    ...n(t.directories, 'directory', 'directories'),
    ...n(t.symlinks, 'symlink'),
    ...n(t.hardlinks, 'hard link'),
    ...n(t.devices, 'device'),
    ...n(t.fifos, 'FIFO'),
    ...n(t.sparse, 'sparse file'),
  ];
  return ` from a directory tree: ${parts.join(', ')}`;
}

export function registerImage(program: CommandUnknownOpts, ctx: CommandContext): void {
  const image = program
    .command('image')
    .description('manage images: ls, create, update, clone, delete')
    .option('-i, --ids <names>', 'images by name or uid prefix')
    .option('-a, --all', 'all images');

  const catalog: CatalogCommands<ImageRow, ImageListing> = {
    kind: 'images',
    label: 'image',
    list: async (store, sel) => (await listImages(store, sel)).map((v) => ({ ...v, kind: imageKindOf(store, v.content) })),
    listText: imageText,
    clone: async (store, src, name) => {
      const v = await cloneImage(store, src, name);
      return { ...v, kind: imageKindOf(store, v.content) };
    },
    clonedText: (src, v) => `cloned image ${src.name} to ${v.name} (content shared, no copy made)`,
    remove: deleteImages,
    deletedText: (deleted) => deleted.map((n) => `deleted image ${n}`).join('\n'),
  };
  addListCommand(image, ctx, catalog, { ls: 'list images (-l for sizes, distro and content digest)', long: 'show details' });

  image
    .command('create')
    .description('create an image: name=I content=@FILE|@DIR [distro=…] [description=…]; a directory is stored as a tar')
    .argument('<fields...>')
    .action(
      ctx.action(async (opts, _cmd, args: string[]) =>
        withStore(ctx, opts, 'write', async (store) => {
          const f = parseFields(args, ctx.io.cwd, IMAGE_FIELDS);
          const description = await textField(f.get('description'));
          const ingest = new FileIngest(store, await ctx.engines(opts), ctx, opts);
          const content = await ingest.image(f.get('content'));
          const row = await createImage(store, {
            name: f.get('name')?.value,
            content,
            description,
            distro: f.get('distro')?.value,
            parent: f.get('parent')?.value,
            frozen: boolField(f.get('frozen')),
          });
          const tree = content?.tree;
          return reply(
            ctx,
            opts,
            { ...row, ...(tree ? { tree } : {}) },
            () => `created image ${row.name} (uid ${row.uid}, ${humanBytes(row.size)})${treeText(tree)}`,
          );
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
          const targets = await selected<ImageRow>(store, 'images', opts);
          const f = parseFields(args, ctx.io.cwd, IMAGE_FIELDS);
          if (f.has('name') && targets.length > 1) throw usage('name= can only be changed on one image at a time');
          const description = await textField(f.get('description'));
          const ingest = new FileIngest(store, await ctx.engines(opts), ctx, opts);
          const changes = {
            ...(f.has('name') ? { name: f.get('name')!.value } : {}),
            ...(f.has('content') ? { content: await ingest.image(f.get('content')) } : {}),
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

  image
    .command('extract')
    .description('unpack an image that is a tar into a new or empty directory: -i I extract -C DIR')
    .option('-C, --directory <dir>', 'target directory (must not exist, or be empty)')
    .option('--keep-setuid', 'keep setuid and setgid bits (cleared otherwise)')
    .action(
      ctx.action(async (opts) => {
        if (!opts.directory) throw usage('image extract needs -C DIR');
        const dir = resolve(ctx.io.cwd, opts.directory);
        return withStore(ctx, opts, 'read', async (store) => {
          const targets = await selected<ImageRow>(store, 'images', opts);
          if (targets.length !== 1) throw usage('image extract takes exactly one image: -i NAME');
          const img = targets[0]!;
          const kind = imageKindOf(store, img.content);
          if (kind !== 'tar')
            throw new BootportError(
              kind === 'missing' ? 'ERR_STORE' : 'ERR_TAR_INVALID',
              kind === 'missing'
                ? `the content of image ${img.name} is missing from the store`
                : `image ${img.name} is a ${kind}, not a tar: there is no tree to extract`,
              {},
              kind === 'missing' ? 'run bootport fsck' : undefined,
            );
          const progress = ctx.progress(opts, `extracting ${img.name}`, img.size);
          const engines = await ctx.engines(opts);
          const blob = store.blobPath(img.content);
          const stats = await extractTree(verifiedBlob(blob, img.content, await engines.hash.create(), progress), dir, {
            keepSetuid: opts.keepSetuid === true,
            onWarning: (w) => ctx.err(warningText(w)),
            command: ctx.commandLine(),
          }).catch(async (e: unknown) => {
            // A tar that does not parse may be a blob damaged on disk: that is what to report then.
            if (e instanceof BootportError && e.code === 'ERR_TAR_INVALID') for await (const _ of verifiedBlob(blob, img.content, await engines.hash.create()));
            throw e;
          });
          progress.finish();
          if (opts.json) ctx.json({ ok: true, image: img.name, directory: dir, ...stats });
          else ctx.out(`extracted image ${img.name} into ${dir}${treeText(stats).replace(' from a directory tree', '')}`);
          return EXIT.OK;
        });
      }),
    );

  addCloneAndDelete(image, ctx, catalog);
}

/**
 * A blob's bytes, hashed as they pass: past the last byte, a digest that is not the blob's name
 * fails the stream, and with it the extraction, before anything is put in place.
 */
async function* verifiedBlob(path: string, digest: string, hasher: { update(b: Uint8Array): void; digest(): Uint8Array }, progress?: Progress) {
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hasher.update(piece);
    progress?.advance(piece.length);
    yield piece;
  }
  const got = digestString(hasher.digest());
  if (got !== digest) throw new BootportError('ERR_STORE', `blob ${digest} does not hash to its name: its content is damaged`, {}, 'run bootport fsck');
}
