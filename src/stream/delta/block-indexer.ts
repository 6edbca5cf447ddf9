import type { PieceListBuilder, PieceSink } from '../../format/pieces.js';
import type { Candidates, PieceEngine } from '../engine/pieces.js';
import { PieceCutter } from './cutter.js';

/** Where blocks are cut into candidate pieces: the worker pool. */
export interface CutRunner {
  cut(data: Uint8Array): Promise<Candidates>;
}

/** Content is gathered into blocks of this size, each cut on a worker. */
const BLOCK = 4 << 20;
/** Blocks being cut at once. */
const IN_FLIGHT = 4;

/**
 * A chunk index built as content streams past, for content that is not inflated on a worker
 * (a file or a tar copied into the store): blocks go to the pool to be cut, and come back in
 * order to be stitched (see PieceCutter). Without a runner every cut is made here.
 */
export class BlockIndexer<S extends PieceSink = PieceListBuilder> {
  private readonly cutter: PieceCutter<S>;
  private block: Uint8Array;
  private fill = 0;
  private readonly queue: { block: Uint8Array; bytes: Uint8Array; pieces: Promise<Candidates> }[] = [];
  /** Blocks stitched and free again. They are shared with the workers, which only read them. */
  private readonly spare: Uint8Array[] = [];

  constructor(
    pieces: PieceEngine,
    private readonly runner?: CutRunner,
    sink?: S,
  ) {
    this.cutter = new PieceCutter<S>(pieces, sink);
    this.block = this.fresh();
  }

  /**
   * A block to fill: one stitched already, or a new one. A new block and a copy for the worker
   * per 4 MiB of content were garbage the collector ran after, and the peak grew by a hundred MiB.
   */
  private fresh(): Uint8Array {
    return this.spare.pop() ?? new Uint8Array(this.runner ? new SharedArrayBuffer(BLOCK) : new ArrayBuffer(BLOCK));
  }

  async add(data: Uint8Array): Promise<void> {
    if (!this.runner) return this.cutter.update(data);
    let at = 0;
    while (at < data.length) {
      const n = Math.min(data.length - at, BLOCK - this.fill);
      this.block.set(data.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === BLOCK) await this.dispatch();
    }
  }

  /** Cuts what is left: every piece of what was added is then in the sink. */
  async end(): Promise<S> {
    if (this.fill) await this.dispatch();
    while (this.queue.length) await this.stitchOne();
    return this.cutter.end();
  }

  private async dispatch(): Promise<void> {
    const bytes = this.block.subarray(0, this.fill);
    // The worker reads the shared block; it stays here for stitching, unchanged until then.
    const pieces = this.runner!.cut(bytes);
    // Rethrown in order by stitchOne; this only keeps an early failure from being unhandled.
    pieces.catch(() => undefined);
    this.queue.push({ block: this.block, bytes, pieces });
    this.block = this.fresh();
    this.fill = 0;
    if (this.queue.length > IN_FLIGHT) await this.stitchOne();
  }

  private async stitchOne(): Promise<void> {
    const head = this.queue.shift()!;
    this.cutter.update(head.bytes, await head.pieces);
    this.spare.push(head.block);
  }
}
