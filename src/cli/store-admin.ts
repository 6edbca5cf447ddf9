import type { Command } from '@commander-js/extra-typings';
import type { CatalogChange } from '../store/backend/catalog.js';
import { LABEL } from '../store/backend/tx.js';
import { storeLocation } from '../store/location.js';
import { migrateStore, type MigrateReport } from '../store/migrate.js';
import { Store } from '../store/store.js';
import type { CommandContext } from './context.js';
import { EXIT } from './exit.js';
import { usage } from './parse.js';
import { humanBytes } from './text.js';
import { withStore } from './store-cmd.js';

function migrateText(r: MigrateReport): string {
  const rows = Object.entries(r.rows)
    .map(([t, c]) => `${t.replace(/_/g, ' ')}: ${c.copied} copied, ${c.present} already there`)
    .join('\n');
  return [
    `migrated ${r.from} to ${r.to}`,
    `blobs: ${r.blobs.copied} copied (${humanBytes(r.blobs.bytes)}), ${r.blobs.present} already there`,
    rows,
    'verified: every row and blob of the source is in the target',
  ].join('\n');
}

export function registerStoreAdmin(program: Command, ctx: CommandContext): void {
  const store = program.command('store').description('the store itself: copy it into another catalog (SQLite to etcd, and back)');
  store
    .command('migrate')
    .description('copy every row and blob of one store into another and check the copy; run again to resume, or to find it complete')
    .requiredOption('--from <store>', 'the store to copy: a directory, or an etcd:// URL')
    .requiredOption('--to <store>', 'the store to copy into: a directory, or an etcd:// URL')
    .action(
      ctx.action(async (opts) => {
        const run = await ctx.runOptions(opts);
        const { env, cwd } = ctx.io;
        const lockTimeoutMs = ctx.lockTimeoutMs();
        const open = { command: ctx.commandLine(), ...(lockTimeoutMs !== undefined ? { lockTimeoutMs } : {}) };
        const fromLoc = storeLocation(env, cwd, opts.from);
        const toLoc = storeLocation(env, cwd, opts.to);
        if (JSON.stringify(fromLoc) === JSON.stringify(toLoc)) throw usage('--from and --to name the same store');
        const from = await Store.open(fromLoc, 'read', open);
        try {
          const to = await Store.open(toLoc, 'write', open);
          try {
            const report = await migrateStore(from, to, run.engines);
            if (opts.json) ctx.json(report);
            else ctx.out(migrateText(report));
            return EXIT.OK;
          } finally {
            await to.close();
          }
        } finally {
          await from.close();
        }
      }),
    );

  program
    .command('watch')
    .description('print every change to the catalog as it is committed, by any process on any head node, until interrupted')
    .option('--for <seconds>', 'stop after this many seconds')
    .action(
      ctx.action(async (opts) =>
        withStore(ctx, opts, 'read', async (s) => {
          const seconds = opts.for === undefined ? undefined : Number(opts.for);
          if (seconds !== undefined && !(seconds > 0)) throw usage(`--for must be a number of seconds, got ${JSON.stringify(opts.for)}`);
          const stop = new AbortController();
          const timer = seconds === undefined ? undefined : setTimeout(() => stop.abort(), seconds * 1000);
          const print = (c: CatalogChange) => {
            // One JSON object per line (JSON Lines), so that a reader can act on each as it comes.
            if (opts.json) ctx.out(JSON.stringify({ ...c, at: new Date().toISOString() }));
            else ctx.out(`${c.change} ${LABEL[c.table]} ${c.name}${c.name !== c.key ? ` (${c.key})` : ''}`);
          };
          try {
            // Said on stderr once the watch is in place, so a script knows from when it sees everything.
            await s.watch(print, stop.signal, () => ctx.err(`watching ${s.where}`));
          } finally {
            clearTimeout(timer);
          }
          return EXIT.OK;
        }),
      ),
    );
}
