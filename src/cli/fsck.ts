import type { Command } from '@commander-js/extra-typings';
import { checkStore, markRepaired, repairStore, type Finding, type FsckReport } from '../store/fsck.js';
import { CommandContext, engineReport } from './context.js';
import { EXIT } from './exit.js';
import { humanBytes } from './text.js';
import { withStore } from './store-cmd.js';
import type { Progress } from './progress.js';

/** Stores smaller than this are checked in a moment: no progress is shown unless asked for. */
const PROGRESS_FROM = 1 << 30;

function findingText(f: Finding, note = false): string {
  const lines = [`${f.repaired ? 'REPAIRED' : note ? 'NOTE    ' : 'PROBLEM '} ${f.kind}: ${f.message}`];
  if (f.needed_by?.length) lines.push(`  needed by: ${f.needed_by.join(', ')}`);
  if (f.repair) lines.push(`  repair: ${f.repair}`);
  return lines.join('\n');
}

function reportText(r: FsckReport, repair: boolean): string {
  const head = `store ${r.store}: ${r.blobs} blob(s), ${humanBytes(r.bytes)}, ${r.hashed ? 'every blob hashed' : 'sizes only (--quick)'}`;
  const left = r.findings.filter((f) => !f.repaired).length;
  const verdict =
    r.findings.length === 0
      ? 'OK: no problems found'
      : repair
        ? left
          ? `${left} of ${r.findings.length} problem(s) remain`
          : `OK: all ${r.findings.length} problem(s) repaired`
        : `${r.findings.length} problem(s) found; bootport fsck --repair fixes what can be fixed safely`;
  const q = r.quarantine.length ? [`quarantine/ holds ${r.quarantine.length} file(s) moved aside by earlier repairs`] : [];
  const notesLeft = r.notes.filter((f) => !f.repaired).length;
  const n = notesLeft ? [`${notesLeft} chunk index note(s): derived data, not damage; bootport fsck --repair computes them`] : [];
  return [head, ...r.findings.map((f) => findingText(f)), ...r.notes.map((f) => findingText(f, true)), ...q, ...n, verdict].join('\n');
}

export function registerFsck(program: Command, ctx: CommandContext): void {
  program
    .command('fsck')
    .description(
      'check the store: catalog integrity, every blob against its row and its BLAKE3, orphans, references, ' +
        'leftover staging; --repair fixes what is safe to fix',
    )
    .option('--repair', 'remove orphans and dead staging, quarantine damaged blobs, upgrade an old store; never deletes what a row refers to')
    .option('--quick', 'check blob sizes only, without hashing them')
    .action(
      ctx.action(async (opts) => {
        const run = await ctx.runOptions(opts);
        const repair = opts.repair === true;
        // A small store is checked in a moment: its progress shows only when asked for.
        let shown: Progress | undefined;
        let seen = 0;
        const progress = (done: number, total: number) => {
          shown ??= ctx.progress(total < PROGRESS_FROM && opts.progress === undefined ? { ...opts, progress: false } : opts, 'fsck: hashed', total);
          shown.advance(done - seen);
          seen = done;
          if (done >= total) shown.finish();
        };
        const check = { quick: opts.quick === true, engines: run.engines, threads: run.threads, progress };
        const before = await withStore(ctx, opts, 'read', (store) => checkStore(store, check));
        let report = before;
        if (repair && (before.findings.length || before.notes.length)) {
          report = await withStore(ctx, opts, 'write', async (store) => {
            await repairStore(store, before, run.engines);
            // Repairs move or remove files and leave every healthy blob as it was: sizes suffice.
            return { ...markRepaired(before, await checkStore(store, { ...check, quick: true })), hashed: before.hashed };
          });
        }
        if (opts.json) ctx.json({ ...report, repair, ...engineReport(run) });
        else ctx.out(reportText(report, repair));
        return report.ok ? EXIT.OK : EXIT.PROBLEMS;
      }),
    );
}
