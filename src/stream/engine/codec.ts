import { createRequire } from 'node:module';
import { BootportError } from '../../format/errors.js';
import { zstdCompressBound } from '../../format/constants.js';

/**
 * Compresses one chunk into exactly one zstd frame that declares its content size, and back.
 * `decompress` is only called after the frame passed `inspectZstdFrame` with the declared
 * length, and must still never return anything but exactly `rawLength` bytes.
 */
export interface ChunkCodec {
  readonly name: string;
  /** Largest chunk this codec can compress (decompression has no such limit). */
  readonly maxCompressChunk: number;
  /**
   * The frame, as a view into `out` when given (at least zstdCompressBound(raw.length) bytes) and
   * the codec can write there, else in a new array.
   */
  compress(raw: Uint8Array, level: number, out?: Uint8Array): Uint8Array;
  /** Exactly `rawLength` bytes: a view into `out` when given (at least that long) and the codec can write there. */
  decompress(frame: Uint8Array, rawLength: number, out?: Uint8Array): Uint8Array;
}

const req = createRequire(import.meta.url);

interface NapiBinding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
}

/** zstd-napi (libzstd built from source at install): the fast path. Throws if it cannot load. */
export function nativeCodec(): ChunkCodec {
  const b = req('zstd-napi/binding') as NapiBinding;
  const cctx = new b.CCtx();
  const dctx = new b.DCtx();
  let scratch = new Uint8Array(0);
  return {
    name: 'zstd-napi',
    maxCompressChunk: Number.MAX_SAFE_INTEGER,
    compress(raw, level, out) {
      if (out && out.length >= zstdCompressBound(raw.length)) return out.subarray(0, cctx.compress(out, raw, level));
      // One scratch buffer, reused: a fresh compress-bound buffer per chunk was pure garbage that
      // the returned view kept alive, and it showed up as peak RSS growing with the payload.
      const bound = zstdCompressBound(raw.length);
      if (scratch.length < bound) scratch = new Uint8Array(bound);
      const n = cctx.compress(scratch, raw, level);
      return scratch.slice(0, n);
    },
    decompress(frame, rawLength, out) {
      // A destination of exactly rawLength bytes: libzstd fails rather than write past it.
      const dst = out && out.length >= rawLength ? out.subarray(0, rawLength) : new Uint8Array(rawLength);
      const n = dctx.decompress(dst, frame);
      if (n !== rawLength) throw new Error(`frame produced ${n} bytes, ${rawLength} declared`);
      return dst;
    },
  };
}

interface CodecBinding {
  ZstdCodec: new () => unknown;
  ZstdDecompressStreamBinding: new () => {
    begin(): boolean;
    transform(d: Uint8Array, cb: (out: Uint8Array) => void): boolean;
    end(cb: (out: Uint8Array) => void): boolean;
    delete(): void;
  };
}
interface SimpleApi {
  compress(d: Uint8Array, level: number): Uint8Array | null;
  decompress(d: Uint8Array): Uint8Array | null;
}

/**
 * zstd-codec's Simple API runs in a fixed 16 MiB wasm heap and fails above about 4 MiB per call,
 * so larger frames are decompressed through its streaming binding, fed in 1 MiB pieces.
 */
export const ZSTD_CODEC_SIMPLE_LIMIT = 4 << 20;
const FEED = 1 << 20;

/** zstd-codec (wasm): the pure-wasm fallback, which reads everything the native codec writes. */
export async function wasmCodec(): Promise<ChunkCodec> {
  const { ZstdCodec } = req('zstd-codec') as { ZstdCodec: { run(f: (z: { Simple: new () => SimpleApi }) => void): void } };
  const simple = await new Promise<SimpleApi>((resolve) => ZstdCodec.run((z) => resolve(new z.Simple())));
  // Wrapped because the emscripten Module is a thenable: resolving a promise with it never settles.
  const { binding } = await new Promise<{ binding: CodecBinding }>((resolve) =>
    (req('zstd-codec/lib/module.js') as { run(f: (b: CodecBinding) => void): void }).run((b) => resolve({ binding: b })),
  );

  const streamDecompress = (frame: Uint8Array, rawLength: number): Uint8Array => {
    const out = new Uint8Array(rawLength);
    let at = 0;
    let overflow = false;
    const sink = (piece: Uint8Array): void => {
      if (at + piece.length > rawLength) overflow = true;
      else out.set(piece, at);
      at += piece.length;
    };
    const d = new binding.ZstdDecompressStreamBinding();
    try {
      if (!d.begin()) throw new Error('zstd-codec: cannot start a decompression stream');
      for (let i = 0; i < frame.length && !overflow; i += FEED) {
        if (!d.transform(frame.subarray(i, i + FEED), sink)) throw new Error('zstd-codec: corrupt frame');
      }
      if (!overflow && !d.end(sink)) throw new Error('zstd-codec: corrupt frame');
    } finally {
      d.delete();
    }
    if (overflow || at !== rawLength) throw new Error(`frame produced ${overflow ? 'more than' : at} bytes, ${rawLength} declared`);
    return out;
  };

  return {
    name: 'zstd-codec',
    maxCompressChunk: ZSTD_CODEC_SIMPLE_LIMIT,
    compress(raw, level) {
      if (raw.length > ZSTD_CODEC_SIMPLE_LIMIT) {
        throw new BootportError(
          'ERR_CODEC',
          `zstd-codec compresses at most ${ZSTD_CODEC_SIMPLE_LIMIT} bytes per chunk, got ${raw.length}`,
          {},
          'use chunks of 4 MiB or less with the fallback engine',
          { remedies: ['fallback-chunk-size'] },
        );
      }
      const out = simple.compress(raw, level);
      if (!out) throw new BootportError('ERR_CODEC', `zstd-codec failed to compress a ${raw.length} byte chunk at level ${level}`);
      return out;
    },
    decompress(frame, rawLength) {
      // zstd-codec's Simple API answers null for an empty frame; the frame was already checked to declare 0 bytes.
      if (rawLength === 0) return new Uint8Array(0);
      if (rawLength > ZSTD_CODEC_SIMPLE_LIMIT) return streamDecompress(frame, rawLength);
      const out = simple.decompress(frame);
      if (!out || out.length !== rawLength) throw new Error(`frame did not decompress to ${rawLength} bytes`);
      return out;
    },
  };
}
