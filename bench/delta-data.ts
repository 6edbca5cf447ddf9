/**
 * The delta benchmark's pair of images: a tar of a real tree (files sampled from /usr/share and
 * /usr/lib), and the same tar after a change shaped like a package update. A few hundred files
 * spread through the whole tree are rewritten, half with local edits (text, configuration) and
 * half changed throughout (a rebuilt binary), and a few hundred new files are added, about 1% of
 * the bytes in all. Both tars are written with fixed owners and times, so only the change differs.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface DeltaPair {
  old: string;
  new: string;
  files: number;
  rewritten: number;
  added: number;
  changedBytes: number;
}

const ROOTS = ['/usr/lib', '/usr/share'];
const MAX_FILE = 16 << 20;
const REWRITE = 300;
const ADD = 300;

/** A small deterministic generator (xorshift32): the same pair on the same machine every time. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function walk(dir: string, out: { path: string; size: number }[]): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) walk(p, out);
    else if (st.isFile() && st.size <= MAX_FILE) out.push({ path: p, size: st.size });
  }
}

const sampled = (p: string, per1000: number) => createHash('sha1').update(p).digest().readUInt16BE(0) % 1000 < per1000;

function tar(tree: string, out: string): void {
  const r = spawnSync('tar', ['cf', out, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', tree, '.'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tar of ${tree} failed`);
}

export function makeDeltaPair(dir: string, targetBytes: number, log: (s: string) => void): DeltaPair {
  const done = join(dir, 'pair.json');
  if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as DeltaPair;
  rmSync(dir, { recursive: true, force: true });
  const tree = join(dir, 'tree');
  mkdirSync(tree, { recursive: true });
  const all: { path: string; size: number }[] = [];
  for (const r of ROOTS) walk(r, all);
  const total = all.reduce((s, f) => s + f.size, 0);
  const per1000 = Math.min(1000, Math.ceil((targetBytes / total) * 1000));
  const chosen = all.filter((f) => sampled(f.path, per1000));
  const spare = all.filter((f) => !sampled(f.path, per1000) && f.size >= 1024 && f.size <= 40_000);
  log(`delta pair: ${chosen.length} files sampled from ${ROOTS.join(' and ')} into ${tree}`);
  for (const f of chosen) {
    const to = join(tree, f.path);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(f.path, to);
  }
  const old = join(dir, 'old.tar');
  tar(tree, old);

  const rand = rng(0x6b6f6f62);
  // Rewritten files: small and middling ones (what a package update touches), spread evenly.
  const candidates = chosen.filter((f) => f.size >= 1024 && f.size <= 60_000);
  let changedBytes = 0;
  const step = candidates.length / REWRITE;
  for (let i = 0; i < REWRITE; i++) {
    const f = candidates[Math.floor(i * step)]!;
    const p = join(tree, f.path);
    const b = readFileSync(p);
    let next: Buffer;
    if (i % 2 === 0) {
      // A local edit: a few lines inserted and one replaced.
      const at = Math.floor(rand() * b.length);
      const line = Buffer.from(`# changed by the update, ${i}: ${rand().toString(36)}\n`);
      next = Buffer.concat([b.subarray(0, at), line, b.subarray(at, Math.max(at, b.length - 40)), line]);
      changedBytes += 2 * line.length + 40;
    } else {
      // A rebuild: about one byte in 24 differs, throughout the file.
      next = Buffer.from(b);
      for (let k = Math.floor(rand() * 24); k < next.length; k += 1 + Math.floor(rand() * 48)) next[k] = (next[k]! + 1 + Math.floor(rand() * 255)) & 0xff;
      changedBytes += next.length;
    }
    writeFileSync(p, next);
  }
  // New files, with content the tree does not hold, in directories spread through it.
  for (let i = 0; i < ADD; i++) {
    const src = spare[Math.floor(rand() * spare.length)]!;
    const near = chosen[Math.floor((i * chosen.length) / ADD)]!;
    const to = join(tree, dirname(near.path), `new-${i}-${src.path.split('/').pop()}`);
    copyFileSync(src.path, to);
    changedBytes += statSync(to).size;
  }
  const next = join(dir, 'new.tar');
  tar(tree, next);
  rmSync(tree, { recursive: true, force: true });
  const pair: DeltaPair = { old, new: next, files: chosen.length, rewritten: REWRITE, added: ADD, changedBytes };
  writeFileSync(done, JSON.stringify(pair));
  return pair;
}
