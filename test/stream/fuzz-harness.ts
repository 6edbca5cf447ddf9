/**
 * The bundle fuzzer (issue 8). Mutations: bit flips, insertions, deletions, truncations and
 * splices of two bundles; and "re-forged" mutations, which change a payload, a chunk's fields, the
 * manifest, the chunk order, the trailer, the footer or the extensions and then recompute every
 * digest that would catch it, so the mutation reaches the deeper rules. Each mutated bundle goes
 * through verify, verify --deep, inspect, unpack and import, and each must end in a coded error
 * or a correct result: no uncaught exception, no hang, no memory past the cap, and no altered
 * content accepted.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { concatBytes, digestString, equalBytes } from '../../src/format/bytes.js';
import {
  CHUNK_FIELDS_SIZE,
  CHUNK_HEADER_SIZE,
  DIGEST_SIZE,
  FOOTER_SIZE,
  OPT_FEATURE_EXTENSIONS,
  PREAMBLE_SIZE,
  TAG_CHUNK,
  TAG_TRAILER,
} from '../../src/format/constants.js';
import { ERROR_CODES } from '../../src/cli/exit.js';
import { encodeExtension } from '../../src/format/extension.js';
import { encodeFooter } from '../../src/format/footer.js';
import { decodeChunkHeader } from '../../src/format/chunk.js';
import { decodeManifest } from '../../src/format/manifest.js';
import { decodeTrailer, encodeTrailerBody } from '../../src/format/trailer.js';
import type { Engines } from '../../src/stream/engine/engines.js';
import { readEnds } from '../../src/stream/bundle/inspect.js';
import { verifyBundle } from '../../src/stream/bundle/reader.js';
import { unpackBundle } from '../../src/stream/ops/unpack.js';
import { importBundle } from '../../src/store/import.js';
import type { Store } from '../../src/store/store.js';
import { fromBytes } from '../helpers.js';

/** A valid bundle taken apart, to be changed and put back together. */
interface Parts {
  pre: Uint8Array;
  manifest: Uint8Array;
  chunks: { fields: Uint8Array; digest: Uint8Array; payload: Uint8Array }[];
  trailerBody: Uint8Array;
  bundleDigest: Uint8Array;
  ext: Uint8Array[];
  footer: Uint8Array;
}

function parse(b: Uint8Array): Parts {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const manLen = dv.getUint32(20, true);
  let at = PREAMBLE_SIZE + manLen;
  const chunks: Parts['chunks'] = [];
  while (b[at] === TAG_CHUNK) {
    const h = decodeChunkHeader(b.subarray(at, at + CHUNK_HEADER_SIZE), at);
    chunks.push({
      fields: b.slice(at, at + CHUNK_FIELDS_SIZE),
      digest: b.slice(at + CHUNK_FIELDS_SIZE, at + CHUNK_HEADER_SIZE),
      payload: b.slice(at + CHUNK_HEADER_SIZE, at + CHUNK_HEADER_SIZE + h.compLength),
    });
    at += CHUNK_HEADER_SIZE + h.compLength;
  }
  if (b[at] !== TAG_TRAILER) throw new Error('base bundle: no trailer where expected');
  const footerAt = b.length - FOOTER_SIZE;
  const trailerLen = Number(new DataView(b.buffer, b.byteOffset + footerAt).getBigUint64(16, true));
  return {
    pre: b.slice(0, PREAMBLE_SIZE),
    manifest: b.slice(PREAMBLE_SIZE, PREAMBLE_SIZE + manLen),
    chunks,
    trailerBody: b.slice(at, at + trailerLen - DIGEST_SIZE),
    bundleDigest: b.slice(at + trailerLen - DIGEST_SIZE, at + trailerLen),
    ext: at + trailerLen < footerAt ? [b.slice(at + trailerLen, footerAt)] : [],
    footer: b.slice(footerAt),
  };
}

function serialize(p: Parts): Uint8Array {
  return concatBytes([p.pre, p.manifest, ...p.chunks.flatMap((c) => [c.fields, c.digest, c.payload]), p.trailerBody, p.bundleDigest, ...p.ext, p.footer]);
}

