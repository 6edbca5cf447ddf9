import { addonIfBuilt } from './addon.js';

/**
 * A range of an open file, mapped from the page cache instead of read into a buffer: for work
 * that only reads the bytes, the copy that a read makes cost more than hashing them (bench/
 * README.md, "Measurements behind the design"). The file may shrink while mapped: bytes past its
 * new end then read as zeros, and `cut()` says so. Check it before trusting what was read, and
 * release the range when done; its `bytes` read as empty after that.
 */
export interface MappedRange {
  readonly bytes: Uint8Array;
  /** Whether any of `bytes` was read past the file's end, and so as zeros. */
  cut(): boolean;
  /**
   * Lets go of the pages of `bytes` from `start` to `end`, done with: until read again, they no
   * longer count in the process's resident memory, which a long walk would otherwise fill.
   */
  drop(start: number, end: number): void;
  release(): void;
}

/** `length` bytes of the file `fd` from `offset`, mapped; undefined where they cannot be (no addon, not Linux, not a regular file). */
export function mapRange(fd: number, offset: number, length: number): MappedRange | undefined {
  const addon = addonIfBuilt();
  const bytes = addon?.mapRange(fd, offset, length);
  if (!addon || !bytes) return undefined;
  return {
    bytes,
    cut: () => addon.mapCut(bytes),
    drop: (start, end) => void addon.mapDrop(bytes.subarray(start, end)),
    release: () => void addon.unmap(bytes),
  };
}
