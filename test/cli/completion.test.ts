import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAIN } from '../store/helpers.js';
import { cli, tempDir } from './run.js';

let dir: string;

/** What bash completes for `words` (the last one being completed), with the script bootport prints. */
async function complete(words: string[]): Promise<string[]> {
  const script = `
    eval "$(bootport completion bash)"
    COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    _bootport
    printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await promisify(execFile)('bash', ['-c', script], { cwd: dir, env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });
  return stdout.split('\n').filter(Boolean).sort();
}

beforeAll(async () => {
  dir = await tempDir();
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'bootport'), `#!/bin/sh\nexec '${process.execPath}' '${MAIN}' "$@"\n`);
  await chmod(join(dir, 'bin', 'bootport'), 0o755);
  const store = join(dir, 'store');
  expect((await cli(['node', 'create', 'name=rack1-n[0-2]', '--store', store], { cwd: dir })).code).toBe(0);
  expect((await cli(['sample', '-C', 'files'], { cwd: dir })).code).toBe(0);
  expect((await cli(['create', 'name=rocky9', 'kernel=@files/vmlinuz', 'initramfs=@files/initramfs.img', '--store', store], { cwd: dir })).code).toBe(0);
});

describe('bootport completion', () => {
  it('completes commands, subcommands and options from the command tree, global ones included', async () => {
    expect(await complete(['bootport', 'im'])).toEqual(['image', 'import']);
    expect(await complete(['bootport', 'trust', ''])).toEqual(['add', 'ls', 'require', 'rm']);
    expect(await complete(['bootport', 'verify', '--tr'])).toEqual(['--trust']);
    expect(await complete(['bootport', 'image', 'ls', '--js'])).toEqual(['--json']);
    expect(await complete(['bootport', '--engine', 'f'])).toEqual(['fallback']);
  });

  it('completes boot config and node names from the store named on the command line', async () => {
    const store = join(dir, 'store');
    expect(await complete(['bootport', '--store', store, '-i', 'ro'])).toEqual(['rocky9']);
    expect(await complete(['bootport', 'node', '--store', store, '-i', 'rack1'])).toEqual(['rack1-n0', 'rack1-n1', 'rack1-n2']);
  });

  it('prints a zsh script that runs the same function through bashcompinit, and refuses other shells', async () => {
    const zsh = await cli(['completion', 'zsh'], { cwd: dir });
    expect(zsh.stdout.split('\n')[0]).toBe('autoload -U +X bashcompinit && bashcompinit');
    expect(zsh.stdout).toContain('complete -o filenames -F _bootport bootport');
    const fish = await cli(['completion', 'fish'], { cwd: dir });
    expect(fish.code).toBe(2);
  });
});
