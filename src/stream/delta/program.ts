import type { FileHandle } from 'node:fs/promises';
import { equalBytes } from '../../format/bytes.js';
import { BootportError } from '../../format/errors.js';
import { DATA_OP_HEADER, encodeDataOpHeader, encodeRefOp } from '../../format/delta.js';
import type { PieceList } from '../../format/pieces.js';
import type { Engines } from '../engine/engines.js';
import { ioError } from '../io/io-error.js';
import { pieceSpans } from './spans.js';
import type { DeltaPlan } from './plan.js';

/** Program bytes are handed on in blocks of about this size. */
const BLOCK = 1 << 20;

/**
 * A delta entry's program, as it is written: carried pieces read from the new blob's file at
 * their offsets (and checked against the chunk index as they are read, so a blob damaged since
 * it was indexed is caught here, not on the target), references as their 56 bytes.
 */
export async function* deltaProgram(
  plan: DeltaPlan,
  blob: PieceList,
  file: FileHandle,
  engines: Pick<Engines, 'hash' | 'pieces'>,
  what: string,
): AsyncGenerator<Uint8Array> {
  let out = new Uint8Array(BLOCK + DATA_OP_HEADER + 65536);
  let fill = 0;
  const put = (b: Uint8Array) => {
    if (fill + b.length > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, fill + b.length));
      grown.set(out.subarray(0, fill));
      out = grown;
    }
    out.set(b, fill);
    fill += b.length;
  };
  const flush = function* () {
    if (fill === 0) return;
    yield out.slice(0, fill);
    fill = 0;
  };
  for (const s of plan.steps) {
    if (s.kind === 'ref') {
      // The run digest is over the pieces' digests, gathered for one call to the hasher.
      const d = new Uint8Array(s.count * 32);
      for (let i = 0; i < s.count; i++) d.set(blob.digestAt(s.from + i), i * 32);
      put(encodeRefOp({ base: plan.bases.indexOf(s.list), offset: s.offset, length: s.bytes, pieces: s.count, digest: engines.hash.digestOf([d]) }));
      continue;
    }
    const short = (at: number) => ioError(`cannot read ${what}`, Object.assign(new Error(`it ends at byte ${at}`), { code: 'EIO' }));
    // Neighbouring carried pieces are read with one call.
    for await (const span of pieceSpans(file, blob, s.from, s.count, BLOCK, what, short)) {
      const digests = engines.pieces.digests(span.data, span.lengths);
      let p = 0;
      for (let k = 0; k < span.lengths.length; k++) {
        const n = span.lengths[k]!;
        const piece = span.first + k;
        if (!equalBytes(digests.subarray(k * 32, k * 32 + 32), blob.digestAt(piece)))
          throw new BootportError('ERR_SOURCE', `${what} does not match its chunk index at byte ${blob.offsetAt(piece)}`, {}, 'run the store check');
        put(encodeDataOpHeader(blob.digestAt(piece), n));
        put(span.data.subarray(p, p + n));
        p += n;
      }
      if (fill >= BLOCK) yield* flush();
    }
  }
  yield* flush();
}
