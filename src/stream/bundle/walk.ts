import { readU64, view } from '../../format/bytes.js';
import { CHUNK_HEADER_SIZE, FOOTER_SIZE, TRAILER_ENTRY_SIZE, TRAILER_FIXED_SIZE } from '../../format/constants.js';
import { decodeFooter } from '../../format/footer.js';
import { decodeTrailerCounts, trailerSize } from '../../format/trailer.js';
import { readFullSync } from '../io/files.js';

/** The longest run a worker checks (and maps) at once. */
const RUN_MAX = 32 << 20;

/** A run of whole chunk records: from one record's first byte to the next run's, the last to the trailer. */
export interface Run {
  from: number;
  to: number;
}

export interface WalkPlan {
  runs: AsyncIterable<Run>;
  trailerOffset: number;
}

/**
 * How a bundle file's chunk records can be checked in runs, a run per worker message, when only
 * checking (not inflating): read one at a time, each record cost the reading thread a read and a
 * message, and that thread was busy for a third of the time the workers took to hash (bench/
 * README.md, "Measurements behind the design").
 *
 * The runs come from the seek table, which is a claim until the trailer is checked, as it still
 * is at the end. A table that lies costs only speed: a worker stops where a run's records do not
 * meet its end, and the reader reads on in order from there. Undefined, and the whole read in
 * order, when the end of the file does not hold a footer and trailer that fit the records.
 */
export function planWalk(fd: number, size: number, start: number, width: number): WalkPlan | undefined {
  try {
    const footer = decodeFooter(readExactly(fd, size - FOOTER_SIZE, FOOTER_SIZE), size - FOOTER_SIZE);
    const { trailerOffset, trailerLength } = footer;
    if (trailerOffset < start + CHUNK_HEADER_SIZE || trailerOffset + trailerLength > size - FOOTER_SIZE) return undefined;
    const { entryCount, chunkCount } = decodeTrailerCounts(readExactly(fd, trailerOffset, TRAILER_FIXED_SIZE), trailerOffset);
    // At least a header and a byte of payload per record: a count beyond that is a lie, read no further.
    if (chunkCount === 0 || trailerSize(entryCount, chunkCount) !== trailerLength || chunkCount > (trailerOffset - start) / (CHUNK_HEADER_SIZE + 1))
      return undefined;
    const table = { fd, at: trailerOffset + TRAILER_FIXED_SIZE + entryCount * TRAILER_ENTRY_SIZE, count: chunkCount };
    const target = Math.min(RUN_MAX, Math.max(1, Math.floor((trailerOffset - start) / (2 * width))));
    return { runs: runsOf(table, start, trailerOffset, target), trailerOffset };
  } catch {
    return undefined;
  }
}

/** Seek table entries read at a time: the table is read as the runs are taken, never held whole. */
const TABLE_BLOCK = 8192;

/**
 * Runs of at least `target` bytes (the last to `end`) between offsets of the seek table. At the
 * first offset that cannot be a record's (not after the last one's header, past the trailer,
 * unreadable), the runs end where the last one ended, and the reader reads on in order from
 * there: what the table claims is checked against what was read only at the trailer.
 */
async function* runsOf(table: { fd: number; at: number; count: number }, start: number, end: number, target: number): AsyncGenerator<Run> {
  let from = start;
  let last = -1;
  try {
    for (let i = 0; i < table.count; i += TABLE_BLOCK) {
      const n = Math.min(TABLE_BLOCK, table.count - i);
      const dv = view(readExactly(table.fd, table.at + i * 8, n * 8));
      for (let k = 0; k < n; k++) {
        const at = readU64(dv, k * 8, 'a seek table offset');
        if (last < 0 ? at !== start : at <= last + CHUNK_HEADER_SIZE || at >= end) return;
        if (at - from >= target) {
          yield { from, to: at };
          from = at;
        }
        last = at;
      }
    }
  } catch {
    return;
  }
  if (last + CHUNK_HEADER_SIZE < end) yield { from, to: end };
}

function readExactly(fd: number, at: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  if (at < 0 || readFullSync(fd, b, at, 'the end of the bundle') < n) throw new RangeError('short');
  return b;
}
