#!/usr/bin/env node
import { removeRegisteredSync } from '../stream/io/workdir.js';
import { EXIT, isClosedOutput } from './exit.js';
import { runQuick } from './quick.js';

// Nothing commits before it is complete, so an interrupted command has changed nothing; what it
// was writing (an import's staging, an export's temporary file, an unpack's work directory) is
// removed here, at once. A kill -9 cannot be caught: the next bootport that writes to the same
// place finds those directories' owner dead, by their lock, and removes them.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    removeRegisteredSync();
    process.stderr.write(`bootport: interrupted by ${sig}; nothing was committed\n`);
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

// A reader that closes the pipe early (`| head`) is not a crash: the command ends quietly with
// the exit code a program killed by SIGPIPE has, even when the failed write was its last.
let closedOutput = false;
process.stdout.on('error', (e) => {
  if (!isClosedOutput(e)) throw e;
  closedOutput = true;
  process.exitCode = EXIT.CLOSED_OUTPUT;
});

const argv = process.argv.slice(2);
const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, cwd: process.cwd(), env: process.env, stdoutIsDescriptor: true };
// The whole program is loaded only for commands other than verify and inspect.
const code = (await runQuick(argv, io)) ?? (await (await import('./program.js')).run(argv, io));
process.exitCode = closedOutput ? EXIT.CLOSED_OUTPUT : code;
