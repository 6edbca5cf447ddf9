/**
 * Builds dist/ before any test runs. The worker pool's threads and every test that runs the CLI
 * as a process execute the built code (a worker thread cannot load TypeScript), so without this
 * a bare `npx vitest` after an edit would test what the last build left.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function setup(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
}
