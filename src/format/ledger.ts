import { digestString, equalBytes, toHex } from './bytes.js';
import type { ChunkHeader } from './chunk.js';
import { DIGEST_SIZE } from './constants.js';
import { bundleError } from './errors.js';
import { entryLabel, type Manifest } from './manifest.js';
import { encodeTrailerBody, type Trailer, type TrailerCounts, type TrailerEntry } from './trailer.js';

/** An incremental BLAKE3. format/ does no hashing of its own: its callers bring an engine. */
export interface DigestSink {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** An entry's running totals, as the trailer states them. */
export interface EntryTotals {
  chunks: number;
  rawBytes: number;
  /** The sum of the entry's frame lengths (C), headers not counted. */
  compBytes: number;
}

/**
 * The bookkeeping of one bundle, kept one way by the writer, the reader and the forger: which
 * chunk may come next (the order rules), each entry's totals, the seek table, and the bytes the
 * bundle digest covers. It does no I/O; a writer records what it emits, a reader what it reads.
 */
export class BundleLedger {
  readonly seekTable: number[] = [];
  readonly totals: EntryTotals[];
  private current = 0;
  private nextSeq = 0;

  constructor(
    readonly manifest: Manifest,
    readonly headerHash: Uint8Array,
    private readonly bundle: DigestSink,
    preamble: Uint8Array,
    manifestBytes: Uint8Array,
  ) {
    this.totals = manifest.entries.map(() => ({ chunks: 0, rawBytes: 0, compBytes: 0 }));
    bundle.update(preamble);
    bundle.update(manifestBytes);
  }

  /** The entry the next chunk belongs to; the entry count once every entry has ended. */
  get entry(): number {
    return this.current;
  }

  get complete(): boolean {
    return this.current >= this.manifest.entries.length;
  }

  /**
   * The order rules, then the entry's size claim, for a decoded chunk header about to be read
   * at `offset` (FORMAT.md, "Order rules" and "Error precedence").
   */
  checkNext(h: ChunkHeader, offset: number): void {
    const loc = { entry: entryLabel(this.manifest, h.entry), chunk: h.seq, offset };
    if (this.complete) throw bundleError('ERR_BUNDLE_SEQUENCE', 'chunk after the final chunk of the last entry', loc);
    if (h.entry !== this.current || h.seq !== this.nextSeq) {
      throw bundleError('ERR_BUNDLE_SEQUENCE', `expected entry ${this.current} chunk ${this.nextSeq}, found entry ${h.entry} chunk ${h.seq}`, loc);
    }
    const entry = this.manifest.entries[this.current]!;
    const fits = h.final ? h.rawLength <= entry.chunk_size && (h.rawLength > 0 || h.seq === 0) : h.rawLength === entry.chunk_size;
    if (!fits) {
      throw bundleError('ERR_BUNDLE_SEQUENCE', `chunk of ${h.rawLength} bytes is not allowed here (chunk size ${entry.chunk_size}, final ${h.final})`, loc);
    }
    const st = this.totals[this.current]!;
    if (entry.size !== undefined && st.rawBytes + h.rawLength > entry.size) {
      throw bundleError('ERR_BUNDLE_SIZE_MISMATCH', `entry holds more than its declared ${entry.size} bytes`, loc);
    }
  }

  /**
   * Books a chunk record at `offset` whose 52-byte header is `header`. The forger books chunks
   * that break the order rules on purpose, so nothing is checked here: a reader calls
   * `checkNext` first.
   */
  add(h: Pick<ChunkHeader, 'entry' | 'final' | 'rawLength' | 'compLength'>, header: Uint8Array, offset: number): void {
    this.seekTable.push(offset);
    this.bundle.update(header);
    const st = this.totals[h.entry];
    if (st) {
      st.chunks++;
      st.rawBytes += h.rawLength;
      st.compBytes += h.compLength;
    }
    if (h.final) {
      this.current++;
      this.nextSeq = 0;
    } else this.nextSeq++;
  }

