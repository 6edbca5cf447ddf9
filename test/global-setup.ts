/**
 * Builds dist/ before any test runs, as `npm run build` does: the worker pool's threads and every
 * test that runs the CLI as a process execute the built code, the bundles in dist/bin/ (a worker
 * thread cannot load TypeScript), so without this a bare `npx vitest` after an edit would test
 * what the last build left.
 *
 * Every temporary directory the tests make (stores, bundles, etcd members) lands under one root
 * that the teardown removes: the test files and the processes they start take TMPDIR from here.
 * BOOTPORT_KEEP_TMP=1 keeps it, to look at what a failing test left.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function setup(): () => void {
  const root = join(import.meta.dirname, '..');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const scratch = mkdtempSync(join(tmpdir(), 'bootport-tests-'));
  process.env.TMPDIR = scratch;
  return () => {
    if (process.env.BOOTPORT_KEEP_TMP) console.error(`test files kept in ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
  };
}
