import { canonicalStringify, type Json } from './canonical-json.js';
import { DIGEST_RE } from './bytes.js';
import { validateDelta, type DeltaClaim } from './delta.js';
import { REQ_FEATURE_DELTA, MAX_CHUNK_SIZE, MAX_ENTRIES, MAX_LEVEL, MAX_MANIFEST_SIZE, MIN_CHUNK_SIZE, MIN_ENTRIES, MIN_LEVEL } from './constants.js';
import { BootportError, bundleError } from './errors.js';
import { nameProblem } from './names.js';
import type { Preamble } from './preamble.js';
import { textProblem, type TextRule } from './text.js';

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
  /** Present when the entry's content is a delta program (required feature bit 0). */
  delta?: DeltaClaim;
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
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{3})?Z$/;
const MAX_MAP_KEYS = 64;

/**
 * `created`: `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ`, a real instant of the
 * proleptic Gregorian calendar from year 1 to 9999 with no leap second, so that every reader
 * accepts the same strings whatever its date library allows.
 */
export function isCreatedTime(v: unknown): boolean {
  const m = typeof v === 'string' ? TIME_RE.exec(v) : null;
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return y >= 1 && days !== undefined && d >= 1 && d <= days && h <= 23 && mi <= 59 && sec <= 59;
}

function bad(msg: string): BootportError {
  return bundleError('ERR_BUNDLE_MANIFEST', `manifest: ${msg}`, { offset: 24 });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(v: unknown, path: string, rule: TextRule = {}): string {
  const why = textProblem(v, rule);
  if (why !== undefined) throw bad(`${path} ${why}`);
  return v as string;
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
  if (!isCreatedTime(v.created)) throw bad('created must be a UTC time YYYY-MM-DDTHH:MM:SS[.sss]Z that exists');
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
  if (v.entries.length < MIN_ENTRIES || v.entries.length > MAX_ENTRIES) throw bad(`must have ${MIN_ENTRIES} to ${MAX_ENTRIES} entries`);
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
    if (e.delta !== undefined) validateDelta(e.delta, `${p}.delta`, bad);
  });
  if (!seen.has('kernel') || !seen.has('initramfs')) throw bad('entries must include a kernel and an initramfs');
  return v as unknown as Manifest;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeManifest(m: Manifest): Uint8Array {
  validateManifest(m);
  let json: string;
  try {
    json = canonicalStringify(m as unknown as Json);
  } catch (e) {
    throw bad(`cannot be encoded: ${(e as Error).message}`);
  }
  const bytes = utf8.encode(json);
  if (bytes.length > MAX_MANIFEST_SIZE) throw bad(`encodes to ${bytes.length} bytes, over the ${MAX_MANIFEST_SIZE} byte limit`);
  return bytes;
}

/**
 * Decodes in the order FORMAT.md fixes: UTF-8, JSON, canonical form, then the shape field by
 * field. Canonical form comes before the shape, so a manifest that is not canonical is refused as
 * such whatever its fields hold.
 */
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
  let again: string;
  try {
    again = canonicalStringify(parsed as Json);
  } catch (e) {
    throw bad(`is not canonical: ${(e as Error).message}`);
  }
  // Duplicate keys, white space, key order, number spelling and escaping all show up here.
  if (again !== textValue) throw bad('is not in canonical form (sorted keys, no white space, integers only, no duplicate keys)');
  return validateManifest(parsed);
}

/** What an entry holds once read: its own size and digest, or those its program rebuilds. */
export function contentOf(e: ManifestEntry): { size?: number; digest?: string } {
  if (e.delta) return { size: e.delta.size, digest: e.delta.digest };
  return { ...(e.size !== undefined ? { size: e.size } : {}), ...(e.digest !== undefined ? { digest: e.digest } : {}) };
}

/** Required feature bit 0 is set exactly when some entry is a delta entry. */
export function checkDeltaFeature(p: Preamble, m: Manifest): void {
  const has = m.entries.some((e) => e.delta !== undefined);
  const bit = (p.required & REQ_FEATURE_DELTA) !== 0;
  if (has !== bit) {
    throw bundleError(
      'ERR_BUNDLE_MANIFEST',
      has
        ? 'manifest: an entry is a delta but the preamble does not set required feature bit 0'
        : 'manifest: required feature bit 0 is set but no entry is a delta',
      { offset: 12 },
    );
  }
}

export function entryLabel(m: Manifest, index: number): string {
  const e = m.entries[index];
  return e ? `${index} (${e.role} ${e.name})` : String(index);
}
