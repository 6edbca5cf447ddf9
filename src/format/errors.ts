/**
 * Every failure bootport reports carries a stable code. Scripts match on the code, never on the
 * message; the README and FORMAT.md list them. Each layer declares its own codes where they
 * belong (these are the bundle's, and the one for a bug) and adds them to `ErrorCodes` by
 * declaration merging, so a mistyped code is a type error while format/ knows nothing above it.
 */
export const BUNDLE_ERRORS = {
  ERR_BUNDLE_BAD_MAGIC: 'the input is not a bootport bundle (preamble or footer magic is wrong)',
  ERR_BUNDLE_UNSUPPORTED: 'the bundle needs a newer bootport (major version or required feature bit)',
  ERR_BUNDLE_TRUNCATED: 'the input ended before the footer',
  ERR_BUNDLE_TRAILING_DATA: 'there are bytes after the footer',
  ERR_BUNDLE_LIMIT: 'a length field exceeds a decoder limit or the bytes that remain',
  ERR_BUNDLE_MANIFEST: 'the manifest is not valid canonical JSON of the documented shape',
  ERR_BUNDLE_NAME: 'a name is not a safe label',
  ERR_BUNDLE_RECORD: 'a record has an unknown tag, a non-zero reserved field or an unknown flag',
  ERR_BUNDLE_SEQUENCE: 'a chunk is out of place (wrong entry, sequence number or final flag)',
  ERR_BUNDLE_DIGEST_MISMATCH: 'a BLAKE3 digest does not match the bytes',
  ERR_BUNDLE_CORRUPT_CHUNK: 'a chunk is not exactly one zstd frame of its declared size',
  ERR_BUNDLE_SIZE_MISMATCH: 'a declared size or digest disagrees with the real content',
  ERR_BUNDLE_TRAILER: 'the trailer or footer disagrees with what was read',
  ERR_BUNDLE_SIGNATURE: 'a signature record is malformed, or its signature does not verify for this bundle',
  ERR_BUNDLE_DELTA: "a delta entry's program is malformed: an unknown operation, a reference outside its base, or cut short",
  ERR_VOLUME_MISSING: 'a volume of a split bundle is not where it was looked for',
  ERR_VOLUME_FOREIGN: 'a volume belongs to another bundle',
  ERR_VOLUME_DUPLICATE: 'two files hold the same volume, or a volume came again',
  ERR_VOLUME_ORDER: 'a volume is not the one that comes next: renamed, or listed out of order',
  ERR_VOLUME_TRUNCATED: 'a volume holds fewer bytes than its header says: an incomplete copy',
  ERR_VOLUME_DAMAGED: 'a volume header or its bytes do not match their check value or digest',
  ERR_INTERNAL: 'a bug in bootport: an unexpected exception, not a problem with the input',
} as const;

/** Every declared code; stream/errors.ts and store/errors.ts add theirs. */
export interface ErrorCodes extends Record<keyof typeof BUNDLE_ERRORS, string> {}

export type ErrorCode = Extract<keyof ErrorCodes, string>;

/** Where in a bundle a failure was found; every field is optional because not all apply. */
export interface ErrorLocation {
  /** Entry index in the manifest, or its role/name when known. */
  entry?: number | string;
  /** Chunk sequence number within the entry. */
  chunk?: number;
  /** Byte offset from the start of the bundle. */
  offset?: number;
}

export class BootportError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  /** What the user can do about it. */
  readonly hint: string | undefined;
  /** The message without its location, so the error can cross a thread and be rebuilt. */
  readonly detail: string;
  /**
   * What the user can do, as stable names of actions (`rename-image`, `overwrite`), for a front
   * end to say in its own terms: the CLI names its flags. `hint` says the same in neutral words.
   */
  readonly remedies: readonly string[];

  constructor(code: ErrorCode, message: string, location: ErrorLocation = {}, hint?: string, options?: { cause?: unknown; remedies?: readonly string[] }) {
    super(formatMessage(message, location), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BootportError';
    this.code = code;
    this.location = location;
    this.hint = hint;
    this.detail = message;
    this.remedies = options?.remedies ?? [];
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.location, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

function formatMessage(message: string, loc: ErrorLocation): string {
  const where: string[] = [];
  if (loc.entry !== undefined) where.push(`entry ${loc.entry}`);
  if (loc.chunk !== undefined) where.push(`chunk ${loc.chunk}`);
  if (loc.offset !== undefined) where.push(`byte offset ${loc.offset}`);
  return where.length ? `${message} (${where.join(', ')})` : message;
}

export function isBootportError(e: unknown): e is BootportError {
  return e instanceof BootportError;
}

/** Shorthand for the common "the bundle is damaged" failures. */
export function bundleError(code: ErrorCode, message: string, location: ErrorLocation = {}, hint?: string): BootportError {
  return new BootportError(code, message, location, hint ?? defaultHint(code));
}

function defaultHint(code: ErrorCode): string | undefined {
  switch (code) {
    case 'ERR_BUNDLE_TRUNCATED':
      return 'the copy is incomplete: transfer the bundle again and compare its size with the source';
    case 'ERR_BUNDLE_DIGEST_MISMATCH':
    case 'ERR_BUNDLE_CORRUPT_CHUNK':
    case 'ERR_BUNDLE_TRAILER':
    case 'ERR_BUNDLE_SEQUENCE':
    case 'ERR_BUNDLE_DELTA':
      return 'the bundle is damaged or was altered: export it again on the source cluster';
    case 'ERR_BUNDLE_UNSUPPORTED':
      return 'upgrade bootport on this machine';
    case 'ERR_BUNDLE_TRAILING_DATA':
      return 'something appended data to the bundle: transfer it again';
    default:
      return undefined;
  }
}
