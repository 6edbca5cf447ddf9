import { canonicalStringify, type Json } from './canonical-json.js';
import { DIGEST_RE } from './bytes.js';
import { MAX_CHUNK_SIZE, MAX_ENTRIES, MAX_LEVEL, MAX_MANIFEST_SIZE, MIN_CHUNK_SIZE, MIN_LEVEL } from './constants.js';
import { BootportError, bundleError } from './errors.js';
import { nameProblem } from './names.js';

export const ROLES = ['kernel', 'initramfs', 'image'] as const;
export type Role = (typeof ROLES)[number];

export const BOOT_STYLES = ['rwram', 'roram', 'iscsi', 'next', 'disked', 'sanboot', 'live'] as const;
export type BootStyle = (typeof BOOT_STYLES)[number];

export const CODECS = ['zstd'] as const;
export type CodecName = (typeof CODECS)[number];

export interface ManifestEntry {
  role: Role;
  /** A label: the kernel or initramfs file name, or the image name. */
  name: string;
  /** Uncompressed size, when the writer knew it in advance. A claim, checked against the trailer. */
  size?: number;
  /** `blake3:<hex>` of the uncompressed content, when known in advance. A claim, checked likewise. */
  digest?: string;
  chunk_size: number;
  codec: CodecName;
  level: number;
  /** Free string fields describing the object (image: description, distro, parent). */
  meta?: Record<string, string>;
}

export interface BootConfigRecord {
  name: string;
  cmdline: string;
  description: string;
  boot_style: BootStyle;
  /** The kernel's version string, when the exporter knew it. */
  release?: string;
  /** Any other attributes the source cluster kept on the boot config. */
  attributes: Record<string, string>;
}

