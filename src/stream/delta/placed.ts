import type { ContentHasher } from '../engine/tree.js';
import { alignedBytes } from '../io/direct.js';
import type { SpanPlan } from './spans.js';

/** Takes bytes to write in order; `done`, once given, says their buffer may be reused. */
export type Write = (bytes: Uint8Array, done?: () => void) => Promise<void>;

/** The pair of a block as the subtree at content byte `offset` (engine/tree.ts), hashed wherever this runs. */
export type SubtreeHasher = (block: Uint8Array, offset: number) => Promise<Uint8Array | undefined>;

/** Blocks being hashed at once, at most: each holds its buffer until its pair is merged. */
const HASHING = 4;

/**
 * Output is laid out in blocks of this size, aligned in memory, so that every write but the last
 * is whole aligned blocks at an aligned offset, which a staged file sends around the page cache
 * (DirectFile). It is a power of two of BLAKE3's chunks, as a subtree of the content's tree is.
 */
export const BATCH = 4 << 20;

/**
 * A rebuilt content's bytes, each in the place it will be written from: blocks of BATCH bytes,
 * shared with the workers, which read what a delta copies straight into place. Blocks are filled
 * in any order and written strictly in order, each once every byte before its end is checked, and
 * hashed into the content's digest as it is written: as a subtree on a worker where `subtree` is
 * given and the hasher takes subtrees, here otherwise.
 */
export class PlacedOutput {
  private readonly live = new Map<number, Uint8Array>();
  private readonly spare: Uint8Array[] = [];
  /** The next block to write. */
  private next = 0;
  /** The content hashed up to the last block written: blocks are merged in order, one after another. */
  private merged: Promise<void> = Promise.resolve();
  private readonly hashing: Promise<void>[] = [];

  constructor(
    private readonly write: Write,
    private readonly content: ContentHasher,
    private readonly subtree?: SubtreeHasher,
  ) {}

  /** The content's digest, once every block is written (`finish`) and merged. */
  async digest(): Promise<Uint8Array> {
    await this.merged;
    return this.content.digest();
  }

  /** Where output bytes `at .. at + length` go: one view per block they fall in. */
  views(at: number, length: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let p = at; p < at + length;) {
      const k = Math.floor(p / BATCH);
      const off = p - k * BATCH;
      const n = Math.min(at + length - p, BATCH - off);
      out.push(this.block(k).subarray(off, off + n));
      p += n;
    }
    return out;
  }

  /** Copies `bytes` to output byte `at` onwards. */
  put(bytes: Uint8Array, at: number): void {
    let from = 0;
    for (const v of this.views(at, bytes.length)) {
      v.set(bytes.subarray(from, from + v.length));
      from += v.length;
    }
  }

  /** Writes every block that ends at or before byte `upTo`: the bytes before it are final. */
  async writeUpTo(upTo: number): Promise<void> {
    while ((this.next + 1) * BATCH <= upTo) await this.writeBlock(BATCH);
  }

  /** Writes what is left of content `size` bytes long. */
  async finish(size: number): Promise<void> {
    await this.writeUpTo(size);
    const rest = size - this.next * BATCH;
    if (rest > 0) await this.writeBlock(rest);
  }

  private block(k: number): Uint8Array {
    let b = this.live.get(k);
    if (!b) this.live.set(k, (b = this.spare.pop() ?? alignedBytes(BATCH, true)));
    return b;
  }

  private async writeBlock(bytes: number): Promise<void> {
    const k = this.next++;
    const b = this.block(k);
    this.live.delete(k);
    const view = b.subarray(0, bytes);
    const at = k * BATCH;
    const { content } = this;
    const pair = this.subtree && content.push && bytes === BATCH ? this.subtree(view, at) : undefined;
    const hashed = (this.merged = Promise.all([this.merged, pair]).then(([, p]) => {
      if (!(p && content.push?.(p, at, bytes))) content.update(view);
    }));
    hashed.catch(() => undefined);
    // The block is filled again only once it is both written and hashed.
    let holds = 2;
    const release = () => void (--holds === 0 && this.spare.push(b));
    void hashed.then(release, () => undefined);
    this.hashing.push(hashed);
    if (this.hashing.length > HASHING) await this.hashing.shift();
    await this.write(view, release);
  }
}

/** A part of a span: where its bytes go in the output, and whether it is one piece across two blocks. */
export interface PlacedPart extends SpanPlan {
  out: number;
  straddles: boolean;
}

/**
 * Cuts a span that starts at output byte `out` at the output's block boundaries, so that each
 * part can be read straight into one block. A piece that crosses a boundary is a part of its own,
 * read elsewhere and copied into both blocks: a piece is hashed whole, from one buffer.
 */
export function* placedParts(plan: SpanPlan, out: number): Generator<PlacedPart> {
  const { lengths } = plan;
  const end = (k: number) => (Math.floor((out + k) / BATCH) + 1) * BATCH - out;
  if (plan.bytes <= end(0)) {
    yield { ...plan, out, straddles: false };
    return;
  }
  let i = 0;
  let off = 0;
  while (i < lengths.length) {
    const limit = end(off);
    const start = i;
    const from = off;
    if (off + lengths[i]! > limit) {
      off += lengths[i++]!;
    } else {
      while (i < lengths.length && off + lengths[i]! <= limit) off += lengths[i++]!;
    }
    yield {
      first: plan.first + start,
      at: plan.at + from,
      bytes: off - from,
      lengths: lengths.slice(start, i),
      out: out + from,
      straddles: off > limit,
    };
  }
}
