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
    const table = readExactly(fd, trailerOffset + TRAILER_FIXED_SIZE + entryCount * TRAILER_ENTRY_SIZE, chunkCount * 8);
    const dv = view(table);
    const seek: number[] = [];
    for (let i = 0; i < chunkCount; i++) {
      const at = readU64(dv, i * 8, 'a seek table offset');
      if (i === 0 ? at !== start : at <= seek[i - 1]! + CHUNK_HEADER_SIZE) return undefined;
      seek.push(at);
    }
    if (seek[chunkCount - 1]! + CHUNK_HEADER_SIZE >= trailerOffset) return undefined;
    const target = Math.min(RUN_MAX, Math.max(1, Math.floor((trailerOffset - start) / (2 * width))));
    return { runs: runsOf(seek, trailerOffset, target), trailerOffset };
  } catch {
    return undefined;
  }
}

async function* runsOf(seek: readonly number[], end: number, target: number): AsyncGenerator<Run> {
  let i = 0;
  while (i < seek.length) {
    const from = seek[i]!;
    let j = i + 1;
    while (j < seek.length && seek[j]! - from < target) j++;
    yield { from, to: j < seek.length ? seek[j]! : end };
    i = j;
  }
}

function readExactly(fd: number, at: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  if (at < 0 || readFullSync(fd, b, at, 'the end of the bundle') < n) throw new RangeError('short');
  return b;
}
