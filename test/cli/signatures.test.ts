/**
 * Signed bundles end to end: keys, signing while writing and afterwards, verify with trusted
 * keys, the store's trust and its policy on import, a hand check with the openssl CLI, and a
 * flip of every byte of a signed bundle.
 */
import { execFile } from 'node:child_process';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/stream/bundle/reader.js';
import { readPublicKey, readSigningKey } from '../../src/stream/sign/keys.js';
import { checkSignatures, signatureFailure } from '../../src/stream/sign/signatures.js';
import { forgeBundle } from '../../spec/forge.js';
import { engines, fromBytes, makeBundle, manifestFor, sampleBytes } from '../helpers.js';
import { bp } from '../store/helpers.js';
import { cli, tempDir } from './run.js';

let dir: string;
const ok = async (argv: string[]) => {
  const r = await cli(argv, { cwd: dir });
  expect(r.code, `${argv.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
};
const json = async (argv: string[]) => JSON.parse((await ok([...argv, '--json'])).stdout);

beforeAll(async () => {
  dir = await tempDir();
  await ok(['sample', '-C', 'files', '--image-size', '1M']);
  await ok(['key', 'generate', 'alice']);
  await ok(['key', 'generate', 'bob']);
  await ok([
    'pack',
    '-o',
    'signed.export',
    '--name',
    'demo',
    '--kernel',
    'files/vmlinuz',
    '--initramfs',
    'files/initramfs.img',
    '--sign',
    'alice.key',
    '--sign-comment',
    'release team',
  ]);
  await ok(['pack', '-o', 'plain.export', '--name', 'plain', '--kernel', 'files/vmlinuz', '--initramfs', 'files/initramfs.img']);
});

describe('keys', () => {
  it('are written private (0600) and public (0644), never over an existing pair', async () => {
    expect((await stat(join(dir, 'alice.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'alice.pub'))).mode & 0o777).toBe(0o644);
    expect(await readFile(join(dir, 'alice.pub'), 'utf8')).toMatch(/^bootport-ed25519 [A-Za-z0-9+/]{43}= alice\n$/);
    const again = await cli(['key', 'generate', 'alice'], { cwd: dir });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('ERR_EXISTS');
    // A name whose public half alone exists is refused before a private key is written.
    await writeFile(join(dir, 'carol.pub'), 'taken\n');
    expect((await cli(['key', 'generate', 'carol'], { cwd: dir })).code).toBe(3);
    expect((await readdir(dir)).filter((f) => f.startsWith('carol'))).toEqual(['carol.pub']);
  });

  it('show a fingerprint that sha256sum of the raw key gives too, and never print the private key', async () => {
    const shown = await json(['key', 'show', 'alice.pub']);
    const raw = Buffer.from((await readFile(join(dir, 'alice.pub'), 'utf8')).split(' ')[1]!, 'base64');
    const sha = (await import('node:crypto')).createHash('sha256').update(raw).digest('hex').slice(0, 32);
    expect(shown.fingerprint.replaceAll('-', '')).toBe(sha);
    expect((await json(['key', 'show', 'alice.key'])).fingerprint).toBe(shown.fingerprint);
    const secret = (await readFile(join(dir, 'alice.key'), 'utf8')).split('\n')[1]!;
    const all = await cli(['key', 'show', 'alice.key'], { cwd: dir });
    expect(all.stdout + all.stderr).not.toContain(secret);
  });

  it('refuse a private key that others may read, naming the file and not its content', async () => {
    await writeFile(join(dir, 'loose.key'), await readFile(join(dir, 'bob.key')));
    await chmod(join(dir, 'loose.key'), 0o644);
    await expect(readSigningKey(join(dir, 'loose.key'))).rejects.toMatchObject({ code: 'ERR_KEY', message: expect.stringContaining('loose.key') });
    await writeFile(join(dir, 'junk.key'), 'not a key at all', { mode: 0o600 });
    const r = await cli(['sign', 'plain.export', '--key', 'junk.key'], { cwd: dir });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ERR_KEY');
    expect(r.stderr).not.toContain('not a key at all');
  });
});

describe('verify', () => {
  it('lists each signature with its fingerprint and comment, and says which keys are trusted', async () => {
    const alice = (await json(['key', 'show', 'alice.pub'])).fingerprint;
    const v = await json(['verify', 'signed.export', '--trust', 'alice.pub']);
    expect(v.signatures).toMatchObject([{ status: 'valid', fingerprint: alice, comment: 'release team', trustedAs: 'alice' }]);
    expect(v.signed_by_trusted_key).toBe(true);
    const untrusted = await json(['verify', 'signed.export', '--trust', 'bob.pub']);
    expect(untrusted.signatures[0].trustedAs).toBeUndefined();
  });

  it('requires a valid signature by a trusted key with --require-signature: exit 3 otherwise', async () => {
    await ok(['verify', 'signed.export', '--trust', 'alice.pub', '--require-signature']);
    for (const argv of [
      ['verify', 'signed.export', '--trust', 'bob.pub', '--require-signature'],
      ['verify', 'plain.export', '--trust', 'alice.pub', '--require-signature'],
      ['verify', 'signed.export', '--require-signature'],
    ]) {
      const r = await cli(argv, { cwd: dir });
      expect(r.code, argv.join(' ')).toBe(3);
      expect(r.stderr).toContain('ERR_SIGNATURE_REQUIRED');
    }
  });

  it('fails (exit 1) when a signature is invalid, whatever the others say', async () => {
    await ok([
      'pack',
      '-o',
      'two.export',
      '--name',
      'demo',
      '--kernel',
      'files/vmlinuz',
      '--initramfs',
      'files/initramfs.img',
      '--sign',
      'alice.key',
      '--sign',
      'bob.key',
    ]);
    const b = await readFile(join(dir, 'two.export'));
    // The second record's signature bytes: from the end, footer (32), then its message, then the signature.
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const tail = Number(dv.getBigUint64(b.length - 24, true) + dv.getBigUint64(b.length - 16, true));
    const second = tail + 8 + dv.getUint32(tail + 4, true);
    b[second + 8 + 4 + 32 + 5]! ^= 0x40;
    await writeFile(join(dir, 'two-bad.export'), b);
    const r = await cli(['verify', 'two-bad.export', '--trust', 'alice.pub', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.error.code).toBe('ERR_BUNDLE_SIGNATURE');
    expect(out.signatures.map((s: { status: string }) => s.status)).toEqual(['valid', 'invalid']);
  });
});

describe('inspect', () => {
  it('lists the signers from the two ends of a file, and says it did not verify them', async () => {
    const alice = (await json(['key', 'show', 'alice.pub'])).fingerprint;
    const j = await json(['inspect', 'signed.export']);
    expect(j.signers).toEqual([{ algorithm: 'ed25519', fingerprint: alice, comment: 'release team', time: expect.stringMatching(/Z$/) }]);
    expect(j.signatures_verified).toBe(false);
    const text = (await ok(['inspect', 'signed.export'])).stdout;
    expect(text).toContain('signatures listed, not verified');
    expect((await json(['inspect', 'plain.export'])).signers).toEqual([]);
  });
});

describe('sign', () => {
  it('adds a signature to an existing bundle, which then verifies as signed by both', async () => {
    await ok(['pack', '-o', 'later.export', '--name', 'demo', '--kernel', 'files/vmlinuz', '--initramfs', 'files/initramfs.img', '--sign', 'alice.key']);
    const s = await json(['sign', 'later.export', '--key', 'bob.key', '--comment', 'site security']);
    expect(s.signatures).toBe(2);
    const v = await json(['verify', 'later.export', '--trust', 'alice.pub', '--trust', 'bob.pub', '--require-signature']);
    expect(v.signatures.map((x: { trustedAs: string; comment: string }) => [x.trustedAs, x.comment])).toEqual([
      ['alice', undefined],
      ['bob', 'site security'],
    ]);
  });

  it('leaves the old file exactly as it was when the final rename fails', async () => {
    await ok(['pack', '-o', 'atomic.export', '--name', 'demo', '--kernel', 'files/vmlinuz', '--initramfs', 'files/initramfs.img']);
    const before = await readFile(join(dir, 'atomic.export'));
    const main = ['sign', join(dir, 'atomic.export'), '--key', join(dir, 'bob.key')];
    // Every rename this command makes fails: the signed copy can never take the bundle's name.
    const r = await bp(main, {
      cwd: dir,
      wrap: ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=rename,renameat,renameat2', '-e', 'inject=rename,renameat,renameat2:error=EIO'],
    });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('ERR_IO');
    // Compared as buffers: a deep equality over megabytes crawls.
    expect((await readFile(join(dir, 'atomic.export'))).equals(before)).toBe(true);
    expect((await readdir(dir)).filter((f) => f.startsWith('.bootport-output-'))).toEqual([]);
    const v = await json(['verify', 'atomic.export']);
    expect(v.signatures).toEqual([]);
  });

  it('refuses a bundle written before signatures (no extension bit), and one whose bytes are damaged', async () => {
    const e = await engines();
    const K = sampleBytes(100);
    const I = sampleBytes(200, 2);
    const m = manifestFor({ kernel: K, initramfs: I }, { declareSizes: true });
    const chunks = [
      { entry: 0, seq: 0, final: true, rawLength: K.length, payload: e.codec.compress(K, 3) },
      { entry: 1, seq: 0, final: true, rawLength: I.length, payload: e.codec.compress(I, 3) },
    ];
    // What a bootport before signatures wrote: optional feature bits 0, every digest honest.
    const old = forgeBundle(e.hash, m, chunks, { contents: [K, I] });
    await writeFile(join(dir, 'old.export'), old);
    await ok(['verify', 'old.export']);
    const r = await cli(['sign', 'old.export', '--key', 'alice.key'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_UNSIGNABLE');
    expect((await readFile(join(dir, 'old.export'))).equals(old)).toBe(true);
    const damaged = (await readFile(join(dir, 'plain.export'))).subarray(0, 5000);
    await writeFile(join(dir, 'cut.export'), damaged);
    const cut = await cli(['sign', 'cut.export', '--key', 'alice.key'], { cwd: dir });
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain('ERR_BUNDLE_TRUNCATED');
  });
});

describe('a signature checked by hand with openssl, as FORMAT.md shows', () => {
  it('verifies with openssl pkeyutl -verify -rawin, from the public key file and what verify --json lists', async () => {
    const v = await json(['verify', 'signed.export']);
    const s = v.signatures[0];
    const script = `
      set -e
      { printf '\\x30\\x2a\\x30\\x05\\x06\\x03\\x2b\\x65\\x70\\x03\\x21\\x00'; cut -d' ' -f2 alice.pub | base64 -d; } > key.der
      openssl pkey -pubin -inform DER -in key.der -out key.pem
      printf 'bootport signed bundle v1\\nbundle blake3:%s\\ntime %s\\ncomment %s\\n' "$DIGEST" "$TIME" "$COMMENT" > message
      echo "$SIGNATURE" | base64 -d > signature
      openssl pkeyutl -verify -rawin -pubin -inkey key.pem -in message -sigfile signature`;
    const env = { ...process.env, DIGEST: v.bundle_digest.slice(7), TIME: s.time, COMMENT: s.comment, SIGNATURE: s.signature };
    const good = await promisify(execFile)('bash', ['-c', script], { cwd: dir, env });
    expect(good.stdout).toContain('Signature Verified Successfully');
    // The same check fails for any other bundle digest: openssl agrees the digest is what is signed.
    const other = { ...env, DIGEST: '0'.repeat(64) };
    await expect(promisify(execFile)('bash', ['-c', script], { cwd: dir, env: other })).rejects.toMatchObject({
      stdout: expect.stringContaining('Signature Verification Failure'),
    });
  });
});

describe('a signed bundle with any one byte flipped', () => {
  it('never verifies as signed by the trusted key', async () => {
    const key = await readSigningKey(join(dir, 'alice.key'));
    const b = await makeBundle({ kernel: sampleBytes(200), initramfs: sampleBytes(300, 2) }, { write: { signers: [{ key, comment: 'tamper test' }] } });
    const trusted = [{ name: 'alice', raw: (await readPublicKey(join(dir, 'alice.pub'))).raw }];
    const verdict = async (bytes: Uint8Array) => {
      try {
        const r = await verifyBundle(fromBytes(bytes), { deep: true });
        return signatureFailure(checkSignatures(r.end.extensions, r.end.trailer.bundleDigest, trusted), true)?.code ?? 'signed';
      } catch (e) {
        return (e as { code?: string }).code ?? 'uncoded';
      }
    };
    expect(await verdict(b)).toBe('signed');
    const seen = new Map<string, number>();
    for (let i = 0; i < b.length; i++) {
      const c = b.slice();
      c[i]! ^= 1 << (i % 8);
      const v = await verdict(c);
      expect(v, `flip at byte ${i} of ${b.length}`).toMatch(/^ERR_/);
      seen.set(v, (seen.get(v) ?? 0) + 1);
    }
    // Flips in the signature record itself are caught by the signature check, not by luck.
    expect(seen.get('ERR_BUNDLE_SIGNATURE') ?? 0).toBeGreaterThan(100);
  });
});

describe('the store', () => {
  let store: string;
  const inStore = (argv: string[]) => [...argv, '--store', store];

  beforeAll(() => {
    store = join(dir, 'store');
  });

  it('trusts keys by name, lists them, and removes them by name or fingerprint', async () => {
    const a = await json(inStore(['trust', 'add', 'alice.pub']));
    expect(a.name).toBe('alice');
    const b = await json(inStore(['trust', 'add', 'bob.pub', '--name', 'security']));
    const again = await cli(inStore(['trust', 'add', 'alice.pub', '--name', 'other']), { cwd: dir });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('already trusted, as alice');
    expect((await json(inStore(['trust', 'ls']))).keys.map((k: { name: string }) => k.name)).toEqual(['alice', 'security']);
    await ok(inStore(['trust', 'rm', b.fingerprint]));
    expect((await json(inStore(['trust', 'ls']))).keys.map((k: { name: string }) => k.name)).toEqual(['alice']);
    const missing = await cli(inStore(['trust', 'rm', 'nobody']), { cwd: dir });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('ERR_NOT_FOUND');
  });

  it('imports under --require-signature only what a trusted key signed, and refuses the rest before storing anything', async () => {
    const state = async () => [await json(inStore(['ls'])), (await readdir(join(store, 'blobs', 'blake3'))).sort()];
    const before = await state();
    const plain = await cli(inStore(['import', 'plain.export', '--require-signature']), { cwd: dir });
    expect(plain.code).toBe(3);
    expect(plain.stderr).toContain('ERR_SIGNATURE_REQUIRED');
    const piped = await cli(inStore(['import', '-', '--require-signature']), { cwd: dir, stdin: await readFile(join(dir, 'plain.export')) });
    expect(piped.code).toBe(3);
    expect(await state()).toEqual(before);
    const dry = await json(inStore(['import', 'signed.export', '--require-signature', '--dry-run', '--boot-config', 'dry']));
    expect(dry.signatures).toMatchObject([{ status: 'valid', trustedAs: 'alice' }]);
    expect(dry.ok).toBe(true);
    const r = await json(inStore(['import', 'signed.export', '--require-signature', '--boot-config', 'first']));
    expect(r.committed).toBe(true);
    expect(r.signatures).toMatchObject([{ status: 'valid', trustedAs: 'alice', comment: 'release team' }]);
  });

  it('makes the requirement the default with trust require on, and a key removed between imports is no longer enough', async () => {
    await ok(inStore(['trust', 'require', 'on']));
    expect((await json(inStore(['trust', 'ls']))).require_signature).toBe(true);
    const plain = await cli(inStore(['import', 'plain.export']), { cwd: dir });
    expect(plain.code).toBe(3);
    await ok(inStore(['import', 'signed.export', '--boot-config', 'second']));
    await ok(inStore(['trust', 'rm', 'alice']));
    const after = await cli(inStore(['import', 'signed.export', '--boot-config', 'third']), { cwd: dir });
    expect(after.code).toBe(3);
    expect(after.stderr).toContain('ERR_SIGNATURE_REQUIRED');
    expect((await json(inStore(['ls']))).map((b: { name: string }) => b.name).sort()).toEqual(['first', 'second']);
    await ok(inStore(['trust', 'require', 'off']));
    await ok(inStore(['import', 'plain.export']));
  });

  it('reads a named pipe in order, with signatures judged at its end', async () => {
    const fifo = join(dir, 'signed.fifo');
    await promisify(execFile)('mkfifo', [fifo]);
    const feed = promisify(execFile)('sh', ['-c', `cat signed.export > ${fifo}`], { cwd: dir });
    const r = await cli(inStore(['import', fifo, '--require-signature', '--boot-config', 'fromfifo']), { cwd: dir });
    await feed;
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('ERR_SIGNATURE_REQUIRED');
  });

  it('refuses a bundle with an invalid signature even without a requirement', async () => {
    const r = await cli(inStore(['import', 'two-bad.export', '--boot-config', 'bad']), { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_BUNDLE_SIGNATURE');
  });
});
