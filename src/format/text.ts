/**
 * The one rule for free text, in a manifest and in a store alike. Text ends up in terminals, boot
 * loaders and other clusters' catalogs, so control characters are refused: C0, DEL and C1. A
 * multi-line field (a description, an attribute or `meta` value) may keep TAB and LF, nothing else.
 * Lengths count Unicode code points, so a reader in any language counts the same.
 */
export const MAX_TEXT = 4096;

const SINGLE_LINE = /[\u0000-\u001f\u007f-\u009f]/;
const MULTI_LINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/** With the u flag, a surrogate class matches only a surrogate that is not half of a pair. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `s` is a sequence of Unicode scalar values, so it has a UTF-8 encoding. */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

export interface TextRule {
  /** Allows TAB and LF. */
  multiline?: boolean;
  /** The most code points allowed; MAX_TEXT by default. */
  max?: number;
}

/** Code points in `s`, counting a lone surrogate as one. */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Why `v` breaks the text rule, or undefined if it does not. */
export function textProblem(v: unknown, rule: TextRule = {}): string | undefined {
  const max = rule.max ?? MAX_TEXT;
  if (typeof v !== 'string') return 'must be a string';
  // A UTF-16 length within the cap is a code-point count within it too.
  if (v.length > max && codePoints(v) > max) return `is longer than ${max} characters`;
  if ((rule.multiline ? MULTI_LINE : SINGLE_LINE).test(v)) {
    return `contains a control character${rule.multiline ? ' (only tab and newline are allowed)' : ''}`;
  }
  if (!isWellFormed(v)) return 'contains an unpaired UTF-16 surrogate';
  return undefined;
}
