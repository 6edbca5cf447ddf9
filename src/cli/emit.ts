import { basename, resolve } from 'node:path';
import { writeVolumes } from '../stream/volumes/write-volumes.js';
import { askForMedium, splitFor } from './volumes.js';
import { usage } from './parse.js';
import type { Manifest } from '../format/manifest.js';
import { writeFileAtomic } from '../stream/io/files.js';
import { isDirect, type ByteSource } from '../stream/io/source.js';
import { bundleBytes, type WriteSummary } from '../stream/bundle/writer.js';
import { engineReport, type CommandContext, type GlobalOptions, type RunInfo } from './context.js';
import { EXIT } from './exit.js';
import { sumOf } from '../stream/parallel/runner.js';
import type { Signer } from '../stream/sign/signatures.js';
import { copyEach, copyTo } from './output.js';

/**
 * Writes a bundle where `-o` says, a file (atomically, refusing to overwrite without --force) or
 * stdout, then reports it. With the bundle on stdout, the report goes to stderr so it cannot
 * corrupt the stream.
 */
export async function emitBundle(
  ctx: CommandContext,
  opts: GlobalOptions & { force?: boolean; splitSize?: string },
  out: string,
  manifest: Manifest,
  sources: readonly ByteSource[],
  report: (s: WriteSummary) => { json: Record<string, unknown>; text: string },
  signers: readonly Signer[] = [],
): Promise<number> {
  let summary: WriteSummary | undefined;
  const got = (s: WriteSummary) => (summary = s);
  let run: RunInfo;
  const progress = ctx.progress(opts, out === '-' ? 'writing' : `writing ${out}`, sumOf(manifest.entries.map((e) => e.size)));
  const onChunk = (raw: number, comp: number) => progress.advance(raw, raw, comp);
  let volumes: string[] | undefined;
  try {
    // What is compressed: a delta entry's carried pieces, however much it rebuilds.
    const options = await ctx.runOptions(opts);
    run = { ...options, threads: options.threadsFor(sumOf(manifest.entries.map((e) => (e.delta ? e.delta.carried : e.size)))) };
    if (out === '-' && opts.splitSize) throw usage('--split-size writes volume files: give -o NAME, not -o -');
    const path = resolve(ctx.io.cwd, out);
    const split = out === '-' ? undefined : await splitFor(ctx, path, manifest, opts.splitSize);
    // A stream in memory may hold on to what it was given, so stdout gets recycled buffers only
    // when it is the process's descriptor and each write is awaited to its end.
    if (out === '-') {
      ctx.stdoutIsData = true;
      const recycle = ctx.io.stdoutIsDescriptor === true;
      const bytes = bundleBytes(manifest, sources, { ...run, recycle, signers, onChunk }, got);
      await (recycle ? copyEach(bytes, ctx.io.stdout) : copyTo(bytes, ctx.io.stdout));
    } else if (split !== undefined) {
      // Recycled buffers are safe here too: a chunk's frame is the last piece of its record, and
      // the volume writer writes each record whole before it asks for the next piece.
      const r = await writeVolumes(path, bundleBytes(manifest, sources, { ...run, recycle: true, signers, onChunk }, got), {
        splitSize: split,
        force: opts.force === true,
        hash: run.engines.hash,
        command: ctx.commandLine(),
        nextMedium: askForMedium(ctx),
        onVolume: (index, p) => progress.relabel(`writing ${basename(p)} (volume ${index})`),
      });
      volumes = r.volumes;
    } else
      await writeFileAtomic(path, bundleBytes(manifest, sources, { ...run, recycle: true, signers, onChunk }, got), opts.force === true, ctx.commandLine());
  } finally {
    // The writer closes its sources once it runs; this closes them if it never started (the output existed).
    await Promise.all(sources.filter(isDirect).map((s) => s.close()));
  }
  progress.finish();
  const r = report(summary!);
  const signed = signers.map((s) => ({ fingerprint: s.key.fingerprint, ...(s.comment !== undefined ? { comment: s.comment } : {}) }));
  if (volumes) r.text += `\nin ${volumes.length} volume${volumes.length === 1 ? '' : 's'}: ${volumes.map((v) => basename(v)).join(', ')}`;
  if (signed.length) r.text += `\nsigned by ${signed.map((s) => s.fingerprint).join(', ')}`;
  const say = out === '-' ? (t: string) => ctx.err(t) : (t: string) => ctx.out(t);
  say(
    opts.json
      ? JSON.stringify(
          {
            ok: true,
            output: out,
            ...(volumes ? { volumes } : {}),
            bundle_id: manifest.bundle_id,
            ...r.json,
            ...summary!,
            signers: signed,
            ...engineReport(run),
          },
          null,
          2,
        )
      : r.text,
  );
  return EXIT.OK;
}
