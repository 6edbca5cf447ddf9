import { nodeCrypto } from '../io/node-crypto.js';
import { equalBytes } from '../../format/bytes.js';
import { BootportError } from '../../format/errors.js';
import { encodeExtension } from '../../format/extension.js';
import { decodeSignatureRecord, encodeSignatureRecord, EXT_SIGNATURE, SIG_ALG_ED25519, signedMessage, type SignedStatement } from '../../format/signature.js';
import { fingerprintOf, publicKeyObject, type SigningKey } from './keys.js';

/** Who signs as a bundle is written: a key, and what goes into the signed message beside the digest. */
export interface Signer {
  key: SigningKey;
  comment?: string;
  /** The signing time; now, by default. */
  time?: string;
}

/** The extension record (header included) that `signer` makes for a bundle with this digest. */
export function signatureExtension(signer: Signer, bundleDigest: Uint8Array): Uint8Array {
  const statement: SignedStatement = {
    bundleDigest,
    time: signer.time ?? new Date().toISOString(),
    ...(signer.comment !== undefined ? { comment: signer.comment } : {}),
  };
  const message = signedMessage(statement);
  const signature = new Uint8Array(nodeCrypto().sign(null, message, signer.key.privateKey));
  return encodeExtension(EXT_SIGNATURE, encodeSignatureRecord(signer.key.raw, signature, message));
}

/** A key the checker trusts, by the name it was given. */
export interface TrustedKey {
  name: string;
  raw: Uint8Array;
}

export type SignatureStatus = 'valid' | 'invalid' | 'unsupported';

/** One signature record, checked: what `verify` lists. */
export interface SignatureCheck {
  status: SignatureStatus;
  /** Why it is not valid. */
  problem?: string;
  algorithm: string;
  fingerprint?: string;
  /** The name of the trusted key that made it, if one did. */
  trustedAs?: string;
  time?: string;
  comment?: string;
  /** The signed message as text, and the signature in base64: what an admin needs to check it with openssl. */
  message?: string;
  signature?: string;
}

export interface SignatureReport {
  signatures: SignatureCheck[];
  /** At least one valid signature by a trusted key. */
  trusted: boolean;
}

/**
 * Checks every signature record among `extensions` against the bundle digest the reader
 * computed (never the one the trailer claims). A record of an algorithm this bootport does not
 * know is listed as unsupported; a malformed one, a bad signature, or a message naming another
 * bundle is invalid.
 */
export function checkSignatures(
  extensions: readonly { type: number; body?: Uint8Array }[],
  bundleDigest: Uint8Array,
  trusted: readonly TrustedKey[] = [],
): SignatureReport {
  const signatures: SignatureCheck[] = [];
  for (const x of extensions) {
    if (x.type !== EXT_SIGNATURE || !x.body) continue;
    const r = decodeSignatureRecord(x.body);
    const algorithm = r.algorithm === SIG_ALG_ED25519 ? 'ed25519' : `unknown (${r.algorithm})`;
    const base: SignatureCheck = {
      status: 'invalid',
      algorithm,
      ...(r.publicKey ? { fingerprint: fingerprintOf(r.publicKey) } : {}),
      ...(r.statement?.time !== undefined ? { time: r.statement.time } : {}),
      ...(r.statement?.comment !== undefined ? { comment: r.statement.comment } : {}),
      ...(r.message && !r.problem ? { message: new TextDecoder().decode(r.message) } : {}),
      ...(r.signature ? { signature: Buffer.from(r.signature).toString('base64') } : {}),
    };
    if (r.algorithm !== SIG_ALG_ED25519) {
      signatures.push({ ...base, status: 'unsupported', problem: r.problem ?? 'unknown algorithm' });
      continue;
    }
    if (r.problem || !r.publicKey || !r.signature || !r.message || !r.statement) {
      signatures.push({ ...base, problem: r.problem ?? 'the signature record is incomplete' });
      continue;
    }
    if (!equalBytes(r.statement.bundleDigest, bundleDigest)) {
      signatures.push({ ...base, problem: 'the signed message names another bundle' });
      continue;
    }
    let ok = false;
    try {
      ok = nodeCrypto().verify(null, r.message, publicKeyObject(r.publicKey), r.signature);
    } catch {
      ok = false;
    }
    if (!ok) {
      signatures.push({ ...base, problem: 'the signature does not verify with its key' });
      continue;
    }
    const key = trusted.find((k) => equalBytes(k.raw, r.publicKey!));
    signatures.push({ ...base, status: 'valid', ...(key ? { trustedAs: key.name } : {}) });
  }
  return { signatures, trusted: signatures.some((s) => s.status === 'valid' && s.trustedAs !== undefined) };
}

/**
 * The verdict on a bundle's signatures: any invalid one fails it (a record altered after signing
 * is never passed over), and with `require`, so does the lack of a valid signature by a trusted key.
 */
export function signatureFailure(report: SignatureReport, require: boolean): BootportError | undefined {
  const bad = report.signatures.find((s) => s.status === 'invalid');
  if (bad) {
    return new BootportError(
      'ERR_BUNDLE_SIGNATURE',
      `a signature${bad.fingerprint ? ` by key ${bad.fingerprint}` : ''} is invalid: ${bad.problem ?? 'it does not verify'}`,
      {},
      'the bundle or its signature was altered after signing: get it again from its source',
    );
  }
  if (require && !report.trusted) {
    const n = report.signatures.filter((s) => s.status === 'valid').length;
    return new BootportError(
      'ERR_SIGNATURE_REQUIRED',
      report.signatures.length === 0
        ? 'the bundle is not signed, and a signature by a trusted key is required'
        : `none of the bundle's ${report.signatures.length} signature(s) is a valid one by a trusted key (${n} valid, by keys not trusted here)`,
      {},
      "have it signed by a trusted key, or trust the signer's public key after checking its fingerprint",
      { remedies: ['trust-key'] },
    );
  }
  return undefined;
}
