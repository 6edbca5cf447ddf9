import { BootportError, type ErrorCode } from './errors.js';

/**
 * A name in a bundle is a label, never a path: the importer uses it as a catalog key and as the
 * default file name of `unpack`, so anything that could steer a path (separators, `..`, NUL,
 * control characters) or an option parser (a leading `-`) is refused outright.
 */
export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._+@:=~-]{0,127}$/;

export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'is not a string';
  if (name.length === 0) return 'is empty';
  if (name.length > 128) return 'is longer than 128 characters';
  if (name.includes('..')) return 'contains ".."';
  if (!NAME_RE.test(name)) return 'may hold only letters, digits and . _ + @ : = ~ - and may not start with . or -';
  return undefined;
}

export function checkName(name: unknown, what: string, code: ErrorCode = 'ERR_BUNDLE_NAME'): string {
  const why = nameProblem(name);
  if (why !== undefined) {
    throw new BootportError(code, `${what} ${JSON.stringify(name)} ${why}`, {}, 'names are labels: use letters, digits, dot, dash and underscore');
  }
  return name as string;
}