export interface Manifest {
  bundle_id: string;
  created: string;
  tool: { name: string; version: string };
  source: string;
  boot_config: BootConfigRecord;
  entries: ManifestEntry[];
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;
const MAX_TEXT = 4096;
const MAX_MAP_KEYS = 64;

function bad(msg: string): BootportError {
  return bundleError('ERR_BUNDLE_MANIFEST', `manifest: ${msg}`, { offset: 24 });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(v: unknown, path: string, opts: { multiline?: boolean; max?: number } = {}): string {
  if (typeof v !== 'string') throw bad(`${path} must be a string`);
  if (v.length > (opts.max ?? MAX_TEXT)) throw bad(`${path} is longer than ${opts.max ?? MAX_TEXT} characters`);
  // Control characters in labels and command lines end up in terminals and boot loaders.
  const allowed = opts.multiline ? /^[^\u0000-\u0008\u000b-\u001f\u007f]*$/ : /^[^\u0000-\u001f\u007f]*$/;
  if (!allowed.test(v)) throw bad(`${path} contains a control character`);
  return v;
}

function name(v: unknown, path: string): string {
  const why = nameProblem(v);
  if (why !== undefined) {
    throw bundleError('ERR_BUNDLE_NAME', `manifest: ${path} ${JSON.stringify(v)} ${why}`, { offset: 24 });
  }
  return v as string;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw bad(`${path} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function stringMap(v: unknown, path: string): Record<string, string> {
  if (!isObject(v)) throw bad(`${path} must be an object`);
  const keys = Object.keys(v);
  if (keys.length > MAX_MAP_KEYS) throw bad(`${path} has more than ${MAX_MAP_KEYS} keys`);
  for (const k of keys) {
    name(k, `${path} key`);
    text(v[k], `${path}.${k}`, { multiline: true });
  }
  return v as Record<string, string>;
}

function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw bad(`${path} must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/**
 * Checks the shape of a parsed manifest. Unknown keys are allowed and kept (so a newer minor
 * version can add informative fields), but nothing vital may hide in them: vital changes use
 * the preamble's required feature bits.
 */
export function validateManifest(v: unknown): Manifest {
  if (!isObject(v)) throw bad('top level must be an object');
  if (typeof v.bundle_id !== 'string' || !UUID_RE.test(v.bundle_id)) throw bad('bundle_id must be a lowercase UUID');
  if (typeof v.created !== 'string' || !TIME_RE.test(v.created) || Number.isNaN(Date.parse(v.created))) {
    throw bad('created must be an ISO 8601 UTC time');
  }
  if (!isObject(v.tool)) throw bad('tool must be an object');
  text(v.tool.name, 'tool.name', { max: 128 });
  text(v.tool.version, 'tool.version', { max: 128 });
  text(v.source, 'source', { max: 256 });

  const bc = v.boot_config;
  if (!isObject(bc)) throw bad('boot_config must be an object');
  name(bc.name, 'boot_config.name');
  text(bc.cmdline, 'boot_config.cmdline');
  text(bc.description, 'boot_config.description', { multiline: true });
  oneOf(bc.boot_style, 'boot_config.boot_style', BOOT_STYLES);
  if (bc.release !== undefined) text(bc.release, 'boot_config.release', { max: 256 });
  stringMap(bc.attributes, 'boot_config.attributes');

  if (!Array.isArray(v.entries)) throw bad('entries must be an array');
  if (v.entries.length > MAX_ENTRIES) throw bad(`more than ${MAX_ENTRIES} entries`);
  const seen = new Set<string>();
  v.entries.forEach((e: unknown, i: number) => {
    const p = `entries[${i}]`;
    if (!isObject(e)) throw bad(`${p} must be an object`);
    const role = oneOf(e.role, `${p}.role`, ROLES);
    if (seen.has(role)) throw bad(`${p}.role ${role} appears twice`);
    seen.add(role);
    name(e.name, `${p}.name`);
    if (e.size !== undefined) int(e.size, `${p}.size`, 0, Number.MAX_SAFE_INTEGER);
    if (e.digest !== undefined && (typeof e.digest !== 'string' || !DIGEST_RE.test(e.digest))) {
      throw bad(`${p}.digest must be "blake3:" and 64 lowercase hex digits`);
    }
    const cs = int(e.chunk_size, `${p}.chunk_size`, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE);
    if ((cs & (cs - 1)) !== 0) throw bad(`${p}.chunk_size must be a power of two`);
    oneOf(e.codec, `${p}.codec`, CODECS);
    int(e.level, `${p}.level`, MIN_LEVEL, MAX_LEVEL);
    if (e.meta !== undefined) stringMap(e.meta, `${p}.meta`);
  });
  if (!seen.has('kernel') || !seen.has('initramfs')) throw bad('entries must include a kernel and an initramfs');
  return v as unknown as Manifest;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeManifest(m: Manifest): Uint8Array {
  validateManifest(m);
  const bytes = utf8.encode(canonicalStringify(m as unknown as Json));
  if (bytes.length > MAX_MANIFEST_SIZE) throw bad(`encodes to ${bytes.length} bytes, over the ${MAX_MANIFEST_SIZE} byte limit`);
  return bytes;
}

export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_SIZE) throw bad(`is ${bytes.length} bytes, over the ${MAX_MANIFEST_SIZE} byte limit`);
  let textValue: string;
  let parsed: unknown;
  try {
    textValue = strictUtf8.decode(bytes);
    parsed = JSON.parse(textValue);
  } catch (e) {
    throw bad(`is not UTF-8 JSON: ${(e as Error).message}`);
  }
  const m = validateManifest(parsed);
  let again: string;
  try {
    again = canonicalStringify(parsed as Json);
  } catch (e) {
    throw bad(`is not canonical: ${(e as Error).message}`);
  }
  // Duplicate keys, white space, key order or number spelling all show up here.
  if (again !== textValue) throw bad('is not in canonical form (sorted keys, no white space, integers only, no duplicate keys)');
  return m;
}

export function entryLabel(m: Manifest, index: number): string {
  const e = m.entries[index];
  return e ? `${index} (${e.role} ${e.name})` : String(index);
}
