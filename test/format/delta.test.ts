/** The delta program's codec: every rule FORMAT.md gives, however the bytes arrive. */
import { describe, expect, it } from 'vitest';
import { DATA_OP_HEADER, DeltaParser, encodeDataOpHeader, encodeRefOp, MAX_REF_LENGTH, type DeltaClaim, type DeltaOp } from '../../src/format/delta.js';
import { isBootportError } from '../../src/format/errors.js';

const D = new Uint8Array(32).fill(7);
const claim = (carried: number, referenced: number): DeltaClaim => ({
  chunker: 'bootport-cdc-1',
  base: [{ digest: `blake3:${'a'.repeat(64)}`, size: 100_000 }],
  size: carried + referenced,
  digest: `blake3:${'b'.repeat(64)}`,
  carried,
  referenced,
});

function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function parse(c: DeltaClaim, program: Uint8Array, piece = program.length): DeltaOp[] {
  const parser = new DeltaParser(c);
  const ops: DeltaOp[] = [];
  for (let i = 0; i < program.length; i += piece)
    for (const op of parser.feed(program.subarray(i, i + piece))) ops.push(op.kind === 'data' ? { ...op, bytes: op.bytes.slice() } : op);
  parser.finish();
  return ops;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isBootportError(e)) return e.code;
    throw e;
  }
  return 'ok';
}

const data = (n: number, fill = 1) => cat([encodeDataOpHeader(D, n), new Uint8Array(n).fill(fill)]);
const ref = (offset: number, length: number, pieces = 1, base = 0) => encodeRefOp({ base, offset, length, pieces, digest: D });

describe('the delta program', () => {
  it('yields the same operations whatever pieces its bytes arrive in', () => {
    const program = cat([data(3000), ref(4096, 8192, 2), data(1, 9), ref(0, 10)]);
    const whole = parse(claim(3001, 8202), program);
    expect(whole.map((o) => o.kind)).toEqual(['data', 'ref', 'data', 'ref']);
    expect(whole[1]).toMatchObject({ base: 0, offset: 4096, length: 8192, pieces: 2, at: DATA_OP_HEADER + 3000 });
    for (const piece of [1, 7, 40, 56, 1000]) expect(parse(claim(3001, 8202), program, piece)).toEqual(whole);
  });

  it('refuses each malformed operation with its code', () => {
    const c = claim(100, 1000);
    expect(code(() => parse(c, Uint8Array.of(0x45)))).toBe('ERR_BUNDLE_DELTA');
    const reserved = data(100);
    reserved[2] = 1;
    expect(code(() => parse(c, reserved))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(claim(20000, 0), data(16385)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(c, ref(0, 1000, 1, 1)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(claim(0, 100_001), ref(0, 100_001, 7)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(claim(0, 1000), ref(99_500, 1000)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(claim(0, 1000), ref(0, 1000, 1001)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(claim(0, MAX_REF_LENGTH + 1), ref(0, MAX_REF_LENGTH + 1, 1025)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(c, data(100).subarray(0, 120)))).toBe('ERR_BUNDLE_DELTA');
    expect(code(() => parse(c, cat([data(100), ref(0, 1000)]).subarray(0, 150)))).toBe('ERR_BUNDLE_DELTA');
  });

  it('holds the program to the totals the manifest declares', () => {
    expect(code(() => parse(claim(99, 1000), cat([data(100), ref(0, 1000)])))).toBe('ERR_BUNDLE_SIZE_MISMATCH');
    expect(code(() => parse(claim(100, 999), cat([data(100), ref(0, 1000)])))).toBe('ERR_BUNDLE_SIZE_MISMATCH');
    expect(code(() => parse(claim(200, 1000), cat([data(100), ref(0, 1000)])))).toBe('ERR_BUNDLE_SIZE_MISMATCH');
    expect(code(() => parse(claim(100, 1000), cat([data(100), ref(0, 1000)])))).toBe('ok');
  });
});
