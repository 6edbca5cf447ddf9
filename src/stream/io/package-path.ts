import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOOL_NAME } from '../../version.js';

let root: string | undefined;

/**
 * A path inside bootport's own package (its build/ and dist/), found from this module wherever
 * it runs: where tsc put it, under src/ for the tests, or in the CLI's bundle (dist/bin/), each at
 * a different depth. The package's root is the nearest directory above whose package.json names
 * bootport.
 */
export function packagePath(...parts: string[]): string {
  if (root === undefined) {
    const start = dirname(fileURLToPath(import.meta.url));
    for (let dir = start; ; dir = dirname(dir)) {
      if (nameAt(dir) === TOOL_NAME) {
        root = dir;
        break;
      }
      if (dirname(dir) === dir) throw new Error(`no package.json of ${TOOL_NAME} in ${start} or above it`);
    }
  }
  return join(root, ...parts);
}

function nameAt(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name as string | undefined;
  } catch {
    return undefined;
  }
}
