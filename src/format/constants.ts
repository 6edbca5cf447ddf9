/** Byte layout constants for bundle format v1. FORMAT.md is the normative description. */

/** Preamble magic: a high first byte catches 7-bit transfers, CR LF and ^Z catch text-mode mangling (as in PNG). */
export const PREAMBLE_MAGIC = Uint8Array.of(0x89, 0x42, 0x50, 0x54, 0x0d, 0x0a, 0x1a, 0x0a); // \x89 B P T \r \n ^Z \n
/** Footer magic, the last eight bytes of every bundle. */
export const FOOTER_MAGIC = Uint8Array.of(0x89, 0x42, 0x50, 0x45, 0x0d, 0x0a, 0x1a, 0x0a); // \x89 B P E \r \n ^Z \n

export const VERSION_MAJOR = 1;
export const VERSION_MINOR = 0;

/** Required feature bit 0: some entry is a delta, a program that rebuilds its content from bases the target holds. */
export const REQ_FEATURE_DELTA = 1 << 0;
/** Required feature bits this reader understands. */
export const KNOWN_REQUIRED_FEATURES = REQ_FEATURE_DELTA;
/** Optional feature bit: extension records (signatures) may follow the trailer. */
export const OPT_FEATURE_EXTENSIONS = 1 << 0;

export const PREAMBLE_SIZE = 24;
export const CHUNK_HEADER_SIZE = 52;
export const CHUNK_FIELDS_SIZE = 20; // the part of the chunk header the digest binds, before the digest itself
export const TRAILER_FIXED_SIZE = 16;
export const TRAILER_ENTRY_SIZE = 56;
export const FOOTER_SIZE = 32;
export const EXTENSION_HEADER_SIZE = 8;
export const DIGEST_SIZE = 32;

export const TAG_CHUNK = 0x43; // 'C'
export const TAG_TRAILER = 0x54; // 'T'
export const TAG_EXTENSION = 0x58; // 'X'
export const TAG_FOOTER = 0x46; // 'F'

export const CHUNK_FLAG_FINAL = 0x01;
export const KNOWN_CHUNK_FLAGS = CHUNK_FLAG_FINAL;

/** Decoder limits. A reader allocates nothing larger than these. */
export const MAX_MANIFEST_SIZE = 1 << 20;
export const MIN_CHUNK_SIZE = 1 << 16;
export const MAX_CHUNK_SIZE = 1 << 24;
export const DEFAULT_CHUNK_SIZE = 1 << 22;
/** A kernel and an initramfs, and at most one image: each role appears once. */
export const MIN_ENTRIES = 2;
export const MAX_ENTRIES = 3;
export const MAX_CHUNKS = 1 << 24;
export const MAX_EXTENSION_SIZE = 1 << 16;
export const MAX_EXTENSIONS = 16;
/** zstd frames may not ask for a window larger than the largest chunk. */
export const MAX_WINDOW_SIZE = MAX_CHUNK_SIZE;
export const MIN_LEVEL = 1;
export const MAX_LEVEL = 19;
export const DEFAULT_LEVEL = 3;

/** ZSTD_COMPRESSBOUND from zstd.h: the largest frame a compliant encoder emits for `n` input bytes. */
export function zstdCompressBound(n: number): number {
  return n + Math.floor(n / 256) + (n < 128 * 1024 ? Math.floor((128 * 1024 - n) / 2048) : 0);
}
