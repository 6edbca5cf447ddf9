/**
 * The golden test vectors: one scenario per file, each named after the result a conforming
 * reader must give. `npm run vectors` writes them to fixtures/vectors/; the test suite
 * regenerates them in memory and checks the files are exactly what this code makes.
 */
import { concatBytes, digestString } from '../src/format/bytes.js';
import { cutLength, DELTA_CHUNKER } from '../src/format/cdc.js';
import { encodeDataOpHeader, encodeRefOp, type DeltaClaim } from '../src/format/delta.js';
import { CHUNK_HEADER_SIZE, MIN_CHUNK_SIZE, OPT_FEATURE_EXTENSIONS } from '../src/format/constants.js';
import { encodeExtension } from '../src/format/extension.js';
import { encodeManifest, type Manifest, type ManifestEntry } from '../src/format/manifest.js';
import type { Engines } from '../src/stream/engine/engines.js';
import { bundleBytes } from '../src/stream/bundle/writer.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { fingerprintOf, type SigningKey } from '../src/stream/sign/keys.js';
import type { Signer } from '../src/stream/sign/signatures.js';
import { forgeBundle, type ForgedChunk } from './forge.js';

export interface Vector {
  name: string;
  description: string;
  /**
   * The verdict of `verify` (digests only) and of `verify --deep`: "ok" or an error code. For a
   * signed bundle, `signatures` gives the verdict of `verify` on its signatures, of `verify
   * --trust vector-signer-1.pub --require-signature`, and of `import --require-signature` into a
   * store that trusts vector-signer-1.
   */
  expect: { verify: string; deep: string; signatures?: { verify: string; trusted: string; import: string } };
  bytes: Uint8Array;
}

/** The two vector signers: Ed25519 keys from fixed seeds, so every signature is reproducible. */
export function vectorKey(n: 1 | 2): SigningKey {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, n)]);
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const raw = new Uint8Array(Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url'));
  return { privateKey, raw, comment: `vector-signer-${n}`, fingerprint: fingerprintOf(raw) };
}

const SIGNED_AT = '2026-11-25T00:00:00Z';

const CS = MIN_CHUNK_SIZE;

/** Deterministic content: 4 KiB text-like runs (the same for every seed) alternating with 4 KiB LCG runs. */
export function content(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = i % 8192 < 4096 ? 0x61 + (i % 23) : x >>> 24;
  }
  return out;
}

export function manifest(entries: { role: ManifestEntry['role']; name: string; size?: number }[], name = 'vecBoot'): Manifest {
  return {
    bundle_id: '6f1d2c3b-0000-4000-8000-00000000b007',
    created: '2026-11-25T00:00:00Z',
    tool: { name: 'bootport', version: 'vectors' },
    source: 'fixtures',
    boot_config: { name, cmdline: 'console=ttyS0,115200 rd.shell=0', description: 'golden vector', boot_style: 'rwram', attributes: {} },
    entries: entries.map((e) => ({ ...e, chunk_size: CS, codec: 'zstd', level: 3 })),
  };
}

export async function write(e: Engines, m: Manifest, contents: Uint8Array[], signers: Signer[] = []): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  async function* one(b: Uint8Array): AsyncGenerator<Uint8Array> {
    yield b;
  }
  for await (const p of bundleBytes(m, contents.map(one), { engines: e, signers })) parts.push(p.slice());
  return concatBytes(parts);
}

/** Offsets of each chunk record in a bundle written by this module. */
function chunkStarts(b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 24 + dv.getUint32(20, true);
  const out: number[] = [];
  while (b[at] === 0x43) {
    out.push(at);
    at += CHUNK_HEADER_SIZE + dv.getUint32(at + 8, true);
  }
  return out;
}

