import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../io/node-crypto.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BootportError } from '../../format/errors.js';
import { nameProblem } from '../../format/names.js';
import { ED25519_KEY_SIZE } from '../../format/signature.js';
import { exists, removeQuietly, writeFileAtomic } from '../io/files.js';

/**
 * Ed25519 keys, from node:crypto. A public key file is one line, in the spirit of minisign and
 * OpenSSH: `bootport-ed25519 BASE64 NAME`. A private key file is PKCS#8 PEM, which openssl reads,
 * mode 0600. Key material never appears in a message or an error: errors name the file.
 */
export const PUBLIC_KEY_TAG = 'bootport-ed25519';

/** The DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): the raw key follows it. */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

export interface PublicKeyInfo {
  /** The 32-byte Ed25519 key. */
  raw: Uint8Array;
  /** The name or comment the key file carries. */
  comment: string;
  fingerprint: string;
}

export interface SigningKey extends PublicKeyInfo {
  privateKey: KeyObject;
}

/**
 * What an admin reads aloud to check a key: the first 16 bytes of SHA-256 over the raw key, as
 * 8 groups of 4 lowercase hex digits. `openssl` or `sha256sum` on the 32 raw bytes gives it too.
 */
export function fingerprintOf(raw: Uint8Array): string {
  const hex = nodeCrypto().createHash('sha256').update(raw).digest('hex').slice(0, 32);
  return hex.match(/..../g)!.join('-');
}

export const FINGERPRINT_RE = /^[0-9a-f]{4}(?:-[0-9a-f]{4}){7}$/;

export function publicKeyObject(raw: Uint8Array): KeyObject {
  return nodeCrypto().createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function rawOf(k: KeyObject): Uint8Array {
  const der = k.export({ type: 'spki', format: 'der' });
  return new Uint8Array(der.subarray(der.length - ED25519_KEY_SIZE));
}

function keyError(path: string, why: string, hint?: string): BootportError {
  return new BootportError('ERR_KEY', `${path}: ${why}`, {}, hint);
}

export function formatPublicKey(raw: Uint8Array, name: string): string {
  return `${PUBLIC_KEY_TAG} ${Buffer.from(raw).toString('base64')} ${name}\n`;
}

/** Parses the text of a public key file; `path` only names it in errors. */
export function parsePublicKey(text: string, path: string): PublicKeyInfo {
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  const m = line ? /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: (.*))?$/.exec(line.trim()) : null;
  if (!m) throw keyError(path, `is not a public key file ("${PUBLIC_KEY_TAG} BASE64 NAME")`);
  if (m[1] !== PUBLIC_KEY_TAG) throw keyError(path, `holds a ${m[1]!.slice(0, 40)} key; bootport keys are ${PUBLIC_KEY_TAG}`);
  const raw = new Uint8Array(Buffer.from(m[2]!, 'base64'));
  if (raw.length !== ED25519_KEY_SIZE) throw keyError(path, `holds a key of ${raw.length} bytes; an Ed25519 public key is ${ED25519_KEY_SIZE}`);
  return { raw, comment: m[3] ?? '', fingerprint: fingerprintOf(raw) };
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw keyError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function readPublicKey(path: string): Promise<PublicKeyInfo> {
  const text = await readKeyFile(path);
  // A private key given where a public one is asked for still names its public half.
  if (text.includes('PRIVATE KEY-----')) {
    const k = await readSigningKey(path);
    return { raw: k.raw, comment: k.comment, fingerprint: k.fingerprint };
  }
  return parsePublicKey(text, path);
}

/** Reads a private key file, refusing one that others may read, as ssh does. */
export async function readSigningKey(path: string): Promise<SigningKey> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (e) {
    throw keyError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (mode & 0o077) {
    throw keyError(path, `is a private key that others may read (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`, `chmod 600 ${path}`);
  }
  const text = await readKeyFile(path);
  let privateKey: KeyObject;
  try {
    privateKey = nodeCrypto().createPrivateKey({ key: text, format: 'pem' });
  } catch {
    // The parser's message may quote the file; say only what it is not.
    throw keyError(path, 'is not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw keyError(path, `holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key; bootport signs with Ed25519`);
  const raw = rawOf(nodeCrypto().createPublicKey(privateKey));
  const name = /\/?([^/]+?)(?:\.key)?$/.exec(path)?.[1] ?? '';
  return { privateKey, raw, comment: name, fingerprint: fingerprintOf(raw) };
}

/** Writes NAME.key (0600) and NAME.pub in `dir`, refusing to replace either. */
export async function generateKeyPair(name: string, dir: string): Promise<{ keyPath: string; pubPath: string; fingerprint: string }> {
  const why = nameProblem(name);
  if (why) throw new BootportError('ERR_USAGE', `key name ${JSON.stringify(name)} ${why}`);
  const { privateKey, publicKey } = nodeCrypto().generateKeyPairSync('ed25519');
  const raw = rawOf(publicKey);
  const keyPath = join(dir, `${name}.key`);
  const pubPath = join(dir, `${name}.pub`);
  const one = async function* (s: string): AsyncGenerator<Uint8Array> {
    yield new TextEncoder().encode(s);
  };
  // Both names are checked first, and a private key whose public half cannot be written goes:
  // a failure leaves neither file, never half a pair.
  for (const p of [keyPath, pubPath]) {
    if (await exists(p)) throw new BootportError('ERR_EXISTS', `${p} exists`, {}, 'overwrite it', { remedies: ['overwrite'] });
  }
  await writeFileAtomic(keyPath, one(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), false, 'bootport key generate', 0o600);
  try {
    await writeFileAtomic(pubPath, one(formatPublicKey(raw, name)), false, 'bootport key generate');
  } catch (e) {
    await removeQuietly(keyPath);
    throw e;
  }
  return { keyPath, pubPath, fingerprint: fingerprintOf(raw) };
}