/**
 * Recomputes what a hostile writer who knows the format would: the header hash, every chunk
 * digest, the trailer's header hash (and, with `honest`, its seek table and totals, and content
 * digests where the chunks still decompress), the bundle digest and the footer.
 */
function reforge(p: Parts, e: Engines, honest: boolean): Parts {
  const dvp = new DataView(p.pre.buffer, p.pre.byteOffset, p.pre.byteLength);
  dvp.setUint32(20, p.manifest.length, true);
  const hh = e.hash.digestOf([p.pre, p.manifest]);
  const chunks = p.chunks.map((c) => ({ ...c, digest: e.hash.digestOf([hh, c.fields, c.payload]) }));
  let body: Uint8Array = p.trailerBody.slice();
  try {
    const old = decodeTrailer(concatBytes([p.trailerBody, new Uint8Array(DIGEST_SIZE)]));
    if (honest) {
      const entries = old.entries.map((t) => ({ ...t, chunks: 0, rawBytes: 0, compBytes: 0 }));
      const content: Uint8Array[][] = entries.map(() => []);
      const seekTable: number[] = [];
      let off = PREAMBLE_SIZE + p.manifest.length;
      for (const c of chunks) {
        seekTable.push(off);
        off += CHUNK_HEADER_SIZE + c.payload.length;
        const fdv = new DataView(c.fields.buffer, c.fields.byteOffset, c.fields.byteLength);
        const entry = fdv.getUint16(2, true);
        const t = entries[entry];
        if (!t) continue;
        t.chunks++;
        t.rawBytes += fdv.getUint32(4, true);
        t.compBytes += c.payload.length;
        try {
          content[entry]!.push(e.codec.decompress(c.payload, fdv.getUint32(4, true)));
        } catch {
          // Not a frame any more: the content digest stays as it was.
        }
      }
      entries.forEach((t, i) => {
        if (content[i]!.length === t.chunks) t.contentDigest = e.hash.digestOf(content[i]!);
      });
      body = encodeTrailerBody({ entries, seekTable, headerHash: hh });
    } else body.set(hh, body.length - DIGEST_SIZE);
  } catch {
    // A trailer that no longer decodes keeps its bytes.
  }
  const bundleDigest = e.hash.digestOf([p.pre, p.manifest, ...chunks.map((c) => concatBytes([c.fields, c.digest])), body]);
  const trailerOffset = PREAMBLE_SIZE + p.manifest.length + chunks.reduce((a, c) => a + CHUNK_HEADER_SIZE + c.payload.length, 0);
  return { ...p, chunks, trailerBody: body, bundleDigest, footer: encodeFooter({ trailerOffset, trailerLength: body.length + DIGEST_SIZE }) };
}

