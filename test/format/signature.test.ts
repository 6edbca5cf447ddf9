import { describe, expect, it } from 'vitest';
import {
  decodeSignatureRecord,
  encodeSignatureRecord,
  MAX_SIGNED_MESSAGE,
  parseSignedMessage,
  SIGNED_MESSAGE_CONTEXT,
  signedMessage,
} from '../../src/format/signature.js';

const digest = Uint8Array.from({ length: 32 }, (_, i) => i);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('the signed message', () => {
  it('is the context line, the bundle digest, then time and comment when given, each ending in LF', () => {
    expect(text(signedMessage({ bundleDigest: digest }))).toBe(`${SIGNED_MESSAGE_CONTEXT}\nbundle blake3:${Buffer.from(digest).toString('hex')}\n`);
    const full = signedMessage({ bundleDigest: digest, time: '2026-11-25T00:00:00Z', comment: 'release team' });
    expect(text(full).split('\n').slice(2)).toEqual(['time 2026-11-25T00:00:00Z', 'comment release team', '']);
    expect(parseSignedMessage(full)).toEqual({ bundleDigest: digest, time: '2026-11-25T00:00:00Z', comment: 'release team' });
  });

  it.each([
    ['another context', (t: string) => t.replace('bootport signed bundle v1', 'bootport signed bundle v2')],
    ['CR LF line ends', (t: string) => t.replaceAll('\n', '\r\n')],
    ['no final newline', (t: string) => t.slice(0, -1)],
    ['comment before time', (t: string) => t.replace(/(time .*\n)(comment .*\n)/, '$2$1')],
    ['an extra line', (t: string) => `${t}extra\n`],
    ['an upper-case digest', (t: string) => t.replace(/bundle blake3:(\w+)/, (_, h: string) => `bundle blake3:${h.toUpperCase()}`)],
    ['a time out of the calendar', (t: string) => t.replace('2026-11-25', '2026-02-30')],
    ['a control character in the comment', (t: string) => t.replace('release team', 'release\u001bteam')],
  ])('refuses %s', (_, edit) => {
    const t = text(signedMessage({ bundleDigest: digest, time: '2026-11-25T00:00:00Z', comment: 'release team' }));
    expect(typeof parseSignedMessage(new TextEncoder().encode(edit(t)))).toBe('string');
  });

  it('refuses to sign what it could not read back', () => {
    expect(() => signedMessage({ bundleDigest: digest, comment: 'two\nlines' })).toThrow(/control character/);
    expect(() => signedMessage({ bundleDigest: digest, time: 'yesterday' })).toThrow(/signing time/);
    expect(() => signedMessage({ bundleDigest: digest.subarray(1) })).toThrow(/32 bytes/);
  });
});

describe('the signature record', () => {
  const key = new Uint8Array(32).fill(7);
  const sig = new Uint8Array(64).fill(9);
  const msg = signedMessage({ bundleDigest: digest, comment: 'x' });

  it('round-trips: 100 bytes of fields, then the message', () => {
    const body = encodeSignatureRecord(key, sig, msg);
    expect(body.length).toBe(100 + msg.length);
    expect(decodeSignatureRecord(body)).toMatchObject({ algorithm: 1, publicKey: key, signature: sig, message: msg, statement: { comment: 'x' } });
    expect(decodeSignatureRecord(body).problem).toBeUndefined();
  });

  it('reports, rather than throws, a record it cannot use', () => {
    const body = encodeSignatureRecord(key, sig, msg);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', body.subarray(0, 60), /its fields need/],
      ['too short for a header', body.subarray(0, 3), /too short/],
      ['with a byte too many', Uint8Array.from([...body, 0]), /its fields need/],
      ['of another algorithm', Uint8Array.from(body, (x, i) => (i === 0 ? 7 : x)), /algorithm 7/],
      ['with a reserved byte set', Uint8Array.from(body, (x, i) => (i === 1 ? 1 : x)), /reserved/],
      ['with a message length of 0', Uint8Array.from(body, (x, i) => (i === 2 || i === 3 ? 0 : x)), /outside 1\.\./],
    ];
    for (const [what, b, why] of cases) expect(decodeSignatureRecord(b).problem, what).toMatch(why);
    expect(() => encodeSignatureRecord(key, sig, new Uint8Array(MAX_SIGNED_MESSAGE + 1))).toThrow(RangeError);
  });
});
