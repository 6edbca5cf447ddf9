import { digestString } from '../format/bytes.js';
import type { DeltaClaim } from '../format/delta.js';
import type { Manifest } from '../format/manifest.js';
import type { TrailerEntry } from '../format/trailer.js';
import { decodeSignatureRecord, EXT_SIGNATURE, SIG_ALG_ED25519 } from '../format/signature.js';
import { fingerprintOf } from '../stream/sign/keys.js';
import type { SignatureCheck } from '../stream/sign/signatures.js';
import { humanBytes, oneLine, table } from './text.js';

/** One view of a bundle for inspect and verify, as JSON and as text. */
export interface BundleView {
  bundle_id: string;
  created: string;
  tool: string;
  source: string;
  size: number;
  header_hash: string;
  bundle_digest: string;
  boot_config: Manifest['boot_config'];
  entries: {
    role: string;
    name: string;
    size: number;
    compressed: number;
    ratio: number;
    chunks: number;
    chunk_size: number;
    level: number;
    digest: string;
    meta?: Record<string, string>;
    /** A delta entry: what it rebuilds, how much it carries and references, and from which held blobs. */
    delta?: DeltaClaim;
  }[];
}

export function bundleView(manifest: Manifest, entries: TrailerEntry[], headerHash: Uint8Array, bundleDigest: Uint8Array, size: number): BundleView {
  return {
    bundle_id: manifest.bundle_id,
    created: manifest.created,
    tool: `${manifest.tool.name} ${manifest.tool.version}`,
    source: manifest.source,
    size,
    header_hash: digestString(headerHash),
    bundle_digest: digestString(bundleDigest),
    boot_config: manifest.boot_config,
    entries: manifest.entries.map((e, i) => {
      const t = entries[i]!;
      return {
        role: e.role,
        name: e.name,
        size: t.rawBytes,
        compressed: t.compBytes,
        ratio: t.compBytes === 0 ? 0 : Math.round((t.rawBytes / t.compBytes) * 100) / 100,
        chunks: t.chunks,
        chunk_size: e.chunk_size,
        level: e.level,
        digest: digestString(t.contentDigest),
        ...(e.meta ? { meta: e.meta } : {}),
        ...(e.delta ? { delta: e.delta } : {}),
      };
    }),
  };
}

export function viewText(v: BundleView): string {
  const bc = v.boot_config;
  const lines = [
    `bundle       ${v.bundle_id}  (${humanBytes(v.size)})`,
    `created      ${v.created} by ${v.tool} on ${v.source}`,
    `boot config  ${bc.name}  style ${bc.boot_style}${bc.release ? `  release ${bc.release}` : ''}`,
    `cmdline      ${bc.cmdline || '(empty)'}`,
    ...(bc.description ? [`description  ${oneLine(bc.description)}`] : []),
    `digest       ${v.bundle_digest}`,
    '',
    table([
      ['ROLE', 'NAME', 'SIZE', 'COMPRESSED', 'RATIO', 'CHUNKS', 'CONTENT DIGEST'],
      ...v.entries.map((e) => [
        e.role,
        e.name,
        humanBytes(e.size),
        humanBytes(e.compressed),
        `${e.ratio.toFixed(2)}x`,
        String(e.chunks),
        `blake3:${e.digest.slice(7, 23)}…`,
      ]),
    ]),
  ];
  if (!v.entries.some((e) => e.role === 'image')) lines.push('', 'no image in this bundle (exported with --no-recurse)');
  const deltas = v.entries.filter((e) => e.delta);
  if (deltas.length) {
    lines.push('', 'a delta: its entries rebuild only in a store that holds their bases (import, or verify --deep --against-store)');
    for (const e of deltas) {
      const d = e.delta!;
      lines.push(
        `  ${e.role.padEnd(9)} ${e.name}: rebuilds ${humanBytes(d.size)} (blake3:${d.digest.slice(7, 23)}…): ` +
          `${humanBytes(d.carried)} carried, ${humanBytes(d.referenced)} referenced from ${d.base.map((b) => `blake3:${b.digest.slice(7, 23)}…`).join(', ')}`,
      );
    }
  }
  return lines.join('\n');
}

/** A bundle's signatures as verify lists them. */
export function signaturesText(checks: readonly SignatureCheck[], trustGiven: boolean): string {
  if (checks.length === 0) return 'signatures   none';
  return [
    `signatures   ${checks.length}`,
    ...checks.map((c) => {
      const who = [c.fingerprint ?? '(no key)', c.comment ? `"${c.comment}"` : '', c.time ?? ''].filter(Boolean).join('  ');
      const trust = c.status !== 'valid' ? `: ${c.problem ?? ''}` : c.trustedAs ? `  trusted as ${c.trustedAs}` : trustGiven ? '  NOT trusted' : '';
      return `  ${c.status.padEnd(11)}  ${c.algorithm}  ${who}${trust}`;
    }),
  ].join('\n');
}

/** What signature records claim, read without checking any of them (inspect). */
export function claimedSigners(
  extensions: readonly { type: number; body: Uint8Array }[],
): { fingerprint?: string; algorithm: string; comment?: string; time?: string }[] {
  return extensions
    .filter((x) => x.type === EXT_SIGNATURE)
    .map((x) => {
      const r = decodeSignatureRecord(x.body);
      return {
        algorithm: r.algorithm === SIG_ALG_ED25519 ? 'ed25519' : `unknown (${r.algorithm})`,
        ...(r.publicKey ? { fingerprint: fingerprintOf(r.publicKey) } : {}),
        ...(r.statement?.comment !== undefined ? { comment: r.statement.comment } : {}),
        ...(r.statement?.time !== undefined ? { time: r.statement.time } : {}),
      };
    });
}
