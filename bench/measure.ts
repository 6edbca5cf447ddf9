import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One timed run of a command, as GNU time saw it. */
export interface Run {
  seconds: number;
  /** Peak resident set, MiB. For a pipeline, the largest single process in it. */
  rssMiB: number;
  cpuSeconds: number;
}

export interface Measured {
  runs: Run[];
  seconds: number;
  rssMiB: number;
  cpuSeconds: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

type MeasureOptions = { before?: () => void; cwd: string; env?: NodeJS.ProcessEnv };

/** One run of `bash -c script` under /usr/bin/time, after `before` (untimed). */
function timeOnce(script: string, opts: MeasureOptions, timeFile: string): Run {
  opts.before?.();
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %M %U %S', 'bash', '-c', `set -eo pipefail; ${script}`], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${script}\n${r.stderr.toString().slice(-2000)}`);
  const [e, m, u, s] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { seconds: e!, rssMiB: m! / 1024, cpuSeconds: u! + s! };
}

function summary(runs: Run[]): Measured {
  return { runs, seconds: median(runs.map((r) => r.seconds)), rssMiB: median(runs.map((r) => r.rssMiB)), cpuSeconds: median(runs.map((r) => r.cpuSeconds)) };
}

/**
 * Runs `bash -c script` under /usr/bin/time, `runs` times, after `before` (untimed) each time.
 * pipefail, so a failing stage fails the measurement instead of timing an error.
 */
export function measure(script: string, runs: number, opts: MeasureOptions): Measured {
  return measureInterleaved([{ script, ...opts }], runs)[0]!;
}

/**
 * Several commands measured in turn, one run of each per round, so that a machine drifting
 * during the group slows them alike: a ratio between two of them is then fairer than between
 * groups run one after the other.
 */
export function measureInterleaved(cases: (MeasureOptions & { script: string })[], runs: number): Measured[] {
  const timeFile = join(tmpdir(), `bootport-bench-time-${process.pid}`);
  const out: Run[][] = cases.map(() => []);
  try {
    for (let i = 0; i < runs; i++) cases.forEach((c, k) => out[k]!.push(timeOnce(c.script, c, timeFile)));
  } finally {
    rmSync(timeFile, { force: true });
  }
  return out.map(summary);
}

/** Time from spawning a command to its first byte of output, and to its exit, in seconds (median). */
export async function firstOutput(cmd: string, args: string[], runs: number, cwd: string): Promise<{ first: number; total: number }> {
  const firsts: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    let first: number | undefined;
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', () => (first ??= performance.now()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}`);
    firsts.push(((first ?? performance.now()) - t0) / 1000);
    totals.push((performance.now() - t0) / 1000);
  }
  return { first: median(firsts), total: median(totals) };
}

/** Runs a bash script (pipefail) and returns its stdout; a failure throws with its stderr. */
export function sh(script: string, cwd: string): string {
  const r = spawnSync('bash', ['-c', `set -eo pipefail; ${script}`], { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
  return r.stdout;
}

export function have(tool: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

export function version(cmd: string): string {
  const r = spawnSync('bash', ['-c', `${cmd} 2>&1 | head -1`], { encoding: 'utf8' });
  return r.stdout.trim() || 'unknown';
}