export async function makeVectors(e: Engines): Promise<Vector[]> {
  const K = content(3000, 1);
  const I = content(CS + 100, 2);
  const full = [
    { role: 'kernel' as const, name: 'vmlinuz-6.1.0', size: K.length },
    { role: 'initramfs' as const, name: 'initramfs-6.1.0.img', size: I.length },
  ];
  const withImage = (img: Uint8Array) => [...full, { role: 'image' as const, name: 'vecImage', size: img.length }];
  const v: Vector[] = [];
  const ok = (name: string, description: string, bytes: Uint8Array) => v.push({ name, description, expect: { verify: 'ok', deep: 'ok' }, bytes });
  const bad = (name: string, code: string, description: string, bytes: Uint8Array, deep = code) =>
    v.push({ name, description, expect: { verify: code, deep }, bytes });

  const img3 = content(3 * CS, 3);
  const base = await write(e, manifest(withImage(img3)), [K, I, img3]);
  ok('ok-image-exact-multiple', 'an image of exactly three chunks: no empty final chunk follows', base);
  ok('ok-no-image', 'a bundle exported with --no-recurse: kernel and initramfs only', await write(e, manifest(full), [K, I]));
  ok('ok-empty-image', 'an empty image: one final chunk of 0 bytes', await write(e, manifest(withImage(new Uint8Array(0))), [K, I, new Uint8Array(0)]));
  ok('ok-one-byte-image', 'a one-byte image', await write(e, manifest(withImage(Uint8Array.of(0x42))), [K, I, Uint8Array.of(0x42)]));
  const img2 = content(2 * CS + 1, 4);
  ok('ok-image-one-over', 'an image one byte over two chunks: the third chunk holds 1 byte', await write(e, manifest(withImage(img2)), [K, I, img2]));

  const chunks: ForgedChunk[] = [
    { entry: 0, seq: 0, final: true, rawLength: K.length, payload: e.codec.compress(K, 3) },
    { entry: 1, seq: 0, final: false, rawLength: CS, payload: e.codec.compress(I.subarray(0, CS), 3) },
    { entry: 1, seq: 1, final: true, rawLength: 100, payload: e.codec.compress(I.subarray(CS), 3) },
  ];
  const m2 = manifest(full);
  ok(
    'ok-unknown-optional-feature',
    'optional feature bits this reader does not know, with one extension record',
    forgeBundle(e.hash, m2, chunks, {
      contents: [K, I],
      preamble: { optional: OPT_FEATURE_EXTENSIONS | 0x40000000 },
      extensions: [encodeExtension(9, Uint8Array.of(1, 2, 3))],
    }),
  );

  bad(
    'bad-magic',
    'ERR_BUNDLE_BAD_MAGIC',
    'the first byte is 0x88 instead of 0x89',
    Uint8Array.from(base, (x, i) => (i === 0 ? 0x88 : x)),
  );
  const major = base.slice();
  major[8] = 2;
  bad('unsupported-major-version', 'ERR_BUNDLE_UNSUPPORTED', 'major version 2', major);
  bad(
    'unsupported-required-feature',
    'ERR_BUNDLE_UNSUPPORTED',
    'required feature bit 1 set: bit 0 (delta entries) is known',
    forgeBundle(e.hash, m2, chunks, { contents: [K, I], preamble: { required: 2 } }),
  );
  bad('truncated-before-footer', 'ERR_BUNDLE_TRUNCATED', 'the last byte of the footer is missing', base.subarray(0, base.length - 1));
  bad(
    'truncated-mid-chunk',
    'ERR_BUNDLE_TRUNCATED',
    'the input ends inside the second chunk payload',
    base.subarray(0, (chunkStarts(base)[1] ?? 0) + CHUNK_HEADER_SIZE + 10),
  );
  bad('trailing-byte', 'ERR_BUNDLE_TRAILING_DATA', 'one zero byte after the footer', concatBytes([base, Uint8Array.of(0)]));

  const flip = base.slice();
  const s1 = chunkStarts(base)[1]!;
  flip[s1 + CHUNK_HEADER_SIZE + 5]! ^= 0x01;
  bad('payload-bit-flip', 'ERR_BUNDLE_DIGEST_MISMATCH', 'one bit flipped inside the initramfs chunk 0 payload', flip);

  const starts = chunkStarts(base);
  const [a, b2, c] = [starts[2]!, starts[3]!, starts[4]!];
  const swapped = base.slice();
  swapped.set(base.subarray(b2, c), a);
  swapped.set(base.subarray(a, b2), a + (c - b2));
  bad('swapped-chunks', 'ERR_BUNDLE_SEQUENCE', 'initramfs chunk 1 and image chunk 0 swapped', swapped);

  const other = await write(e, manifest(withImage(img3), 'othBoot'), [K, I, img3]);
  const spliced = base.slice();
  const os = chunkStarts(other);
  spliced.set(other.subarray(os[3], os[4]), starts[3]);
  bad('spliced-chunk', 'ERR_BUNDLE_DIGEST_MISMATCH', 'image chunk 0 replaced by the same chunk of another bundle (same content, other header hash)', spliced);

  const bombPayload = e.codec.compress(new Uint8Array(4 << 20), 19);
  const looseM = manifest([
    { role: 'kernel', name: 'vmlinuz-6.1.0' },
    { role: 'initramfs', name: 'initramfs-6.1.0.img', size: I.length },
  ]);
  bad(
    'decompression-bomb',
    'ERR_BUNDLE_CORRUPT_CHUNK',
    'a chunk declared as 60000 bytes whose frame inflates to 4 MiB (digest valid)',
    forgeBundle(e.hash, looseM, [{ ...chunks[0]!, rawLength: 60000, payload: bombPayload }, chunks[1]!, chunks[2]!], { contents: [K, I] }),
  );

  const liar = forgeBundle(e.hash, m2, chunks, { contents: [new Uint8Array(K.length), I] });
  bad('content-digest-lie', 'ok', 'the trailer content digest of the kernel is wrong; only --deep can tell', liar, 'ERR_BUNDLE_DIGEST_MISMATCH');

  const totals = forgeBundle(e.hash, m2, chunks, {
    contents: [K, I],
    trailerEntries: (t) => t.map((x, i) => (i === 0 ? { ...x, rawBytes: x.rawBytes + 1 } : x)),
  });
  bad('trailer-totals-lie', 'ERR_BUNDLE_TRAILER', 'the trailer claims one more kernel byte than its chunks hold (digest valid)', totals);

  const sizeM = manifest([{ role: 'kernel', name: 'vmlinuz-6.1.0', size: K.length + 1 }, full[1]!]);
  bad(
    'size-claim-lie',
    'ERR_BUNDLE_SIZE_MISMATCH',
    'the manifest declares one more kernel byte than the bundle holds',
    forgeBundle(e.hash, sizeM, chunks, { contents: [K, I] }),
  );

  const enc = new TextEncoder();
  const evil = manifest(full);
  evil.boot_config.name = 'PLACEHOLDER';
  const evilBytes = forgeBundle(e.hash, evil, chunks, { contents: [K, I] });
  const at = indexOf(evilBytes, enc.encode('"PLACEHOLDER"'));
  evilBytes.set(enc.encode('"../../etc/x"'), at); // same length as the placeholder
  bad('name-traversal', 'ERR_BUNDLE_NAME', 'the boot config name is "../../etc/x" (refused while decoding the manifest)', evilBytes);

  const spaced = forgeBundle(e.hash, m2, chunks, { contents: [K, I] });
  const colon = indexOf(spaced, enc.encode('"bundle_id":'));
  spaced[colon + 11] = 0x20; // ':' -> ' ' leaves invalid JSON at the same length
  bad('manifest-not-json', 'ERR_BUNDLE_MANIFEST', 'the manifest has a space where a colon belongs', spaced);

  const huge = forgeBundle(e.hash, m2, chunks, { contents: [K, I] });
  const hs = chunkStarts(huge)[0]!;
  new DataView(huge.buffer, huge.byteOffset).setUint32(hs + 8, 0xfffffff0, true);
  bad('chunk-length-over-cap', 'ERR_BUNDLE_LIMIT', 'chunk 0 claims a 4 GiB compressed length: rejected before any allocation', huge);

  // Which error wins when several rules are broken (FORMAT.md, "Error precedence").
  const honest = () => forgeBundle(e.hash, m2, chunks, { contents: [K, I] });
  const h0 = chunkStarts(honest())[0]!;
  const flagFirst = honest();
  const fdv = new DataView(flagFirst.buffer, flagFirst.byteOffset);
  flagFirst[h0 + 1] = 0x02;
  fdv.setBigUint64(h0 + 12, 1n << 60n, true);
  bad(
    'precedence-flags-before-caps',
    'ERR_BUNDLE_RECORD',
    'kernel chunk 0 has an unknown flag bit and a sequence number over 2^53: flags are checked first',
    flagFirst,
  );

  const capFirst = honest();
  const cdv = new DataView(capFirst.buffer, capFirst.byteOffset);
  const c1 = chunkStarts(capFirst)[1]!;
  cdv.setUint32(c1 + 4, 1, true);
  cdv.setBigUint64(c1 + 12, 5n, true);
  bad(
    'precedence-caps-before-order',
    'ERR_BUNDLE_LIMIT',
    'initramfs chunk 0 claims 1 raw byte (zstd bound 64) with a longer frame, and sequence number 5: the caps come before the order rules',
    capFirst,
  );

  const digestFirst = honest();
  const [i0, i1] = [chunkStarts(digestFirst)[1]!, chunkStarts(digestFirst)[2]!];
  digestFirst[i0 + CHUNK_HEADER_SIZE + 7]! ^= 0x10;
  digestFirst[i1 + 1] = 0x80;
  bad(
    'precedence-digest-before-next-header',
    'ERR_BUNDLE_DIGEST_MISMATCH',
    'initramfs chunk 0 fails its digest and chunk 1 has an unknown flag bit: the first failure in reading order wins, however many chunks are in flight',
    digestFirst,
  );

  const early = forgeBundle(e.hash, m2, [chunks[0]!, chunks[1]!], { contents: [K, I] });
  bad('trailer-before-entry-end', 'ERR_BUNDLE_SEQUENCE', 'the trailer follows initramfs chunk 0, which is not final', early);

  const reserved = base.slice();
  reserved[reserved.length - 32 + 3] = 1;
  bad('footer-reserved-nonzero', 'ERR_BUNDLE_RECORD', 'a reserved byte of the footer is 1', reserved);

  bad(
    'short-not-a-bundle',
    'ERR_BUNDLE_BAD_MAGIC',
    'four bytes of a zip file: shorter than a preamble, and not the start of one',
    Uint8Array.of(0x50, 0x4b, 0x03, 0x04),
  );
  bad('short-bundle-start', 'ERR_BUNDLE_TRUNCATED', 'the first 12 bytes of a bundle', base.subarray(0, 12));

  // Manifest rules a reader might otherwise guess at, each with honest digests around it.
  const m2json = new TextDecoder().decode(encodeManifest(m2));
  const withManifest = (json: string) => forgeBundle(e.hash, m2, chunks, { contents: [K, I], manifestBytes: enc.encode(json) });
  bad(
    'manifest-canonical-before-fields',
    'ERR_BUNDLE_MANIFEST',
    'a pretty-printed manifest whose boot config name is "../x": canonical form is checked before the fields',
    withManifest(JSON.stringify(JSON.parse(m2json.replace('"vecBoot"', '"../x"')), null, 1)),
  );
  bad(
    'manifest-negative-unknown-key',
    'ERR_BUNDLE_MANIFEST',
    'an unknown key holds -1: numbers are never negative',
    withManifest(m2json.replace('{', '{"aaa":-1,')),
  );
  bad(
    'manifest-created-feb-30',
    'ERR_BUNDLE_MANIFEST',
    'created is 2026-02-30T00:00:00Z, a day that does not exist',
    withManifest(m2json.replace('2026-11-25', '2026-02-30')),
  );
  bad(
    'manifest-c1-control',
    'ERR_BUNDLE_MANIFEST',
    'the description holds U+0085 (NEL), a C1 control character',
    withManifest(m2json.replace('"golden vector"', '"golden\u0085vector"')),
  );
  const astral = manifest(full);
  astral.source = '\u{1f427}'.repeat(256);
  ok(
    'ok-source-256-code-points',
    'the source label is 256 penguins: 256 code points (512 UTF-16 units), at the cap',
    forgeBundle(e.hash, astral, chunks, { contents: [K, I] }),
  );

  // Signatures: extension records of type 1 after the trailer (FORMAT.md, "Signature records").
  const sig1: Signer = { key: vectorKey(1), time: SIGNED_AT, comment: 'release team' };
  const sig2: Signer = { key: vectorKey(2), time: SIGNED_AT, comment: 'site security' };
  const signedOk = (name: string, description: string, bytes: Uint8Array, trusted = 'ok') =>
    v.push({ name, description, expect: { verify: 'ok', deep: 'ok', signatures: { verify: 'ok', trusted, import: trusted } }, bytes });
  const signedBad = (name: string, description: string, bytes: Uint8Array) =>
    v.push({
      name,
      description,
      expect: { verify: 'ok', deep: 'ok', signatures: { verify: 'ERR_BUNDLE_SIGNATURE', trusted: 'ERR_BUNDLE_SIGNATURE', import: 'ERR_BUNDLE_SIGNATURE' } },
      bytes,
    });
  const signed = await write(e, manifest(full), [K, I], [sig1]);
  signedOk('signed-good', 'signed by vector-signer-1, with a time and a comment', signed);
  signedOk('signed-two-signers', 'signed by vector-signer-1 and vector-signer-2', await write(e, manifest(full), [K, I], [sig1, sig2]));
  signedOk(
    'signed-untrusted-key',
    'signed by vector-signer-2 alone: valid, but not by the trusted key',
    await write(e, manifest(full), [K, I], [sig2]),
    'ERR_SIGNATURE_REQUIRED',
  );
  const sigAt = signatureRecordAt(signed);
  const badSig = signed.slice();
  badSig[sigAt + 8 + 4 + 32 + 10]! ^= 0x01;
  signedBad('signed-bad-signature', 'one bit flipped in the signature bytes of vector-signer-1', badSig);
  const otherSigned = await write(e, manifest(full, 'othBoot'), [K, I], [sig1]);
  const moved = concatBytes([signed.subarray(0, sigAt), otherSigned.subarray(signatureRecordAt(otherSigned), otherSigned.length)]);
  signedBad('signed-moved-signature', "vector-signer-1's signature record taken from another bundle (boot config othBoot)", moved);
  const cut = 60;
  const truncRec = signed.slice(sigAt, sigAt + 8 + cut);
  new DataView(truncRec.buffer).setUint32(4, cut, true);
  signedBad(
    'signed-truncated-record',
    'the signature record is cut to 60 bytes, its length field saying so: too short for an Ed25519 signature',
    concatBytes([signed.subarray(0, sigAt), truncRec, signed.subarray(signed.length - 32)]),
  );
  const unknownAlg = signed.slice();
  unknownAlg[sigAt + 8] = 7;
  signedOk(
    'signed-unknown-algorithm',
    'the only signature record names algorithm 7, which no bootport knows: listed as unsupported, not counted',
    unknownAlg,
    'ERR_SIGNATURE_REQUIRED',
  );

  await deltaVectors(e, v, K, I);
  return v;
}

