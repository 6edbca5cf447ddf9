import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isVolume, VOLUME_MAGIC } from '../../format/volume.js';
import { BootportError } from '../../format/errors.js';
import { FOOTER_SIZE, MAX_EXTENSIONS, OPT_FEATURE_EXTENSIONS } from '../../format/constants.js';
import { digestString } from '../../format/bytes.js';
import { verifyBundle } from '../bundle/reader.js';
import type { RunOptions } from '../parallel/runner.js';
import { writeFileAtomic } from '../io/files.js';
import { ioError } from '../io/io-error.js';
import type { DirectSource } from '../io/source.js';
import { signatureExtension, type Signer } from './signatures.js';

/**
 * Adds a signature to a bundle file. The bundle is verified first (its digests, not its content),
 * from one open descriptor that is then copied: the digest signed is the one just proven for the
 * bytes copied. The copy, with the signature before the footer, replaces the file atomically: an
 * interrupted sign leaves the old file as it was.
 */
export async function signBundleFile(path: string, signer: Signer, opts: RunOptions = {}): Promise<{ bundleDigest: string; signatures: number }> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw ioError(`cannot read ${path}`, e);
  });
  try {
    // A signature sits at the end of the bundle, inside the last volume, and would change that
    // volume's length and digest: volumes are signed as they are written.
    const head = new Uint8Array(VOLUME_MAGIC.length);
    if (isVolume(head.subarray(0, (await fh.read(head, 0, head.length, 0)).bytesRead)))
      throw new BootportError('ERR_UNSIGNABLE', `${path} is a volume of a split bundle, which is signed as it is exported`, {}, 'export it again, signing it', {
        remedies: ['sign-at-export'],
      });
    const r = await verifyBundle(descriptorSource(fh.fd), { ...opts, deep: false });
    if (!(r.preamble.optional & OPT_FEATURE_EXTENSIONS)) {
      throw new BootportError(
        'ERR_UNSIGNABLE',
        `${path} was written by a bootport that did not allow signatures (its preamble does not announce extension records)`,
        {},
        'export the boot config again with this bootport, and sign that',
      );
    }
    if (r.end.extensions.length >= MAX_EXTENSIONS) {
      throw new BootportError('ERR_UNSIGNABLE', `${path} already holds ${MAX_EXTENSIONS} extension records, the most a bundle may`);
    }
    const record = signatureExtension(signer, r.end.trailer.bundleDigest);
    const footerAt = r.end.size - FOOTER_SIZE;
    async function* signed(): AsyncGenerator<Uint8Array> {
      yield* range(fh.fd, 0, footerAt);
      yield record;
      yield* range(fh.fd, footerAt, r.end.size);
    }
    await writeFileAtomic(path, signed(), true, 'bootport sign');
    return { bundleDigest: digestString(r.end.trailer.bundleDigest), signatures: r.end.extensions.length + 1 };
  } finally {
    await fh.close();
  }
}

const readAt = promisify(read);

/** Bytes `[start, end)` of an open file, in pieces, failing if the file has shrunk under us. */
async function* range(fd: number, start: number, end: number): AsyncGenerator<Uint8Array> {
  const PIECE = 1 << 22;
  for (let pos = start; pos < end;) {
    const buf = new Uint8Array(Math.min(PIECE, end - pos));
    const { bytesRead } = await readAt(fd, buf, 0, buf.length, pos).catch((e: unknown) => {
      throw ioError('cannot read the bundle', e);
    });
    if (bytesRead === 0) throw new BootportError('ERR_SOURCE', 'the bundle became shorter while it was being signed');
    yield buf.subarray(0, bytesRead);
    pos += bytesRead;
  }
}

/** A source over an open descriptor that stays open after reading: the caller copies from it next. */
function descriptorSource(fd: number): DirectSource {
  let pos = 0;
  return {
    async readInto(buf, at, len) {
      const { bytesRead } = await readAt(fd, buf, at, len, pos).catch((e: unknown) => {
        throw ioError('cannot read the bundle', e);
      });
      pos += bytesRead;
      return bytesRead;
    },
    close: async () => {},
  };
}
