import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/stream/parallel/pool.js';
import { makeVectors } from '../../spec/vectors.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { addTrustedKey } from '../../src/store/catalog/trust.js';
import { importBundle } from '../../src/store/import.js';
import { Store } from '../../src/store/store.js';
import { fileSource } from '../../src/stream/io/source.js';
import { verifyBundle } from '../../src/stream/bundle/reader.js';
import { readPublicKey } from '../../src/stream/sign/keys.js';
import { checkSignatures, signatureFailure, type TrustedKey } from '../../src/stream/sign/signatures.js';
import { ENGINES, engines, fromBytes, verdict } from '../helpers.js';

const DIR = join(import.meta.dirname, '../../fixtures/vectors');

/**
 * What the format fixes in a (possibly damaged) bundle: the preamble and manifest bytes, and for
 * each chunk record that can be walked its entry, sequence number, final flag and raw length.
 */
function structure(b: Uint8Array): { head: string; chunks: string[] } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const headLen = b.length >= 24 ? Math.min(b.length, 24 + dv.getUint32(20, true)) : b.length;
  const chunks: string[] = [];
  for (let at = headLen; at + 52 <= b.length && b[at] === 0x43; at += 52 + dv.getUint32(at + 8, true)) {
    chunks.push(`entry ${dv.getUint16(at + 2, true)} seq ${dv.getBigUint64(at + 12, true)} flags ${b[at + 1]} raw ${dv.getUint32(at + 4, true)}`);
  }
  return { head: Buffer.from(b.subarray(0, headLen)).toString('hex'), chunks };
}

let signer1: TrustedKey;
let store: Store;

describe('golden vectors', async () => {
  beforeAll(async () => {
    const k = await readPublicKey(join(DIR, 'vector-signer-1.pub'));
    signer1 = { name: 'vector-signer-1', raw: k.raw };
    store = await Store.open(join(await mkdtemp(join(tmpdir(), 'bootport-vectors-')), 'store'), 'write');
    await addTrustedKey(store, k.raw, 'vector-signer-1');
  });
  afterAll(() => store.close());

  const names = (await readdir(DIR)).filter((f) => f.endsWith('.bpb')).map((f) => f.slice(0, -4));

  it('exist, one scenario per file', () => {
    expect(names.length).toBeGreaterThanOrEqual(40);
  });

  it('are what spec/vectors.ts generates, in every byte the format fixes', async () => {
    // zstd's output is not fixed by the format (a libzstd upgrade may change it, and with it every
    // payload, length and digest), so the vectors are compared in what is: their verdicts, the
    // preamble and canonical manifest byte for byte, and the chunk records' places and roles.
    const made = await makeVectors(await engines('native'));
    expect(made.map((v) => v.name).sort()).toEqual([...names].sort());
    for (const v of made) {
      const file = new Uint8Array(await readFile(join(DIR, `${v.name}.bpb`)));
      const exp = JSON.parse(await readFile(join(DIR, `${v.name}.expect.json`), 'utf8'));
      expect({ verify: exp.verify, deep: exp.deep, ...(exp.signatures ? { signatures: exp.signatures } : {}) }, v.name).toEqual(v.expect);
      expect(structure(file), v.name).toEqual(structure(v.bytes));
    }
  });

  describe.each(ENGINES)('give the expected verdict on the %s engine', (choice) => {
    // With several chunks in flight at once, the error that wins must still be the first in reading order.
    let pool: WorkerPool | undefined;
    beforeAll(async () => void (pool = new WorkerPool(await engines(choice), 2)));
    afterAll(async () => pool?.close());

    it.each(names)('%s', async (name) => {
      const bytes = new Uint8Array(await readFile(join(DIR, `${name}.bpb`)));
      const exp = JSON.parse(await readFile(join(DIR, `${name}.expect.json`), 'utf8'));
      const e = await engines(choice);
      expect(await verdict(bytes, { engines: e, deep: false })).toBe(exp.verify);
      expect(await verdict(bytes, { engines: e, deep: true })).toBe(exp.deep);
      expect(await verdict(bytes, { engines: e, deep: false, runner: pool! }), 'with a worker pool').toBe(exp.verify);
      expect(await verdict(bytes, { engines: e, deep: true, runner: pool! }), 'with a worker pool').toBe(exp.deep);
      if (exp.signatures) {
        const r = await verifyBundle(fromBytes(bytes), { engines: e });
        const sigVerdict = (trusted: TrustedKey[], require: boolean) =>
          signatureFailure(checkSignatures(r.end.extensions, r.end.trailer.bundleDigest, trusted), require)?.code ?? 'ok';
        expect(sigVerdict([], false), 'signatures').toBe(exp.signatures.verify);
        expect(sigVerdict([signer1], true), 'signatures, vector-signer-1 trusted and required').toBe(exp.signatures.trusted);
        const imported = await importBundle(store, fileSource(join(DIR, `${name}.bpb`)), {
          engines: e,
          requireSignature: true,
          path: join(DIR, `${name}.bpb`),
          bootConfig: `${name}-${choice}`,
        }).then(
          () => 'ok',
          (err: { code?: string }) => err.code ?? 'uncoded',
        );
        expect(imported, 'import --require-signature into a store that trusts vector-signer-1').toBe(exp.signatures.import);
      }
      // Failing vectors fail the same way when fed a byte at a time? (cheap enough at these sizes with big pieces)
      expect(await verdict(bytes, { engines: e, deep: true }, 997)).toBe(exp.deep);
    });
  });
});
