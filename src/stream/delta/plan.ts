import { MAX_DELTA_BASES } from '../../format/delta.js';
import type { PieceList } from '../../format/pieces.js';

/** Runs are cut at this length, so an importer holds little while it checks one. */
export const RUN_LIMIT = 4 << 20;

/**
 * What the target holds, piece by piece, for finding a new blob's pieces among them: an open
 * addressing table over typed arrays (a piece costs a few bytes, not an object), keyed by the
 * first bytes of each piece's digest, which are uniformly random.
 */
export class HaveTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly starts: number[] = [];

  constructor(readonly lists: readonly PieceList[]) {
    let total = 0;
    for (const l of lists) {
      this.starts.push(total);
      total += l.count;
    }
    let size = 1024;
    while (size < total * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    lists.forEach((l, li) => {
      for (let p = 0; p < l.count; p++) {
        let s = l.keyWord(p) & this.mask;
        while (this.slots[s] !== 0) s = (s + 1) & this.mask;
        this.slots[s] = this.starts[li]! + p + 1;
      }
    });
  }

  /** Whether piece `p` of list `li` has this length and digest (as far as the list keeps it). */
  matches(li: number, p: number, digest: Uint8Array, length: number): boolean {
    const l = this.lists[li]!;
    return p < l.count && l.lengthAt(p) === length && l.sameKey(p, digest);
  }

  /** A held piece with this length and digest: the first one listed. */
  find(digest: Uint8Array, length: number): { list: number; piece: number } | undefined {
    for (let s = slotOf(digest) & this.mask; this.slots[s] !== 0; s = (s + 1) & this.mask) {
      const id = this.slots[s]! - 1;
      const li = this.listOf(id);
      const p = id - this.starts[li]!;
      if (this.matches(li, p, digest, length)) return { list: li, piece: p };
    }
    return undefined;
  }

  private listOf(id: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function slotOf(d: Uint8Array): number {
  return (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
}

/** One step of a delta: carry pieces [from, from+count) of the new blob, or copy them from a held blob. */
export type Step =
  { kind: 'carry'; from: number; count: number } | { kind: 'ref'; from: number; count: number; list: number; piece: number; offset: number; bytes: number };

export interface DeltaPlan {
  steps: Step[];
  /** The held blobs the steps copy from, by list index: at most MAX_DELTA_BASES. */
  bases: number[];
  carried: number;
  referenced: number;
}

/**
 * Matches each piece of `blob` against what is held. A run goes on while the next held piece
 * also matches the next new one, so a long unchanged stretch becomes one reference however
 * often its pieces occur elsewhere. Only the `allowed` lists are used, when given.
 */
function match(blob: PieceList, have: HaveTable, allowed?: ReadonlySet<number>): Step[] {
  const steps: Step[] = [];
  let run: Extract<Step, { kind: 'ref' }> | undefined;
  const carry = (i: number) => {
    const last = steps[steps.length - 1];
    if (last?.kind === 'carry' && last.from + last.count === i) last.count++;
    else steps.push({ kind: 'carry', from: i, count: 1 });
  };
  for (let i = 0; i < blob.count; i++) {
    const d = blob.digestAt(i);
    const n = blob.lengthAt(i);
    if (run && run.bytes + n <= RUN_LIMIT && have.matches(run.list, run.piece + run.count, d, n)) {
      run.count++;
      run.bytes += n;
      continue;
    }
    const hit = have.find(d, n);
    if (hit && (!allowed || allowed.has(hit.list))) {
      run = { kind: 'ref', from: i, count: 1, list: hit.list, piece: hit.piece, offset: have.lists[hit.list]!.offsetAt(hit.piece), bytes: n };
      steps.push(run);
    } else {
      run = undefined;
      carry(i);
    }
  }
  return steps;
}

export function planDelta(blob: PieceList, have: HaveTable): DeltaPlan {
  let steps = match(blob, have);
  const use = new Map<number, number>();
  for (const s of steps) if (s.kind === 'ref') use.set(s.list, (use.get(s.list) ?? 0) + s.bytes);
  if (use.size > MAX_DELTA_BASES) {
    const keep = new Set(
      [...use.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, MAX_DELTA_BASES)
        .map(([l]) => l),
    );
    steps = match(blob, have, keep);
  }
  const bases = [...new Set(steps.flatMap((s) => (s.kind === 'ref' ? [s.list] : [])))];
  let referenced = 0;
  for (const s of steps) if (s.kind === 'ref') referenced += s.bytes;
  return { steps, bases, carried: blob.size - referenced, referenced };
}
