import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { DIGEST_SIZE } from '../../format/constants.js';
import { encodeIndexHeader, INDEX_HEADER, INDEX_RECORD, type PieceList, type PieceSink } from '../../format/pieces.js';
import type { HashEngine } from '../engine/hash.js';
import { ioError } from '../io/io-error.js';

/** Records are gathered into blocks of this size before they are written. */
const BLOCK = 1 << 20;

/**
 * A chunk index written to a file as its pieces come, so that what a large blob's index holds in
 * memory is one block, not a record for every piece of the blob. The file is complete only after
 * `finish`, which writes the header (the blob's digest and the piece count, known only then) and
 * the check digest over header and records.
 *
 * The writes are synchronous: a block fills once for every few hundred pieces, and the callers
 * add pieces from synchronous code.
 */
export class IndexSpool implements PieceSink {
  private fd: number | undefined;
  private block = new Uint8Array(BLOCK);
  private dv = new DataView(this.block.buffer);
  private fill = 0;
  private at = INDEX_HEADER;
  private count = 0;
  private size = 0;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates the file (it must not exist), with `mode`. */
  static create(path: string, mode: number): IndexSpool {
    try {
      return new IndexSpool(path, openSync(path, 'wx+', mode));
    } catch (e) {
      throw ioError(`cannot write the chunk index ${path}`, e);
    }
  }

  add(length: number, digest: Uint8Array): void {
    if (this.fill + INDEX_RECORD > BLOCK) this.flush();
    this.dv.setUint32(this.fill, length, true);
    this.block.set(digest.subarray(0, DIGEST_SIZE), this.fill + 4);
    this.fill += INDEX_RECORD;
    this.count++;
    this.size += length;
  }

  addFrom(list: PieceList, first: number, count: number): void {
    for (let i = first; i < first + count; i++) this.add(list.lengthAt(i), list.digestAt(i));
  }

  /**
   * Writes the header and the check digest, fsyncs and closes the file: a whole chunk index of
   * the blob with content digest `digest`, whose size must be what the pieces add up to.
   */
  async finish(digest: Uint8Array, size: number, hash: HashEngine): Promise<void> {
    try {
      this.flush();
      if (size !== this.size) throw new Error(`its pieces add up to ${this.size} bytes, the blob has ${size}`);
      const head = encodeIndexHeader(digest, size, this.count);
      this.write(head, 0);
      // The check is over the header and every record, read back a block at a time.
      const check = await hash.create();
      check.update(head);
      for (let pos = INDEX_HEADER; pos < this.at;) {
        const n = readSync(this.fd!, this.block, 0, Math.min(BLOCK, this.at - pos), pos);
        if (n === 0) throw new Error(`it ends at byte ${pos}, before its ${this.at} bytes`);
        check.update(this.block.subarray(0, n));
        pos += n;
      }
      this.write(check.digest(), this.at);
      fsyncSync(this.fd!);
      closeSync(this.fd!);
      this.fd = undefined;
    } catch (e) {
      this.abandon();
      throw ioError(`cannot write the chunk index ${this.path}`, e);
    }
  }

  /** Closes and removes the file: for a blob that is not kept. Idempotent. */
  abandon(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Closing a descriptor can only fail if it is already gone.
    }
    this.fd = undefined;
    rmSync(this.path, { force: true });
  }

  private flush(): void {
    if (this.fill === 0) return;
    this.write(this.block.subarray(0, this.fill), this.at);
    this.at += this.fill;
    this.fill = 0;
  }

  private write(bytes: Uint8Array, position: number): void {
    for (let done = 0; done < bytes.length;) done += writeSync(this.fd!, bytes, done, bytes.length - done, position + done);
  }
}