/**
 * Delta entries (required feature bit 0): an image rebuilt from one carried piece and a run of
 * a base's first two pieces, and what a reader that decompresses refuses in a program. Their
 * runs are honest: the run digest is over the base's real pieces, so an importer holding the
 * base rebuilds exactly `carried ‖ base[0, run)`.
 */
async function deltaVectors(e: Engines, v: Vector[], K: Uint8Array, I: Uint8Array): Promise<void> {
  const baseContent = content(40_000, 7);
  const cuts: number[] = [];
  for (let at = 0; at < baseContent.length;) at += cuts[cuts.push(cutLength(baseContent, at, baseContent.length, DELTA_CHUNKER)) - 1]!;
  const run = cuts[0]! + cuts[1]!;
  const runDigest = e.hash.digestOf([e.hash.digestOf([baseContent.subarray(0, cuts[0])]), e.hash.digestOf([baseContent.subarray(cuts[0], run)])]);
  const carried = content(3000, 8);
  const rebuilt = concatBytes([carried, baseContent.subarray(0, run)]);
  const dataOp = (bytes: Uint8Array, digest = e.hash.digestOf([bytes])) => concatBytes([encodeDataOpHeader(digest, bytes.length), bytes]);
  const refOp = (over: Partial<{ base: number; offset: number; length: number; pieces: number }> = {}) =>
    encodeRefOp({ base: 0, offset: 0, length: run, pieces: 2, digest: runDigest, ...over });
  const claim = (over: Partial<DeltaClaim> = {}): DeltaClaim => ({
    chunker: DELTA_CHUNKER.name,
    base: [{ digest: digestString(e.hash.digestOf([baseContent])), size: baseContent.length }],
    size: rebuilt.length,
    digest: digestString(e.hash.digestOf([rebuilt])),
    carried: carried.length,
    referenced: run,
    ...over,
  });
  const m = (c: DeltaClaim) => {
    const base = manifest([
      { role: 'kernel', name: 'vmlinuz-6.1.0', size: K.length },
      { role: 'initramfs', name: 'initramfs-6.1.0.img', size: I.length },
      { role: 'image', name: 'vecImage' },
    ]);
    base.entries[2]!.delta = c;
    return base;
  };
  const program = concatBytes([dataOp(carried), refOp()]);
  const bundle = async (c: DeltaClaim, prog: Uint8Array) => write(e, m(c), [K, I, prog]);
  const push = (name: string, description: string, verify: string, deep: string, bytes: Uint8Array) =>
    v.push({ name, description, expect: { verify, deep }, bytes });
  const chunkOf = (prog: Uint8Array): ForgedChunk => ({ entry: 2, seq: 0, final: true, rawLength: prog.length, payload: e.codec.compress(prog, 3) });
  const forged = (c: DeltaClaim, prog: Uint8Array, required: number) =>
    forgeBundle(
      e.hash,
      m(c),
      [
        { entry: 0, seq: 0, final: true, rawLength: K.length, payload: e.codec.compress(K, 3) },
        { entry: 1, seq: 0, final: false, rawLength: CS, payload: e.codec.compress(I.subarray(0, CS), 3) },
        { entry: 1, seq: 1, final: true, rawLength: I.length - CS, payload: e.codec.compress(I.subarray(CS), 3) },
        chunkOf(prog),
      ],
      { contents: [K, I, prog], preamble: { required } },
    );
  push(
    'ok-delta',
    `an image as a delta: ${carried.length} bytes carried, then a run of the base's first two pieces (${run} bytes)`,
    'ok',
    'ok',
    await bundle(claim(), program),
  );
  push(
    'delta-unknown-operation',
    'a delta program whose second operation has tag 0x45: only a reader that decompresses sees it',
    'ok',
    'ERR_BUNDLE_DELTA',
    await bundle(claim(), concatBytes([dataOp(carried), Uint8Array.of(0x45), refOp().subarray(1)])),
  );
  push(
    'delta-reference-outside-base',
    'a reference that runs one byte past the end of its base',
    'ok',
    'ERR_BUNDLE_DELTA',
    await bundle(claim(), concatBytes([dataOp(carried), refOp({ offset: baseContent.length - run + 1 })])),
  );
  push(
    'delta-carried-digest-wrong',
    "a carried piece whose digest is not its bytes' (the chunk digests are honest)",
    'ok',
    'ERR_BUNDLE_DIGEST_MISMATCH',
    await bundle(claim(), concatBytes([dataOp(carried, new Uint8Array(32)), refOp()])),
  );
  push(
    'delta-totals-lie',
    'the manifest declares one more carried byte (and one more in all) than the program carries',
    'ok',
    'ERR_BUNDLE_SIZE_MISMATCH',
    await bundle(claim({ carried: carried.length + 1, size: rebuilt.length + 1 }), program),
  );
  push(
    'delta-cut-inside-operation',
    'a delta program that ends 10 bytes into its reference',
    'ok',
    'ERR_BUNDLE_DELTA',
    await bundle(claim(), concatBytes([dataOp(carried), refOp().subarray(0, 10)])),
  );
  const noBit = forged(claim(), program, 0);
  push('delta-without-feature-bit', 'an entry with a delta object while required feature bit 0 is clear', 'ERR_BUNDLE_MANIFEST', 'ERR_BUNDLE_MANIFEST', noBit);
}

/** Where the first extension record of a bundle written by this module starts. */
function signatureRecordAt(b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Number(dv.getBigUint64(b.length - 24, true) + dv.getBigUint64(b.length - 16, true));
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('needle not found');
}
