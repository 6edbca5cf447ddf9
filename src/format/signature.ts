import { concatBytes, digestString, view } from './bytes.js';
import { DIGEST_SIZE } from './constants.js';
import { isCreatedTime } from './manifest.js';
import { textProblem } from './text.js';

/**
 * Signature records: extension records of type 1 (FORMAT.md, "Signature records"). Each signs a
 * short text message that names the bundle digest, so the signature binds every byte of the
 * bundle before the trailer's end, and it is checked with nothing but the public key and
 * `openssl pkeyutl`. The text's first line separates the domain: no other protocol's signed
 * message begins with it. This module only encodes and decodes; the cryptography is stream/sign.
 */
export const EXT_SIGNATURE = 1;

export const SIG_ALG_ED25519 = 1;
export const ED25519_KEY_SIZE = 32;
export const ED25519_SIG_SIZE = 64;
/** Algorithm, reserved byte and message length, before the algorithm's own fields. */
export const SIG_FIXED_SIZE = 4;
export const MAX_SIGNED_MESSAGE = 4096;
export const MAX_SIGNER_COMMENT = 1024;
export const SIGNED_MESSAGE_CONTEXT = 'bootport signed bundle v1';

/** What a signer states, inside the signed message. */
export interface SignedStatement {
  /** The bundle digest, as 32 bytes. */
  bundleDigest: Uint8Array;
  /** When it was signed, in the manifest's `created` grammar. */
  time?: string;
  /** Who signed, or why: one line of text. */
  comment?: string;
}

/** A signature record as read; `problem` says why it cannot be checked, if it cannot. */
export interface SignatureRecord {
  algorithm: number;
  publicKey?: Uint8Array;
  signature?: Uint8Array;
  /** The signed message's bytes, exactly as signed. */
  message?: Uint8Array;
  statement?: SignedStatement;
  problem?: string;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The exact bytes a signer signs for `s`. */
export function signedMessage(s: SignedStatement): Uint8Array {
  if (s.bundleDigest.length !== DIGEST_SIZE) throw new RangeError('bundle digest must be 32 bytes');
  if (s.time !== undefined && !isCreatedTime(s.time)) throw new RangeError(`signing time ${s.time} is not YYYY-MM-DDTHH:MM:SS[.sss]Z`);
  if (s.comment !== undefined) {
    const why = textProblem(s.comment, { max: MAX_SIGNER_COMMENT });
    if (why) throw new RangeError(`signer comment ${why}`);
  }
  const lines = [
    SIGNED_MESSAGE_CONTEXT,
    `bundle ${digestString(s.bundleDigest)}`,
    ...(s.time !== undefined ? [`time ${s.time}`] : []),
    ...(s.comment !== undefined ? [`comment ${s.comment}`] : []),
  ];
  return utf8.encode(lines.map((l) => `${l}\n`).join(''));
}

/** Reads a signed message back, or says why it is not one this version writes. */
export function parseSignedMessage(b: Uint8Array): SignedStatement | string {
  let text: string;
  try {
    text = strictUtf8.decode(b);
  } catch {
    return 'the signed message is not UTF-8';
  }
  if (!text.endsWith('\n')) return 'the signed message does not end with a newline';
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== SIGNED_MESSAGE_CONTEXT) return `the signed message does not begin with "${SIGNED_MESSAGE_CONTEXT}"`;
  const m = /^bundle blake3:([0-9a-f]{64})$/.exec(lines[1] ?? '');
  if (!m) return 'the signed message does not name a bundle digest on its second line';
  const s: SignedStatement = { bundleDigest: Uint8Array.from(m[1]!.match(/../g)!.map((h) => parseInt(h, 16))) };
  let i = 2;
  if (lines[i]?.startsWith('time ')) s.time = lines[i++]!.slice(5);
  if (lines[i]?.startsWith('comment ')) s.comment = lines[i++]!.slice(8);
  if (i !== lines.length) return `the signed message has an unexpected line ${JSON.stringify(lines[i]?.slice(0, 40))}`;
  // The message must be exactly what signedMessage makes of what it states: one spelling each.
  try {
    const again = signedMessage(s);
    if (again.length !== b.length || !again.every((x, j) => x === b[j])) return 'the signed message is not in its one spelling';
  } catch (e) {
    return `the signed message is not valid: ${(e as Error).message}`;
  }
  return s;
}

/** The body of a type-1 extension record. */
export function encodeSignatureRecord(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Uint8Array {
  if (publicKey.length !== ED25519_KEY_SIZE || signature.length !== ED25519_SIG_SIZE) throw new RangeError('Ed25519 keys are 32 bytes, signatures 64');
  if (message.length < 1 || message.length > MAX_SIGNED_MESSAGE) throw new RangeError(`signed message is ${message.length} bytes, over ${MAX_SIGNED_MESSAGE}`);
  const head = new Uint8Array(SIG_FIXED_SIZE);
  head[0] = SIG_ALG_ED25519;
  view(head).setUint16(2, message.length, true);
  return concatBytes([head, publicKey, signature, message]);
}

/**
 * Decodes a type-1 body. A malformed one is not an error of the bundle, whose integrity stands
 * apart from its signatures: the record comes back with its `problem`, and the signature check
 * reports it as an invalid signature.
 */
export function decodeSignatureRecord(body: Uint8Array): SignatureRecord {
  if (body.length < SIG_FIXED_SIZE) return { algorithm: body[0] ?? 0, problem: `the signature record is ${body.length} bytes, too short for its header` };
  const algorithm = body[0]!;
  if (algorithm !== SIG_ALG_ED25519) return { algorithm, problem: `signature algorithm ${algorithm} is not one this bootport knows` };
  if (body[1] !== 0) return { algorithm, problem: 'the signature record reserved byte is not zero' };
  const m = view(body).getUint16(2, true);
  const need = SIG_FIXED_SIZE + ED25519_KEY_SIZE + ED25519_SIG_SIZE + m;
  if (m === 0 || m > MAX_SIGNED_MESSAGE) return { algorithm, problem: `the signed message length ${m} is outside 1..${MAX_SIGNED_MESSAGE}` };
  if (body.length !== need) return { algorithm, problem: `the signature record is ${body.length} bytes, its fields need ${need}` };
  let at = SIG_FIXED_SIZE;
  const publicKey = body.slice(at, (at += ED25519_KEY_SIZE));
  const signature = body.slice(at, (at += ED25519_SIG_SIZE));
  const message = body.slice(at);
  const parsed = parseSignedMessage(message);
  if (typeof parsed === 'string') return { algorithm, publicKey, signature, message, problem: parsed };
  return { algorithm, publicKey, signature, message, statement: parsed };
}
