#!/usr/bin/env node
import { removeLiveStaging } from '../store/store.js';
import { run } from './program.js';

// An interrupted import leaves the catalog untouched (nothing commits before the footer
// verifies); removing its staging files here keeps the store tidy too. A kill -9 cannot be
// caught: the next bootport run on the store removes staging left by dead processes.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    removeLiveStaging();
    process.stderr.write(`bootport: interrupted by ${sig}; nothing was committed\n`);
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  cwd: process.cwd(),
  env: process.env,
});