export class Rng {
  constructor(private x: number) {}
  next(): number {
    this.x = (Math.imul(this.x, 1103515245) + 12345) >>> 0;
    return this.x / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

export interface Mutation {
  kind: string;
  bytes: Uint8Array;
  /** Re-forged content digests: an accepted bundle may hold content other than the original's. */
  contentMayChange: boolean;
}

const flipIn = (r: Rng, b: Uint8Array): Uint8Array => {
  const c = b.slice();
  if (c.length) c[r.int(c.length)]! ^= 1 << r.int(8);
  return c;
};

export function mutate(r: Rng, e: Engines, a: Uint8Array, b: Uint8Array): Mutation {
  const k = r.int(12);
  const raw = (kind: string, bytes: Uint8Array): Mutation => ({ kind, bytes, contentMayChange: false });
  switch (k) {
    case 0:
      return raw('flip', flipIn(r, a));
    case 1: {
      const at = r.int(a.length + 1);
      return raw('insert', concatBytes([a.subarray(0, at), r.bytes(1 + r.int(16)), a.subarray(at)]));
    }
    case 2: {
      const at = r.int(a.length);
      return raw('delete', concatBytes([a.subarray(0, at), a.subarray(Math.min(a.length, at + 1 + r.int(64)))]));
    }
    case 3:
      return raw('splice', concatBytes([a.subarray(0, r.int(a.length)), b.subarray(r.int(b.length))]));
    case 4:
      return raw('truncate', a.subarray(0, r.int(a.length)));
  }
  const p = parse(a);
  const c = p.chunks[r.int(p.chunks.length)]!;
  switch (k) {
    case 5:
      c.payload = flipIn(r, c.payload);
      return { kind: 'reforged payload', bytes: serialize(reforge(p, e, true)), contentMayChange: true };
    case 6: {
      // Any field but the tag: flags, entry, lengths, sequence.
      const f = c.fields.slice();
      f[1 + r.int(CHUNK_FIELDS_SIZE - 1)]! ^= 1 << r.int(8);
      c.fields = f;
      return { kind: 'reforged chunk fields', bytes: serialize(reforge(p, e, r.int(2) === 0)), contentMayChange: false };
    }
    case 7: {
      const text = new TextDecoder().decode(p.manifest);
      // Edit a number or a character of the JSON, or flip a byte of it.
      const m = [...text.matchAll(/\d+/g)];
      if (m.length && r.int(2) === 0) {
        const pick = m[r.int(m.length)]!;
        const v = [String(Number(pick[0]) + 1), '0', '-1', '1e3', String(2 ** 53), '18446744073709551616'][r.int(6)]!;
        p.manifest = new TextEncoder().encode(text.slice(0, pick.index) + v + text.slice(pick.index + pick[0].length));
      } else p.manifest = flipIn(r, p.manifest);
      return { kind: 'reforged manifest', bytes: serialize(reforge(p, e, true)), contentMayChange: false };
    }
    case 8: {
      const i = r.int(p.chunks.length);
      const j = r.int(p.chunks.length);
      const op = r.int(3);
      if (op === 0) [p.chunks[i], p.chunks[j]] = [p.chunks[j]!, p.chunks[i]!];
      else if (op === 1) p.chunks.splice(i, 0, { ...p.chunks[j]! });
      else p.chunks.splice(i, 1);
      return { kind: 'reforged chunk order', bytes: serialize(reforge(p, e, true)), contentMayChange: false };
    }
    case 9:
      p.trailerBody = flipIn(r, p.trailerBody);
      return { kind: 'reforged trailer', bytes: serialize(reforge(p, e, false)), contentMayChange: false };
    case 10:
      p.footer = flipIn(r, p.footer);
      return raw('footer', serialize(p));
    default: {
      // Extension records, announced or not, of random type and size.
      if (r.int(2)) p.pre[16]! |= OPT_FEATURE_EXTENSIONS;
      for (let i = 0, n = 1 + r.int(3); i < n; i++) p.ext.push(encodeExtension(r.int(65536), r.bytes(r.int(200))));
      return { kind: 'reforged extensions', bytes: serialize(reforge(p, e, false)), contentMayChange: false };
    }
  }
}

/** 'ok', or the code of the error a reader ended with. */
export type Verdict = string;

/** Runs `f`, returning 'ok', or the code of a BootportError; anything else is thrown. */
async function outcome(what: string, f: () => Promise<unknown>, timeoutMs: number): Promise<Verdict> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([f(), new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${what} did not finish in ${timeoutMs} ms`)), timeoutMs)))]);
    return 'ok';
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code && code in ERROR_CODES) return code;
    throw new Error(`${what}: not a coded error: ${(e as Error).stack ?? String(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

export interface Case {
  mutation: Mutation;
  verify: Verdict;
  deep: Verdict;
  inspect: Verdict;
  unpack: Verdict;
  import: Verdict;
}

/**
 * Runs one mutated bundle through every reader and checks that their verdicts agree and that
 * whatever was accepted is what the bundle's digests say (and, unless the mutation re-forged
 * the content digests, the original content). Throws on any violation.
 */
export async function runCase(m: Mutation, ctx: { engines: Engines; dir: string; store: Store; original: Map<string, Uint8Array>; n: number }): Promise<Case> {
  const { engines, dir } = ctx;
  const T = 15_000;
  const threads = ctx.n % 10 === 0 ? 2 : 1;
  const piece = 1 + ((ctx.n * 7919) % 70_000);
  const file = join(dir, `case-${ctx.n}.bpb`);
  await writeFile(file, m.bytes);
  const verify = await outcome('verify', () => verifyBundle(fromBytes(m.bytes, piece), { engines, deep: false }), T);
  const deep = await outcome('verify --deep', () => verifyBundle(fromBytes(m.bytes, piece), { engines, deep: true, threads }), T);
  const inspect = await outcome('inspect', () => readEnds(file, engines), T);
  const out = await mkdtemp(join(dir, 'unpack-'));
  let unpacked: Awaited<ReturnType<typeof unpackBundle>> | undefined;
  const unpack = await outcome('unpack', async () => (unpacked = await unpackBundle(fromBytes(m.bytes, piece), join(out, 'd'), { engines })), T);
  const rows = () => ctx.store.read((tx) => tx.all('boot_configs').length + tx.all('images').length + tx.all('blobs').length);
  const before = await rows();
  let imported: Awaited<ReturnType<typeof importBundle>> | undefined;
  const imp = await outcome(
    'import',
    async () => (imported = await importBundle(ctx.store, fromBytes(m.bytes, piece), { engines, bootConfig: `fuzz${ctx.n}`, image: `fuzz${ctx.n}img` })),
    T,
  );
  const fail = (why: string) => {
    throw new Error(`${m.kind}: ${why} (verify ${verify}, deep ${deep}, unpack ${unpack}, import ${imp})`);
  };
  if (deep === 'ok' && verify !== 'ok') fail('verify --deep accepted what verify refused');
  if ((unpack === 'ok') !== (deep === 'ok')) fail('unpack and verify --deep disagree');
  if (imp === 'ok' && deep !== 'ok') fail('import accepted what verify --deep refused');
  if (deep === 'ok' && imp !== 'ok' && imp !== 'ERR_USAGE' && imp !== 'ERR_CONFLICT') fail('import refused what verify --deep accepted');
  if (imp !== 'ok' && (await rows()) !== before) fail('a refused import changed the catalog');
  if (unpacked) {
    const manifest = unpacked.header.manifest;
    for (const s of unpacked.entries) {
      const e = manifest.entries[s.index]!;
      const bytes = await readFile(join(out, 'd', e.role === 'image' ? 'image' : e.role));
      const digest = digestString(engines.hash.digestOf([bytes]));
      if (digest !== digestString(unpacked.end.trailer.entries[s.index]!.contentDigest)) fail(`unpacked ${e.role} does not hash to the trailer's digest`);
      if (e.digest !== undefined && e.digest !== digest) fail(`unpacked ${e.role} does not hash to the manifest's digest`);
      const orig = ctx.original.get(e.role);
      if (!m.contentMayChange && orig && !equalBytes(orig, bytes)) fail(`altered ${e.role} content was accepted`);
    }
  }
  if (imported?.committed) {
    for (const d of imported.plan.entries.map((e) => e.digest).filter((d): d is string => d !== null)) {
      const path = ctx.store.blobPath(d);
      if (digestString(engines.hash.digestOf([await readFile(path)])) !== d) fail(`the store holds ${d} with other content`);
    }
  }
  await rm(out, { recursive: true, force: true });
  await rm(file, { force: true });
  return { mutation: m, verify, deep, inspect, unpack, import: imp };
}

/** The content of each role of a valid bundle, to compare accepted content with. */
export async function contentsOf(b: Uint8Array, engines: Engines, dir: string): Promise<Map<string, Uint8Array>> {
  const d = await mkdtemp(join(dir, 'orig-'));
  const r = await unpackBundle(fromBytes(b), join(d, 'x'), { engines });
  const out = new Map<string, Uint8Array>();
  for (const s of r.entries) {
    const role = decodeManifest(parse(b).manifest).entries[s.index]!.role;
    out.set(role, await readFile(join(d, 'x', role)));
  }
  return out;
}