  /** The trailer a writer emits: its body up to the bundle digest, then the digest over all it covers. */
  seal(contentDigests: readonly Uint8Array[], edit?: (honest: TrailerEntry[]) => TrailerEntry[]): { body: Uint8Array; bundleDigest: Uint8Array } {
    const honest = this.totals.map((t, i) => ({ ...t, contentDigest: contentDigests[i]! }));
    const body = encodeTrailerBody({ entries: edit ? edit(honest) : honest, seekTable: this.seekTable, headerHash: this.headerHash });
    this.bundle.update(body);
    return { body, bundleDigest: this.bundle.digest() };
  }

  /** A trailer's counts against what was read, before the rest of it is read or allocated. */
  checkCounts(counts: TrailerCounts, offset: number): void {
    if (counts.entryCount !== this.manifest.entries.length || counts.chunkCount !== this.seekTable.length) {
      throw bundleError(
        'ERR_BUNDLE_TRAILER',
        `trailer counts ${counts.entryCount} entries and ${counts.chunkCount} chunks, ` +
          `the bundle holds ${this.manifest.entries.length} and ${this.seekTable.length}`,
        { offset },
      );
    }
  }

  /**
   * A whole trailer (`bytes`, decoded as `t`) against the books, in FORMAT.md's order: the bundle
   * digest, the header hash, the seek table, then entry by entry its totals, its manifest claims
   * and, where the reader decompressed it, its content digest.
   */
  checkTrailer(t: Trailer, bytes: Uint8Array, contentDigests: readonly (Uint8Array | undefined)[], offset: number): void {
    this.bundle.update(bytes.subarray(0, bytes.length - DIGEST_SIZE));
    if (!equalBytes(this.bundle.digest(), t.bundleDigest)) {
      throw bundleError('ERR_BUNDLE_DIGEST_MISMATCH', 'the bundle digest in the trailer does not match the headers and trailer', {
        offset: offset + bytes.length - DIGEST_SIZE,
      });
    }
    if (!equalBytes(t.headerHash, this.headerHash))
      throw bundleError('ERR_BUNDLE_TRAILER', 'trailer header hash does not match the preamble and manifest', { offset });
    for (let i = 0; i < this.seekTable.length; i++) {
      if (t.seekTable[i] !== this.seekTable[i])
        throw bundleError('ERR_BUNDLE_TRAILER', `seek table entry ${i} says ${t.seekTable[i]}, the chunk is at ${this.seekTable[i]}`, { offset });
    }
    this.manifest.entries.forEach((e, i) => {
      const te = t.entries[i]!;
      const st = this.totals[i]!;
      const loc = { entry: entryLabel(this.manifest, i), offset };
      if (te.chunks !== st.chunks || te.rawBytes !== st.rawBytes || te.compBytes !== st.compBytes) {
        throw bundleError(
          'ERR_BUNDLE_TRAILER',
          `trailer totals (${te.chunks} chunks, ${te.rawBytes} raw, ${te.compBytes} compressed) ` +
            `differ from the chunks read (${st.chunks}, ${st.rawBytes}, ${st.compBytes})`,
          loc,
        );
      }
      if (e.size !== undefined && e.size !== te.rawBytes)
        throw bundleError('ERR_BUNDLE_SIZE_MISMATCH', `manifest declares ${e.size} bytes, the entry holds ${te.rawBytes}`, loc);
      if (e.digest !== undefined && e.digest !== digestString(te.contentDigest)) {
        throw bundleError('ERR_BUNDLE_SIZE_MISMATCH', `manifest declares content ${e.digest}, the trailer says ${digestString(te.contentDigest)}`, loc);
      }
      const content = contentDigests[i];
      if (content && !equalBytes(content, te.contentDigest)) {
        throw bundleError('ERR_BUNDLE_DIGEST_MISMATCH', `content digest is blake3:${toHex(content)}, the trailer says ${digestString(te.contentDigest)}`, loc);
      }
    });
  }
}
